"""The error envelope every service returns, so clients can decode any failure the same way.

``code`` is stable and machine-readable; ``message`` is Chinese first, ``message_en`` English.
"""

from typing import Any

from pydantic import Field

from shared.schemas.base import Schema


class ErrorBody(Schema):
    code: str = Field(description="稳定的机器可读错误码 / Stable machine-readable code")
    message: str = Field(description="中文说明 / The message in Chinese")
    message_en: str = Field(description="English message")
    # An object or a list, never a bare value: generators type an untyped ``{}`` badly.
    details: dict[str, Any] | list[Any] | None = Field(
        None, description="依错误码而定的细节 / Details that depend on the code"
    )
    request_id: str | None = Field(None, description="X-Request-Id of the failed request")


class ErrorResponse(Schema):
    error: ErrorBody
