"""Schemathesis over the OpenAPI description of each service (``/openapi.json`` of intake,
routing and scoring): every operation, in positive (schema-valid) and negative (schema-invalid)
mode, with valid credentials (a channel key for intake, an admin token for routing and scoring).

Checks: ``not_a_server_error`` (no 5xx, whatever the input) and ``response_schema_conformance``
(every answer matches the schema documented for its status code). Each operation is its own
test (``intake POST /v1/requests [positive]``...), so a failure names the operation, and the
Schemathesis report underneath gives the failing request as a ``curl`` command.

Path parameters are steered to real resources part of the time (a seeded world: an open and
a completed case, cards, a rating, a webhook subscription and its deliveries, a dispatch rule,
a department key, CPPCC station/member/visit), so that success answers get validated too and
not only 404s.

One world serves the whole module: re-seeding it for each of ~220 tests would cost minutes, so
this module replaces the per-test ``clean_state`` by a module-scoped clean start + seed. Fuzzed
writes therefore accumulate during the module (that is fine: they must never cause a 5xx
either); the next module starts from empty tables again.

Operations whose success answer is not described precisely (hand-built ``JSONResponse``,
``dict[str, Any]``, files, Open311's own formats) are listed in ``test_undocumented_success``
(a skip whose reason names them); conformance there is trivially true and is not claimed.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from fastapi import FastAPI
from hypothesis import strategies as st
from redis.asyncio import Redis
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from sqlalchemy.ext.asyncio import AsyncEngine

from routing_service.models import ApiKey as RoutingApiKey
from services.db import AsyncSessionMaker, service_sessionmaker
from tests.fixtures.clients import make_key, to_apps
from tests.fixtures.database import _truncate_all
from tests.fixtures.org import build_org
from tests.fixtures.schemathesis_harness import METHODS, LiveServer, fuzz, fuzz_settings
from tests.hostile.conftest import Loop, World, admin_headers, seed_world, wire

SERVICES = ("intake", "routing", "scoring")


def _app(service: str) -> FastAPI:
    module = __import__(f"{service}_service.app", fromlist=["create_app"])
    return module.create_app()  # type: ignore[no-any-return]


SCHEMAS = {service: schemathesis.openapi.from_dict(_app(service).openapi()) for service in SERVICES}
OPERATIONS = [
    (service, path, method.upper())
    for service in SERVICES
    for path, item in sorted(SCHEMAS[service].raw_schema["paths"].items())
    for method in item
    if method in METHODS
]

# HOSTILE_FUZZ_EXAMPLES=200 HOSTILE_FUZZ_RANDOM=1 for a longer, randomized hunt (not in CI).
_EXAMPLES = int(os.environ.get("HOSTILE_FUZZ_EXAMPLES", "0"))
_DERANDOMIZE = os.environ.get("HOSTILE_FUZZ_RANDOM", "") == ""

HYPOTHESIS = {
    GenerationMode.POSITIVE: fuzz_settings(_EXAMPLES or 15, derandomize=_DERANDOMIZE),
    GenerationMode.NEGATIVE: fuzz_settings(_EXAMPLES or 10, derandomize=_DERANDOMIZE),
}


def _params() -> list[Any]:
    return [
        pytest.param(service, path, method, mode, id=f"{service} {method} {path} [{mode}]")
        for service, path, method in OPERATIONS
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    ]


# --- one seeded world for the module -----------------------------------------------------------


@pytest.fixture
def clean_state() -> None:
    """Replaces the per-test truncation for this module (see the module docstring)."""


async def _asgi_client(app: FastAPI) -> AsyncGenerator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


@pytest.fixture(scope="module")
async def fuzz_world(engines: dict[str, AsyncEngine], redis_client: Redis) -> AsyncIterator[World]:
    from intake_service.models import ApiKey as IntakeApiKey
    from intake_service.spec import spec as intake_spec
    from routing_service.spec import spec as routing_spec
    from scoring_service.spec import spec as scoring_spec

    await _truncate_all(engines)
    await redis_client.flushdb()
    specs = {"intake": intake_spec, "routing": routing_spec, "scoring": scoring_spec}
    makers: dict[str, AsyncSessionMaker] = {
        name: service_sessionmaker(spec, engines[name]) for name, spec in specs.items()
    }
    apps = {service: _app(service) for service in SERVICES}
    generators = {service: _asgi_client(app) for service, app in apps.items()}
    clients = {service: await anext(gen) for service, gen in generators.items()}
    apps["intake"].state.http = to_apps(scoring=apps["scoring"], routing=apps["routing"])
    apps["scoring"].state.http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=apps["routing"])
    )
    org = await build_org(makers["routing"])
    channel_key = await make_key(makers["intake"], IntakeApiKey, "*")
    jt_key = await make_key(makers["routing"], RoutingApiKey, "DEPT-JT")
    world = await seed_world(Loop(clients, makers, org, channel_key, jt_key))
    try:
        yield world
    finally:
        for gen in generators.values():
            await gen.aclose()
        await _truncate_all(engines)
        await redis_client.flushdb()


@pytest.fixture(scope="module")
def servers(
    fuzz_world: World,
    intake_server: LiveServer,
    routing_server: LiveServer,
    scoring_server: LiveServer,
) -> dict[str, str]:
    # intake relays a submitter's rating to scoring and manages channel webhooks in routing;
    # scoring orders a redo from routing.
    wire(intake_server, scoring=scoring_server, routing=routing_server)
    wire(scoring_server, routing=routing_server)
    return {"intake": intake_server, "routing": routing_server, "scoring": scoring_server}


# --- steering ----------------------------------------------------------------------------------


def _steer(case: Any, world: World, index: int, fix_query: bool) -> dict[str, str]:
    """Point path parameters at real resources (``index`` -1 leaves them as generated) and,
    with ``fix_query``, the month/year query at the current one; return the headers that prove
    ownership of a steered tracking number."""
    extra: dict[str, str] = {}
    if fix_query and isinstance(case.query, dict):
        for name in ("month", "year"):
            if name in case.query:
                case.query[name] = world.ids[name][0]
    if index < 0:
        return extra
    for name in list(case.path_parameters or {}):
        known = world.ids.get(name)
        if known:
            value = known[index % len(known)]
            case.path_parameters[name] = value
            if value in world.secrets:
                extra["X-Tracking-Secret"] = world.secrets[value]
    return extra


def _steerable(path: str, world: World) -> bool:
    names = re.findall(r"\{([^}]+)\}", path)
    return bool(names) and all(name in world.ids for name in names)


def _auth(service: str, world: World, path: str) -> dict[str, str]:
    if service == "intake" and path.startswith("/v1/channel/"):
        # A channel's own notifications need a key bound to one channel.
        return {"X-API-Key": world.app_key}
    if service == "intake":
        # Channel routes read X-API-Key first; staff routes (/v1/staff/...) the bearer token.
        return {"X-API-Key": world.loop.channel_key, **admin_headers()}
    return admin_headers()


def _without(headers: dict[str, Any] | None, names: set[str]) -> dict[str, Any]:
    return {k: v for k, v in (headers or {}).items() if k.lower() not in names}


# --- the tests ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("service", "path", "method", "mode"), _params())
def test_operation(
    service: str,
    path: str,
    method: str,
    mode: GenerationMode,
    servers: dict[str, str],
    fuzz_world: World,
    reset_rate_limits: Callable[[], None],
) -> None:
    operation = SCHEMAS[service][path][method]
    base_url = servers[service]
    auth = _auth(service, fuzz_world, path)
    statuses: list[int] = []

    with requests.Session() as session:

        def check(case: Any, index: int, fix_query: bool) -> None:
            reset_rate_limits()
            extra = _steer(case, fuzz_world, index, fix_query)
            headers = {**auth, **extra}
            case.headers = _without(case.headers, {name.lower() for name in headers})
            response = case.call_and_validate(
                base_url=base_url,
                session=session,
                headers=headers,
                checks=[not_a_server_error, response_schema_conformance],
                timeout=30,
            )
            statuses.append(response.status_code)

        fuzz(
            operation,
            mode,
            HYPOTHESIS[mode],
            check,
            index=st.integers(min_value=-1, max_value=5),
            fix_query=st.booleans(),
        )

    assert statuses
    assert all(status < 500 for status in statuses), statuses
    if mode is GenerationMode.POSITIVE and method == "GET" and _steerable(path, fuzz_world):
        # Reads of real resources must have succeeded at least once, or the success schema
        # was never checked.
        assert any(200 <= status < 300 for status in statuses), statuses


def _documented(media: dict[str, Any]) -> bool:
    schema = media.get("schema") or {}
    if "$ref" in schema or schema.get("properties"):
        return True
    items = schema.get("items") or {}
    return schema.get("type") == "array" and ("$ref" in items or bool(items.get("properties")))


def undocumented_success() -> list[str]:
    """Operations whose 2xx answer has a JSON/XML/file body without a precise schema."""
    found = []
    for service, path, method in OPERATIONS:
        responses = SCHEMAS[service].raw_schema["paths"][path][method.lower()]["responses"]
        for status, response in responses.items():
            if not status.startswith("2") or status == "204":
                continue
            content = response.get("content") or {}
            loose = [media_type for media_type, media in content.items() if not _documented(media)]
            if loose or not content:
                found.append(
                    f"{service} {method} {path} {status} ({', '.join(loose) or 'no content'})"
                )
    return found


def test_undocumented_success() -> None:
    """Not a failure: names the operations whose success body the description leaves open
    (so response_schema_conformance proves nothing for them)."""
    found = undocumented_success()
    if found:
        pytest.skip("success body not described precisely: " + "; ".join(found))
