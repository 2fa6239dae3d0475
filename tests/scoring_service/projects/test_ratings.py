"""The enterprise's rating of the agency service at 开工 / 建成投用, relayed by intake: one per
project and milestone, only once the milestone is reached; staff read them in scope."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import httpx

from services.db import AsyncSessionMaker
from shared.enums import ProjectStage
from tests.scoring_service.projects.helpers import (
    envelope,
    feed,
    project,
    relay,
    sh,
    staff,
    step,
)

URL = "/v1/project-ratings/by-platform"
LIST = "/v1/project-ratings"
OPERATOR = staff("operator", "HS", "/HS/")
GM_OPERATOR = staff("operator", "HS-GM", "/HS/HS-GM/")
XH_OPERATOR = staff("operator", "HS-XH", "/HS/HS-XH/")
ZJ_LIAISON = staff("liaison", "DEPT-ZJ", "/HS/DEPT-ZJ/")
JT_LIAISON = staff("liaison", "DEPT-JT", "/HS/DEPT-JT/")


def error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert body["message"]
    assert body["message_en"]
    return str(body["code"])


async def started_project(sessionmaker: AsyncSessionMaker) -> tuple[uuid.UUID, str]:
    snapshot = project(stage=ProjectStage.started, created=sh(9, 1),
                       reached={ProjectStage.started: date(2026, 10, 12)})  # fmt: skip
    # DEPT-ZJ holds a step of it.
    await feed(
        sessionmaker,
        envelope(snapshot),
        envelope(step(project_id=snapshot.project_id, dispatched=sh(10, 1), due=sh(10, 9))),
    )
    return snapshot.project_id, snapshot.tracking_no


async def test_rating_once_per_milestone(
    scoring_client: httpx.AsyncClient, scoring_sessionmaker: AsyncSessionMaker
) -> None:
    project_id, tracking_no = await started_project(scoring_sessionmaker)
    answer: dict[str, Any] = {"tracking_no": tracking_no, "milestone": "started",
                              "satisfaction": "satisfied", "score": 95, "comment": "代办员很负责"}  # fmt: skip
    first = await scoring_client.post(URL, headers=relay(), json=answer)
    assert first.status_code == 201, first.text
    body = first.json()
    assert {k: v for k, v in body.items() if k not in ("id", "rated_at")} == {
        "project_id": str(project_id), "milestone": "started", "satisfaction": "satisfied",
        "score": 95.0, "comment": "代办员很负责", "via": "platform",
    }  # fmt: skip
    assert body["rated_at"].endswith("Z")
    assert first.headers["location"] == f"{LIST}?project_id={project_id}"
    listed = await scoring_client.get(first.headers["location"], headers=OPERATOR)
    assert listed.status_code == 200, listed.text
    assert [r["id"] for r in listed.json()["items"]] == [body["id"]]

    again = await scoring_client.post(URL, headers=relay(), json=answer)
    assert again.status_code == 200
    assert again.json() == body
    assert "location" not in again.headers

    changed = await scoring_client.post(URL, headers=relay(),
                                        json={**answer, "satisfaction": "basic"})  # fmt: skip
    assert error(changed, 409) == "project_already_rated"
    assert changed.json()["error"]["details"] == {"rating_id": body["id"]}

    not_yet = await scoring_client.post(URL, headers=relay(),
                                        json={**answer, "milestone": "completed"})  # fmt: skip
    assert error(not_yet, 409) == "project_milestone_not_reached"
    unknown = await scoring_client.post(URL, headers=relay(),
                                        json={**answer, "tracking_no": "XM0000000000"})  # fmt: skip
    assert error(unknown, 404) == "project_not_found"


async def test_only_the_relay_may_rate_and_bad_input_is_422(
    scoring_client: httpx.AsyncClient, scoring_sessionmaker: AsyncSessionMaker
) -> None:
    _project_id, tracking_no = await started_project(scoring_sessionmaker)
    answer = {"tracking_no": tracking_no, "milestone": "started", "satisfaction": "satisfied"}
    assert error(await scoring_client.post(URL, headers=OPERATOR, json=answer), 403) == "forbidden"
    assert error(await scoring_client.post(URL, json=answer), 401) == "unauthorized"
    for bad in ({"score": 101}, {"milestone": "signed"}, {"satisfaction": "great"}):
        assert error(await scoring_client.post(URL, headers=relay(), json={**answer, **bad}),
                     422) == "validation_error"  # fmt: skip
    # Nothing was recorded by the refused calls: the first good one is a 201.
    assert (await scoring_client.post(URL, headers=relay(), json=answer)).status_code == 201


async def test_the_list_is_scoped_filtered_and_paged(
    scoring_client: httpx.AsyncClient, scoring_sessionmaker: AsyncSessionMaker
) -> None:
    project_id, tracking_no = await started_project(scoring_sessionmaker)
    done = project(stage=ProjectStage.completed, created=sh(3, 1),
                   reached={ProjectStage.started: date(2026, 4, 1),
                            ProjectStage.completed: date(2026, 10, 28)})  # fmt: skip
    await feed(scoring_sessionmaker, envelope(done))
    for tracking, milestone in ((tracking_no, "started"), (done.tracking_no, "started"),
                                (done.tracking_no, "completed")):  # fmt: skip
        rated = await scoring_client.post(URL, headers=relay(), json={
            "tracking_no": tracking, "milestone": milestone, "satisfaction": "basic"})  # fmt: skip
        assert rated.status_code == 201, rated.text

    everything = (await scoring_client.get(LIST, headers=OPERATOR)).json()
    assert len(everything["items"]) == 3
    assert len((await scoring_client.get(LIST, headers=GM_OPERATOR)).json()["items"]) == 3
    # Another street's center, and a department holding no step, see none of them.
    assert (await scoring_client.get(LIST, headers=XH_OPERATOR)).json()["items"] == []
    assert (await scoring_client.get(LIST, headers=JT_LIAISON)).json()["items"] == []
    # DEPT-ZJ holds a step of the first project only.
    zj = (await scoring_client.get(LIST, headers=ZJ_LIAISON)).json()["items"]
    assert [r["project_id"] for r in zj] == [str(project_id)]

    completed = (await scoring_client.get(LIST, params={"milestone": "completed"},
                                          headers=OPERATOR)).json()["items"]  # fmt: skip
    assert [(r["project_id"], r["milestone"]) for r in completed] == [
        (str(done.project_id), "completed")
    ]
    page = (await scoring_client.get(LIST, params={"limit": 2, "with_total": True},
                                     headers=OPERATOR)).json()  # fmt: skip
    assert (len(page["items"]), page["total"]) == (2, 3)
    rest = (await scoring_client.get(LIST, params={"limit": 2, "cursor": page["next_cursor"]},
                                     headers=OPERATOR)).json()  # fmt: skip
    assert rest["next_cursor"] is None
    seen = [r["id"] for r in page["items"] + rest["items"]]
    assert sorted(seen) == sorted(r["id"] for r in everything["items"])
    assert error(await scoring_client.get(LIST, params={"offset": 1}, headers=OPERATOR),
                 422) == "validation_error"  # fmt: skip
    assert error(await scoring_client.get(LIST, headers=relay()), 403) == "forbidden"
