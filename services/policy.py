"""The access policy of all three services, in one place.

Every endpoint states the *action* it performs; :func:`authorize` decides from the caller's role
whether it may, and :func:`in_scope` whether the object lies in the caller's part of the org tree
(a center sees its subtree; a department sees its own unit).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from services.auth import Principal
from services.errors import Forbidden
from shared.enums import Channel, Role

__all__ = [
    "ACTIONS",
    "CENTER_ROLES",
    "DEPARTMENT_ROLES",
    "ListScope",
    "authorize",
    "authorize_in_scope",
    "authorize_unscoped_read",
    "can",
    "case_in_scope",
    "in_scope",
    "is_department",
    "list_scope",
    "may_manage_unit_keys",
    "project_in_scope",
    "sees_everything",
]

CENTER_ROLES = frozenset({Role.operator, Role.dispatcher, Role.supervisor, Role.leader})
DEPARTMENT_ROLES = frozenset({Role.liaison, Role.handler, Role.head})
UNIT_KEY = "unit_key"  # the pseudo-role of a department system's API key
SERVICE = "service"  # another Yingshang service

_READERS = CENTER_ROLES | DEPARTMENT_ROLES | {Role.auditor, Role.admin, Role.discipline_officer}

ACTIONS: dict[str, frozenset[str]] = {
    # intake: requests as received (identity masked except for the discipline role)
    "request.read": frozenset(CENTER_ROLES | {Role.auditor, Role.admin, Role.discipline_officer}),
    # routing: cases
    "case.read": frozenset(_READERS | {UNIT_KEY, SERVICE}),
    # routing: the caller's queues with their counts (工作台)
    "queue.read": frozenset(_READERS | {UNIT_KEY}),
    "case.verify": frozenset(
        {Role.operator, Role.dispatcher, Role.supervisor, Role.leader, Role.admin}
    ),
    "case.dispatch": frozenset({Role.dispatcher, Role.supervisor, Role.leader, Role.admin}),
    "case.transfer": frozenset({Role.supervisor, Role.leader, Role.admin}),
    "case.milestone": frozenset({Role.dispatcher, Role.supervisor, Role.leader, Role.admin}),
    "case.redo": frozenset({Role.supervisor, Role.leader, Role.admin, SERVICE}),
    "case.close": frozenset({Role.supervisor, Role.leader, Role.admin, SERVICE}),
    # who submitted a confidential or anonymous request (routing's case, intake's request)
    "case.identity": frozenset({Role.discipline_officer}),
    # intake: the log of who read (or erased) requests' personal data; never the values
    "audit.identity_access.read": frozenset({Role.auditor, Role.admin}),
    "history.verify": frozenset({Role.auditor, Role.discipline_officer, Role.leader, Role.admin}),
    # routing: cards
    # Admins may act for a unit in an emergency (and are then subject to the same rules).
    "card.work": frozenset(DEPARTMENT_ROLES | {UNIT_KEY, Role.admin}),
    "card.review": frozenset({Role.dispatcher, Role.supervisor, Role.leader, Role.admin}),
    "card.extension.decide": frozenset({Role.supervisor, Role.leader, Role.admin}),
    "card.suspend": frozenset({Role.supervisor, Role.leader, Role.admin}),
    "transfer.read": frozenset({Role.discipline_officer, Role.leader, Role.auditor, Role.admin}),
    "transfer.acknowledge": frozenset({Role.discipline_officer}),
    # routing: administration
    "org.manage": frozenset({Role.admin}),
    "org.read": frozenset(_READERS | {UNIT_KEY}),
    "calendar.manage": frozenset({Role.admin}),
    "webhook.manage": frozenset({Role.admin, Role.head, Role.liaison, UNIT_KEY}),
    "supervision.read": frozenset(
        CENTER_ROLES | {Role.auditor, Role.admin, Role.discipline_officer}
    ),
    # scoring
    "feedback.record": frozenset({Role.operator, Role.supervisor, Role.leader, Role.admin}),
    "feedback.read": frozenset(CENTER_ROLES | {Role.auditor, Role.admin}),
    # a submitter's rating through the platform: relayed by the intake service only
    "rating.relay": frozenset({SERVICE}),
    "evaluation.read": frozenset(CENTER_ROLES | DEPARTMENT_ROLES | {Role.auditor, Role.admin}),
    "evaluation.configure": frozenset({Role.leader, Role.admin}),
    # Closing a month freezes every unit's scorecard; a recompute rewrites the record.
    "evaluation.close": frozenset({Role.admin}),
    "evaluation.recompute": frozenset({Role.admin}),
}


def can(principal: Principal, action: str) -> bool:
    role = UNIT_KEY if principal.kind == UNIT_KEY else principal.role
    if principal.kind == SERVICE:
        role = SERVICE
    return role in ACTIONS.get(action, frozenset())


def authorize(principal: Principal, action: str) -> None:
    if not can(principal, action):
        raise Forbidden(
            f"当前角色无权执行此操作({action})",
            f"Your role may not perform {action}",
            code="forbidden",
        )


def in_scope(principal: Principal, unit_path: str | None) -> bool:
    """Whether an object owned by the unit at ``unit_path`` lies in the caller's scope.

    Centers see their subtree; department staff and keys their own unit; auditors, admins,
    the discipline commission and services see everything (read access is decided by role).
    """
    if sees_everything(principal):
        return True
    if principal.unit_path is None or unit_path is None:
        return False
    if is_department(principal):
        return unit_path == principal.unit_path
    return unit_path.startswith(principal.unit_path)


# --- scope filters: what part of the org tree a list or a lookup covers ------------------------


def sees_everything(principal: Principal) -> bool:
    """Admins, auditors, the discipline commission and other services: the whole tree."""
    return principal.kind == SERVICE or principal.role in (
        Role.admin,
        Role.auditor,
        Role.discipline_officer,
    )


def is_department(principal: Principal) -> bool:
    """Department staff and department systems (API keys) work on their own unit only."""
    return principal.kind == UNIT_KEY or principal.role in DEPARTMENT_ROLES


# A subtree no unit lies in (paths are "/CODE/…/", never "//"): a center without a unit.
NOWHERE = "//"


@dataclass(frozen=True, slots=True)
class ListScope:
    """The filter a list applies for its caller: everything (both ``None``), one unit's own
    work (``own_unit_code``) or a center's subtree (``subtree``, a unit path prefix)."""

    subtree: str | None = None
    own_unit_code: str | None = None


def list_scope(principal: Principal) -> ListScope:
    if sees_everything(principal):
        return ListScope()
    if is_department(principal):
        # An empty code matches no unit: a department principal without one sees nothing.
        return ListScope(own_unit_code=principal.unit_code or "")
    return ListScope(subtree=principal.unit_path or NOWHERE)


def authorize_in_scope(principal: Principal, unit_path: str | None, hidden: Exception) -> None:
    """Raise ``hidden`` (a not-found, so existence is not revealed) outside the caller's scope."""
    if not in_scope(principal, unit_path):
        raise hidden


def authorize_unscoped_read(principal: Principal, action: str) -> None:
    """Intake has no org tree: district-level roles read it; street and community staff work
    through routing's scoped views."""
    authorize(principal, action)
    if not sees_everything(principal) and (principal.unit_path or "").count("/") > 2:
        raise Forbidden(
            "街道、社区人员请通过派单督办系统查看本辖区工单",
            "Street staff use the routing service's scoped views",
        )


def may_manage_unit_keys(principal: Principal, unit_code: str) -> bool:
    """Admins for any unit; a department head for their own unit's API keys."""
    return can(principal, "org.manage") or (
        principal.kind == "staff"
        and principal.role == Role.head
        and principal.unit_code == unit_code
    )


def case_in_scope(
    principal: Principal, owner_path: str | None, card_paths: Iterable[str | None]
) -> bool:
    """A case is the caller's if its owner or a unit it was dispatched to is in scope (the rule
    of routing's case list). Facts recorded before paths were carried (``None``) count as the
    district's: visible from the district level, not from a street."""
    district = "/" + (principal.unit_path or "").strip("/").split("/")[0] + "/"
    paths = [owner_path, *card_paths]
    return any(in_scope(principal, path or district) for path in paths)


# --- channels: notifications through the original channel (原渠道反馈) -------------------------

CHANNEL_KEY = "channel_key"  # the pseudo-role of a channel client's API key (intake)

ACTIONS.update(
    {
        # intake: a channel's backend manages the webhooks of its own channel's requests
        "channel.webhook.manage": frozenset({CHANNEL_KEY}),
        # routing: subscriptions owned by a channel, managed for it by the intake service only
        "webhook.channel.manage": frozenset({SERVICE}),
    }
)


def own_channel(principal: Principal) -> str:
    """The one channel a channel key acts for: the scope it was issued with, never a channel
    named in a request. A key valid for every channel (the development ``*`` key) owns none."""
    authorize(principal, "channel.webhook.manage")
    channel = principal.extra.get("channel", "")
    if channel not in {c.value for c in Channel}:
        raise Forbidden(
            "该密钥不属于某一具体渠道,不能订阅渠道通知",
            "This key is not bound to one channel, so it cannot subscribe to channel webhooks",
            code="channel_key_required",
        )
    return channel


