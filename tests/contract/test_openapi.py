"""The published OpenAPI documents are valid 3.1 and say what the servers really do: one tag,
a description, a meaningful id and a typed answer per operation; security schemes per operation;
the real error envelope; the headers the kit sets."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from openapi_spec_validator import validate

SERVICES = ("intake", "routing", "scoring")
# Routes whose error bodies follow a published standard instead of the envelope.
OWN_ERROR_SHAPES = ("/v1/auth/token", "/open311/")


def _app(service: str) -> FastAPI:
    module = __import__(f"{service}_service.app", fromlist=["app"])
    app: FastAPI = module.app
    return app


def _operations(schema: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


@pytest.fixture(scope="module", params=SERVICES)
def document(request: pytest.FixtureRequest) -> dict[str, Any]:
    schema: dict[str, Any] = _app(request.param).openapi()
    return schema


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_every_operation_has_one_tag_a_description_and_a_function_name_as_id(
    document: dict[str, Any],
) -> None:
    ids = []
    for path, method, operation in _operations(document):
        where = f"{method.upper()} {path}"
        assert len(operation.get("tags", [])) == 1, where
        assert operation.get("description", "").strip(), f"{where} has no description"
        ids.append(operation["operationId"])
        assert re.fullmatch(r"[a-z][a-z0-9_]*", operation["operationId"]), where
        assert "_v1_" not in operation["operationId"], where
    assert len(ids) == len(set(ids)), "operation ids repeat"


def test_every_success_is_typed(document: dict[str, Any]) -> None:
    for path, method, operation in _operations(document):
        for status, response in operation["responses"].items():
            if not status.startswith("2") or status == "204":
                continue
            content = response.get("content")
            assert content, f"{method.upper()} {path} {status} has no body"
            for media_type, body in content.items():
                assert body.get("schema"), f"{method.upper()} {path} {status} {media_type}"
                if media_type == "application/json":
                    assert body["schema"] != {}, f"{method.upper()} {path} {status} is untyped"


def test_errors_are_the_envelope_and_secured_operations_document_401(
    document: dict[str, Any],
) -> None:
    assert "HTTPValidationError" not in document["components"]["schemas"]
    error = {"$ref": "#/components/schemas/ErrorResponse"}
    secured = 0
    for path, method, operation in _operations(document):
        own_shape = any(marker in path for marker in OWN_ERROR_SHAPES)
        responses = operation["responses"]
        if "422" in responses and not own_shape:
            assert responses["422"]["content"]["application/json"]["schema"] == error, path
        if operation.get("security"):
            secured += 1
            assert "401" in responses, f"{method.upper()} {path}"
        for scheme in operation.get("security", []):
            assert set(scheme) <= set(document["components"]["securitySchemes"])
    assert secured, "no operation declares a security scheme"


def test_headers_the_kit_sets_are_documented(document: dict[str, Any]) -> None:
    headers = document["components"]["headers"]
    assert {"X-Request-Id", "Location", "Retry-After", "RateLimit", "RateLimit-Policy"} <= set(
        headers
    )
    for path, method, operation in _operations(document):
        takes_key = any(
            p["in"] == "header" and p["name"] == "Idempotency-Key"
            for p in operation.get("parameters", [])
        )
        for status, response in operation["responses"].items():
            names = set(response.get("headers", {}))
            assert "X-Request-Id" in names, f"{method.upper()} {path} {status}"
            if status == "201":
                assert "Location" in names, f"{method.upper()} {path}"
            if status == "429":
                assert {"Retry-After", "RateLimit", "RateLimit-Policy"} <= names, path
            if takes_key and status.startswith("2"):
                assert "Idempotent-Replayed" in names, f"{method.upper()} {path}"


def test_security_schemes_are_the_real_credentials() -> None:
    routing = _app("routing").openapi()["components"]["securitySchemes"]
    assert routing["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": routing["bearer"]["description"],
    }
    assert routing["apiKey"]["in"] == "header"
    assert routing["apiKey"]["name"] == "X-API-Key"
    intake = _app("intake").openapi()["components"]["securitySchemes"]
    assert {"apiKey", "trackingSecret", "submitterPhone"} <= set(intake)
    # No operation still takes credentials as a plain header parameter.
    for service in SERVICES:
        for path, method, operation in _operations(_app(service).openapi()):
            names = {p["name"].lower() for p in operation.get("parameters", [])}
            assert not names & {"authorization", "x-api-key", "x-tracking-secret"}, (
                f"{service}: {method.upper()} {path}"
            )


def test_submissions_document_the_idempotency_key() -> None:
    schema = _app("intake").openapi()
    submit = schema["paths"]["/v1/requests"]["post"]
    (parameter,) = [p for p in submit["parameters"] if p["name"] == "Idempotency-Key"]
    assert parameter["in"] == "header"
    assert not parameter.get("required", False)
    assert parameter["schema"]["maxLength"] == 255
