"""Every staff view that shows a submitter's name or phone is logged; a whistleblower's identity
opens only for the discipline role with a reason; auditors read the log, never the values."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from intake_service.issue.service import FULLY_MASKED
from services.db import AsyncSessionMaker
from shared.calendar import SHANGHAI
from tests.fixtures.org import Org
from tests.intake_service.privacy.helpers import (
    ENTERPRISE,
    PERSON,
    REASON,
    WHISTLEBLOWER,
    access_rows,
    report,
    submit,
)

STAFF = "/v1/staff/requests"
LOG = "/v1/audit/identity-access"


def reason(text: str = REASON) -> dict[str, str]:
    return {"X-Access-Reason": quote(text)}


@contextmanager
def inserts_into_the_log() -> Iterator[list[str]]:
    """The INSERT statements the API sends to identity_access while the block runs."""
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO IDENTITY_ACCESS"):
            seen.append(statement)

    event.listen(Engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", count)


async def test_a_center_list_logs_one_row_per_request_shown_in_one_statement(
    intake_client: httpx.AsyncClient,
    channel_key: str,
    org: Org,
    intake_sessionmaker: AsyncSessionMaker,
) -> None:
    person = await submit(intake_client, channel_key, submitter=PERSON)
    enterprise = await submit(
        intake_client, channel_key, submitter=ENTERPRISE, title="施工许可审批进度"
    )
    protected = await report(intake_client, channel_key)
    with inserts_into_the_log() as inserts:
        response = await intake_client.get(STAFF, headers=org.auth("hs_operator"))
    assert response.status_code == 200, response.text
    assert len(response.json()["items"]) == 3
    assert len(inserts) == 1
    rows = await access_rows(intake_sessionmaker)
    # The masked report showed nobody: no row for it.
    assert sorted(r.tracking_no for r in rows) == sorted(
        [person["tracking_no"], enterprise["tracking_no"]]
    )
    for row in rows:
        assert (row.actor, row.role, row.unit_code) == ("staff:hs_operator", "operator", "HS")
        assert (row.kind, row.reason, row.endpoint) == (
            "personal_fields",
            None,
            "list_staff_requests",
        )
        assert row.request_id == response.headers["X-Request-Id"]
    assert protected["tracking_no"] not in {r.tracking_no for r in rows}


async def test_a_detail_read_is_logged_and_a_page_without_personal_fields_is_not(
    intake_client: httpx.AsyncClient,
    channel_key: str,
    org: Org,
    intake_sessionmaker: AsyncSessionMaker,
) -> None:
    person = await submit(intake_client, channel_key, submitter=PERSON)
    await report(intake_client, channel_key)
    url = f"{STAFF}/{person['tracking_no']}"
    detail = await intake_client.get(
        url, headers={**org.auth("hs_supervisor"), "X-Request-Id": "req-42"}
    )
    assert detail.status_code == 200, detail.text
    assert detail.json()["submitter"]["phone"] == PERSON["phone"]
    (row,) = await access_rows(intake_sessionmaker)
    assert (row.tracking_no, row.kind, row.endpoint, row.request_id) == (
        person["tracking_no"], "personal_fields", "get_staff_request", "req-42")  # fmt: skip
    # Only the masked report on the page: nothing revealed, nothing logged.
    masked = await intake_client.get(
        STAFF, params={"confidential": "true"}, headers=org.auth("hs_leader")
    )
    assert masked.status_code == 200
    assert len(masked.json()["items"]) == 1
    assert len(await access_rows(intake_sessionmaker)) == 1


async def test_the_discipline_role_without_a_reason_sees_the_masked_view(
    intake_client: httpx.AsyncClient,
    channel_key: str,
    org: Org,
    intake_sessionmaker: AsyncSessionMaker,
) -> None:
    protected = await report(intake_client, channel_key)
    url = f"{STAFF}/{protected['tracking_no']}"
    detail = (await intake_client.get(url, headers=org.auth("jw_officer"))).json()
    assert detail["identity_revealed"] is False
    assert detail["submitter"]["masked"] is True
    assert detail["submitter"]["name"] == detail["submitter"]["phone"] == FULLY_MASKED
    listing = (await intake_client.get(STAFF, headers=org.auth("jw_officer"))).json()
    assert [item["identity_revealed"] for item in listing["items"]] == [False]
    assert WHISTLEBLOWER["phone"] not in str(listing)
    assert await access_rows(intake_sessionmaker) == []


async def test_with_a_reason_the_identity_opens_and_the_reason_is_logged(
    intake_client: httpx.AsyncClient,
    channel_key: str,
    org: Org,
    intake_sessionmaker: AsyncSessionMaker,
) -> None:
    protected = await report(intake_client, channel_key)
    person = await submit(intake_client, channel_key, submitter=PERSON)
    url = f"{STAFF}/{protected['tracking_no']}"
    detail = (await intake_client.get(url, headers={**org.auth("jw_officer"), **reason()})).json()
    assert detail["identity_revealed"] is True
    assert (detail["submitter"]["name"], detail["submitter"]["phone"]) == (
        WHISTLEBLOWER["name"], WHISTLEBLOWER["phone"])  # fmt: skip
    (row,) = await access_rows(intake_sessionmaker)
    assert (row.kind, row.reason, row.actor, row.role, row.unit_code) == (
        "whistleblower_identity", REASON, "staff:jw_officer", "discipline_officer", "JW")  # fmt: skip
    # A list with the reason: the report opened, the other request shown as it is.
    listing = (
        await intake_client.get(STAFF, headers={**org.auth("jw_officer"), **reason("月度抽查")})
    ).json()
    assert {i["tracking_no"]: i["identity_revealed"] for i in listing["items"]} == {
        protected["tracking_no"]: True, person["tracking_no"]: False}  # fmt: skip
    kinds = {(r.tracking_no, r.kind, r.reason) for r in await access_rows(intake_sessionmaker)}
    assert kinds == {
        (protected["tracking_no"], "whistleblower_identity", REASON),
        (protected["tracking_no"], "whistleblower_identity", "月度抽查"),
        (person["tracking_no"], "personal_fields", "月度抽查"),
    }


@pytest.mark.parametrize(
    "raw",
    ["", "   ", "x" * 201, quote("查\u0001阅"), quote("理由\u202e倒序"), "%FF%FE", "line%0Abreak"],
    ids=["empty", "blank", "too-long", "control", "bidi-override", "not-utf8", "newline"],
)
async def test_an_invalid_reason_is_refused(
    intake_client: httpx.AsyncClient,
    channel_key: str,
    org: Org,
    intake_sessionmaker: AsyncSessionMaker,
    raw: str,
) -> None:
    protected = await report(intake_client, channel_key)
    headers = {**org.auth("jw_officer"), "X-Access-Reason": raw}
    for url in (f"{STAFF}/{protected['tracking_no']}", STAFF):
        response = await intake_client.get(url, headers=headers)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "invalid_access_reason"
    assert await access_rows(intake_sessionmaker) == []


async def test_a_reason_of_200_characters_and_plain_ascii_are_accepted(
    intake_client: httpx.AsyncClient, channel_key: str, org: Org
) -> None:
    protected = await report(intake_client, channel_key)
    url = f"{STAFF}/{protected['tracking_no']}"
    for given in (quote("查" * 200), "case 2026-118: 100% check"):
        response = await intake_client.get(
            url, headers={**org.auth("jw_officer"), "X-Access-Reason": given}
        )
        assert response.status_code == 200, response.text
        assert response.json()["identity_revealed"] is True


async def test_auditors_read_the_log_by_filter_and_page_without_the_values(
    intake_client: httpx.AsyncClient, channel_key: str, org: Org
) -> None:
    protected = await report(intake_client, channel_key)
    person = await submit(intake_client, channel_key, submitter=PERSON)
    await intake_client.get(
        f"{STAFF}/{protected['tracking_no']}", headers={**org.auth("jw_officer"), **reason()}
    )
    await intake_client.get(f"{STAFF}/{person['tracking_no']}", headers=org.auth("hs_operator"))
    await intake_client.get(f"{STAFF}/{person['tracking_no']}", headers=org.auth("hs_leader"))

    async def read(role: str = "auditor", **params: Any) -> dict[str, Any]:
        response = await intake_client.get(LOG, params=params, headers=org.auth(role))
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    everything = await read(with_total="true")
    assert everything["total"] == 3
    # Newest first.
    assert [i["actor"] for i in everything["items"]] == [
        "staff:hs_leader",
        "staff:hs_operator",
        "staff:jw_officer",
    ]
    for value in (*WHISTLEBLOWER.values(), *PERSON.values()):
        if value != "person":
            assert value not in str(everything)
    opened = await read(kind="whistleblower_identity")
    assert [(i["tracking_no"], i["reason"]) for i in opened["items"]] == [
        (protected["tracking_no"], REASON)
    ]
    assert [i["actor"] for i in (await read(tracking_no=person["tracking_no"].lower()))["items"]] == [
        "staff:hs_leader", "staff:hs_operator"]  # fmt: skip
    assert len((await read(role="admin", actor="staff:hs_operator"))["items"]) == 1
    today = datetime.now(SHANGHAI).date().isoformat()
    assert len((await read(**{"from": today, "to": today}))["items"]) == 3
    assert len((await read(**{"from": "2000-01-01", "to": "2000-01-31"}))["items"]) == 0
    seen, cursor = [], None
    while True:
        page = await read(limit=1, **({"cursor": cursor} if cursor else {}))
        seen += [i["id"] for i in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert seen == [i["id"] for i in everything["items"]]
    backwards = await intake_client.get(LOG, params={"from": "2026-12-02", "to": "2026-12-01"},
                                        headers=org.auth("auditor"))  # fmt: skip
    assert backwards.status_code == 422
    assert backwards.json()["error"]["code"] == "invalid_date_range"


@pytest.mark.parametrize("role", ["jw_officer", "hs_leader", "hs_operator", "jt_liaison"])
async def test_other_roles_may_not_read_the_log(
    intake_client: httpx.AsyncClient, org: Org, role: str
) -> None:
    response = await intake_client.get(LOG, headers=org.auth(role))
    assert response.status_code == 403
