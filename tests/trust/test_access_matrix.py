"""For every role, what it may and may not do — checked through the APIs of all three services.

A denied action answers 403 (or 401 without credentials); an allowed one gets past authorization
(its answer may still be 404/409/422 because of the data, but never 401/403).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from routing_service.models import ApiKey
from services.db import AsyncSessionMaker
from tests.fixtures.clients import make_key
from tests.fixtures.org import PASSWORD, Org
from tests.routing_service.assignment.helpers import arrive, verify_and_dispatch

CENTER = {"hs_operator", "hs_dispatcher", "hs_supervisor", "hs_leader"}
EVERYONE = ["admin", "hs_operator", "hs_dispatcher", "hs_supervisor", "hs_leader", "gm_operator",
            "jt_liaison", "jt_head", "jw_officer", "auditor", "unit_key"]  # fmt: skip

Ctx = dict[str, Any]
Action = Callable[[Ctx, dict[str, str]], Awaitable[httpx.Response]]


async def _case(ctx: Ctx) -> str:
    return str(await arrive(ctx["routing_sessionmaker"]))


async def verify(ctx: Ctx, headers: dict[str, str]) -> httpx.Response:
    case_id = await _case(ctx)
    return await ctx["routing"].post(
        f"/v1/cases/{case_id}/verify",
        headers=headers,
        json={"decision": "accept", "classification": "general"},
    )


async def dispatch(ctx: Ctx, headers: dict[str, str]) -> httpx.Response:
    case_id = await _case(ctx)
    await ctx["routing"].post(f"/v1/cases/{case_id}/verify", headers=ctx["org"].auth("hs_operator"),
                              json={"decision": "accept", "classification": "general"})  # fmt: skip
    return await ctx["routing"].post(
        f"/v1/cases/{case_id}/dispatch", headers=headers, json={"units": [{"unit_code": "DEPT-JT"}]}
    )


async def transfer(ctx: Ctx, headers: dict[str, str]) -> httpx.Response:
    return await ctx["routing"].post(
        f"/v1/cases/{await _case(ctx)}/transfer", headers=headers, json={"reason": "涉嫌吃拿卡要"}
    )


async def sign(ctx: Ctx, headers: dict[str, str]) -> httpx.Response:
    case = await verify_and_dispatch(
        ctx["routing"], ctx["org"], await arrive(ctx["routing_sessionmaker"])
    )
    return await ctx["routing"].post(f"/v1/cards/{case['cards'][0]['id']}/sign", headers=headers)


async def review(ctx: Ctx, headers: dict[str, str]) -> httpx.Response:
    case = await verify_and_dispatch(
        ctx["routing"], ctx["org"], await arrive(ctx["routing_sessionmaker"])
    )
    return await ctx["routing"].post(
        f"/v1/cards/{case['cards'][0]['id']}/review", headers=headers, json={"accept": True}
    )


async def read_queues(ctx: Ctx, headers: dict[str, str]) -> httpx.Response:
    return await ctx["routing"].get("/v1/queues", headers=headers)


async def list_transfers(ctx: Ctx, headers: dict[str, str]) -> httpx.Response:
    return await ctx["routing"].get("/v1/transfers", headers=headers)


async def load_calendar(ctx: Ctx, headers: dict[str, str]) -> httpx.Response:
    return await ctx["routing"].post(
        "/v1/calendar/years", headers=headers, json={"year": 2099, "holidays": [], "workdays": []}
    )


async def verify_history(ctx: Ctx, headers: dict[str, str]) -> httpx.Response:
    return await ctx["routing"].get(f"/v1/cases/{await _case(ctx)}/history/verify", headers=headers)


async def supervision_events(ctx: Ctx, headers: dict[str, str]) -> httpx.Response:
    return await ctx["routing"].get("/v1/supervision/events", headers=headers)


async def create_staff(ctx: Ctx, headers: dict[str, str]) -> httpx.Response:
    return await ctx["routing"].post("/v1/org/staff", headers=headers, json={
        "username": "new_user", "display_name": "新人", "role": "operator", "unit_code": "HS", "password": "long-enough-password"})  # fmt: skip


async def read_revisits(ctx: Ctx, headers: dict[str, str]) -> httpx.Response:
    return await ctx["scoring"].get("/v1/revisits", headers=headers)


async def record_feedback(ctx: Ctx, headers: dict[str, str]) -> httpx.Response:
    return await ctx["scoring"].post("/v1/cases/00000000-0000-0000-0000-000000000000/feedback", headers=headers,
                                     json={"method": "visit", "notes": "走访反馈"})  # fmt: skip


async def read_requests(ctx: Ctx, headers: dict[str, str]) -> httpx.Response:
    return await ctx["intake"].get("/v1/staff/requests", headers=headers)


async def relay_platform_rating(ctx: Ctx, headers: dict[str, str]) -> httpx.Response:
    return await ctx["scoring"].post("/v1/ratings/by-platform", headers=headers,
                                     json={"tracking_no": "YS2612060001", "satisfaction": "satisfied"})  # fmt: skip


async def close_month(ctx: Ctx, headers: dict[str, str]) -> httpx.Response:
    scoring: httpx.AsyncClient = ctx["scoring"]
    return await scoring.post("/v1/evaluation/months/2020-01/close", headers=headers)


async def recompute_month(ctx: Ctx, headers: dict[str, str]) -> httpx.Response:
    scoring: httpx.AsyncClient = ctx["scoring"]
    return await scoring.post("/v1/evaluation/months/2020-01/recompute", headers=headers,
                              json={"reason": "更正数据"})  # fmt: skip


async def month_history(ctx: Ctx, headers: dict[str, str]) -> httpx.Response:
    scoring: httpx.AsyncClient = ctx["scoring"]
    return await scoring.get("/v1/evaluation/months/2020-01/history", headers=headers)


ACTIONS: dict[str, tuple[Action, set[str]]] = {
    "verify": (verify, CENTER | {"admin"}),
    "dispatch": (dispatch, CENTER - {"hs_operator"} | {"admin"}),
    "transfer": (transfer, {"hs_supervisor", "hs_leader", "admin"}),
    "sign card": (sign, {"jt_liaison", "jt_head", "unit_key", "admin"}),
    "review card": (review, CENTER - {"hs_operator"} | {"admin"}),
    # every reader has queues; each sees its own scope's (tests/routing_service/worklist)
    "read queues": (read_queues, set(EVERYONE)),
    "list transfers": (list_transfers, {"jw_officer", "hs_leader", "auditor", "admin"}),
    "load calendar": (load_calendar, {"admin"}),
    "verify history": (verify_history, {"auditor", "jw_officer", "hs_leader", "admin"}),
    "supervision events": (
        supervision_events,
        CENTER | {"gm_operator", "auditor", "admin", "jw_officer"},
    ),
    "create staff": (create_staff, {"admin"}),
    "read revisits": (read_revisits, CENTER | {"gm_operator", "auditor", "admin"}),
    "record feedback": (
        record_feedback,
        {"hs_operator", "hs_supervisor", "hs_leader", "gm_operator", "admin"},
    ),
    "read requests (intake)": (read_requests, CENTER | {"auditor", "admin", "jw_officer"}),
    # only the intake service relays a submitter's rating: no staff role may forge one
    "relay platform rating": (relay_platform_rating, set()),
    "close month": (close_month, {"admin"}),
    "recompute month": (recompute_month, {"admin"}),
    "month history": (month_history, CENTER | {"gm_operator", "auditor", "admin"}),
}
SCORING_OR_INTAKE = {
    "close month",
    "recompute month",
    "month history",
    "read revisits",
    "record feedback",
    "read requests (intake)",
    "relay platform rating",
}


# --- channel notifications (原渠道反馈): channel keys on intake, which alone calls routing for
# them (the allowed callers are shown in tests/intake_service/channel and
# tests/routing_service/webhook/test_channels.py)


async def manage_channel_webhooks(ctx: Ctx, headers: dict[str, str]) -> httpx.Response:
    return await ctx["routing"].get("/v1/webhooks/channels/app/subscriptions", headers=headers)


async def channel_webhooks(ctx: Ctx, headers: dict[str, str]) -> httpx.Response:
    return await ctx["intake"].get("/v1/channel/webhooks", headers=headers)


ACTIONS.update(
    {
        # webhook.channel.manage: the intake service only, never staff or a department's key
        "manage channel webhooks (routing)": (manage_channel_webhooks, set()),
        # channel.webhook.manage: a channel's own key only
        "channel webhooks (intake)": (channel_webhooks, set()),
    }
)
SCORING_OR_INTAKE.add("channel webhooks (intake)")


# --- the enterprise file (一企一档): staff read it on routing, which alone reads its parts from
# intake and scoring (the scoped contents are in tests/routing_service/enterprise)

ENTERPRISE = "91130404MA0EF0001K"  # a well-formed credit code (check character included)


async def enterprise_file(ctx: Ctx, headers: dict[str, str]) -> httpx.Response:
    from tests.routing_service.enterprise.helpers import routing_calls

    async with routing_calls():  # the real intake and scoring apps behind routing's calls
        return await ctx["routing"].get(f"/v1/enterprises/{ENTERPRISE}", headers=headers)


async def enterprise_records(ctx: Ctx, headers: dict[str, str]) -> httpx.Response:
    return await ctx["intake"].post(
        f"/v1/service/enterprises/{ENTERPRISE}/records", headers=headers, json={}
    )


async def enterprise_ratings(ctx: Ctx, headers: dict[str, str]) -> httpx.Response:
    return await ctx["scoring"].post(
        "/v1/service/ratings/by-cases", headers=headers, json={"case_ids": []}
    )


ACTIONS.update(
    {
        # enterprise.read: every staff reader (each sees its own scope), no department key
        "enterprise file": (enterprise_file, set(EVERYONE) - {"unit_key"}),
        # enterprise.requests.read / enterprise.ratings.read: the routing service only
        "enterprise records (intake)": (enterprise_records, set()),
        "enterprise ratings (scoring)": (enterprise_ratings, set()),
    }
)
SCORING_OR_INTAKE.update({"enterprise records (intake)", "enterprise ratings (scoring)"})


# --- projects (帮办代办) and the procedure catalogue: every reader looks the catalogue up, admins
# edit it; projects are the centers' (and the district readers'); departments read the projects
# where they hold a step (the scoped contents are in tests/routing_service/project)

MISSING = "00000000-0000-4000-8000-000000000000"


async def read_procedures(ctx: Ctx, headers: dict[str, str]) -> httpx.Response:
    return await ctx["routing"].get("/v1/procedures", headers=headers)


async def manage_procedures(ctx: Ctx, headers: dict[str, str]) -> httpx.Response:
    # an unknown code: allowed callers get 404, the others are refused before the lookup
    return await ctx["routing"].patch("/v1/procedures/NO-SUCH", headers=headers,
                                      json={"active": True})  # fmt: skip


async def list_projects(ctx: Ctx, headers: dict[str, str]) -> httpx.Response:
    return await ctx["routing"].get("/v1/projects", headers=headers)


async def move_project_stage(ctx: Ctx, headers: dict[str, str]) -> httpx.Response:
    return await ctx["routing"].post(f"/v1/projects/{MISSING}/stage", headers=headers,
                                     json={"stage": "signed"})  # fmt: skip


async def create_project(ctx: Ctx, headers: dict[str, str]) -> httpx.Response:
    from tests.routing_service.project.test_projects import project

    return await ctx["routing"].post("/v1/projects", headers=headers, json=project())


async def update_project(ctx: Ctx, headers: dict[str, str]) -> httpx.Response:
    return await ctx["routing"].patch(f"/v1/projects/{MISSING}", headers=headers,
                                      json={"name": "年产10万吨原料药项目"})  # fmt: skip


async def read_project_steps(ctx: Ctx, headers: dict[str, str]) -> httpx.Response:
    return await ctx["routing"].get(f"/v1/projects/{MISSING}/steps", headers=headers)


async def plan_project_steps(ctx: Ctx, headers: dict[str, str]) -> httpx.Response:
    return await ctx["routing"].post(f"/v1/projects/{MISSING}/steps", headers=headers,
                                     json={"steps": [{"procedure_code": "filing"}]})  # fmt: skip


async def record_for_step(ctx: Ctx, headers: dict[str, str]) -> httpx.Response:
    return await ctx["routing"].post(f"/v1/projects/{MISSING}/steps/{MISSING}/records",
                                     headers=headers, json={"kind": "contact", "text": "电话联系企业"})  # fmt: skip


async def raise_project_blocker(ctx: Ctx, headers: dict[str, str]) -> httpx.Response:
    return await ctx["routing"].post(f"/v1/projects/{MISSING}/blockers", headers=headers,
                                     json={"title": "用地指标不足", "description": "项目二期用地指标尚未落实"})  # fmt: skip


async def track_project(ctx: Ctx, headers: dict[str, str]) -> httpx.Response:
    return await ctx["routing"].get("/v1/projects/tracking/XM2612070000AAAA",
                                    headers={**headers, "X-Tracking-Secret": "x"})  # fmt: skip


async def raise_request(ctx: Ctx, headers: dict[str, str]) -> httpx.Response:
    return await ctx["intake"].post("/v1/service/requests", headers=headers, json={
        "type": "help", "title": "用地指标不足", "description": "项目二期用地指标尚未落实,请协调",
        "submitter": {"kind": "enterprise", "name": "李经理", "phone": "13812345678",
                      "uscc": ENTERPRISE, "enterprise_name": "邯郸某制药有限公司"},
        "project_id": MISSING,
    })  # fmt: skip


ACTIONS.update(
    {
        # procedure.read: every staff reader, not a department's key
        "read procedures": (read_procedures, set(EVERYONE) - {"unit_key"}),
        # procedure.manage: admins only
        "manage procedures": (manage_procedures, {"admin"}),
        # project.read: the centers, departments (their steps' projects), auditors, the
        # discipline commission and admins; not a department's key
        "list projects": (
            list_projects,
            CENTER | {"gm_operator", "jt_liaison", "jt_head", "auditor", "jw_officer", "admin"},
        ),
        # the same action on one (missing) project: gm_operator's 404 counts as a denial
        "read project steps": (
            read_project_steps,
            CENTER | {"jt_liaison", "jt_head", "auditor", "jw_officer", "admin"},
        ),
        # project.create: center staff in their area (the body's is gm's street) and admins
        "create project": (create_project, CENTER | {"gm_operator", "admin"}),
        # project.update / project.plan / project.record / project.blocker: center staff of
        # the project's subtree (or its agent) and admins
        "update project": (update_project, CENTER | {"admin"}),
        "plan project steps": (plan_project_steps, CENTER | {"admin"}),
        "record for a step": (record_for_step, CENTER | {"admin"}),
        "raise project blocker": (raise_project_blocker, CENTER | {"admin"}),
        # project.track: the intake service only (it relays the enterprise's view)
        "track project (routing)": (track_project, set()),
        # request.raise: another service only (routing raises blockers)
        "raise request (intake)": (raise_request, set()),
        # project.stage: the centers and admins (a street center, gm_operator, gets the 404 of
        # a project outside its subtree, which the harness counts as a denial)
        "move project stage": (move_project_stage, CENTER | {"admin"}),
    }
)
SCORING_OR_INTAKE.add("raise request (intake)")


async def relay_project_rating(ctx: Ctx, headers: dict[str, str]) -> httpx.Response:
    return await ctx["scoring"].post("/v1/project-ratings/by-platform", headers=headers, json={
        "tracking_no": "XM2612070000AAAA", "milestone": "started", "satisfaction": "satisfied",
    })  # fmt: skip


async def read_project_ratings(ctx: Ctx, headers: dict[str, str]) -> httpx.Response:
    return await ctx["scoring"].get("/v1/project-ratings", headers=headers)


ACTIONS.update(
    {
        # project_rating.relay: the intake service only (the enterprise's rating)
        "relay project rating (scoring)": (relay_project_rating, set()),
        # project_rating.read: every staff reader, each in its own scope
        "read project ratings (scoring)": (read_project_ratings, set(EVERYONE) - {"unit_key"}),
    }
)
SCORING_OR_INTAKE.update({"relay project rating (scoring)", "read project ratings (scoring)"})


# --- the knowledge base: every staff reader reads; departments draft their own answers, the
# center drafts for its departments; supervisors and leaders review and withdraw

ARTICLES = "/v1/knowledge/articles"


async def read_articles(ctx: Ctx, headers: dict[str, str]) -> httpx.Response:
    return await ctx["routing"].get(ARTICLES, headers=headers)


async def knowledge_figures(ctx: Ctx, headers: dict[str, str]) -> httpx.Response:
    return await ctx["routing"].get("/v1/knowledge/figures", headers=headers)


async def draft_article(ctx: Ctx, headers: dict[str, str]) -> httpx.Response:
    from tests.routing_service.knowledge.test_knowledge import article

    return await ctx["routing"].post(ARTICLES, headers=headers, json=article(unit_code="DEPT-JT"))


async def edit_article(ctx: Ctx, headers: dict[str, str]) -> httpx.Response:
    return await ctx["routing"].patch(f"{ARTICLES}/{MISSING}", headers=headers,
                                      json={"answer": "新的答复"})  # fmt: skip


async def submit_article(ctx: Ctx, headers: dict[str, str]) -> httpx.Response:
    return await ctx["routing"].post(f"{ARTICLES}/{MISSING}/submit", headers=headers)


async def review_article(ctx: Ctx, headers: dict[str, str]) -> httpx.Response:
    return await ctx["routing"].post(f"{ARTICLES}/{MISSING}/review", headers=headers,
                                     json={"approve": True})  # fmt: skip


async def withdraw_article(ctx: Ctx, headers: dict[str, str]) -> httpx.Response:
    return await ctx["routing"].post(f"{ARTICLES}/{MISSING}/withdraw", headers=headers,
                                     json={"reason": "政策调整"})  # fmt: skip


async def knowledge_use(ctx: Ctx, headers: dict[str, str]) -> httpx.Response:
    return await ctx["intake"].get("/v1/staff/knowledge/figures", headers=headers,
                                   params={"start": "2026-10-01", "end": "2026-10-31"})  # fmt: skip


WRITERS = CENTER | {"jt_liaison", "jt_head", "admin"}
REVIEWERS = {"hs_supervisor", "hs_leader", "admin"}
ACTIONS.update(
    {
        # knowledge.read: every staff reader (drafts of their own unit for departments)
        "read knowledge articles": (read_articles, set(EVERYONE) - {"unit_key"}),
        "knowledge figures (routing)": (knowledge_figures, set(EVERYONE) - {"unit_key"}),
        # knowledge.write: the owning department and the centers above it (gm_operator's street
        # center may not write for district departments)
        "draft knowledge article": (draft_article, WRITERS),
        "edit knowledge article": (edit_article, WRITERS),
        "submit knowledge article": (submit_article, WRITERS),
        # knowledge.review: supervisors, leaders and admins
        "review knowledge article": (review_article, REVIEWERS),
        "withdraw knowledge article": (withdraw_article, REVIEWERS),
        # knowledge.figures (intake): center staff, auditors and admins
        "knowledge use (intake)": (knowledge_use, CENTER | {"gm_operator", "auditor", "admin"}),
    }
)
SCORING_OR_INTAKE.add("knowledge use (intake)")


# --- the hot-issue radar: the centers read their streets' clusters; dispatchers and above open
# proactive cases; leaders set the month's theme; admins the thresholds


async def list_hot_issues(ctx: Ctx, headers: dict[str, str]) -> httpx.Response:
    return await ctx["routing"].get("/v1/hot-issues", headers=headers)


async def set_radar_policy(ctx: Ctx, headers: dict[str, str]) -> httpx.Response:
    return await ctx["routing"].put("/v1/hot-issues/policy", headers=headers, json={
        "thresholds": [{"submitters": 5, "window_days": 7}], "similarity": 0.3})  # fmt: skip


async def open_proactive_case(ctx: Ctx, headers: dict[str, str]) -> httpx.Response:
    return await ctx["routing"].post(f"/v1/hot-issues/{MISSING}/proactive-case", headers=headers,
                                     json={"classification": "general"})  # fmt: skip


async def set_month_theme(ctx: Ctx, headers: dict[str, str]) -> httpx.Response:
    return await ctx["routing"].post(f"/v1/hot-issues/{MISSING}/theme", headers=headers,
                                     json={"month": "2026-12"})  # fmt: skip


ACTIONS.update(
    {
        # hot_issue.read: center staff, auditors and admins (not departments)
        "list hot issues": (list_hot_issues, CENTER | {"gm_operator", "auditor", "admin"}),
        # hot_issue.policy: admins
        "set radar policy": (set_radar_policy, {"admin"}),
        # hot_issue.handle: dispatchers, supervisors, leaders and admins (a missing cluster: 404)
        "open proactive case": (
            open_proactive_case,
            {"hs_dispatcher", "hs_supervisor", "hs_leader", "admin"},
        ),
        # hot_issue.theme: leaders and admins
        "set month theme": (set_month_theme, {"hs_leader", "admin"}),
    }
)


# --- staff accounts: every staff member changes their own password and renews their session;
# a department's key has neither (the policy itself is in tests/routing_service/department)


async def change_own_password(ctx: Ctx, headers: dict[str, str]) -> httpx.Response:
    return await ctx["routing"].post("/v1/auth/password", headers=headers, json={
        "current_password": PASSWORD, "new_password": "Fresh-horse-battery-2026"})  # fmt: skip


async def refresh_session(ctx: Ctx, headers: dict[str, str]) -> httpx.Response:
    return await ctx["routing"].post("/v1/auth/refresh", headers=headers)


ACTIONS.update(
    {
        # auth.change_password / auth.refresh: every staff role
        "change own password": (change_own_password, set(EVERYONE) - {"unit_key"}),
        "refresh session": (refresh_session, set(EVERYONE) - {"unit_key"}),
    }
)


# --- personal data (intake_service.privacy): the log of who read or erased it


async def read_identity_access(ctx: Ctx, headers: dict[str, str]) -> httpx.Response:
    return await ctx["intake"].get("/v1/audit/identity-access", headers=headers)


ACTIONS.update(
    {
        # audit.identity_access.read: auditors and admins
        "identity access log (intake)": (read_identity_access, {"auditor", "admin"}),
    }
)
SCORING_OR_INTAKE.add("identity access log (intake)")


@pytest.mark.parametrize("action", list(ACTIONS))
async def test_each_role(
    action: str,
    intake_client: httpx.AsyncClient,
    routing_client: httpx.AsyncClient,
    scoring_client: httpx.AsyncClient,
    routing_sessionmaker: AsyncSessionMaker,
    org: Org,
) -> None:
    run, allowed = ACTIONS[action]
    ctx: Ctx = {"intake": intake_client, "routing": routing_client, "scoring": scoring_client,
                "routing_sessionmaker": routing_sessionmaker, "org": org}  # fmt: skip
    unit_key = await make_key(routing_sessionmaker, ApiKey, "DEPT-JT")
    outcomes: dict[str, int] = {}
    for role in EVERYONE:
        if role == "unit_key" and action in SCORING_OR_INTAKE:
            continue  # department keys exist only in routing
        headers = {"X-API-Key": unit_key} if role == "unit_key" else org.auth(role)
        outcomes[role] = (await run(ctx, headers)).status_code
    # A street operator may verify, but not the district's cases: outside its subtree the case
    # does not exist for it (404), which is also a denial.
    denied = {
        role
        for role, status in outcomes.items()
        if status in (401, 403)
        or (role == "gm_operator" and status == 404 and action not in SCORING_OR_INTAKE)
    }
    expected_denied = set(outcomes) - allowed
    assert denied == expected_denied, f"{action}: {outcomes}"
    anonymous = await run(ctx, {})
    assert anonymous.status_code == 401, action
