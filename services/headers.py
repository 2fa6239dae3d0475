"""The HTTP header fields the public API reads and sets, named once.

The CORS configuration is derived from the two lists at the bottom: a browser may send what the
API reads and may see what it sets, and nothing else needs to keep a copy of either list.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ACCESS_REASON",
    "API_KEY",
    "AUTHORIZATION",
    "CONTENT_DISPOSITION",
    "CONTENT_TYPE",
    "EXPOSED_HEADERS",
    "IDEMPOTENCY_KEY",
    "IDEMPOTENT_REPLAYED",
    "LOCATION",
    "RATELIMIT",
    "RATELIMIT_POLICY",
    "REQUEST_HEADERS",
    "REQUEST_ID",
    "RETRY_AFTER",
    "SUBMITTER_PHONE",
    "TRACEPARENT",
    "TRACKING_SECRET",
]

# Read from requests.
AUTHORIZATION: Final = "Authorization"
CONTENT_TYPE: Final = "Content-Type"  # not CORS-safelisted for application/json
IDEMPOTENCY_KEY: Final = "Idempotency-Key"
API_KEY: Final = "X-API-Key"
TRACKING_SECRET: Final = "X-Tracking-Secret"
SUBMITTER_PHONE: Final = "X-Submitter-Phone"
REQUEST_ID: Final = "X-Request-Id"  # read when given, else made up; always answered
# Why the discipline role opens a whistleblower's identity (audited); UTF-8, percent-encoded.
ACCESS_REASON: Final = "X-Access-Reason"
TRACEPARENT: Final = "traceparent"  # W3C Trace Context, from a browser's tracing SDK

# Set on responses.
IDEMPOTENT_REPLAYED: Final = "Idempotent-Replayed"
RETRY_AFTER: Final = "Retry-After"
CONTENT_DISPOSITION: Final = "Content-Disposition"
LOCATION: Final = "Location"
RATELIMIT: Final = "RateLimit"
RATELIMIT_POLICY: Final = "RateLimit-Policy"

# What a cross-origin caller may send (the preflight's Access-Control-Allow-Headers).
REQUEST_HEADERS: Final = (
    AUTHORIZATION,
    CONTENT_TYPE,
    IDEMPOTENCY_KEY,
    API_KEY,
    TRACKING_SECRET,
    SUBMITTER_PHONE,
    REQUEST_ID,
    TRACEPARENT,
    ACCESS_REASON,
)

# What a cross-origin caller may read (Access-Control-Expose-Headers); the CORS-safelisted
# response headers (Content-Type, Cache-Control, …) are readable anyway.
EXPOSED_HEADERS: Final = (
    IDEMPOTENT_REPLAYED,
    REQUEST_ID,
    RETRY_AFTER,
    CONTENT_DISPOSITION,
    LOCATION,
    RATELIMIT,
    RATELIMIT_POLICY,
)
