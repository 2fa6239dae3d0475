"""Oversized and malformed request bodies: always a 4xx in the shared envelope, never a 5xx.
(The token endpoint refuses in RFC 6749 form instead: 400 ``invalid_request``.)

Every JSON endpoint that needs no existing resource is hit with the same set of bad bodies
(truncated, not an object, nested 10,000 deep, duplicate keys, NaN/Infinity, 1e400, NUL bytes).
Bodies over ``MAX_BODY_BYTES`` (12 MiB by default; settings are read when an app is created)
are refused with 413 ``payload_too_large``, whether the size is declared (Content-Length) or
only discovered while reading a chunked body.
"""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from services.settings import CommonSettings
from tests.fixtures.oauth import TOKEN_PATH, assert_oauth_error
from tests.hostile.conftest import admin_headers, assert_envelope, assert_open311_errors

MAX_BODY_BYTES = CommonSettings().max_body_bytes
OVERSIZED = MAX_BODY_BYTES + 1024


@dataclass(frozen=True)
class Endpoint:
    service: str
    method: str
    path: str
    auth: str  # "key" (intake channel key), "admin" (staff token) or "none"

    def __str__(self) -> str:
        return f"{self.service} {self.method} {self.path}"


# JSON endpoints that need no existing resource (the body is parsed before any lookup anyway).
JSON_ENDPOINTS = [
    Endpoint("intake", "POST", "/v1/requests", "key"),
    Endpoint("intake", "POST", "/v1/cppcc/stations", "key"),
    Endpoint("intake", "POST", "/v1/cppcc/visits", "key"),
    Endpoint("intake", "POST", "/v1/requests/YS0000000000/withdraw", "none"),
    Endpoint("routing", "POST", "/v1/auth/token", "none"),
    Endpoint("routing", "POST", "/v1/org/units", "admin"),
    Endpoint("routing", "POST", "/v1/org/import", "admin"),
    Endpoint("routing", "POST", "/v1/org/staff", "admin"),
    Endpoint("routing", "POST", "/v1/dispatch-rules", "admin"),
    Endpoint("routing", "POST", "/v1/calendar/years", "admin"),
    Endpoint("routing", "POST", "/v1/webhooks/subscriptions", "admin"),
    Endpoint("routing", "POST", "/v1/cases/00000000-0000-4000-8000-000000000000/verify", "admin"),
    Endpoint("scoring", "POST", "/v1/visits", "admin"),
    Endpoint("scoring", "POST", "/v1/ratings/by-platform", "admin"),
    Endpoint("scoring", "PUT", "/v1/evaluation/policy/2026-05", "admin"),
    Endpoint("scoring", "POST", "/v1/cases/00000000-0000-4000-8000-000000000000/feedback", "admin"),
]

DEPTH = 10_000

# name -> raw body; every one must be refused with a 4xx in the envelope.
MALFORMED: dict[str, bytes] = {
    "empty": b"",
    "whitespace": b"  \n ",
    "truncated": b'{"channel": "app", "title": "\xe5\x9b\xad\xe5\x8c\xba',
    "truncated_after_key": b'{"title":',
    "trailing_garbage": b'{"title": "x"} trailing',
    "single_quotes": b"{'title': 'x'}",
    "array": b"[]",
    "array_of_objects": b'[{"title": "x"}]',
    "string": b'"hello"',
    "number": b"42",
    "null": b"null",
    "true": b"true",
    "nested_arrays": b"[" * DEPTH + b"]" * DEPTH,
    "nested_objects": b'{"a":' * DEPTH + b"1" + b"}" * DEPTH,
    "nested_in_field": b'{"title": ' + b"[" * DEPTH + b"]" * DEPTH + b"}",
    "nan_literal": b'{"title": NaN, "lat": NaN, "score": NaN}',
    "infinity_literal": b'{"title": Infinity, "confidence": -Infinity}',
    "huge_float": b'{"title": 1e400, "days": 1e400, "year": 1e400}',
    "huge_int": b'{"days": ' + b"9" * 5000 + b', "year": ' + b"9" * 5000 + b"}",
    "nul_in_key": b'{"ti\\u0000tle": "x"}',
    "raw_nul": b'{"title": "a\x00b"}',
    "invalid_utf8": b'{"title": "\xff\xfe\xfa"}',
    "utf16_body": '{"title": "x"}'.encode("utf-16"),
    "lone_surrogate": b'{"title": "\\ud800\\ud800", "description": "\\udfff"}',
    "bad_escape": b'{"title": "\\x41"}',
}


def _headers(endpoint: Endpoint, channel_key: str) -> dict[str, str]:
    if endpoint.auth == "key":
        return {"X-API-Key": channel_key}
    if endpoint.auth == "admin":
        return admin_headers()
    return {"X-Tracking-Secret": "nope"}


def _assert_refused(endpoint: Endpoint, response: httpx.Response) -> None:
    if endpoint.path == TOKEN_PATH:
        assert_oauth_error(response)
    else:
        assert_envelope(response)


@pytest.fixture
def clients(
    intake_client: httpx.AsyncClient,
    routing_client: httpx.AsyncClient,
    scoring_client: httpx.AsyncClient,
) -> dict[str, httpx.AsyncClient]:
    return {"intake": intake_client, "routing": routing_client, "scoring": scoring_client}


@pytest.mark.parametrize("endpoint", JSON_ENDPOINTS, ids=str)
async def test_malformed_json_is_a_4xx_in_the_envelope(
    endpoint: Endpoint, clients: dict[str, httpx.AsyncClient], channel_key: str
) -> None:
    client = clients[endpoint.service]
    headers = {**_headers(endpoint, channel_key), "Content-Type": "application/json"}
    failures: list[str] = []
    for name, raw in MALFORMED.items():
        response = await client.request(
            endpoint.method, endpoint.path, content=raw, headers=headers
        )
        try:
            _assert_refused(endpoint, response)
        except AssertionError as exc:
            failures.append(f"{name}: {exc}")
    assert not failures, "\n".join(failures)


# Odd but well-formed: may be accepted (a UTF-8 BOM is allowed by RFC 8259 parsers, the last
# duplicate key wins) or refused, but never a 5xx, and a refusal is in the envelope.
ODD: dict[str, bytes] = {
    "bom_then_empty_object": b"\xef\xbb\xbf{}",
    "empty_object": b"{}",
    "duplicate_keys": b'{"channel": "app", "channel": "nope", "channel": "app"}',
    "operator_object": b'{"title": {"$ne": null}, "username": {"$gt": ""}}',
    "prototype_pollution": b'{"__proto__": {"admin": true}, "constructor": {"prototype": {}}}',
    "many_keys": b"{" + b",".join(b'"k%d": %d' % (i, i) for i in range(20_000)) + b"}",
    "long_key": b'{"' + b"k" * 100_000 + b'": 1}',
    "wide_array": b'{"attachments": [' + b",".join([b"{}"] * 50_000) + b"]}",
}


@pytest.mark.parametrize("endpoint", JSON_ENDPOINTS, ids=str)
async def test_odd_json_is_never_a_5xx(
    endpoint: Endpoint, clients: dict[str, httpx.AsyncClient], channel_key: str
) -> None:
    client = clients[endpoint.service]
    headers = {**_headers(endpoint, channel_key), "Content-Type": "application/json"}
    failures: list[str] = []
    for name, raw in ODD.items():
        response = await client.request(
            endpoint.method, endpoint.path, content=raw, headers=headers
        )
        if response.status_code >= 400:
            try:
                _assert_refused(endpoint, response)
            except AssertionError as exc:
                failures.append(f"{name}: {exc}")
    assert not failures, "\n".join(failures)


def _submission(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "channel": "app",
        "type": "complaint",
        "title": "园区公交班次太少",
        "description": "新兴国际商贸物流中心一带公交班次少,希望增加公交班次。",
        "submitter": {"kind": "person", "name": "张三", "phone": "13812345678"},
    }
    body.update(overrides)
    return body


async def test_duplicate_keys_last_one_wins(
    intake_client: httpx.AsyncClient, channel_key: str
) -> None:
    """Documented behaviour: like every JSON parser in the stack, the last duplicate key wins
    (and it is validated like any other value)."""
    raw = json.dumps(_submission())[:-1] + ', "title": "第二个标题覆盖第一个"}'
    response = await intake_client.post(
        "/v1/requests",
        content=raw.encode(),
        headers={"X-API-Key": channel_key, "Content-Type": "application/json"},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    track = await intake_client.get(
        f"/v1/requests/{body['tracking_no']}",
        headers={"X-Tracking-Secret": body["tracking_secret"]},
    )
    assert track.json()["title"] == "第二个标题覆盖第一个"


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ('{"lat": NaN, "lon": 114.5}', "lat"),
        ('{"lat": 36.5, "lon": NaN}', "lon"),
        ('{"lat": 36.5, "lon": Infinity}', "lon"),
        ('{"lat": -Infinity, "lon": 114.5}', "lat"),
        ('{"lat": 1e400, "lon": 114.5}', "lat"),
        ('{"lat": 36.5, "lon": -1e400}', "lon"),
    ],
)
async def test_non_finite_coordinates_in_json(
    intake_client: httpx.AsyncClient, channel_key: str, location: str, expected: str
) -> None:
    """NaN fails both bounds checks (every comparison with NaN is false), infinities one."""
    raw = json.dumps(_submission())[:-1] + f', "location": {location}}}'
    response = await intake_client.post(
        "/v1/requests",
        content=raw.encode(),
        headers={"X-API-Key": channel_key, "Content-Type": "application/json"},
    )
    error = assert_envelope(response, 422, "validation_error")
    assert ["body", "location", expected] in [item["loc"] for item in error["details"]], error


