"""Wrong content types: always a 4xx in the envelope, never a 5xx, and never parsed as if it
were the right type.

What the services answer (documented here, asserted below):

* JSON endpoints (FastAPI body models) refuse a form, text/plain, XML or multipart body with
  **422 ``validation_error``** (the body is not a JSON object), not 415: FastAPI does not check
  the media type of a model body. Acceptable; ``details`` says what is wrong. A JSON text sent
  with a wrong type (``text/plain``) is *not* parsed as JSON either.
* Endpoints that read the body themselves (``POST /v1/auth/token``, ``POST /v1/org/import``)
  answer **415 ``unsupported_media_type``** for a type they do not take (the token endpoint in
  RFC 6749 form: 400 ``invalid_request``, the same code).
* The multipart upload refuses JSON with 422 (``file`` missing).
* Open311 answers in its own shape (a list of ``{code, description}``), 400.
"""

from __future__ import annotations

import json

import httpx
import pytest

from tests.fixtures.oauth import TOKEN_PATH, assert_oauth_error
from tests.hostile.conftest import admin_headers, assert_envelope, assert_open311_errors

VALID_SUBMISSION = {
    "channel": "app",
    "type": "complaint",
    "title": "园区公交班次太少",
    "description": "新兴国际商贸物流中心一带公交班次少,希望增加公交班次。",
    "submitter": {"kind": "person", "name": "张三", "phone": "13812345678"},
}

# name -> (content-type, body built from the valid submission)
WRONG_TYPES: dict[str, tuple[str | None, bytes]] = {
    "form": (
        "application/x-www-form-urlencoded",
        b"channel=app&type=complaint&title=%E5%85%AC%E4%BA%A4&description=%E5%85%AC%E4%BA%A4%E7%8F%AD%E6%AC%A1%E5%A4%AA%E5%B0%91",
    ),
    "text_plain_json": ("text/plain", json.dumps(VALID_SUBMISSION).encode()),
    "text_plain": ("text/plain; charset=utf-8", "园区公交班次太少".encode()),
    "xml": (
        "application/xml",
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r><title>&x;</title></r>',
    ),
    "multipart": (
        "multipart/form-data; boundary=b",
        b'--b\r\nContent-Disposition: form-data; name="title"\r\n\r\nabc\r\n--b--\r\n',
    ),
    "multipart_no_boundary": ("multipart/form-data", b"--b\r\n\r\n"),
    "octet_stream": ("application/octet-stream", json.dumps(VALID_SUBMISSION).encode()),
    "no_content_type": (None, json.dumps(VALID_SUBMISSION).encode()),
    "garbage_type": ("this is not a media type", json.dumps(VALID_SUBMISSION).encode()),
    "yaml": ("application/yaml", b"channel: app\ntitle: x\n"),
}

# JSON-model endpoints: (service, path, auth)
JSON_MODEL_ENDPOINTS = [
    ("intake", "/v1/requests", "key"),
    ("intake", "/v1/cppcc/stations", "key"),
    ("routing", "/v1/org/units", "admin"),
    ("routing", "/v1/webhooks/subscriptions", "admin"),
    ("scoring", "/v1/visits", "admin"),
]


@pytest.fixture
def clients(
    intake_client: httpx.AsyncClient,
    routing_client: httpx.AsyncClient,
    scoring_client: httpx.AsyncClient,
) -> dict[str, httpx.AsyncClient]:
    return {"intake": intake_client, "routing": routing_client, "scoring": scoring_client}


def _auth(kind: str, channel_key: str) -> dict[str, str]:
    return {"X-API-Key": channel_key} if kind == "key" else admin_headers()


@pytest.mark.parametrize(("service", "path", "auth"), JSON_MODEL_ENDPOINTS, ids=lambda v: str(v))
async def test_json_endpoints_refuse_other_media_types(
    service: str,
    path: str,
    auth: str,
    clients: dict[str, httpx.AsyncClient],
    channel_key: str,
) -> None:
    failures = []
    for name, (content_type, body) in WRONG_TYPES.items():
        headers = _auth(auth, channel_key)
        if content_type is not None:
            headers["Content-Type"] = content_type
        response = await clients[service].post(path, content=body, headers=headers)
        try:
            error = assert_envelope(response, (415, 422))
            assert error["code"] in ("validation_error", "unsupported_media_type"), error
        except AssertionError as exc:
            failures.append(f"{name}: {exc}")
    assert not failures, "\n".join(failures)


async def test_json_text_with_a_wrong_type_is_not_parsed_as_json(
    intake_client: httpx.AsyncClient, channel_key: str
) -> None:
    """A valid submission sent as text/plain is refused (422), not accepted: a cross-site form
    can send text/plain without a CORS preflight, so this matters for the smart hall's origin."""
    response = await intake_client.post(
        "/v1/requests",
        content=json.dumps(VALID_SUBMISSION).encode(),
        headers={"X-API-Key": channel_key, "Content-Type": "text/plain"},
    )
    assert_envelope(response, 422, "validation_error")


