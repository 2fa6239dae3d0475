"""Standard Webhooks signing (https://www.standardwebhooks.com): secrets and request headers.

During a secret rotation's overlap window a message is signed with both secrets: the
``webhook-signature`` header is the space-separated list ``v1,<new> v1,<previous>``, and a
receiver verifying with either secret accepts it (the spec's rotation scheme)."""

from __future__ import annotations

import base64
import math
import secrets
from collections.abc import Sequence
from datetime import datetime

from standardwebhooks.webhooks import Webhook

__all__ = ["SECRET_PREFIX", "USER_AGENT", "new_secret", "signed_headers"]

SECRET_PREFIX = "whsec_"
USER_AGENT = "Yingshang-Webhooks/1.0"


def new_secret() -> str:
    """A signing secret in the spec's format: ``whsec_`` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def signed_headers(
    secrets: str | Sequence[str], message_id: str, timestamp: datetime, body: str
) -> dict[str, str]:
    """Headers of one delivery attempt, signed with each secret (the current one first);
    ``body`` must be exactly the bytes sent (as text)."""
    keys = [secrets] if isinstance(secrets, str) else list(secrets)
    signatures = [Webhook(key).sign(message_id, timestamp, body) for key in keys]
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(math.floor(timestamp.timestamp())),
        "webhook-signature": " ".join(signatures),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }
