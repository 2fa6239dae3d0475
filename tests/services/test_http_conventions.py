"""HTTP conventions an integrator relies on, checked through the apps: browser CORS (real
preflights), the Idempotency-Key refusal of a changed body, and the rate-limit fields
(draft-ietf-httpapi-ratelimit-headers-11) with a ``Retry-After`` that tells the real wait."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI

from intake_service.config import settings
from services import ratelimit
from services.headers import EXPOSED_HEADERS, REQUEST_HEADERS
from services.settings import common_settings
from tests.fixtures.clients import _client_for
from tests.intake_service.issue.test_endpoints import submission, submit

HALL = "https://hall.hanshan.example"
STRANGER = "https://evil.example"


# --- CORS ---------------------------------------------------------------------------------


@pytest.fixture
def cors_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """CORS_ORIGINS for the apps created meanwhile (settings are read when an app is made)."""
    monkeypatch.setenv("CORS_ORIGINS", f'["{HALL}"]')
    common_settings.cache_clear()
    yield
    common_settings.cache_clear()  # re-read once monkeypatch has restored the environment


@pytest.fixture
async def hall_intake(cors_env: None, test_database: str) -> AsyncIterator[httpx.AsyncClient]:
    from intake_service.app import create_app

    async for client in _client_for(create_app()):
        yield client


def _apps() -> dict[str, FastAPI]:
    from intake_service.app import create_app as intake
    from routing_service.app import create_app as routing
    from scoring_service.app import create_app as scoring

    return {"intake": intake(), "routing": routing(), "scoring": scoring()}


async def test_every_header_parameter_of_the_api_is_allowed_cross_origin() -> None:
    """The allow-list is one constant: this keeps it complete as endpoints add headers."""
    allowed = {name.lower() for name in REQUEST_HEADERS}
    read = {
        (service, parameter["name"].lower())
        for service, app in _apps().items()
        for item in app.openapi()["paths"].values()
        for operation in item.values()
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "header"
    }
    assert read, "no header parameters found: the check would be vacuous"
    assert {name for _service, name in read} <= allowed, sorted(read)


def _preflight(method: str, headers: str, origin: str = HALL) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": headers,
    }


def _listed(response: httpx.Response, field: str) -> set[str]:
    return {part.strip().lower() for part in response.headers.get(field, "").split(",") if part}


@pytest.mark.parametrize("header", REQUEST_HEADERS)
@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/v1/requests"), ("GET", "/v1/requests/YS2611280000001")]
)
async def test_a_preflight_for_each_public_header_succeeds(
    hall_intake: httpx.AsyncClient, method: str, path: str, header: str
) -> None:
    response = await hall_intake.options(path, headers=_preflight(method, header))
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == HALL
    assert method in response.headers["access-control-allow-methods"]
    assert header.lower() in _listed(response, "access-control-allow-headers")


async def test_a_preflight_for_all_headers_at_once_succeeds(
    hall_intake: httpx.AsyncClient,
) -> None:
    """What a browser actually sends: every non-safelisted header in one request."""
    asked = ", ".join(name.lower() for name in REQUEST_HEADERS)
    response = await hall_intake.options("/v1/requests", headers=_preflight("POST", asked))
    assert response.status_code == 200, response.text
    assert {name.lower() for name in REQUEST_HEADERS} <= _listed(
        response, "access-control-allow-headers"
    )


async def test_responses_expose_the_headers_the_api_sets(
    hall_intake: httpx.AsyncClient, channel_key: str
) -> None:
    response = await hall_intake.post(
        "/v1/requests",
        json=submission(),
        headers={"Origin": HALL, "X-API-Key": channel_key, "Idempotency-Key": "hall-1"},
    )
    assert response.status_code == 201, response.text
    assert response.headers["access-control-allow-origin"] == HALL
    assert {name.lower() for name in EXPOSED_HEADERS} <= _listed(
        response, "access-control-expose-headers"
    )
    # ...and they are there to be read.
    for name in ("x-request-id", "ratelimit", "ratelimit-policy"):
        assert name in response.headers, response.headers


async def test_another_origin_gets_no_cors_grant(
    hall_intake: httpx.AsyncClient, channel_key: str
) -> None:
    preflight = await hall_intake.options(
        "/v1/requests", headers=_preflight("POST", "x-api-key", origin=STRANGER)
    )
    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers
    response = await hall_intake.get(
        "/v1/requests/YS2611280000001", headers={"Origin": STRANGER, "X-Tracking-Secret": "x"}
    )
    assert response.status_code == 404
    # The grant is Access-Control-Allow-Origin: without it a browser shows the page nothing
    # (Starlette lists the exposed headers on every answer to an Origin, harmlessly).
    assert "access-control-allow-origin" not in response.headers


async def test_an_unknown_header_is_not_granted(hall_intake: httpx.AsyncClient) -> None:
    response = await hall_intake.options(
        "/v1/requests", headers=_preflight("POST", "x-api-key, x-something-else")
    )
    assert response.status_code == 400


# --- Idempotency-Key ----------------------------------------------------------------------


async def test_a_reused_key_with_another_body_is_422_and_a_retry_replays(
    intake_client: httpx.AsyncClient, channel_key: str
) -> None:
    """draft-ietf-httpapi-idempotency-key-header: 422 for a different payload under a used
    key; the same payload replays the first answer."""
    first = await submit(intake_client, channel_key, **{"Idempotency-Key": "conv-1"})
    assert first.status_code == 201, first.text
    retry = await submit(intake_client, channel_key, **{"Idempotency-Key": "conv-1"})
    assert (retry.status_code, retry.headers["idempotent-replayed"]) == (201, "true")
    changed = await submit(
        intake_client, channel_key, submission(title="另一件事情"), **{"Idempotency-Key": "conv-1"}
    )
    assert changed.status_code == 422
    error = changed.json()["error"]
    assert error["code"] == "idempotency_key_reused"
    assert error["message"] == "该 Idempotency-Key 已用于内容不同的请求"
    assert (
        error["message_en"] == "This Idempotency-Key was already used with a different request body"
    )


# --- rate limits --------------------------------------------------------------------------

# One Structured Field list item: "name";param=int;param=int
_ITEM = re.compile(r'"(?P<name>[^"]+)"(?P<params>(?:;[a-z]+=\d+)+)')


def _items(value: str) -> dict[str, dict[str, int]]:
    items = {}
    for member in value.split(","):
        match = _ITEM.fullmatch(member.strip())
        assert match, value
        params = (part.split("=") for part in match["params"].lstrip(";").split(";"))
        items[match["name"]] = {key: int(number) for key, number in params}
    return items


def _quota(response: httpx.Response) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]]]:
    """(RateLimit-Policy items, RateLimit items) of a response."""
    return _items(response.headers["ratelimit-policy"]), _items(response.headers["ratelimit"])


async def test_lookups_advertise_their_quota_and_use_it_up(
    intake_client: httpx.AsyncClient, channel_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "rate_track_per_ip", 3)
    monkeypatch.setattr(settings, "rate_track_failures_per_ip", 10)
    receipt = (await submit(intake_client, channel_key)).json()
    url = f"/v1/requests/{receipt['tracking_no']}"
    owner = {"X-Tracking-Secret": receipt["tracking_secret"]}
    remaining = []
    for _ in range(3):
        response = await intake_client.get(url, headers=owner)
        assert response.status_code == 200, response.text
        policies, limits = _quota(response)
        assert policies == {
            "track": {"q": 3, "w": 60},
            "track-failures": {"q": 10, "w": 600},
        }
        assert 0 < limits["track"]["t"] <= 60
        assert 0 < limits["track-failures"]["t"] <= 600
        assert limits["track-failures"]["r"] == 10  # nothing failed
        remaining.append(limits["track"]["r"])
    assert remaining == [2, 1, 0]
    refused = await intake_client.get(url, headers=owner)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    _policies, limits = _quota(refused)
    assert limits["track"]["r"] == 0
    retry_after = int(refused.headers["retry-after"])
    assert 0 < retry_after <= 60
    assert retry_after == limits["track"]["t"]  # not before the window ends (draft section 6)


async def test_failed_lookups_count_down_in_their_own_policy(
    intake_client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "rate_track_failures_per_ip", 2)
    left = []
    for guess in range(2):
        miss = await intake_client.get(
            f"/v1/requests/YS26112800000{guess:03d}", headers={"X-Tracking-Secret": "x"}
        )
        assert miss.status_code == 404
        left.append(_quota(miss)[1]["track-failures"]["r"])
    assert left == [1, 0]
    blocked = await intake_client.get(
        "/v1/requests/YS26112800000009", headers={"X-Tracking-Secret": "x"}
    )
    assert blocked.status_code == 429
    assert 0 < int(blocked.headers["retry-after"]) <= 600
    assert _quota(blocked)[1]["track-failures"] == {
        "r": 0,
        "t": int(blocked.headers["retry-after"]),
    }


async def test_writes_advertise_the_per_key_quota(
    intake_client: httpx.AsyncClient, channel_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "rate_submit_per_key", 2)
    first, second, third = [await submit(intake_client, channel_key) for _ in range(3)]
    assert [first.status_code, second.status_code, third.status_code] == [201, 201, 429]
    assert _quota(first)[0] == {"write": {"q": 2, "w": 60}}
    assert [_quota(r)[1]["write"]["r"] for r in (first, second, third)] == [1, 0, 0]
    assert 0 < int(third.headers["retry-after"]) <= 60


class _FrozenClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("into_window", "expected"), [(0.0, 600), (100.25, 500), (599.5, 1)], ids=str
)
async def test_retry_after_is_what_is_left_of_the_window(
    intake_client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    into_window: float,
    expected: int,
) -> None:
    """Not a constant: the seconds until the fixed window ends, rounded up (never 0)."""
    monkeypatch.setattr(settings, "rate_track_failures_per_ip", 1)
    monkeypatch.setattr(ratelimit, "time", _FrozenClock(600 * 2_947_000 + into_window))
    miss = await intake_client.get(
        "/v1/requests/YS26112800000001", headers={"X-Tracking-Secret": "x"}
    )
    assert miss.status_code == 404
    blocked = await intake_client.get(
        "/v1/requests/YS26112800000002", headers={"X-Tracking-Secret": "x"}
    )
    assert blocked.status_code == 429
    assert blocked.headers["retry-after"] == str(expected)
    assert _quota(blocked)[1]["track-failures"]["t"] == expected
