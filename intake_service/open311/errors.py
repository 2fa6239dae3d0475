"""Open311-shaped errors for everything under ``/open311``.

GeoReport v2: "HTTP error codes should always be 404 for resources that don't exist, 403 for
errors because of wrong or missing api_key and basically 400 for any other error"; the body is
a list of ``{"code", "description"}`` (``<errors><error>...`` in XML), in the format the URL
asks for. The body ``code`` may be more specific than the HTTP status (we use 503 for a
temporary outage, answered as the spec's 400 "general service error").

The app's global handlers (``services.errors``) render the native envelope; the Open311 routes
swap in their own handler for the duration of the request (:class:`Open311Route`), so nothing
there changes and no error from these routes ever reaches the generic 500 handler.
"""

from __future__ import annotations

import structlog
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from intake_service.open311.formats import Format, format_for_errors, render
from services.errors import ErrorShapeRoute, ServiceError, bilingual

log = structlog.get_logger(__name__)


class Open311Error(Exception):
    """An error answered in the Open311 shape: one HTTP status, one or more body entries."""

    def __init__(
        self,
        status_code: int,
        errors: list[tuple[int, str]],
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__("; ".join(description for _code, description in errors))
        self.status_code = status_code
        self.errors = errors
        self.headers = headers


def bad_request(*descriptions: str) -> Open311Error:
    return Open311Error(400, [(400, description) for description in descriptions])


def not_found(description: str) -> Open311Error:
    return Open311Error(404, [(404, description)])


def forbidden(description: str) -> Open311Error:
    return Open311Error(403, [(403, description)])


def error_response(fmt: Format, error: Open311Error) -> Response:
    body = [{"code": code, "description": description} for code, description in error.errors]
    return render(fmt, "errors", body, status_code=error.status_code, headers=error.headers)


def _validation_descriptions(exc: RequestValidationError) -> list[str]:
    descriptions = []
    for item in exc.errors():
        location = ".".join(
            str(part) for part in item.get("loc", ()) if part not in ("query", "path", "body")
        )
        message = str(item.get("msg", "invalid"))
        descriptions.append(f"{location}: {message}" if location else message)
    return descriptions or ["请求无效 / Invalid request"]


def as_open311_error(exc: Exception) -> Open311Error:
    if isinstance(exc, Open311Error):
        return exc
    if isinstance(exc, RequestValidationError):
        return bad_request(*_validation_descriptions(exc))
    if isinstance(exc, ServiceError):
        status = {401: 403, 403: 403, 404: 404}.get(exc.status_code, 400)
        return Open311Error(status, [(status, bilingual(exc.message, exc.message_en))])
    if isinstance(exc, StarletteHTTPException):
        if exc.status_code == 404:
            return not_found(bilingual("资源不存在", "Resource not found"))
        if exc.status_code == 405:
            return Open311Error(
                405,
                [(405, bilingual("不支持该请求方法", "Method not allowed"))],
                headers=dict(exc.headers) if exc.headers else None,
            )
        return bad_request(bilingual("请求无法处理", str(exc.detail)))
    if isinstance(
        exc, OperationalError | DBAPIError | PoolTimeoutError | ConnectionError | OSError
    ):
        log.warning("open311.dependency_unavailable", error=str(exc)[:300], kind=type(exc).__name__)
        return Open311Error(
            400,
            [
                (
                    503,
                    bilingual(
                        "服务暂时不可用,请稍后重试", "Service temporarily unavailable, retry later"
                    ),
                )
            ],
            headers={"Retry-After": "2"},
        )
    log.exception("open311.unhandled_error")
    return bad_request(bilingual("处理请求时出错", "General service error"))


async def handle_exception(request: Request, exc: Exception) -> Response:
    return error_response(format_for_errors(request), as_open311_error(exc))


class Open311Route(ErrorShapeRoute):
    """A route whose failures, wherever they happen, are answered by :func:`handle_exception`."""

    render_error = staticmethod(handle_exception)
