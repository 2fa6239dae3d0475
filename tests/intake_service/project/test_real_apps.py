"""The whole chain with the real apps: routing raises a blocker through intake, and the
enterprise follows and rates its project through intake, which calls the real routing and
scoring apps (in-process ASGI transports; events moved by the pump)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from intake_service.models import Issue
from services.db import AsyncSessionMaker
from tests.fixtures.clients import to_apps
from tests.fixtures.org import Org
from tests.fixtures.pump import pump
from tests.routing_service.assignment.helpers import ok
from tests.routing_service.project.test_projects import project


@pytest.fixture
async def wired(
    intake_client: httpx.AsyncClient,
    routing_client: httpx.AsyncClient,
    scoring_client: httpx.AsyncClient,  # its lifespan: the app's database and Redis
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """Intake calling the real routing and scoring apps, routing calling the real intake."""
    from intake_service.app import app as intake_app
    from routing_service.app import app as routing_app
    from scoring_service.app import app as scoring_app

    saved = intake_app.state.http, routing_app.state.http
    intake_app.state.http = to_apps(routing=routing_app, scoring=scoring_app)
    routing_app.state.http = to_apps(intake=intake_app)
    try:
        yield intake_client, routing_client
    finally:
        await intake_app.state.http.aclose()
        await routing_app.state.http.aclose()
        intake_app.state.http, routing_app.state.http = saved


async def test_the_enterprise_follows_and_rates_its_project_through_intake(
    wired: tuple[httpx.AsyncClient, httpx.AsyncClient],
    org: Org,
    routing_sessionmaker: AsyncSessionMaker,
    scoring_sessionmaker: AsyncSessionMaker,
    intake_sessionmaker: AsyncSessionMaker,
) -> None:
    from intake_service.spec import spec as intake_spec
    from routing_service.spec import spec as routing_spec

    intake, routing = wired
    staff = org.auth("gm_dispatcher")
    created = await ok(
        await routing.post("/v1/projects", headers=staff, json=project(stage="signed")), 201
    )
    await ok(await routing.post(f"/v1/projects/{created['id']}/stage", headers=staff,
                                json={"stage": "started"}))  # fmt: skip
    # A blocker raised in routing becomes a request in intake that names the project.
    blocker = await ok(
        await routing.post(
            f"/v1/projects/{created['id']}/blockers",
            headers={**staff, "Idempotency-Key": "blocker-e2e"},
            json={
                "title": "施工临时用电迟迟未接入",
                "description": "开工后临时用电申请两周未安排勘察。",
            },
        ),
        201,
    )
    async with intake_sessionmaker() as session:
        issue = await session.scalar(
            select(Issue).where(Issue.tracking_no == blocker["tracking_no"])
        )
    assert issue is not None
    assert str(issue.project_id) == created["id"]
    assert issue.channel == "agency"
    await pump(intake_sessionmaker, intake_spec, "routing", routing_sessionmaker)
    # Scoring learns the project (and that it started) from routing's snapshots.
    await pump(routing_sessionmaker, routing_spec, "scoring", scoring_sessionmaker)

    owner = {"X-Tracking-Secret": created["tracking_secret"]}
    url = f"/v1/projects/{created['tracking_no']}"
    view = await ok(await intake.get(url, headers=owner))
    assert (view["stage"], view["ratable"]) == ("started", ["started"])
    assert [b["tracking_no"] for b in view["blockers"]] == [blocker["tracking_no"]]
    wrong = await intake.get(url, headers={"X-Tracking-Secret": "guess"})
    assert wrong.status_code == 404
    assert wrong.json()["error"]["code"] == "project_not_found"

    rating = {"milestone": "started", "satisfaction": "satisfied", "comment": "代办很及时"}
    first = await intake.post(f"{url}/ratings", json=rating, headers=owner)
    again = await intake.post(f"{url}/ratings", json=rating, headers=owner)
    early = await intake.post(
        f"{url}/ratings", json={"milestone": "completed", "satisfaction": "basic"}, headers=owner
    )
    assert (first.status_code, again.status_code, early.status_code) == (201, 200, 409), (
        first.text, early.text,
    )  # fmt: skip
    assert first.json()["project_id"] == created["id"]
    assert first.json()["milestone"] == "started"
    assert first.json()["via"] == "platform"
    assert first.headers["Location"] == url
    assert again.json() == first.json()
