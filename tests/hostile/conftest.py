"""Fixtures of the hostile-input suite: each service under uvicorn on a loopback port (for
Schemathesis and raw-socket tests, which are synchronous), staff tokens that need no database
row, a request that has travelled intake → routing → scoring, and envelope assertions.

The servers are ``tests/fixtures/schemathesis_harness.serve``: ``create_app()`` in a daemon
thread, lifespan on, on the test database and Redis db that ``tests/conftest.py`` chose.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import redis

from intake_service.models import ApiKey as IntakeApiKey
from routing_service.models import ApiKey as RoutingApiKey
from services.auth import issue_token
from services.db import AsyncSessionMaker
from services.models import utcnow
from shared.calendar import SHANGHAI
from tests.fixtures.clients import ServiceTransport, make_key, to_apps
from tests.fixtures.environment import RUN_REDIS_URL
from tests.fixtures.org import Org
from tests.fixtures.pump import pump
from tests.fixtures.schemathesis_harness import LiveServer, serve

ENVELOPE_KEYS = {"code", "message", "message_en", "details", "request_id"}


class Redirect(httpx.AsyncBaseTransport):
    """Sends every request to ``base_url`` whatever its host: service-to-service calls of a
    live app (to INTAKE/ROUTING/SCORING_URL, read once per process) reach our live servers,
    never whatever may listen on the default ports of this machine."""

    def __init__(self, base_url: str) -> None:
        self.target = httpx.URL(base_url)
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request.url = request.url.copy_with(
            scheme=self.target.scheme, host=self.target.host, port=self.target.port
        )
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def wire(caller: LiveServer, **callees: str) -> None:
    """Point ``caller``'s outgoing service HTTP client at the live servers of the services it
    calls (``routing=url, scoring=url``)."""
    targets = {service: Redirect(url) for service, url in callees.items()}
    caller.app.state.http = httpx.AsyncClient(
        transport=ServiceTransport(**targets), timeout=httpx.Timeout(10.0, connect=2.0)
    )


@pytest.fixture(scope="module")
def intake_server(test_database: str) -> Iterator[LiveServer]:
    from intake_service.app import create_app

    with serve(create_app()) as url:
        yield url


@pytest.fixture(scope="module")
def routing_server(test_database: str) -> Iterator[LiveServer]:
    from routing_service.app import create_app

    with serve(create_app()) as url:
        yield url


@pytest.fixture(scope="module")
def scoring_server(test_database: str) -> Iterator[LiveServer]:
    from scoring_service.app import create_app

    with serve(create_app()) as url:
        yield url


def admin_headers() -> dict[str, str]:
    """A district admin's bearer token: valid in routing and scoring without a database row."""
    token = issue_token(subject="admin", role="admin", unit_code="HS", unit_path="/HS/")
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="session")
def sync_redis() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(RUN_REDIS_URL)
    yield client
    client.close()


@pytest.fixture
def reset_rate_limits(sync_redis: redis.Redis) -> Callable[[], None]:
    """Forget every rate-limit counter: fuzzing from one IP must not turn into a wall of 429s."""

    def reset() -> None:
        keys = list(sync_redis.scan_iter(match="ratelimit:*", count=1000))
        if keys:
            sync_redis.delete(*keys)

    return reset


def assert_envelope(
    response: httpx.Response | Any,
    status: int | tuple[int, ...] | None = None,
    code: str | None = None,
) -> dict[str, Any]:
    """The response is a 4xx in the shared error envelope; returns its ``error`` object."""
    text = response.text[:500]
    if status is None:
        assert 400 <= response.status_code < 500, (response.status_code, text)
    elif isinstance(status, tuple):
        assert response.status_code in status, (response.status_code, text)
    else:
        assert response.status_code == status, (response.status_code, text)
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == ENVELOPE_KEYS, error
    for key in ("code", "message", "message_en"):
        assert isinstance(error[key], str), error
        assert error[key], error
    if code is not None:
        assert error["code"] == code, error
    return error  # type: ignore[no-any-return]


