"""The error envelope every service returns, so clients can decode any failure the same way.

``code`` is stable and machine-readable; ``message`` is Chinese first, ``message_en`` English.
"""

from typing import Any

from shared.schemas.base import Schema


class ErrorBody(Schema):
    code: str
    message: str
    message_en: str
    details: Any | None = None
    request_id: str | None = None


class ErrorResponse(Schema):
    error: ErrorBody