# --- oversized bodies -----------------------------------------------------------------------


def _oversized_endpoints() -> list[Endpoint]:
    return [
        Endpoint("intake", "POST", "/v1/requests", "key"),
        Endpoint("intake", "POST", "/v1/attachments", "key"),
        Endpoint("routing", "POST", "/v1/org/units", "admin"),
        Endpoint("routing", "POST", "/v1/org/import", "admin"),
        Endpoint("routing", "POST", "/v1/auth/token", "none"),
        Endpoint("scoring", "POST", "/v1/visits", "admin"),
        Endpoint("intake", "POST", "/open311/v2/requests.json", "none"),
    ]


def _content_type(endpoint: Endpoint) -> str:
    if endpoint.path.endswith("/attachments"):
        return "multipart/form-data; boundary=xyz"
    if endpoint.path.startswith("/open311"):
        return "application/x-www-form-urlencoded"
    return "application/json"


@pytest.fixture(scope="module")
def big_body() -> bytes:
    # Valid-looking JSON start, so nothing but the size can be the reason for the refusal.
    return b'{"title": "' + b"a" * OVERSIZED + b'"}'


@pytest.mark.parametrize("endpoint", _oversized_endpoints(), ids=str)
async def test_declared_oversized_body_is_413(
    endpoint: Endpoint, clients: dict[str, httpx.AsyncClient], channel_key: str, big_body: bytes
) -> None:
    headers = {**_headers(endpoint, channel_key), "Content-Type": _content_type(endpoint)}
    response = await clients[endpoint.service].request(
        endpoint.method, endpoint.path, content=big_body, headers=headers
    )
    assert int(response.request.headers["content-length"]) > MAX_BODY_BYTES
    assert_envelope(response, 413, "payload_too_large")


async def _chunks(total: int, size: int = 256 * 1024) -> AsyncIterator[bytes]:
    yield b'{"title": "'
    sent = 0
    while sent < total:
        yield b"a" * size
        sent += size
    yield b'"}'


@pytest.mark.parametrize(
    "endpoint",
    [
        e
        for e in _oversized_endpoints()
        if e.path in ("/v1/requests", "/v1/org/units", "/v1/visits")
    ],
    ids=str,
)
async def test_chunked_oversized_json_body_is_413(
    endpoint: Endpoint, clients: dict[str, httpx.AsyncClient], channel_key: str
) -> None:
    headers = {**_headers(endpoint, channel_key), "Content-Type": _content_type(endpoint)}
    response = await clients[endpoint.service].request(
        endpoint.method, endpoint.path, content=_chunks(OVERSIZED), headers=headers
    )
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert_envelope(response, 413, "payload_too_large")


PNG_HEAD = b"\x89PNG\r\n\x1a\n"


async def _multipart_chunks(file_size: int, piece: int = 256 * 1024) -> AsyncIterator[bytes]:
    yield (
        b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
        b"Content-Type: image/png\r\n\r\n" + PNG_HEAD
    )
    sent = len(PNG_HEAD)
    while sent < file_size:
        yield b"\x00" * piece
        sent += piece
    yield b"\r\n--xyz--\r\n"


async def test_chunked_upload_over_the_attachment_limit_is_413(
    intake_client: httpx.AsyncClient, channel_key: str
) -> None:
    """A chunked upload bigger than INTAKE_UPLOAD_MAX_BYTES (10 MiB) but under the body limit."""
    from intake_service.config import settings

    size = settings.upload_max_bytes + 512 * 1024
    assert size < MAX_BODY_BYTES
    response = await intake_client.post(
        "/v1/attachments",
        content=_multipart_chunks(size),
        headers={"X-API-Key": channel_key, "Content-Type": "multipart/form-data; boundary=xyz"},
    )
    assert_envelope(response, 413, "upload_too_large")


async def test_chunked_upload_over_the_body_limit_is_413(
    intake_client: httpx.AsyncClient, channel_key: str
) -> None:
    response = await intake_client.post(
        "/v1/attachments",
        content=_multipart_chunks(OVERSIZED),
        headers={"X-API-Key": channel_key, "Content-Type": "multipart/form-data; boundary=xyz"},
    )
    assert_envelope(response, 413, "payload_too_large")


