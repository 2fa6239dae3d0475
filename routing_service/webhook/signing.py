"""Standard Webhooks signing (https://www.standardwebhooks.com): secrets and request headers."""

from __future__ import annotations

import base64
import math
import secrets
from datetime import datetime

from standardwebhooks.webhooks import Webhook

__all__ = ["SECRET_PREFIX", "USER_AGENT", "new_secret", "signed_headers"]

SECRET_PREFIX = "whsec_"
USER_AGENT = "Yingshang-Webhooks/1.0"


def new_secret() -> str:
    """A signing secret in the spec's format: ``whsec_`` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def signed_headers(secret: str, message_id: str, timestamp: datetime, body: str) -> dict[str, str]:
    """Headers of one delivery attempt; ``body`` must be exactly the bytes sent (as text)."""
    signature: str = Webhook(secret).sign(message_id, timestamp, body)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(math.floor(timestamp.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }
