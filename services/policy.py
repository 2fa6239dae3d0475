"""The access policy of all three services, in one place.

Every endpoint states the *action* it performs; :func:`authorize` decides from the caller's role
whether it may, and :func:`in_scope` whether the object lies in the caller's part of the org tree
(a center sees its subtree; a department sees its own unit).
"""

from __future__ import annotations

from services.auth import Principal
from services.errors import Forbidden
from shared.enums import Role

__all__ = ["ACTIONS", "CENTER_ROLES", "DEPARTMENT_ROLES", "authorize", "can", "in_scope"]

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
    "case.verify": frozenset(
        {Role.operator, Role.dispatcher, Role.supervisor, Role.leader, Role.admin}
    ),
    "case.dispatch": frozenset({Role.dispatcher, Role.supervisor, Role.leader, Role.admin}),
    "case.transfer": frozenset({Role.supervisor, Role.leader, Role.admin}),
    "case.milestone": frozenset({Role.dispatcher, Role.supervisor, Role.leader, Role.admin}),
    "case.redo": frozenset({Role.supervisor, Role.leader, Role.admin, SERVICE}),
    "case.close": frozenset({Role.supervisor, Role.leader, Role.admin, SERVICE}),
    "case.identity": frozenset({Role.discipline_officer}),
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
    "evaluation.read": frozenset(CENTER_ROLES | DEPARTMENT_ROLES | {Role.auditor, Role.admin}),
    "evaluation.configure": frozenset({Role.leader, Role.admin}),
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
    if principal.kind == SERVICE or principal.role in (
        Role.admin,
        Role.auditor,
        Role.discipline_officer,
    ):
        return True
    if principal.unit_path is None or unit_path is None:
        return False
    if principal.kind == UNIT_KEY or principal.role in DEPARTMENT_ROLES:
        return unit_path == principal.unit_path
    return unit_path.startswith(principal.unit_path)
