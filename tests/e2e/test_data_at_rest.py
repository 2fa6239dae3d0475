"""What a database dump gives away (issue 20, "Done when"): after requests, a whistleblower's
report, a verified and dispatched case with its webhook, a project with its contact person and
the scoring facts have all gone through the real APIs and workers, ``pg_dump`` of the database
holds none of the names, phones, e-mails or the report's words — while the APIs still answer
with them to whoever may read them."""

from __future__ import annotations

import asyncio
import os
import subprocess
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from routing_service.models import ApiKey
from services.db import AsyncSessionMaker
from tests.e2e.test_routing_loop import eventually
from tests.fixtures.clients import make_key
from tests.fixtures.environment import RUN_DATABASE_URL
from tests.fixtures.org import Org
from tests.fixtures.processes import ServiceStack
from tests.fixtures.receiver import WebhookReceiver
from tests.intake_service.issue.test_endpoints import submission
from tests.routing_service.assignment.helpers import ok
from tests.routing_service.project.test_projects import project

pytestmark = pytest.mark.slow

CITIZEN = {
    "kind": "person",
    "name": "欧阳明亮",
    "phone": "13855556666",
    "email": "ouyang@example.cn",
}
WHISTLEBLOWER = {"kind": "enterprise", "name": "慕容密报", "phone": "13866667777",
                 "uscc": "91130404MA0CTE1N15", "enterprise_name": "邯郸慕容建材有限公司"}  # fmt: skip
REPORT = "审批窗口工作人员暗示送购物卡才给办理"
CONTACT = {"name": "司马经理", "phone": "13877778888"}
SUPPLEMENT = "补充：收卡的是三号窗口的副科长，监控可查"

SECRETS = [CITIZEN["name"], CITIZEN["phone"], CITIZEN["email"], WHISTLEBLOWER["name"],
           WHISTLEBLOWER["phone"], WHISTLEBLOWER["enterprise_name"], REPORT,
           CONTACT["name"], CONTACT["phone"], SUPPLEMENT]  # fmt: skip


def dump() -> str:
    url = RUN_DATABASE_URL.replace("postgresql+asyncpg://", "postgresql://")
    result = subprocess.run(
        ["pg_dump", "--data-only", "--no-owner", url],
        capture_output=True,
        check=True,
        env={**os.environ, "PGCONNECT_TIMEOUT": "10"},
        timeout=120,
    )
    return result.stdout.decode("utf-8")


async def test_a_database_dump_holds_no_identity(
    full_stack: ServiceStack,
    org: Org,
    channel_key: str,
    routing_sessionmaker: AsyncSessionMaker,
    scoring_sessionmaker: AsyncSessionMaker,
) -> None:
    jt_key = await make_key(routing_sessionmaker, ApiKey, "DEPT-JT")
    receiver = WebhookReceiver()
    receiver.start()
    try:
        tracking_no = await _play(
            full_stack, org, channel_key, jt_key, receiver, scoring_sessionmaker
        )
    finally:
        receiver.stop()
    dumped = await asyncio.to_thread(dump)
    # The dump does hold the requests, with their identities sealed.
    assert tracking_no in dumped
    assert dumped.count("ys1$c$") >= 4  # the whistleblower's name, phone, code, enterprise
    leaked = [secret for secret in SECRETS if secret in dumped]
    assert leaked == [], leaked


async def _play(
    full_stack: ServiceStack,
    org: Org,
    channel_key: str,
    jt_key: str,
    receiver: WebhookReceiver,
    scoring_sessionmaker: AsyncSessionMaker,
) -> str:
    async with (
        httpx.AsyncClient(base_url=full_stack.url("intake"), timeout=15) as intake,
        httpx.AsyncClient(base_url=full_stack.url("routing"), timeout=15) as routing,
    ):
        await ok(await routing.post("/v1/webhooks/subscriptions", headers={"X-API-Key": jt_key},
                                    json={"url": receiver.url, "event_types": ["*"]}), 201)  # fmt: skip
        citizen = await ok(await intake.post("/v1/requests", headers={"X-API-Key": channel_key},
                                             json=submission(submitter=CITIZEN)), 201)  # fmt: skip
        report = await ok(await intake.post("/v1/requests", headers={"X-API-Key": channel_key},
                                            json=submission(channel="report_platform", type="report",
                                                            title="窗口索要好处", description=REPORT,
                                                            submitter=WHISTLEBLOWER)), 201)  # fmt: skip

        async def case_of(tracking_no: str) -> Any:
            found = await routing.get(
                f"/v1/cases/by-tracking/{tracking_no}", headers=org.auth("hs_operator")
            )
            return found.json() if found.status_code == 200 else None

        case = await eventually(lambda: case_of(citizen["tracking_no"]), timeout=30)
        confidential = await eventually(lambda: case_of(report["tracking_no"]), timeout=30)
        # Reads behave as before: the handler sees the citizen, and the report masked.
        assert case["submitter"]["phone"] == CITIZEN["phone"]
        assert confidential["description"] == REPORT
        assert WHISTLEBLOWER["phone"] not in str(confidential["submitter"])
        # The whistleblower adds to the report: sealed in intake and in routing's history.
        await ok(await intake.post(f"/v1/requests/{report['tracking_no']}/supplements",
                                   headers={"X-Tracking-Secret": report["tracking_secret"]},
                                   json={"text": SUPPLEMENT}), 201)  # fmt: skip

        async def supplemented() -> Any:
            found = await routing.get(f"/v1/cases/{confidential['id']}/history",
                                      headers=org.auth("hs_operator"))  # fmt: skip
            events = found.json() if found.status_code == 200 else []
            return [e for e in events if e["action"] == "supplement"] or None

        added = await eventually(supplemented, timeout=30)
        assert added[0]["reason"] == SUPPLEMENT  # read as before
        verified = await ok(await routing.get(f"/v1/cases/{confidential['id']}/history/verify",
                                              headers=org.auth("auditor")))  # fmt: skip
        assert verified["valid"] is True
        await ok(await routing.post(f"/v1/cases/{case['id']}/verify", headers=org.auth("hs_operator"),
                                    json={"decision": "accept", "classification": "general"}))  # fmt: skip
        await ok(await routing.post(f"/v1/cases/{case['id']}/dispatch", headers=org.auth("hs_dispatcher"),
                                    json={"units": [{"unit_code": "DEPT-JT"}]}))  # fmt: skip
        delivery = await receiver.wait_for(lambda body: body["type"] == "card.dispatched")
        assert delivery.json["data"]["tracking_no"] == citizen["tracking_no"]
        created = await ok(await routing.post("/v1/projects", headers=org.auth("gm_dispatcher"),
                                              json=project(contact=CONTACT)), 201)  # fmt: skip
        shown = await ok(
            await routing.get(f"/v1/projects/{created['id']}", headers=org.auth("gm_dispatcher"))
        )
        assert shown["contact"] == CONTACT

        async def scored() -> Any:
            async with scoring_sessionmaker() as session:
                count = await session.scalar(text("SELECT count(*) FROM case_fact"))
            return count if count and count >= 2 else None

        await eventually(scored, timeout=30)
        owner = await intake.get(f"/v1/requests/{citizen['tracking_no']}",
                                 headers={"X-Submitter-Phone": CITIZEN["phone"]})  # fmt: skip
        assert owner.status_code == 200, owner.text

        # Let the relays confirm and every worker settle, then dump.
        await asyncio.sleep(2)
    return str(citizen["tracking_no"])
