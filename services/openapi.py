"""What each service's OpenAPI document states beyond what FastAPI derives from the routes.

FastAPI documents the routes, their models and their security schemes; this module adds what the
kit does around them, so that a client generated from the document handles what the server
really sends:

- a ``422`` is the envelope of :mod:`shared.errors` (FastAPI's own ``HTTPValidationError`` is
  never sent, so it is replaced and dropped; routes with their own error shape, OAuth2's and
  Open311's, document theirs);
- ``201 Created`` carries ``Location``; a ``429`` carries ``Retry-After`` and the IETF
  ``RateLimit``/``RateLimit-Policy`` fields; an operation that takes ``Idempotency-Key`` may answer
  with ``Idempotent-Replayed``; every answer carries ``X-Request-Id``;
- an operation behind a security scheme documents its ``401``;
- path and query strings are one line of text (what ``refuse_control_characters_in_url``
  enforces).

Operation ids are the endpoint functions' names (``submit_request``, not
``submit_request_v1_requests_post``): generators turn them into method names.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any

from fastapi import FastAPI, Header, Response, status
from fastapi.routing import APIRoute

from services.headers import (
    IDEMPOTENCY_KEY,
    IDEMPOTENT_REPLAYED,
    LOCATION,
    RATELIMIT,
    RATELIMIT_POLICY,
    REQUEST_ID,
    RETRY_AFTER,
)
from shared.webhooks import RECEIVER_CONTRACT, SIGNATURE_HEADER, EventSpec

__all__ = ["SINGLE_LINE_PATTERN", "document", "operation_id", "register_webhook_events"]

# What refuse_control_characters_in_url enforces, stated so that generated clients and fuzzers
# know a path or query string is one line of text.
SINGLE_LINE_PATTERN = r"^[^\x00-\x1f\x7f]*$"

_ERROR = {"$ref": "#/components/schemas/ErrorResponse"}
_FASTAPI_ERROR_SCHEMAS = ("HTTPValidationError", "ValidationError")

_HEADERS: dict[str, dict[str, Any]] = {
    REQUEST_ID: {
        "description": "请求编号,报障时请提供 / The request's id, to quote when reporting a problem",
        "schema": {"type": "string"},
    },
    LOCATION: {
        "description": "新建资源的路径 / The path of the created resource",
        "schema": {"type": "string"},
    },
    RETRY_AFTER: {
        "description": "多少秒后可以重试 / Seconds until a retry can succeed",
        "schema": {"type": "integer", "minimum": 0},
    },
    RATELIMIT: {
        "description": (
            "剩余配额与重置秒数(IETF RateLimit 头) / Remaining quota and seconds to reset, "
            'e.g. `"write";r=0;t=42` (draft-ietf-httpapi-ratelimit-headers)'
        ),
        "schema": {"type": "string"},
    },
    RATELIMIT_POLICY: {
        "description": (
            '限流策略 / The quota policy, e.g. `"write";q=30;w=60` '
            "(draft-ietf-httpapi-ratelimit-headers)"
        ),
        "schema": {"type": "string"},
    },
    IDEMPOTENT_REPLAYED: {
        "description": (
            "为 true 时,这是同一 Idempotency-Key 首次请求的原样答复 / `true` when this is the "
            "stored answer to the first request with the same Idempotency-Key"
        ),
        "schema": {"type": "string", "enum": ["true"]},
    },
}

_UNAUTHORIZED = {"description": "未登录或凭据无效 / Missing or invalid credentials"}
_VALIDATION = {
    "description": (
        "参数校验失败(`validation_error`,逐项列在 details 中),或 Idempotency-Key 已用于另一请求体"
        "(`idempotency_key_reused`) / Validation failed, each problem listed in `details`; or "
        "the Idempotency-Key was used with another body"
    )
}


def operation_id(route: APIRoute) -> str:
    """The operation id of a route: its endpoint function's name (unique per service; a
    duplicate fails the OpenAPI test rather than being silently suffixed)."""
    return route.name


def document(app: FastAPI) -> None:
    """Post-process the app's OpenAPI document once, on first build."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for item in schema.get("paths", {}).values():
                for operation in item.values():
                    _single_line_parameters(operation)
                    _responses(operation)
                    _named_request_body(operation, components)
            # A webhook's responses are the receiver's: FastAPI's 422 is not one of them.
            for item in schema.get("webhooks", {}).values():
                for operation in item.values():
                    operation.get("responses", {}).pop("422", None)
            schemas = schema.get("components", {}).get("schemas", {})
            for name in _FASTAPI_ERROR_SCHEMAS:
                schemas.pop(name, None)
            schema.setdefault("components", {})["headers"] = _HEADERS
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _single_line_parameters(operation: dict[str, Any]) -> None:
    for parameter in operation.get("parameters", []):
        outer = parameter.get("schema", {})
        for variant in outer.get("anyOf", [outer]):
            if variant.get("type") == "string" and not (
                variant.keys() & {"pattern", "format", "enum", "const"}
            ):
                variant["pattern"] = SINGLE_LINE_PATTERN


