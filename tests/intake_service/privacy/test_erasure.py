"""The submitter has the personal data of a withdrawn request erased; routing's case and
scoring's case fact blank their copies when told."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import select

from routing_service.models import Case, CaseEvent
from routing_service.models import OutboxEvent as RoutingOutbox
from routing_service.worker import on_personal_data_erased as routing_handler
from scoring_service import facts
from scoring_service.models import CaseFact
from scoring_service.worker import on_personal_data_erased as scoring_handler
from services.db import AsyncSessionMaker
from services.models import utcnow
from shared.enums import CaseStatus, Channel, RequestType, SubmitterKind, Topic, Urgency
from shared.events import CaseSnapshot, EventEnvelope, RequestPersonalDataErased, SubmitterInfo
from tests.fixtures.org import Org
from tests.intake_service.privacy.helpers import (
    PERSON,
    access_rows,
    erasure_events,
    issue,
    submit,
)
from tests.routing_service.assignment.helpers import arrive


def owner(receipt: dict[str, Any]) -> dict[str, str]:
    return {"X-Tracking-Secret": receipt["tracking_secret"]}


async def test_a_withdrawn_request_is_erased_once_and_stays_trackable(
    intake_client: httpx.AsyncClient,
    channel_key: str,
    org: Org,
    intake_sessionmaker: AsyncSessionMaker,
) -> None:
    receipt = await submit(
        intake_client, channel_key, submitter={**PERSON, "email": "zl@example.cn"}
    )
    base = f"/v1/requests/{receipt['tracking_no']}"
    withdrawn = await intake_client.post(
        f"{base}/withdraw", json={"reason": "已自行解决"}, headers=owner(receipt)
    )
    assert withdrawn.status_code == 200, withdrawn.text
    first = await intake_client.post(f"{base}/erasure", headers=owner(receipt))
    assert first.status_code == 200, first.text
    assert first.json()["tracking_no"] == receipt["tracking_no"]
    again = await intake_client.post(
        f"{base}/erasure", headers={"X-Submitter-Phone": PERSON["phone"]}
    )
    # The phone no longer proves ownership (it is gone); the secret still does.
    assert again.status_code == 404
    again = await intake_client.post(f"{base}/erasure", headers=owner(receipt))
    assert again.status_code == 200
    assert again.json() == first.json()

    erased = await issue(intake_sessionmaker, receipt["tracking_no"])
    assert (erased.submitter_name, erased.submitter_phone, erased.submitter_email) == (None,) * 3
    assert (erased.phone_index, erased.submitter_key) == (None, None)
    assert erased.personal_erasure_reason == "submitter_request"
    tracked = await intake_client.get(base, headers=owner(receipt))
    assert tracked.status_code == 200
    assert tracked.json()["status"] == "withdrawn"

    (row,) = await access_rows(intake_sessionmaker)
    assert (row.kind, row.actor, row.reason, row.endpoint) == (
        "erasure", "submitter", "submitter_request", "erase_request_personal_data")  # fmt: skip
    events = await erasure_events(intake_sessionmaker)
    assert sorted(e.queue for e in events) == ["routing", "scoring"]
    assert events[0].envelope["data"]["erased_at"].startswith(first.json()["erased_at"][:19])
    # Staff see nobody any more, and such a view is not an identity access.
    staff = await intake_client.get(
        f"/v1/staff/requests/{receipt['tracking_no']}", headers=org.auth("hs_operator")
    )
    assert (staff.json()["submitter"]["name"], staff.json()["submitter"]["phone"]) == (None, None)
    assert len(await access_rows(intake_sessionmaker)) == 1


async def test_erasure_is_refused_unless_withdrawn(
    intake_client: httpx.AsyncClient, channel_key: str, intake_sessionmaker: AsyncSessionMaker
) -> None:
    receipt = await submit(intake_client, channel_key, submitter=PERSON)
    url = f"/v1/requests/{receipt['tracking_no']}/erasure"
    refused = await intake_client.post(url, headers=owner(receipt))
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "erasure_not_allowed"
    assert refused.json()["error"]["details"] == {"status": "received"}
    stranger = await intake_client.post(url, headers={"X-Tracking-Secret": "wrong-secret"})
    assert stranger.status_code == 404
    kept = await issue(intake_sessionmaker, receipt["tracking_no"])
    assert kept.submitter_phone == PERSON["phone"]
    assert kept.personal_erased_at is None
    assert await access_rows(intake_sessionmaker) == []
    assert await erasure_events(intake_sessionmaker) == []


def erased_event(request_id: uuid.UUID, tracking_no: str) -> EventEnvelope:
    data = RequestPersonalDataErased(
        request_id=request_id, tracking_no=tracking_no, reason="retention", erased_at=utcnow()
    )
    return EventEnvelope(
        type=RequestPersonalDataErased.TYPE, source="intake", data=data.model_dump(mode="json")
    )


async def test_routing_blanks_the_case_submitter_once_and_tells_scoring(
    routing_sessionmaker: AsyncSessionMaker, org: Org
) -> None:
    submitter = SubmitterInfo(kind=SubmitterKind.enterprise, name="张骞", phone="13812345678",
                              uscc="91130404MA0CTE1N15", enterprise_name="邯郸新兴国际物流有限公司")  # fmt: skip
    case_id = await arrive(routing_sessionmaker, submitter=submitter)
    async with routing_sessionmaker() as session:
        case = await session.get(Case, case_id)
        assert case is not None
        request_id, tracking_no, revision = case.request_id, case.tracking_no, case.revision
    for _ in range(2):  # a redelivery changes nothing more
        async with routing_sessionmaker() as session:
            await routing_handler(session, erased_event(request_id, tracking_no))
            await session.commit()
    async with routing_sessionmaker() as session:
        case = await session.get(Case, case_id)
        assert case is not None
        assert case.submitter == {**submitter.model_dump(mode="json"), "name": None, "phone": None}
        assert case.revision == revision + 1
        actions = (
            await session.scalars(select(CaseEvent.action).where(CaseEvent.case_id == case_id))
        ).all()
        assert list(actions).count("erase_personal_data") == 1
        snapshots = (await session.scalars(
            select(RoutingOutbox).where(RoutingOutbox.event_type == CaseSnapshot.TYPE))).all()  # fmt: skip
        latest = max(snapshots, key=lambda row: row.envelope["data"]["revision"])
        assert latest.envelope["data"]["submitter"]["phone"] is None
        assert latest.envelope["data"]["submitter"]["uscc"] == submitter.uscc
        # An unknown request (no case): nothing to do, no error.
        await routing_handler(session, erased_event(uuid.uuid4(), "YS0000000000"))


async def test_scoring_blanks_the_case_fact_submitter(
    scoring_sessionmaker: AsyncSessionMaker,
) -> None:
    case_id, request_id = uuid.uuid4(), uuid.uuid4()
    snapshot = CaseSnapshot(
        case_id=case_id, revision=1, request_id=request_id, tracking_no="YS2612080000ABCD",
        channel=Channel.app, type=RequestType.complaint, topic=Topic.transport,
        urgency=Urgency.normal, classification=None, status=CaseStatus.completed, area_code=None,
        owner_unit_code="HS", submitter=SubmitterInfo(kind=SubmitterKind.person, name="赵六", phone="13800000002"),
        anonymous=False, received_at=utcnow(),
    )  # fmt: skip
    async with scoring_sessionmaker() as session:
        await facts.apply_case(session, snapshot)
        await session.commit()
    for _ in range(2):
        async with scoring_sessionmaker() as session:
            await scoring_handler(session, erased_event(request_id, snapshot.tracking_no))
            await session.commit()
    async with scoring_sessionmaker() as session:
        fact = await session.get(CaseFact, case_id)
        assert fact is not None
        assert fact.submitter == {"kind": "person", "name": None, "phone": None, "uscc": None,
                                  "enterprise_name": None, "masked": False}  # fmt: skip
        assert (fact.revision, fact.status) == (1, CaseStatus.completed.value)  # figures stay
        await scoring_handler(session, erased_event(uuid.uuid4(), "YS0000000000"))