def assert_open311_errors(
    response: httpx.Response | Any, status: int | tuple[int, ...] = 400
) -> list[Any]:
    """An Open311 error answer: the HTTP status and a list of ``{code, description}``."""
    statuses = status if isinstance(status, tuple) else (status,)
    assert response.status_code in statuses, (response.status_code, response.text[:300])
    errors = response.json()
    assert isinstance(errors, list), errors
    assert errors, errors
    for error in errors:
        assert set(error) == {"code", "description"}, errors
    return errors


def validation_types(error: dict[str, Any]) -> set[str]:
    """The pydantic error types of a 422 ``validation_error`` envelope."""
    assert error["code"] == "validation_error", error
    return {item["type"] for item in error["details"] or []}


# --- the three apps wired together in one process, and a seeded world ------------------------


class Loop:
    """Intake, routing and scoring over ASGI, events moved by the in-process pump, REST between
    services over ASGI transports (as ``tests/scoring_service/feedback`` does)."""

    def __init__(
        self,
        clients: dict[str, httpx.AsyncClient],
        makers: dict[str, AsyncSessionMaker],
        org: Org,
        channel_key: str,
        jt_key: str,
    ) -> None:
        self.intake, self.routing, self.scoring = (
            clients["intake"],
            clients["routing"],
            clients["scoring"],
        )
        self.makers, self.org, self.channel_key, self.jt_key = makers, org, channel_key, jt_key

    async def flush(self) -> None:
        """Deliver events until every queue is quiet."""
        from intake_service.spec import spec as intake_spec
        from routing_service.spec import spec as routing_spec
        from scoring_service.spec import spec as scoring_spec

        specs = {"intake": intake_spec, "routing": routing_spec, "scoring": scoring_spec}
        for _ in range(6):
            moved = 0
            for producer, producer_spec in specs.items():
                for consumer in specs:
                    if producer != consumer:
                        moved += await pump(
                            self.makers[producer], producer_spec, consumer, self.makers[consumer]
                        )
            if not moved:
                return

    async def submit(self, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.intake.post(
            "/v1/requests", json=body, headers={"X-API-Key": self.channel_key}
        )
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    async def case_for(self, tracking_no: str) -> dict[str, Any]:
        await self.flush()
        response = await self.routing.get(
            f"/v1/cases/by-tracking/{tracking_no}", headers=self.org.auth("admin")
        )
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    async def call(
        self,
        method: str,
        url: str,
        *,
        who: str = "admin",
        status: int = 200,
        json: Any = None,
        service: str = "routing",
    ) -> Any:
        client = {"intake": self.intake, "routing": self.routing, "scoring": self.scoring}[service]
        headers = {"X-API-Key": self.jt_key} if who == "jt_key" else self.org.auth(who)
        response = await client.request(method, url, headers=headers, json=json)
        assert response.status_code == status, (method, url, response.status_code, response.text)
        return response.json() if response.content else None

    async def dispatched(self, body: dict[str, Any], **dispatch: Any) -> dict[str, Any]:
        """Submit, verify and dispatch to DEPT-JT; returns the case with the receipt fields."""
        receipt = await self.submit(body)
        case = await self.case_for(receipt["tracking_no"])
        await self.call(
            "POST",
            f"/v1/cases/{case['id']}/verify",
            json={"decision": "accept", "classification": "general"},
        )
        case = await self.call(
            "POST",
            f"/v1/cases/{case['id']}/dispatch",
            json={"units": [{"unit_code": "DEPT-JT"}], **dispatch},
        )
        return {
            **case,
            "tracking_secret": receipt["tracking_secret"],
            "card_id": case["cards"][0]["id"],
        }

    async def completed(
        self, body: dict[str, Any], result: str = "已办结,公交班次已增加"
    ) -> dict[str, Any]:
        case = await self.dispatched(body)
        card = f"/v1/cards/{case['card_id']}"
        await self.call("POST", f"{card}/sign", who="jt_key")
        await self.call("POST", f"{card}/complete", who="jt_key", json={"result": result})
        await self.call("POST", f"{card}/review", json={"accept": True})
        await self.flush()
        return case


@pytest.fixture
async def loop(
    intake_client: httpx.AsyncClient,
    routing_client: httpx.AsyncClient,
    scoring_client: httpx.AsyncClient,
    intake_sessionmaker: AsyncSessionMaker,
    routing_sessionmaker: AsyncSessionMaker,
    scoring_sessionmaker: AsyncSessionMaker,
    org: Org,
    channel_key: str,
) -> AsyncIterator[Loop]:
    from intake_service.app import app as intake_app
    from routing_service.app import app as routing_app
    from scoring_service.app import app as scoring_app

    saved = (intake_app.state.http, scoring_app.state.http)
    intake_app.state.http = to_apps(scoring=scoring_app, routing=routing_app)
    scoring_app.state.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=routing_app))
    jt_key = await make_key(routing_sessionmaker, RoutingApiKey, "DEPT-JT")
    makers = {
        "intake": intake_sessionmaker,
        "routing": routing_sessionmaker,
        "scoring": scoring_sessionmaker,
    }
    clients = {"intake": intake_client, "routing": routing_client, "scoring": scoring_client}
    try:
        yield Loop(clients, makers, org, channel_key, jt_key)
    finally:
        await intake_app.state.http.aclose()
        await scoring_app.state.http.aclose()
        intake_app.state.http, scoring_app.state.http = saved