def _named_request_body(operation: dict[str, Any], components: dict[str, Any]) -> None:
    """An inline request-body object becomes a named schema (``IssueTokenBody``): generators
    name an inline body ``<Operation>Request``, the name they also give the operation's own
    parameter type, and the two then collide (openapi-generator's typescript-fetch)."""
    name = "".join(part.title() for part in operation["operationId"].split("_")) + "Body"
    for media in operation.get("requestBody", {}).get("content", {}).values():
        body = media.get("schema", {})
        if body.get("type") == "object" and "properties" in body:
            components.setdefault(name, {"title": name, **body})
            media["schema"] = {"$ref": f"#/components/schemas/{name}"}


def _header(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/headers/{name}"}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR}}}


def _responses(operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    if operation.get("security") and "401" not in responses:
        responses["401"] = _error(_UNAUTHORIZED["description"])
    validation = responses.get("422", {}).get("content", {}).get("application/json", {})
    if validation.get("schema", {}).get("$ref", "").endswith("/HTTPValidationError"):
        responses["422"] = _error(_VALIDATION["description"])
    idempotent = any(
        p.get("in") == "header" and p.get("name", "").lower() == IDEMPOTENCY_KEY.lower()
        for p in operation.get("parameters", [])
    )
    for code, response in responses.items():
        headers = response.setdefault("headers", {})
        headers[REQUEST_ID] = _header(REQUEST_ID)
        if code == "201":
            headers[LOCATION] = _header(LOCATION)
        if code == "429":
            for name in (RETRY_AFTER, RATELIMIT, RATELIMIT_POLICY):
                headers[name] = _header(name)
        if idempotent and code.startswith("2"):
            headers[IDEMPOTENT_REPLAYED] = _header(IDEMPOTENT_REPLAYED)


def _receiver(spec: EventSpec) -> Callable[..., Awaitable[None]]:
    async def receive(
        body: Any,  # the event's message model, set below
        webhook_id: Annotated[str, Header(description="The message id (msg_…); deduplicate on it")],
        webhook_timestamp: Annotated[str, Header(description="Unix seconds when it was signed")],
        webhook_signature: Annotated[str, Header(description=SIGNATURE_HEADER)],
    ) -> None:
        return None

    receive.__name__ = f"receive_{spec.event_type.replace('.', '_')}"
    receive.__doc__ = f"{spec.summary}\n\n{RECEIVER_CONTRACT}"
    receive.__annotations__["body"] = spec.envelope
    return receive


def register_webhook_events(
    app: FastAPI, events: Sequence[EventSpec], *, tag: str, audience: str
) -> None:
    """List the events a service sends in its OpenAPI 3.1 ``webhooks`` section: one operation
    per event type and version, whose request body is that event's message model
    (:mod:`shared.webhooks`), so a generator sees exactly what a receiver is sent.
    ``audience`` (``department``, ``channel``) prefixes the operation ids."""
    for spec in events:
        app.webhooks.post(
            spec.event_type,
            status_code=status.HTTP_204_NO_CONTENT,
            response_class=Response,
            tags=[tag],
            summary=f"{spec.event_type} v{spec.version}",
            operation_id=f"{audience}_{spec.event_type.replace('.', '_')}_v{spec.version}",
            responses={204: {"description": "Any 2xx acknowledges the message"}},
        )(_receiver(spec))