@pytest.mark.parametrize("path", ["/v1/org/import", "/v1/auth/token"])
async def test_chunked_oversized_body_to_streaming_readers_is_413(
    path: str, routing_client: httpx.AsyncClient
) -> None:
    """Endpoints that read the body themselves stop at their own, smaller limit: 413 (the
    token endpoint's RFC 6749 form: 400 ``invalid_request``, the same code)."""
    response = await routing_client.post(
        path,
        content=_chunks(OVERSIZED),
        headers={**admin_headers(), "Content-Type": "application/json"},
    )
    if path == TOKEN_PATH:
        assert_oauth_error(response, "invalid_request", "document_too_large")
    else:
        assert_envelope(response, 413, "document_too_large")


async def test_chunked_oversized_open311_form_is_a_4xx(
    intake_client: httpx.AsyncClient,
) -> None:
    """Open311 answers in its own error shape. The form parser's per-field limit (1 MiB) stops
    a huge field first: 400, not 413 (acceptable: a 4xx, and nothing is buffered beyond 1 MiB)."""

    async def form() -> AsyncIterator[bytes]:
        yield b"service_code=water&description="
        for _ in range(OVERSIZED // (256 * 1024) + 1):
            yield b"a" * (256 * 1024)

    response = await intake_client.post(
        "/open311/v2/requests.json",
        content=form(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_open311_errors(response, (400, 413))


def _raw_http(base_url: str, head: bytes, body: Iterator[bytes] = iter(())) -> bytes:
    """Send a hand-written request on a real socket; return the first response's bytes."""
    parts = urlsplit(base_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(head)
        try:
            for chunk in body:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed early: that is the point
        received = b""
        try:
            while b"\r\n\r\n" not in received or len(received) < 200:
                data = sock.recv(65536)
                if not data:
                    break
                received += data
        except (TimeoutError, ConnectionResetError):
            pass
        return received


def test_declared_size_is_refused_before_the_body_is_sent(intake_server: str) -> None:
    """A client that announces a 1 GiB body is answered 413 at once, over a real socket: the
    server does not wait for (or buffer) the body."""
    head = (
        b"POST /v1/requests HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        b"X-API-Key: whatever\r\nContent-Length: 1073741824\r\n\r\n"
    )
    received = _raw_http(intake_server, head)
    assert received.startswith(b"HTTP/1.1 413"), received[:300]
    assert b'"payload_too_large"' in received


@pytest.mark.parametrize("declared", [b"-1", b"abc", b"99999999999999999999999999"])
def test_nonsense_content_length_is_not_a_5xx(intake_server: str, declared: bytes) -> None:
    head = (
        b"POST /v1/requests HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + declared + b"\r\n\r\n{}"
    )
    received = _raw_http(intake_server, head)
    # h11 refuses a malformed Content-Length itself (400); a huge one reaches the middleware.
    assert received.startswith((b"HTTP/1.1 400", b"HTTP/1.1 413")), received[:300]


def test_chunked_oversized_body_over_a_real_socket_is_413(intake_server: str) -> None:
    head = (
        b"POST /v1/requests HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        b"X-API-Key: whatever\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    piece = 1024 * 1024

    def chunks() -> Iterator[bytes]:
        for _ in range(OVERSIZED // piece + 2):
            yield b"%x\r\n" % piece + b"a" * piece + b"\r\n"
        yield b"0\r\n\r\n"

    received = _raw_http(intake_server, head, chunks())
    assert received.startswith(b"HTTP/1.1 413"), received[:300]


YAML_BOMBS: dict[str, bytes] = {
    "deep_flow": b"district: " + b"[" * DEPTH + b"]" * DEPTH,
    "deep_block": b"".join(b" " * i + b"k:\n" for i in range(500)),
    "alias_bomb": (
        b"a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
        b"c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
        b"district: [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
    ),
    "python_tag": b"district: !!python/object/apply:os.system ['true']\n",
    "binary_tag": b"district: !!binary aGVsbG8=\n",
    "tabs": b"district:\n\tcode: HS\n",
    "not_utf8": b"district:\n  name: \xff\xfe\n",
    "multi_document": b"district: {code: HS}\n---\ndistrict: {code: HS2}\n",
    "merge_key": b"base: &b {code: HS}\ndistrict:\n  <<: *b\n",
}


async def test_yaml_bombs_to_the_org_import_are_a_4xx(routing_client: httpx.AsyncClient) -> None:
    """The org import takes YAML: deep nesting, alias bombs and unsafe tags are refused."""
    failures = []
    for name, raw in YAML_BOMBS.items():
        response = await routing_client.post(
            "/v1/org/import",
            content=raw,
            headers={**admin_headers(), "Content-Type": "application/yaml"},
        )
        try:
            assert_envelope(response, 422)
        except AssertionError as exc:
            failures.append(f"{name}: {exc}")
    assert not failures, "\n".join(failures)
