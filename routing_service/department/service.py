"""The org tree, staff accounts, sign-in and department API keys.

Tier rules: one district center at the root; street centers (streets, townships, parks) under it;
community centers under a street; functional departments and the discipline commission hang
directly under the district. A unit's ``path`` is its ancestors' codes (``/HS/HS-GM/``), so a
subtree is a prefix and moving a unit rewrites its subtree's paths in one statement.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from routing_service.department import schemas
from routing_service.department.exceptions import (
    ApiKeyForbidden,
    ApiKeyNotAllowed,
    ApiKeyNotFound,
    DistrictExists,
    InvalidCredentials,
    InvalidUnitParent,
    LastAdmin,
    RoleUnitMismatch,
    SessionExpired,
    StaffNotFound,
    UnitCodeTaken,
    UnitInactive,
    UnitInUse,
    UnitNotFound,
    UnknownUnit,
    UsernameTaken,
    WeakPassword,
    WrongCurrentPassword,
)
from routing_service.department.lockout import SignInGuard
from routing_service.department.passwords import check_password
from routing_service.department.repository import (
    STAFF_ORDER,
    ApiKeyRepository,
    DispatchRuleRepository,
    OrgUnitRepository,
    StaffUserRepository,
)
from routing_service.models import ApiKey, OrgUnit, StaffUser
from services.api_keys import create_api_key, revoke_api_key
from services.auth import (
    Principal,
    TokenRevoked,
    hash_password,
    issue_token,
    staff_session_max_age,
    staff_token_ttl,
    verify_password,
)
from services.models import ApiKeyMixin, utcnow
from services.pagination import query_fingerprint, read_page
from services.policy import is_department, may_manage_unit_keys, sees_everything
from services.settings import common_settings
from shared.enums import Role, UnitKind

__all__ = [
    "CENTER_KINDS",
    "PARENT_KIND",
    "ROLE_UNIT_KINDS",
    "TIER",
    "OrgService",
    "Visibility",
    "org_service",
    "parent_path",
    "root_path",
    "suggest_units",
    "unit_out",
    "visibility",
]

CENTER_KINDS = frozenset(
    {UnitKind.district_center, UnitKind.street_center, UnitKind.community_center}
)
TIER: dict[UnitKind, int] = {
    UnitKind.district_center: 1,
    UnitKind.street_center: 2,
    UnitKind.community_center: 3,
    UnitKind.department: 1,
    UnitKind.discipline: 1,
}
PARENT_KIND: dict[UnitKind, UnitKind] = {
    UnitKind.street_center: UnitKind.district_center,
    UnitKind.community_center: UnitKind.street_center,
    UnitKind.department: UnitKind.district_center,
    UnitKind.discipline: UnitKind.district_center,
}
_CENTER_ROLE_KINDS = CENTER_KINDS
ROLE_UNIT_KINDS: dict[Role, frozenset[UnitKind]] = {
    Role.operator: _CENTER_ROLE_KINDS,
    Role.dispatcher: _CENTER_ROLE_KINDS,
    Role.supervisor: _CENTER_ROLE_KINDS,
    Role.leader: _CENTER_ROLE_KINDS,
    Role.liaison: frozenset({UnitKind.department}),
    Role.handler: frozenset({UnitKind.department}),
    Role.head: frozenset({UnitKind.department}),
    Role.discipline_officer: frozenset({UnitKind.discipline}),
    Role.auditor: frozenset({UnitKind.district_center}),
    Role.admin: frozenset({UnitKind.district_center}),
}


def path_codes(path: str) -> list[str]:
    return [code for code in path.split("/") if code]


def root_path(path: str) -> str:
    codes = path_codes(path)
    return f"/{codes[0]}/" if codes else "/"


def parent_path(path: str) -> str | None:
    codes = path_codes(path)
    return "/" + "".join(f"{code}/" for code in codes[:-1]) if len(codes) > 1 else None


def ancestor_paths(path: str) -> list[str]:
    """``/A/B/C/`` → ``["/A/", "/A/B/", "/A/B/C/"]``."""
    codes = path_codes(path)
    return ["/" + "".join(f"{code}/" for code in codes[: i + 1]) for i in range(len(codes))]


def unit_out(unit: OrgUnit) -> schemas.OrgUnitNode:
    codes = path_codes(unit.path)
    kind = UnitKind(unit.kind)
    return schemas.OrgUnitNode(
        id=unit.id,
        code=unit.code,
        name=unit.name,
        kind=kind,
        kind_label=kind.label_zh,
        tier=unit.tier,
        parent_code=codes[-2] if len(codes) > 1 else None,
        path=unit.path,
        head_name=unit.head_name,
        phone=unit.phone,
        active=unit.active,
        created_at=unit.created_at,
    )


def staff_out(user: StaffUser, unit: OrgUnit) -> schemas.StaffUser:
    role = Role(user.role)
    return schemas.StaffUser(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=role,
        role_label=role.label_zh,
        unit_code=unit.code,
        unit_name=unit.name,
        phone=user.phone,
        active=user.active,
        has_password=user.password_hash is not None,
        must_change_password=user.must_change_password,
        created_at=user.created_at,
    )


def key_out(key: ApiKeyMixin) -> schemas.ApiKey:
    return schemas.ApiKey.model_validate(key)


@dataclass(frozen=True, slots=True)
class Visibility:
    """Which units a caller may see: everything, a subtree, or exactly some units."""

    everything: bool = False
    subtree: str | None = None
    units: frozenset[str] | None = None

    def allows(self, path: str) -> bool:
        if self.everything:
            return True
        if self.subtree is not None:
            return path.startswith(self.subtree)
        return self.units is not None and path in self.units


def visibility(principal: Principal, *, with_root: bool = True) -> Visibility:
    """Centers see their subtree; departments (staff and API keys) their own unit, plus the
    district root when ``with_root``; admins, auditors, the discipline commission and services
    see the whole tree."""
    if sees_everything(principal):
        return Visibility(everything=True)
    if principal.unit_path is None:
        return Visibility(units=frozenset())
    if is_department(principal):
        own = {principal.unit_path}
        if with_root:
            own.add(root_path(principal.unit_path))
        return Visibility(units=frozenset(own))
    return Visibility(subtree=principal.unit_path)


def check_role_fits(role: Role, unit: OrgUnit) -> None:
    allowed = ROLE_UNIT_KINDS[role]
    if UnitKind(unit.kind) not in allowed:
        raise RoleUnitMismatch(
            f"角色「{role.label_zh}」不能设在{UnitKind(unit.kind).label_zh}({unit.code})",
            f"Role {role.value} does not fit a {unit.kind} unit ({unit.code})",
            details={
                "role": role.value,
                "unit_code": unit.code,
                "unit_kind": unit.kind,
                "allowed_kinds": sorted(kind.value for kind in allowed),
            },
        )


class OrgService:
    # --- sign-in ------------------------------------------------------------------------------

    async def issue_token(
        self, session: AsyncSession, username: str, password: str, guard: SignInGuard
    ) -> schemas.Token:
        # A locked username or address is refused before the password is looked at.
        await guard.ensure_unlocked(username)
        found = await StaffUserRepository.from_session(session).get_by_username(username.lower())
        password_hash = found[0].password_hash if found is not None else None
        # Always one argon2 run, off the event loop, so unknown users answer like wrong passwords.
        valid = await asyncio.to_thread(verify_password, password_hash, password)
        if found is None or not valid or not found[0].active or not found[1].active:
            await guard.failed(username)
            raise InvalidCredentials()
        await guard.succeeded(username)
        return self.session_token(*found)

    def session_token(
        self, user: StaffUser, unit: OrgUnit, session_started_at: float | None = None
    ) -> schemas.Token:
        """A token for the user's session (a new one without ``session_started_at``): it lives
        the idle timeout, never past the session's absolute end. In production, a user who must
        change the password gets a token good for that alone (services/auth.py)."""
        now = utcnow().timestamp()
        started = now if session_started_at is None else session_started_at
        left = started + staff_session_max_age().total_seconds() - now
        ttl = min(staff_token_ttl(), timedelta(seconds=max(1, math.floor(left))))
        enforced = common_settings().env == "production" and user.must_change_password
        token = issue_token(
            subject=user.username,
            role=user.role,
            unit_code=unit.code,
            unit_path=unit.path,
            display_name=user.display_name,
            ttl=ttl,
            session_started_at=started,
            password_change_required=enforced,
        )
        return schemas.Token(
            access_token=token,
            expires_in=int(ttl.total_seconds()),
            role=Role(user.role),
            unit_code=unit.code,
            display_name=user.display_name,
            must_change_password=user.must_change_password,
        )

    async def _own_account(
        self, session: AsyncSession, principal: Principal
    ) -> tuple[StaffUser, OrgUnit]:
        """The signed-in staff member's row, while it may still sign in."""
        found = await StaffUserRepository.from_session(session).get_by_username(principal.subject)
        if found is None or not found[0].active or not found[1].active:
            raise TokenRevoked()
        return found

    async def refresh_token(self, session: AsyncSession, principal: Principal) -> schemas.Token:
        """A new token for the caller's session: the account still active, the token issued
        after the account's cutoff (checked against the database, not this process's copy) and
        the session younger than ``STAFF_SESSION_MAX_HOURS``."""
        user, unit = await self._own_account(session, principal)
        issued = principal.issued_at or 0.0
        cutoff = user.tokens_valid_after
        if cutoff is not None and round(issued * 1000) < math.floor(cutoff.timestamp() * 1000):
            raise TokenRevoked()
        started = principal.session_started_at or issued
        if utcnow().timestamp() - started >= staff_session_max_age().total_seconds():
            raise SessionExpired()
        return self.session_token(user, unit, started)

    async def change_password(
        self,
        session: AsyncSession,
        principal: Principal,
        data: schemas.PasswordChange,
        guard: SignInGuard,
    ) -> tuple[StaffUser, OrgUnit]:
        """Set the caller's own password: the current one proven (its failures count towards
        the username's lockout, so a stolen session cannot guess it), the new one passing the
        policy and different. The earlier tokens are cut off (the endpoint publishes it)."""
        user, unit = await self._own_account(session, principal)
        await guard.ensure_unlocked(user.username)
        if not await asyncio.to_thread(verify_password, user.password_hash, data.current_password):
            await guard.failed(user.username)
            raise WrongCurrentPassword()
        await guard.succeeded(user.username)
        if data.new_password == data.current_password:
            raise WeakPassword(
                "新密码不能与当前密码相同",
                "The new password must differ from the current one",
                details={"rule": "same_as_current"},
            )
        check_password(data.new_password, user.username)
        user.password_hash = await asyncio.to_thread(hash_password, data.new_password)
        user.must_change_password = False
        user.tokens_valid_after = utcnow()
        await session.flush()
        return user, unit

    # --- units --------------------------------------------------------------------------------

    async def list_units(
        self,
        session: AsyncSession,
        principal: Principal,
        *,
        kind: UnitKind | None = None,
        include_inactive: bool = True,
    ) -> Sequence[OrgUnit]:
        scope = visibility(principal)
        repository = OrgUnitRepository.from_session(session)
        return await repository.list(
            kind=kind.value if kind else None,
            include_inactive=include_inactive,
            path_prefix=scope.subtree,
            paths=scope.units,
        )

    async def get_visible_unit(
        self, session: AsyncSession, principal: Principal, code: str
    ) -> OrgUnit:
        unit = await OrgUnitRepository.from_session(session).get_by_code(code.upper())
        if unit is None or not visibility(principal).allows(unit.path):
            raise UnitNotFound()
        return unit

    async def find_unit(self, session: AsyncSession, code: str) -> OrgUnit | None:
        return await OrgUnitRepository.from_session(session).get_by_code(code.strip().upper())

    async def get_unit(self, session: AsyncSession, code: str) -> OrgUnit:
        unit = await OrgUnitRepository.from_session(session).get_by_code(code.upper())
        if unit is None:
            raise UnitNotFound()
        return unit

    async def _parent_for(
        self, repository: OrgUnitRepository, kind: UnitKind, parent_code: str | None
    ) -> OrgUnit:
        expected = PARENT_KIND[kind]
        if parent_code is None:
            if expected is not UnitKind.district_center:
                raise InvalidUnitParent(
                    f"{kind.label_zh}必须指定上级机构(parent_code)",
                    f"A {kind.value} needs a parent_code",
                    details={"expected_parent_kind": expected.value},
                )
            roots = await repository.district_roots()
            if not roots:
                raise InvalidUnitParent("尚未建立区级中心", "There is no district center yet")
            return roots[0]
        parent = await repository.get_by_code(parent_code)
        if parent is None:
            raise InvalidUnitParent(
                f"上级机构 {parent_code} 不存在", f"Parent unit {parent_code} does not exist"
            )
        if parent.kind != expected.value:
            raise InvalidUnitParent(
                f"{kind.label_zh}的上级必须是{expected.label_zh}",
                f"The parent of a {kind.value} must be a {expected.value}",
                details={"expected_parent_kind": expected.value, "parent_kind": parent.kind},
            )
        if not parent.active:
            raise UnitInactive(
                f"上级机构 {parent.code} 已停用", f"Parent unit {parent.code} is inactive"
            )
        return parent

    async def create_unit(self, session: AsyncSession, data: schemas.OrgUnitCreate) -> OrgUnit:
        repository = OrgUnitRepository.from_session(session)
        if await repository.get_by_code(data.code) is not None:
            raise UnitCodeTaken()
        if data.kind is UnitKind.district_center:
            if data.parent_code is not None:
                raise InvalidUnitParent(
                    "区级中心不能有上级机构", "The district center has no parent"
                )
            if await repository.district_roots():
                raise DistrictExists()
            parent_id, path = None, f"/{data.code}/"
        else:
            parent = await self._parent_for(repository, data.kind, data.parent_code)
            parent_id, path = parent.id, f"{parent.path}{data.code}/"
        unit = OrgUnit(
            id=uuid.uuid4(),
            code=data.code,
            name=data.name,
            kind=data.kind.value,
            tier=TIER[data.kind],
            parent_id=parent_id,
            path=path,
            head_name=data.head_name,
            phone=data.phone,
            active=True,
        )
        session.add(unit)
        try:
            await session.flush()
        except IntegrityError as exc:  # a concurrent create of the same code
            raise UnitCodeTaken() from exc
        return unit

    async def update_unit(
        self, session: AsyncSession, unit: OrgUnit, data: schemas.OrgUnitUpdate
    ) -> OrgUnit:
        repository = OrgUnitRepository.from_session(session)
        given = data.model_fields_set
        if data.name is not None:
            unit.name = data.name
        if "head_name" in given:
            unit.head_name = data.head_name
        if "phone" in given:
            unit.phone = data.phone
        current_parent = parent_path(unit.path)
        current_parent_code = path_codes(current_parent)[-1] if current_parent else None
        if data.parent_code is not None and data.parent_code != current_parent_code:
            kind = UnitKind(unit.kind)
            if kind is UnitKind.district_center:
                raise InvalidUnitParent(
                    "区级中心不能有上级机构", "The district center has no parent"
                )
            parent = await self._parent_for(repository, kind, data.parent_code)
            if parent.path.startswith(unit.path):
                raise InvalidUnitParent(
                    "不能移到自身的下级机构之下", "Cannot move a unit under itself"
                )
            old_path, new_path = unit.path, f"{parent.path}{unit.code}/"
            unit.parent_id = parent.id
            await repository.move_subtree(old_path, new_path)
        if data.active is not None and data.active != unit.active:
            if data.active:
                await self._check_can_activate(repository, unit)
            else:
                await self._check_can_deactivate(session, unit)
            unit.active = data.active
        await session.flush()
        return unit

    async def _check_can_activate(self, repository: OrgUnitRepository, unit: OrgUnit) -> None:
        if unit.parent_id is None:
            return
        parent = await repository.get_by_id(unit.parent_id)
        if parent is not None and not parent.active:
            raise UnitInactive(
                f"上级机构 {parent.code} 已停用,请先启用上级",
                f"Parent unit {parent.code} is inactive",
            )

    async def _check_can_deactivate(self, session: AsyncSession, unit: OrgUnit) -> None:
        children = await OrgUnitRepository.from_session(session).count_active_children(unit.id)
        staff = await StaffUserRepository.from_session(session).count_active_in_unit(unit.id)
        rules = await DispatchRuleRepository.from_session(session).count_active_for_unit(unit.id)
        if children or staff or rules:
            raise UnitInUse(
                details={
                    "active_children": children,
                    "active_staff": staff,
                    "active_dispatch_rules": rules,
                }
            )

    # --- staff --------------------------------------------------------------------------------

    async def list_staff(
        self, session: AsyncSession, principal: Principal, filters: schemas.StaffFilters
    ) -> schemas.StaffPage:
        """One cursor page of the staff the caller may see, by unit path then username."""
        scope = visibility(principal, with_root=False)
        if scope.units is not None and not scope.units:
            return schemas.StaffPage(
                items=[], next_cursor=None, limit=filters.limit,
                total=0 if filters.with_total else None,
            )  # fmt: skip
        stmt = StaffUserRepository.from_session(session).list_statement(
            path_prefix=scope.subtree,
            unit_path=next(iter(scope.units)) if scope.units else None,
            unit_code=filters.unit_code.upper() if filters.unit_code else None,
            role=filters.role.value if filters.role else None,
            active=filters.active,
        )
        users, next_cursor, total = await read_page(
            session, stmt, STAFF_ORDER, cursor=filters.cursor, limit=filters.limit,
            fingerprint=query_fingerprint(principal.actor, filters.fingerprint_params()),
            with_total=filters.with_total,
        )  # fmt: skip
        unit_ids = {user.unit_id for user in users}
        units = (
            {
                u.id: u
                for u in await session.scalars(select(OrgUnit).where(OrgUnit.id.in_(unit_ids)))
            }
            if unit_ids
            else {}
        )
        return schemas.StaffPage(
            items=[staff_out(user, units[user.unit_id]) for user in users],
            next_cursor=next_cursor, limit=filters.limit, total=total,
        )  # fmt: skip

    async def get_visible_staff(
        self, session: AsyncSession, principal: Principal, username: str
    ) -> tuple[StaffUser, OrgUnit]:
        found = await StaffUserRepository.from_session(session).get_by_username(username.lower())
        if found is None or not visibility(principal, with_root=False).allows(found[1].path):
            raise StaffNotFound()
        return found

    async def _unit_for_staff(self, session: AsyncSession, code: str) -> OrgUnit:
        unit = await OrgUnitRepository.from_session(session).get_by_code(code)
        if unit is None:
            raise UnknownUnit(
                f"机构 {code} 不存在", f"Unit {code} does not exist", details={"unit_code": code}
            )
        if not unit.active:
            raise UnitInactive(f"机构 {code} 已停用", f"Unit {code} is inactive")
        return unit

    async def create_staff(
        self, session: AsyncSession, data: schemas.StaffUserCreate
    ) -> tuple[StaffUser, OrgUnit]:
        check_password(data.password, data.username)
        repository = StaffUserRepository.from_session(session)
        if await repository.get_by_username(data.username) is not None:
            raise UsernameTaken()
        unit = await self._unit_for_staff(session, data.unit_code)
        check_role_fits(data.role, unit)
        user = StaffUser(
            id=uuid.uuid4(),
            username=data.username,
            display_name=data.display_name,
            role=data.role.value,
            unit_id=unit.id,
            password_hash=await asyncio.to_thread(hash_password, data.password),
            phone=data.phone,
            active=True,
        )
        session.add(user)
        try:
            await session.flush()
        except IntegrityError as exc:  # a concurrent create of the same username
            raise UsernameTaken() from exc
        return user, unit

    async def update_staff(
        self,
        session: AsyncSession,
        user: StaffUser,
        unit: OrgUnit,
        data: schemas.StaffUserUpdate,
    ) -> tuple[StaffUser, OrgUnit]:
        if data.password is not None:
            check_password(data.password, user.username)
        repository = StaffUserRepository.from_session(session)
        role = data.role or Role(user.role)
        if data.unit_code is not None and data.unit_code != unit.code:
            unit = await self._unit_for_staff(session, data.unit_code)
        if role.value != user.role or unit.id != user.unit_id:
            check_role_fits(role, unit)
        losing_admin = (
            user.role == Role.admin.value
            and user.active
            and (role is not Role.admin or data.active is False)
        )
        if losing_admin and await repository.count_active_admins(excluding=user.id) == 0:
            raise LastAdmin()
        # The tokens issued so far carry the old role and unit (or outlive the old password):
        # refused from now on (the endpoint publishes the cutoff after the commit).
        if (
            role.value != user.role
            or unit.id != user.unit_id
            or (data.active is False and user.active)
            or data.password is not None
        ):
            user.tokens_valid_after = utcnow()
        user.role = role.value
        user.unit_id = unit.id
        if data.display_name is not None:
            user.display_name = data.display_name
        if "phone" in data.model_fields_set:
            user.phone = data.phone
        if data.active is not None:
            user.active = data.active
        if data.password is not None:
            user.password_hash = await asyncio.to_thread(hash_password, data.password)
        if data.must_change_password is not None:
            user.must_change_password = data.must_change_password
        await session.flush()
        return user, unit

    # --- department API keys ------------------------------------------------------------------

    def check_can_manage_keys(self, principal: Principal, unit_code: str) -> None:
        if not may_manage_unit_keys(principal, unit_code):
            raise ApiKeyForbidden()

    async def create_key(
        self, session: AsyncSession, unit: OrgUnit, name: str
    ) -> schemas.ApiKeyCreated:
        if unit.kind != UnitKind.department.value:
            raise ApiKeyNotAllowed()
        if not unit.active:
            raise UnitInactive()
        row, raw = await create_api_key(session, ApiKey, name=name, scope=unit.code)
        return schemas.ApiKeyCreated.model_validate({**key_out(row).model_dump(), "api_key": raw})

    async def list_keys(self, session: AsyncSession, unit: OrgUnit) -> list[schemas.ApiKey]:
        keys = await ApiKeyRepository.from_session(session).list_for_scope(unit.code)
        return [key_out(key) for key in keys]

    async def revoke_key(self, session: AsyncSession, unit: OrgUnit, key_id: uuid.UUID) -> None:
        key = await ApiKeyRepository.from_session(session).get_for_scope(key_id, unit.code)
        if key is None:
            raise ApiKeyNotFound()
        if key.revoked_at is None:
            await revoke_api_key(session, ApiKey, str(key.id))


org_service = OrgService()


async def suggest_units(
    session: AsyncSession, topic: str, area_code: str | None, limit: int = 3
) -> list[schemas.UnitSuggestion]:
    """:func:`routing_service.department.dispatch_rules.suggest_units`, also importable from
    here. Imported on call: the dispatch catalogue module builds on this one."""
    from routing_service.department.dispatch_rules import suggest_units as suggest

    return await suggest(session, topic, area_code, limit)
