"""Service errors and the handlers that render every failure in the shared envelope.

Every error has a stable ``code``, a Chinese ``message`` and an English ``message_en``. Nothing
escapes as a bare 500: database outages become 503 ``service_unavailable`` so clients retry.
"""

from __future__ import annotations

from typing import Any, Final

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Receive, Scope, Send

from services.headers import RETRY_AFTER
from services.observability import current_request_id
from services.responses import JSONResponse
from shared.errors import ErrorBody, ErrorResponse

__all__ = [
    "BadRequest",
    "Conflict",
    "ErrorShapeRoute",
    "Forbidden",
    "NotFound",
    "ServiceError",
    "ServiceUnavailable",
    "Unauthorized",
    "add_exception_handlers",
    "as_service_error",
    "bilingual",
    "error_responses",
]

log = structlog.get_logger(__name__)


class ServiceError(Exception):
    status_code = 400
    code = "bad_request"
    message = "请求有误"
    message_en = "Bad request"

    def __init__(
        self,
        message: str | None = None,
        message_en: str | None = None,
        *,
        code: str | None = None,
        status_code: int | None = None,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or type(self).message
        self.message_en = message_en or type(self).message_en
        self.code = code or type(self).code
        self.status_code = status_code or type(self).status_code
        self.details = details
        self.headers = headers
        super().__init__(f"{self.code}: {self.message_en}")


class BadRequest(ServiceError):
    pass


class Unauthorized(ServiceError):
    status_code = 401
    code = "unauthorized"
    message = "未认证或凭据无效"
    message_en = "Missing or invalid credentials"


class Forbidden(ServiceError):
    status_code = 403
    code = "forbidden"
    message = "无权执行此操作"
    message_en = "Not allowed"


class NotFound(ServiceError):
    status_code = 404
    code = "not_found"
    message = "未找到"
    message_en = "Not found"


class Conflict(ServiceError):
    status_code = 409
    code = "conflict"
    message = "当前状态不允许此操作"
    message_en = "The current state does not allow this"


class ServiceUnavailable(ServiceError):
    status_code = 503
    code = "service_unavailable"
    message = "服务暂时不可用,请稍后重试"
    message_en = "Service temporarily unavailable, retry later"


def bilingual(message: str, message_en: str) -> str:
    """One line for fields that hold a single message (Open311, OAuth2): Chinese first."""
    return f"{message} / {message_en}"


def published_details(details: Any) -> dict[str, Any] | list[Any] | None:
    """``details`` as published: an object or a list (a bare value is wrapped), or null."""
    if details is None or isinstance(details, dict | list):
        return details
    return {"value": details}


def render(
    status_code: int,
    code: str,
    message: str,
    message_en: str,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ErrorResponse(
        error=ErrorBody(
            code=code,
            message=message,
            message_en=message_en,
            details=published_details(details),
            request_id=current_request_id(),
        )
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=status_code, headers=headers)


_HTTP_CODES: dict[int, tuple[str, str, str]] = {
    404: ("not_found", "资源不存在", "Resource not found"),
    405: ("method_not_allowed", "不支持该请求方法", "Method not allowed"),
    406: ("not_acceptable", "不支持请求的响应格式", "Not acceptable"),
    413: ("payload_too_large", "请求体过大", "Request body too large"),
    415: ("unsupported_media_type", "不支持的内容类型", "Unsupported media type"),
}


def _clean_validation_errors(errors: Any) -> list[dict[str, Any]]:
    cleaned = []
    for error in errors:
        cleaned.append(
            {
                "loc": [str(part) for part in error.get("loc", ())],
                "msg": str(error.get("msg", "")),
                "type": str(error.get("type", "")),
            }
        )
    return cleaned


# Failures of a dependency (database, Redis, network): retryable 503s unless the input caused them.
_UNAVAILABLE = (OperationalError, DBAPIError, PoolTimeoutError, ConnectionError, OSError)


def as_service_error(exc: Exception) -> ServiceError:
    """The failure as the error it is answered with: one mapping for every error shape (the
    envelope here, the routes with their own shape through :class:`ErrorShapeRoute`)."""
    if isinstance(exc, ServiceError):
        return exc
    if isinstance(exc, RequestValidationError):
        return ServiceError("请求参数校验失败", "Request validation failed", code="validation_error",
                            status_code=422, details=_clean_validation_errors(exc.errors()))  # fmt: skip
    if isinstance(exc, StarletteHTTPException):
        code, message, message_en = _HTTP_CODES.get(
            exc.status_code, ("http_error", "请求无法处理", str(exc.detail))
        )
        return ServiceError(message, message_en, code=code, status_code=exc.status_code,
                            headers=dict(exc.headers or {}))  # fmt: skip
    if isinstance(exc, _UNAVAILABLE):
        sqlstate = str(getattr(getattr(exc, "orig", None), "sqlstate", None) or "")
        if sqlstate.startswith("22"):
            # Data exception (NUL byte, value too long, out of range…): the input's fault, and
            # retrying it would fail the same way.
            return ServiceError("输入的数据无法保存(含非法字符或超出范围)",
                                "The input cannot be stored (invalid characters or out of range)",
                                code="invalid_input", status_code=422)  # fmt: skip
        if sqlstate.startswith("23"):
            # A uniqueness race lost to a concurrent request: retrying shows the winner's result.
            return ServiceError("与并发请求冲突,请重试", "Conflicted with a concurrent request, retry",
                                code="conflict_retry", status_code=409, headers={RETRY_AFTER: "1"})  # fmt: skip
        log.warning("dependency.unavailable", error=str(exc)[:300], kind=type(exc).__name__)
        return ServiceUnavailable(headers={RETRY_AFTER: "2"})
    log.exception("unhandled_error")
    return ServiceError("服务器内部错误", "Internal server error", code="internal_error",
                        status_code=500)  # fmt: skip


def _render_error(err: ServiceError) -> JSONResponse:
    return render(err.status_code, err.code, err.message, err.message_en, err.details, err.headers)


def add_exception_handlers(app: FastAPI) -> None:
    async def handle(_request: Request, exc: Exception) -> JSONResponse:
        return _render_error(as_service_error(exc))

    for kind in (ServiceError, RequestValidationError, StarletteHTTPException, *_UNAVAILABLE):
        app.add_exception_handler(kind, handle)
    # The catch-all, which Starlette calls from its outermost middleware: never a bare 500.
    app.add_exception_handler(Exception, handle)


# Where Starlette looks up the exception handlers of the request being handled.
_HANDLERS_KEY: Final = "starlette.exception_handlers"


class ErrorShapeRoute(APIRoute):
    """A route that answers its failures in a shape of its own: whatever fails while it handles
    a request (parameter parsing, the endpoint, the session's commit) goes to
    :meth:`render_error` instead of the app's envelope handlers. Errors before the route is
    reached (404, 405, an oversized body) keep the envelope."""

    @staticmethod
    async def render_error(request: Request, exc: Exception) -> Response:
        raise NotImplementedError

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        previous: Any = scope.get(_HANDLERS_KEY)
        scope[_HANDLERS_KEY] = ({Exception: self.render_error}, {})
        try:
            await super().handle(scope, receive, send)
        finally:
            if previous is None:
                scope.pop(_HANDLERS_KEY, None)
            else:
                scope[_HANDLERS_KEY] = previous


def error_responses(*status_codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries documenting the error envelope."""
    return {code: {"model": ErrorResponse} for code in status_codes}