def submission(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "channel": "app",
        "type": "complaint",
        "title": "园区公交班次太少",
        "description": "新兴国际商贸物流中心一带公交班次少,希望增加公交班次、提高园区交通承载力。",
        "submitter": {"kind": "person", "name": "张三", "phone": "13812345678"},
        "location": {"address": "邯山区新兴国际商贸物流中心", "lat": 36.58, "lon": 114.51},
    }
    body.update(overrides)
    return body


@dataclass
class World:
    """Real ids of every kind of resource, for steering fuzzed path parameters."""

    loop: Loop
    ids: dict[str, list[str]] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)  # tracking_no -> tracking secret
    app_key: str = ""  # the app channel's key: its backend's notifications (原渠道反馈)


@pytest.fixture
async def world(loop: Loop) -> World:
    return await seed_world(loop)


async def seed_world(loop: Loop) -> World:
    """One open (dispatched) case and one completed, rated case with everything around them:
    a webhook subscription and delivery, the app channel's subscription and its deliveries, a
    dispatch rule, a department key, a CPPCC station, member and visit, a visit fact in scoring."""
    seeded = World(loop)
    ids = seeded.ids
    now = utcnow().astimezone(SHANGHAI)
    subscription = await loop.call(
        "POST",
        "/v1/webhooks/subscriptions",
        status=201,
        json={"unit_code": "DEPT-JT", "url": "https://hooks.example.com/ys", "event_types": ["*"]},
    )
    seeded.app_key = await make_key(loop.makers["intake"], IntakeApiKey, "app")
    app_headers = {"X-API-Key": seeded.app_key}
    channel_subscription = await loop.intake.post(
        "/v1/channel/webhooks", json={"url": "https://app.example.com/ys"}, headers=app_headers
    )
    assert channel_subscription.status_code == 201, channel_subscription.text
    open_case = await loop.dispatched(submission(), instructions="请在五个工作日内办结")
    done = await loop.completed(
        submission(title="路灯不亮", description="光明大街路灯不亮已经一周,夜间出行不便。")
    )
    rating = await loop.call(
        "POST",
        f"/v1/cases/{done['id']}/ratings",
        service="scoring",
        status=201,
        json={"satisfaction": "unsatisfied", "unit_at_fault": True, "comment": "没有解决"},
    )
    await loop.call(
        "POST",
        f"/v1/cases/{done['id']}/feedback",
        service="scoring",
        status=201,
        json={"method": "original_channel", "notes": "已电话反馈"},
    )
    await loop.flush()
    rule = await loop.call(
        "POST", "/v1/dispatch-rules", status=201, json={"topic": "water", "unit_code": "DEPT-GH"}
    )
    key = await loop.call(
        "POST", "/v1/org/units/DEPT-JT/api-keys", status=201, json={"name": "jt system"}
    )
    deliveries = await loop.call("GET", "/v1/webhooks/deliveries")
    intake_headers = {"X-API-Key": loop.channel_key}
    station = (
        await loop.intake.post(
            "/v1/cppcc/stations",
            json={"name": "经济界别联络站", "sector": "经济界"},
            headers=intake_headers,
        )
    ).json()
    member = (
        await loop.intake.post(
            "/v1/cppcc/members",
            json={"name": "李委员", "phone": "13912345678", "station_id": station["id"]},
            headers=intake_headers,
        )
    ).json()
    visit = (
        await loop.intake.post(
            "/v1/cppcc/visits",
            json={
                "member_id": member["id"],
                "target_kind": "enterprise",
                "target_name": "邯郸制药",
                "visited_on": "2026-01-05",
            },
            headers=intake_headers,
        )
    ).json()
    await loop.call(
        "POST",
        "/v1/visits",
        service="scoring",
        status=201,
        json={
            "visits": [
                {"target_kind": "merchant", "target_name": "老王面馆", "visited_on": "2026-01-06"}
            ]
        },
    )
    open311 = await loop.intake.post(
        "/open311/v2/requests.json",
        data={
            "api_key": loop.channel_key,
            "service_code": "water",
            "address_string": "邯山区光明大街",
            "description": "小区停水三天无人处理,请尽快恢复供水。",
            "attribute[request_type]": "complaint",
        },
    )
    assert open311.status_code == 200, open311.text
    await loop.flush()
    ids["case_id"] = [open_case["id"], done["id"]]
    ids["card_id"] = [open_case["card_id"], done["card_id"]]
    ids["tracking_no"] = [open_case["tracking_no"], done["tracking_no"]]
    ids["service_request_id"] = [open311.json()[0]["service_request_id"]]
    ids["token"] = ids["service_request_id"]
    ids["rating_id"] = [rating["id"]]
    channel_deliveries = await loop.intake.get("/v1/channel/deliveries", headers=app_headers)
    # The seeded cases came by app.
    assert channel_deliveries.json()["items"], channel_deliveries.text
    ids["subscription_id"] = [subscription["id"], channel_subscription.json()["id"]]
    ids["delivery_id"] = (
        [d["id"] for d in deliveries["items"]]
        if isinstance(deliveries, dict)
        else [d["id"] for d in deliveries]
    ) + [d["id"] for d in channel_deliveries.json()["items"]]
    ids["rule_id"] = [rule["id"]]
    ids["key_id"] = [key["id"]]
    # `code` names units and procedures alike: one of each kind answers 200
    procedure = await loop.call(
        "POST",
        "/v1/procedures",
        status=201,
        json={"code": "XMBA", "name": "项目备案", "time_limit_days": 3},
    )
    ids["code"] = ["HS", "HS-GM", "DEPT-JT", "JW", procedure["code"]]
    ids["unit_code"] = ["DEPT-JT", "HS"]
    ids["username"] = ["admin", "jt_liaison", "hs_operator"]
    ids["station_id"] = [station["id"]]
    ids["member_id"] = [member["id"]]
    ids["visit_id"] = [visit["id"]]
    ids["milestone_id"] = [str(uuid.uuid4())]
    ids["extension_id"] = [str(uuid.uuid4())]
    ids["month"] = [f"{now.year:04d}-{now.month:02d}"]
    ids["year"] = [str(now.year)]
    ids["service_code"] = ["water", "transport"]
    ids["fmt"] = ["json", "xml"]
    seeded.secrets = {
        open_case["tracking_no"]: open_case["tracking_secret"],
        done["tracking_no"]: done["tracking_secret"],
    }
    return seeded
