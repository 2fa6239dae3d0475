"""Issue 16's conventions on the intake API: one tag, a description and a typed success answer
for every operation; ``Location`` on every 201 (fresh or replayed) that resolves; cursor pages
for the CPPCC lists; Open311 answers that match their published JSON schemas."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from pydantic import TypeAdapter

from intake_service.api import routers
from intake_service.open311 import schemas as open311
from tests.intake_service.cppcc.test_endpoints import (
    BASE,
    auth,
    get,
    member,
    post,
    station,
    visit_body,
)
from tests.intake_service.issue.test_endpoints import PNG, submission, submit
from tests.intake_service.open311.helpers import V2, post_request

# The channel webhooks router has its own owner and tests (tests/intake_service/channel).
CHANNEL_PREFIX = "/v1/channel"


def _intake_operations() -> list[tuple[str, str, dict[str, Any]]]:
    from intake_service.app import app

    ours = {
        (route.path, method.lower())
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute) and route.include_in_schema
        and not route.path.startswith(CHANNEL_PREFIX)
        for method in route.methods or ()
    }  # fmt: skip
    spec = app.openapi()
    found = [
        (path, method, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if (path, method) in ours
    ]
    assert len(found) == len(ours)
    return found


# Every operation's tag, description and typed answer: tests/contract/test_openapi.py.


# --- Location -----------------------------------------------------------------------------------


def _owner(receipt: dict[str, Any]) -> dict[str, str]:
    return {"X-Tracking-Secret": receipt["tracking_secret"]}


@pytest.mark.parametrize("grouped", [True, False], ids=["group-commit", "one-transaction"])
async def test_submit_names_the_tracking_view_fresh_and_replayed(
    intake_client: httpx.AsyncClient, channel_key: str, grouped: bool
) -> None:
    body = submission()
    if not grouped:  # attachments are written in the issue's own transaction
        body["attachments"] = [{"url": "https://example.org/a.jpg"}]
    first = await submit(intake_client, channel_key, body, **{"Idempotency-Key": "loc-1"})
    again = await submit(intake_client, channel_key, body, **{"Idempotency-Key": "loc-1"})
    plain = await submit(intake_client, channel_key, submission(title="没有幂等键的诉求"))
    assert first.status_code == again.status_code == plain.status_code == 201, first.text
    assert again.headers["Idempotent-Replayed"] == "true"
    receipt = first.json()
    assert first.headers["Location"] == again.headers["Location"]
    assert first.headers["Location"] == f"/v1/requests/{receipt['tracking_no']}"
    assert plain.headers["Location"] == f"/v1/requests/{plain.json()['tracking_no']}"
    view = await intake_client.get(first.headers["Location"], headers=_owner(receipt))
    assert view.status_code == 200
    assert view.json()["tracking_no"] == receipt["tracking_no"]


async def test_supplement_names_the_request_it_adds_to(
    intake_client: httpx.AsyncClient, channel_key: str
) -> None:
    receipt = (await submit(intake_client, channel_key)).json()
    url = f"/v1/requests/{receipt['tracking_no']}/supplements"
    headers = {**_owner(receipt), "Idempotency-Key": "supp-1"}
    body = {"text": "补充说明:早高峰时段尤其拥挤。"}
    first = await intake_client.post(url, json=body, headers=headers)
    again = await intake_client.post(url, json=body, headers=headers)
    assert first.status_code == again.status_code == 201, first.text
    assert first.headers["Location"] == again.headers["Location"]
    assert first.headers["Location"] == f"/v1/requests/{receipt['tracking_no']}"
    view = await intake_client.get(first.headers["Location"], headers=_owner(receipt))
    assert view.status_code == 200


async def test_upload_names_its_metadata_which_only_its_key_reads(
    intake_client: httpx.AsyncClient, channel_key: str
) -> None:
    from intake_service.models import ApiKey
    from tests.fixtures.clients import make_key

    upload = await intake_client.post(
        "/v1/attachments",
        files={"file": ("现场.png", PNG, "image/png")},
        headers={"X-API-Key": channel_key},
    )
    assert upload.status_code == 201, upload.text
    location = upload.headers["Location"]
    assert location == f"/v1/attachments/{upload.json()['upload_id']}"
    shown = await intake_client.get(location, headers={"X-API-Key": channel_key})
    assert shown.status_code == 200
    assert shown.json() == upload.json()
    from intake_service.app import app

    other = await make_key(app.state.sessionmaker, ApiKey, "*")
    hidden = await intake_client.get(location, headers={"X-API-Key": other})
    unknown = await intake_client.get(
        f"/v1/attachments/{uuid.uuid4()}", headers={"X-API-Key": channel_key}
    )
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.json()["error"]["code"] == "upload_not_found"
    assert (await intake_client.get(location)).status_code == 401


async def test_rating_names_the_rated_request(
    intake_client: httpx.AsyncClient, channel_key: str
) -> None:
    """Scoring, which owns ratings, is stood in for: 201 the first time, 200 after."""
    from intake_service.app import app

    rated: list[str] = []

    def scoring(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/ratings/by-platform"
        rated.append(request.content.decode())
        body = {"id": str(uuid.UUID(int=1)), "case_id": str(uuid.UUID(int=2)), "round": 1,
                "satisfaction": "satisfied", "score": 98.0, "resolved": True,
                "unit_at_fault": False, "comment": None, "source": "platform",
                "method": "original_channel", "rated_at": "2026-12-01T10:00:00+08:00",
                "redo_ordered_at": None}  # fmt: skip
        return httpx.Response(201 if len(rated) == 1 else 200, json=body)

    real = app.state.http
    app.state.http = httpx.AsyncClient(transport=httpx.MockTransport(scoring))
    try:
        receipt = (await submit(intake_client, channel_key)).json()
        url = f"/v1/requests/{receipt['tracking_no']}/rating"
        first = await intake_client.post(
            url, json={"satisfaction": "satisfied"}, headers=_owner(receipt)
        )
        again = await intake_client.post(
            url, json={"satisfaction": "satisfied"}, headers=_owner(receipt)
        )
    finally:
        await app.state.http.aclose()
        app.state.http = real
    assert (first.status_code, again.status_code) == (201, 200), first.text
    assert first.headers["Location"] == f"/v1/requests/{receipt['tracking_no']}"
    assert "Location" not in again.headers  # nothing was created
    from shared.schemas.rating import RatingOut

    RatingOut.model_validate(first.json())
    view = await intake_client.get(first.headers["Location"], headers=_owner(receipt))
    assert view.status_code == 200


async def test_cppcc_creates_name_what_they_created(
    intake_client: httpx.AsyncClient, channel_key: str
) -> None:
    made = await post(
        intake_client, channel_key, "/stations", {"name": "经济界别联络站", "sector": "经济界"}
    )
    assert made.status_code == 201
    assert made.headers["Location"] == f"{BASE}/stations"  # no page of its own: the list
    stations = await intake_client.get(made.headers["Location"], headers=auth(channel_key))
    assert made.json()["id"] in [s["id"] for s in stations.json()]
    economy = made.json()

    headers = {"Idempotency-Key": "member-1"}
    body = {"name": "张骞", "phone": "13812345678", "station_id": economy["id"]}
    created = await post(intake_client, channel_key, "/members", body, **headers)
    replayed = await post(intake_client, channel_key, "/members", body, **headers)
    assert created.status_code == replayed.status_code == 201
    assert created.headers["Location"] == replayed.headers["Location"]
    assert created.headers["Location"] == f"{BASE}/members/{created.json()['id']}"
    shown = await intake_client.get(created.headers["Location"], headers=auth(channel_key))
    assert (shown.status_code, shown.json()["name"]) == (200, "张骞")

    rows = [{"name": "刘卫国", "phone": "13811112222", "station_id": economy["id"]}]
    imported = await post(intake_client, channel_key, "/members/import", {"members": rows})
    assert imported.status_code == 201
    assert imported.headers["Location"] == f"{BASE}/members"
    listed = await intake_client.get(imported.headers["Location"], headers=auth(channel_key))
    assert "刘卫国" in [m["name"] for m in listed.json()["items"]]

    visit = await post(intake_client, channel_key, "/visits", visit_body(created.json()["id"]))
    assert visit.status_code == 201, visit.text
    assert visit.headers["Location"] == f"{BASE}/visits/{visit.json()['id']}"
    shown = await intake_client.get(visit.headers["Location"], headers=auth(channel_key))
    assert shown.status_code == 200
    assert len(shown.json()["requests"]) == len(visit.json()["receipts"]) == 3


# --- cursor pages of the CPPCC lists ------------------------------------------------------------


async def _walk(
    client: httpx.AsyncClient, key: str, path: str, limit: int, **params: Any
) -> list[dict[str, Any]]:
    pages, cursor = [], None
    while True:
        query = {"limit": limit, **params, **({"cursor": cursor} if cursor else {})}
        response = await get(client, key, path, **query)
        assert response.status_code == 200, response.text
        page = response.json()
        assert page["limit"] == limit
        assert page["total"] is None
        assert len(page["items"]) <= limit
        pages.append(page)
        if (cursor := page["next_cursor"]) is None:
            return pages


@pytest.mark.parametrize("limit", [1, 2])
async def test_member_pages(intake_client: httpx.AsyncClient, channel_key: str, limit: int) -> None:
    economy = await station(intake_client, channel_key)
    other = await station(intake_client, channel_key, "教育界别联络站", "教育界")
    names = ["委员甲", "委员乙", "委员丙"]
    for n, name in enumerate(names):
        await member(intake_client, channel_key, economy["id"], name, f"1390000000{n}")
    await member(intake_client, channel_key, other["id"], "周老师", "13700000000")
    pages = await _walk(intake_client, channel_key, "/members", limit, station_id=economy["id"])
    assert [m["name"] for page in pages for m in page["items"]] == names  # registration order
    assert len(pages) == -(-len(names) // limit)
    counted = (
        await get(intake_client, channel_key, "/members", limit=limit, with_total=True)
    ).json()
    assert counted["total"] == 4


@pytest.mark.parametrize("limit", [1, 2])
async def test_visit_pages_newest_first(
    intake_client: httpx.AsyncClient, channel_key: str, limit: int
) -> None:
    economy = await station(intake_client, channel_key)
    zhang = await member(intake_client, channel_key, economy["id"])
    # Two on the same day: the later logged comes first (the tie-break the cursor carries).
    days = ["2026-11-02", "2026-11-05", "2026-11-05", "2026-11-01", "2026-11-03"]
    logged = []
    for n, day in enumerate(days):
        body = visit_body(zhang["id"], target_name=f"企业{n}", visited_on=day, issues=[], uscc=None)
        response = await post(intake_client, channel_key, "/visits", body)
        assert response.status_code == 201, response.text
        logged.append(response.json()["target_name"])
    pages = await _walk(intake_client, channel_key, "/visits", limit, member_id=zhang["id"])
    seen = [v["target_name"] for page in pages for v in page["items"]]
    assert seen == ["企业2", "企业1", "企业4", "企业0", "企业3"]
    counted = (
        await get(intake_client, channel_key, "/visits", limit=limit, with_total=True,
                  start="2026-11-02")
    ).json()  # fmt: skip
    assert counted["total"] == 4


async def test_cursors_are_refused_when_tampered_or_moved_to_another_query(
    intake_client: httpx.AsyncClient, channel_key: str
) -> None:
    economy = await station(intake_client, channel_key)
    for n in range(2):
        await member(intake_client, channel_key, economy["id"], f"委员{n}", f"1390000000{n}")
    cursor = (await get(intake_client, channel_key, "/members", limit=1)).json()["next_cursor"]
    assert cursor
    body, signature = cursor.split(".")
    tampered = f"{body[:-2]}{'A' if body[-2] != 'A' else 'B'}{body[-1]}.{signature}"
    for bad in (tampered, "bm90LWEtY3Vyc29y.AAAA"):
        refused = await get(intake_client, channel_key, "/members", limit=1, cursor=bad)
        assert refused.status_code == 400
        assert refused.json()["error"]["code"] == "invalid_cursor"
    moved = await get(
        intake_client, channel_key, "/members", limit=1, cursor=cursor, station_id=economy["id"]
    )
    assert moved.status_code == 400
    assert moved.json()["error"]["code"] == "cursor_query_mismatch"
    for path in ("/members", "/visits"):
        old = await get(intake_client, channel_key, path, limit=1, offset=1)
        assert old.status_code == 422, old.text


# --- Open311 answers match their schemas --------------------------------------------------------


async def test_open311_json_answers_match_the_published_schemas(
    intake_client: httpx.AsyncClient, channel_key: str
) -> None:
    async def answer(path: str) -> Any:
        response = await intake_client.get(path)
        assert response.status_code == 200, response.text
        return response.json()

    open311.Discovery.model_validate(await answer("/open311/discovery.json"))
    TypeAdapter(list[open311.Service]).validate_python(await answer(f"{V2}/services.json"))
    open311.ServiceDefinition.model_validate(await answer(f"{V2}/services/transport.json"))
    created = await post_request(intake_client, channel_key)
    assert created.status_code == 200, created.text
    (receipt,) = TypeAdapter(list[open311.ServiceRequestCreated]).validate_python(created.json())
    confidential = await post_request(
        intake_client, channel_key, **{"attribute[request_type]": "举报"}
    )
    assert confidential.status_code == 200, confidential.text
    requests = TypeAdapter(list[open311.ServiceRequest])
    listed = requests.validate_python(await answer(f"{V2}/requests.json"))
    assert receipt.service_request_id in [r.service_request_id for r in listed]
    requests.validate_python(await answer(f"{V2}/requests/{receipt.service_request_id}.json"))
    TypeAdapter(list[open311.ServiceRequestToken]).validate_python(
        await answer(f"{V2}/tokens/{receipt.service_request_id}.json")
    )
    missing = await intake_client.get(f"{V2}/requests/YS0000000000000.json")
    assert missing.status_code == 404
    TypeAdapter(list[open311.Open311ErrorItem]).validate_python(missing.json())
