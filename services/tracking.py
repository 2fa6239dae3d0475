"""Tracking numbers and secrets: what a submitter follows a request by (``YS…``), an enterprise
its project (``XM…``), and what names a proactive case (``ZD…``). One scheme for all: a prefix,
the local date and 8 random Crockford base32 characters — readable on a phone, not guessable —
and a secret shown once and stored only as its SHA-256 digest."""

from __future__ import annotations

import hmac
import secrets

from services.api_keys import hash_key
from services.models import utcnow
from shared.calendar import SHANGHAI

__all__ = ["hash_secret", "new_tracking_no", "new_tracking_secret", "secret_matches"]

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U


def new_tracking_no(prefix: str) -> str:
    today = utcnow().astimezone(SHANGHAI).strftime("%y%m%d")
    return prefix + today + "".join(secrets.choice(_ALPHABET) for _ in range(8))


def new_tracking_secret() -> str:
    return secrets.token_urlsafe(12)


def hash_secret(secret: str) -> str:
    return hash_key(secret)


def secret_matches(secret: str | None, digest: str) -> bool:
    """Whether ``secret`` is the one ``digest`` was made from (constant time; none never is)."""
    return bool(secret) and hmac.compare_digest(hash_secret(secret or ""), digest)