# --- the enterprise file (一企一档): everything of one credit code, each caller in scope --------

ACTIONS.update(
    {
        # routing: staff read an enterprise's file (its cases and cards in their own scope)
        "enterprise.read": frozenset(_READERS),
        # intake and scoring: the parts routing collects for the file, for service callers only
        "enterprise.requests.read": frozenset({SERVICE}),
        "enterprise.ratings.read": frozenset({SERVICE}),
    }
)


def reads_all_requests(principal: Principal) -> bool:
    """Whether the enterprise file lists every request of the enterprise as received (callers
    who may read intake's requests: district-level roles) or only the requests behind the cases
    in the caller's scope (street centers, departments)."""
    try:
        authorize_unscoped_read(principal, "request.read")
    except Forbidden:
        return False
    return True


# --- projects (帮办代办 · 重点项目) and the procedure catalogue (事项目录) ----------------------

ACTIONS.update(
    {
        # the catalogue: every staff reader looks it up; admins edit and import it
        "procedure.read": frozenset(_READERS),
        "procedure.manage": frozenset({Role.admin}),
        # projects: centers (their subtree), the district-level readers, and departments,
        # which see the projects where they hold a step (and of those, their own steps only)
        "project.read": frozenset(_READERS),
        "project.create": frozenset(CENTER_ROLES | {Role.admin}),
        # editing a project and moving its stage: center staff of its subtree and its agent
        "project.update": frozenset(CENTER_ROLES | {Role.admin}),
        "project.stage": frozenset(CENTER_ROLES | {Role.admin}),
        # the agency plan: choosing steps (dispatched as cards), re-dispatching a returned one,
        # cancelling one, and the agent's records of contacts and documents handed over
        "project.plan": frozenset(CENTER_ROLES | {Role.admin}),
        "project.record": frozenset(CENTER_ROLES | {Role.admin}),
        # a blocker met on the way, raised as a request through intake (so it is verified,
        # supervised and rated like any other)
        "project.blocker": frozenset(CENTER_ROLES | {Role.admin}),
        # the enterprise's view of its project by tracking secret: relayed by intake only
        "project.track": frozenset({SERVICE}),
        # intake: a request raised by another service (a project's blocker, from routing)
        "request.raise": frozenset({SERVICE}),
        # scoring: the enterprise's rating of the agency service at 开工 and 建成投用, relayed
        # by intake; staff read the ratings
        "project_rating.relay": frozenset({SERVICE}),
        "project_rating.read": frozenset(_READERS),
    }
)


def project_in_scope(
    principal: Principal, paths: Iterable[str | None], agent_username: str | None = None
) -> bool:
    """A project is the caller's if its area or its responsible center lies in the caller's
    scope, or if the caller is its agent (代办员), who follows it wherever it is."""
    if agent_username is not None and principal.kind == "staff":
        if principal.subject == agent_username:
            return True
    if is_department(principal) and not sees_everything(principal):
        return False
    return any(in_scope(principal, path) for path in paths)


# --- the knowledge base (知识库) and the hot-issue radar (热点问题 · 主动治理) ----------------------

ACTIONS.update(
    {
        # routing: every staff reader reads articles (drafts of their own unit for departments);
        # departments draft and edit their own unit's; the center reviews, publishes, withdraws
        "knowledge.read": frozenset(_READERS),
        "knowledge.write": frozenset(DEPARTMENT_ROLES | CENTER_ROLES | {Role.admin}),
        "knowledge.review": frozenset({Role.supervisor, Role.leader, Role.admin}),
        # intake: the staff view of knowledge figures (answers used, by article)
        "knowledge.figures": frozenset(CENTER_ROLES | {Role.auditor, Role.admin}),
        # routing: the radar, scoped to the caller's subtree; the center opens proactive cases
        # from a cluster, marks the month's theme and sets the thresholds
        "hot_issue.read": frozenset(CENTER_ROLES | {Role.auditor, Role.admin}),
        "hot_issue.handle": frozenset({Role.dispatcher, Role.supervisor, Role.leader, Role.admin}),
        "hot_issue.theme": frozenset({Role.leader, Role.admin}),
        "hot_issue.policy": frozenset({Role.admin}),
    }
)


# --- staff accounts: every staff member changes their own password and renews their session

ACTIONS.update(
    {
        # routing: POST /v1/auth/password, the signed-in staff member's own password
        "auth.change_password": frozenset(Role),
        # routing: POST /v1/auth/refresh, a new token for the caller's still-valid session
        "auth.refresh": frozenset(Role),
    }
)