@pytest.mark.parametrize(
    "content_type",
    ["application/json; charset=utf-8", "application/problem+json", "application/vnd.api+json"],
)
async def test_json_variants_are_accepted(
    intake_client: httpx.AsyncClient, channel_key: str, content_type: str
) -> None:
    """Documented: any ``application/*+json`` and a charset parameter are read as JSON."""
    response = await intake_client.post(
        "/v1/requests",
        content=json.dumps(VALID_SUBMISSION).encode(),
        headers={"X-API-Key": channel_key, "Content-Type": content_type},
    )
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("path", ["/v1/auth/token", "/v1/org/import"])
async def test_self_reading_endpoints_answer_415(
    routing_client: httpx.AsyncClient, path: str
) -> None:
    for content_type, body in [
        ("text/plain", b"username=admin"),
        ("application/xml", b"<r/>"),
        ("multipart/form-data; boundary=b", b"--b--\r\n"),
    ]:
        response = await routing_client.post(
            path, content=body, headers={**admin_headers(), "Content-Type": content_type}
        )
        if path == TOKEN_PATH:
            assert_oauth_error(response, "invalid_request", "unsupported_media_type")
        else:
            assert_envelope(response, 415, "unsupported_media_type")


async def test_upload_refuses_json(intake_client: httpx.AsyncClient, channel_key: str) -> None:
    response = await intake_client.post(
        "/v1/attachments", json={"file": "iVBORw0KGgo="}, headers={"X-API-Key": channel_key}
    )
    error = assert_envelope(response, 422, "validation_error")
    assert ["body", "file"] in [item["loc"] for item in error["details"]], error


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/x-www-form-urlencoded", b"file=abc"),
        (
            "multipart/form-data; boundary=b",
            b'--b\r\nContent-Disposition: form-data; name="file"\r\n\r\nabc\r\n--b--\r\n',
        ),
        ("multipart/form-data; boundary=b", b"--b\r\nnot a header\r\n\r\n"),
        (
            "multipart/form-data; boundary=b",
            b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n',
        ),
        ("text/plain", b"abc"),
    ],
    ids=["form", "field_not_file", "broken_part", "unterminated", "text"],
)
async def test_upload_refuses_malformed_multipart(
    intake_client: httpx.AsyncClient, channel_key: str, content_type: str, body: bytes
) -> None:
    response = await intake_client.post(
        "/v1/attachments",
        content=body,
        headers={"X-API-Key": channel_key, "Content-Type": content_type},
    )
    error = assert_envelope(response)
    assert response.status_code in (400, 415, 422), error


@pytest.mark.parametrize(
    "filename",
    [
        "../../etc/passwd",
        "a\\..\\..\\b.png",
        "<script>alert(1)</script>.png",
        "照片😀.png",
        "a" * 1000 + ".png",
    ],
    ids=["dotdot", "backslashes", "script", "unicode", "long"],
)
async def test_upload_filename_is_data_not_a_path(
    intake_client: httpx.AsyncClient, channel_key: str, filename: str
) -> None:
    """The file is stored under its sha256; the given name is kept (cut to 255) as text only."""
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
    response = await intake_client.post(
        "/v1/attachments",
        files={"file": (filename, png, "image/png")},
        headers={"X-API-Key": channel_key},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["filename"] == filename[:255]
    assert body["content_type"] == "image/png"


async def test_upload_with_a_lying_content_type_is_sniffed(
    intake_client: httpx.AsyncClient, channel_key: str
) -> None:
    html = b"<html><script>alert(1)</script></html>"
    response = await intake_client.post(
        "/v1/attachments",
        files={"file": ("photo.png", html, "image/png")},
        headers={"X-API-Key": channel_key},
    )
    assert_envelope(response, 415, "unsupported_upload_type")


async def test_upload_filename_with_nul_is_not_a_5xx(
    intake_client: httpx.AsyncClient, channel_key: str
) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
    body = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="a\x00b.png"\r\n'
        b"Content-Type: image/png\r\n\r\n" + png + b"\r\n--b--\r\n"
    )
    response = await intake_client.post(
        "/v1/attachments",
        content=body,
        headers={"X-API-Key": channel_key, "Content-Type": "multipart/form-data; boundary=b"},
    )
    assert response.status_code < 500, response.text
    if response.status_code == 201:
        assert "\x00" not in (response.json()["filename"] or "")


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        (
            "application/json",
            json.dumps({"service_code": "water", "description": "小区停水三天"}).encode(),
        ),
        ("text/plain", b"service_code=water"),
        (
            "application/xml",
            b"<service_request><service_code>water</service_code></service_request>",
        ),
    ],
    ids=["json", "text", "xml"],
)
async def test_open311_post_refuses_non_form_bodies(
    intake_client: httpx.AsyncClient, channel_key: str, content_type: str, body: bytes
) -> None:
    response = await intake_client.post(
        "/open311/v2/requests.json",
        content=body,
        headers={"Content-Type": content_type, "X-API-Key": channel_key},
    )
    assert_open311_errors(response)
