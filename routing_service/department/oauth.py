"""The token endpoint's answers in OAuth 2.0's own form (RFC 6749, sections 5.1 and 5.2), so
that OAuth2 client libraries understand its refusals.

A refusal is ``400 {"error": "invalid_grant", "error_description": "…"}`` with one of the
RFC's error codes; the description is the bilingual message (Chinese first). The project's
envelope fields (``code``, ``message``, ``message_en``, ``details``, ``request_id``) ride along
as extension members, so the stable code that says *which* ``invalid_request`` it was is kept.
Every answer of the endpoint, success or refusal, is marked ``Cache-Control: no-store`` and
``Pragma: no-cache``.

A sign-in locked after too many failures (``login_locked``) keeps its 429 and ``Retry-After``
(as ``temporarily_unavailable``), like the 503 of an outage: a 400 would read as a wrong password.

No client authentication is used (a public client; ``client_id`` is ignored), so the RFC's
``invalid_client`` and its 401 never arise.
"""

from __future__ import annotations

from typing import Final, Literal

from fastapi import Request
from fastapi.responses import Response
from pydantic import Field
from starlette.types import Message, Receive, Scope, Send

from routing_service.department.exceptions import InvalidCredentials, UnsupportedGrantType
from services.errors import (
    ErrorShapeRoute,
    ServiceError,
    as_service_error,
    bilingual,
    published_details,
)
from services.observability import current_request_id
from services.responses import JSONResponse
from shared.errors import ErrorBody

__all__ = ["NO_STORE", "OAuthError", "OAuthTokenRoute"]

# RFC 6749 section 5.1: a token answer must not be cached, by the client or on the way.
NO_STORE: Final = {"Cache-Control": "no-store", "Pragma": "no-cache"}

OAuthErrorCode = Literal[
    "invalid_request",
    "invalid_grant",
    "unsupported_grant_type",
    "server_error",
    "temporarily_unavailable",
]

# The project's codes with a more specific RFC 6749 code than invalid_request.
_RFC_CODES: Final[dict[str, OAuthErrorCode]] = {
    InvalidCredentials.code: "invalid_grant",  # the resource owner's credentials are the grant
    UnsupportedGrantType.code: "unsupported_grant_type",
}


class OAuthError(ErrorBody):
    """RFC 6749 section 5.2 error response, with the project's envelope fields as extensions."""

    error: OAuthErrorCode = Field(description="RFC 6749 error code")
    error_description: str = Field(description="中文 / English, for people")


def oauth_error(err: ServiceError) -> JSONResponse:
    status: int
    rfc_code: OAuthErrorCode
    if err.status_code >= 500 or err.status_code == 429:
        # Outside section 5.2 (which covers refusals); named as the authorization endpoint's
        # errors are (section 4.1.2.1), keeping the status so clients retry (a locked sign-in,
        # 429, after its Retry-After).
        status = err.status_code
        rfc_code = "temporarily_unavailable" if status in (429, 503) else "server_error"
    else:
        status = 400  # section 5.2: every refusal is a 400 (but invalid_client, unused here)
        rfc_code = _RFC_CODES.get(err.code, "invalid_request")
    body = OAuthError(
        error=rfc_code,
        error_description=bilingual(err.message, err.message_en),
        code=err.code,
        message=err.message,
        message_en=err.message_en,
        details=published_details(err.details),
        request_id=current_request_id(),
    )
    # Headers belong to the status they were set for (WWW-Authenticate to a 401, Retry-After
    # to a 503), so they go only where the status is kept.
    headers = err.headers if status == err.status_code else None
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


class OAuthTokenRoute(ErrorShapeRoute):
    """The token endpoint's route: refusals in RFC 6749 form, every answer uncacheable."""

    @staticmethod
    async def render_error(request: Request, exc: Exception) -> Response:
        return oauth_error(as_service_error(exc))

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_uncacheable(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    *((name.lower().encode(), value.encode()) for name, value in NO_STORE.items()),
                ]
            await send(message)

        await super().handle(scope, receive, send_uncacheable)
