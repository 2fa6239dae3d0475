"""Load a whole org tree (units, staff, dispatch catalogue) from a YAML or JSON document.

The import is an upsert by code (units), username (staff) and topic × area × unit (rules):
re-importing the same document changes nothing. It is all-or-nothing: the whole document is
checked first and every problem is reported with its location; nothing is written unless it is
valid. Units, users and rules missing from the document are left alone (an import never deletes
or deactivates), fields missing from the document (``head_name``, ``phone``) keep their value,
and a password only applies to a user the import creates (it never resets one). Every password
given must pass the password policy (``passwords.py``): a weak one is an error of the import
(``weak_password`` at ``staff[i].password``).

Command line (uses the routing service's database settings)::

    python -m routing_service.department.loader [path/to/tree.yaml] [--migrate]

Without a path the packaged seed district (``routing_service/seed/hanshan.yaml``) is loaded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from routing_service.department import schemas
from routing_service.department.dispatch_rules import (
    AREA_KINDS,
    AREA_MARKER,
    TARGET_KINDS,
    is_direct,
    public_note,
    stored_note,
)
from routing_service.department.exceptions import InvalidOrgDocument, UnsupportedMediaType
from routing_service.department.passwords import password_problem
from routing_service.department.repository import (
    DispatchRuleRepository,
    OrgUnitRepository,
    StaffUserRepository,
)
from routing_service.department.service import ROLE_UNIT_KINDS, TIER
from routing_service.models import DispatchRule, OrgUnit, StaffUser
from services.auth import hash_password
from services.models import utcnow
from shared.enums import UnitKind

__all__ = [
    "JSON_TYPES",
    "MAX_DOCUMENT_BYTES",
    "YAML_TYPES",
    "import_document",
    "main",
    "parse_document",
    "seed_document",
]

MAX_DOCUMENT_BYTES = 2 * 1024 * 1024
JSON_TYPES = frozenset({"application/json"})
YAML_TYPES = frozenset({"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"})


# --- parsing ----------------------------------------------------------------------------------


class _DocumentLoader(yaml.SafeLoader):
    """Safe YAML without anchors/aliases (an alias bomb expands exponentially when validated)
    and with bounded nesting (the composer recurses once per level)."""

    max_depth = 32
    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(
                None, None, "YAML aliases (*name) are not allowed", event.start_mark
            )
        if self._depth >= self.max_depth:
            raise yaml.composer.ComposerError(
                None, None, f"nested deeper than {self.max_depth} levels", event.start_mark
            )
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _error(loc: str, code: str, message: str, message_en: str | None = None) -> dict[str, str]:
    return {"loc": loc, "code": code, "message": message, "message_en": message_en or message}


def _loc(parts: Sequence[int | str]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _validation_details(exc: ValidationError) -> list[dict[str, str]]:
    return [
        _error(_loc(error["loc"]), error["type"], error["msg"])
        for error in exc.errors(include_url=False, include_input=False)
    ]


def parse_document(raw: bytes, media_type: str) -> schemas.OrgDocument:
    """Parse and validate a document; raises ``InvalidOrgDocument`` with every problem found."""
    if media_type in JSON_TYPES:
        try:
            return schemas.OrgDocument.model_validate_json(raw)
        except ValidationError as exc:
            raise InvalidOrgDocument(details=_validation_details(exc)) from None
    if media_type not in YAML_TYPES:
        raise UnsupportedMediaType(
            "机构文件须为 JSON(application/json)或 YAML(application/yaml)",
            "Send the document as application/json or application/yaml",
        )
    try:
        data = yaml.load(raw.decode("utf-8"), Loader=_DocumentLoader)
    except UnicodeDecodeError:
        raise InvalidOrgDocument(
            details=[
                _error("", "invalid_encoding", "文件须为 UTF-8 编码", "The document must be UTF-8")
            ]
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = (
            f"line {mark.line + 1}, column {mark.column + 1}"
            if mark is not None
            else "unknown position"
        )
        problem = getattr(exc, "problem", None) or str(exc)
        raise InvalidOrgDocument(
            details=[
                _error(
                    "",
                    "yaml_syntax",
                    f"YAML 语法错误({where}):{problem}",
                    f"YAML syntax error at {where}: {problem}",
                )
            ]
        ) from None
    if not isinstance(data, dict):
        raise InvalidOrgDocument(
            details=[
                _error(
                    "",
                    "not_a_mapping",
                    "文件顶层须为对象(district/departments/…)",
                    "The document must be a mapping",
                )
            ]
        )
    try:
        return schemas.OrgDocument.model_validate(data)
    except ValidationError as exc:
        raise InvalidOrgDocument(details=_validation_details(exc)) from None


def seed_document(name: str = "hanshan") -> bytes:
    """The packaged seed district's document."""
    return (resources.files("routing_service") / "seed" / f"{name}.yaml").read_bytes()


# --- import -----------------------------------------------------------------------------------


@dataclass
class _PlannedUnit:
    loc: str
    code: str
    name: str
    kind: UnitKind
    parent_code: str | None
    head_name: str | None
    phone: str | None
    path: str = ""


@dataclass
class _KnownUnit:
    """What the document will make of a unit, or what the database has for one it only names."""

    kind: UnitKind
    active: bool
    path: str


@dataclass
class _Plan:
    units: list[_PlannedUnit] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)

    def error(self, loc: str, code: str, message: str, message_en: str) -> None:
        self.errors.append(_error(loc, code, message, message_en))


def _plan_units(doc: schemas.OrgDocument) -> _Plan:
    plan = _Plan()
    district = doc.district
    root = _PlannedUnit(
        "district",
        district.code,
        district.name,
        UnitKind.district_center,
        None,
        district.head_name,
        district.phone,
        path=f"/{district.code}/",
    )
    plan.units.append(root)
    for i, street in enumerate(district.streets):
        loc = f"district.streets[{i}]"
        street_path = f"{root.path}{street.code}/"
        plan.units.append(
            _PlannedUnit(
                loc,
                street.code,
                street.name,
                UnitKind.street_center,
                root.code,
                street.head_name,
                street.phone,
                path=street_path,
            )
        )
        for j, community in enumerate(street.communities):
            plan.units.append(
                _PlannedUnit(
                    f"{loc}.communities[{j}]",
                    community.code,
                    community.name,
                    UnitKind.community_center,
                    street.code,
                    community.head_name,
                    community.phone,
                    path=f"{street_path}{community.code}/",
                )
            )
    for i, department in enumerate(doc.departments):
        plan.units.append(
            _PlannedUnit(
                f"departments[{i}]",
                department.code,
                department.name,
                UnitKind(department.kind),
                root.code,
                department.head_name,
                department.phone,
                path=f"{root.path}{department.code}/",
            )
        )
    seen: dict[str, str] = {}
    for unit in plan.units:
        if unit.code in seen:
            plan.error(
                f"{unit.loc}.code",
                "duplicate_code",
                f"机构编码 {unit.code} 重复(已用于 {seen[unit.code]})",
                f"Unit code {unit.code} appears twice (first at {seen[unit.code]})",
            )
        else:
            seen[unit.code] = unit.loc
    return plan


class _Counts:
    def __init__(self) -> None:
        self.created = 0
        self.updated = 0
        self.unchanged = 0

    def count(self, *, created: bool = False, changed: bool = False) -> None:
        if created:
            self.created += 1
        elif changed:
            self.updated += 1
        else:
            self.unchanged += 1

    def out(self) -> schemas.ImportCounts:
        return schemas.ImportCounts(
            created=self.created, updated=self.updated, unchanged=self.unchanged
        )


async def import_document(session: AsyncSession, doc: schemas.OrgDocument) -> schemas.ImportReport:
    """Upsert the document's units, staff and rules.

    Raises ``InvalidOrgDocument`` with every row-level problem before anything is written (the
    last-admin check runs after the staff rows are flushed: the caller commits on success and
    rolls back on any error, which discards them).
    """
    units_repo = OrgUnitRepository.from_session(session)
    staff_repo = StaffUserRepository.from_session(session)
    plan = _plan_units(doc)
    district = plan.units[0]

    existing = await units_repo.get_by_codes({unit.code for unit in plan.units})
    roots = await units_repo.district_roots()
    if any(root.code != district.code for root in roots):
        plan.error(
            "district.code",
            "district_mismatch",
            f"已存在区级中心 {roots[0].code},文件中的区级中心须与其编码一致",
            f"The district center is {roots[0].code}; the document must use that code",
        )
    for unit in plan.units:
        found = existing.get(unit.code)
        if found is not None and found.kind != unit.kind.value:
            plan.error(
                f"{unit.loc}.code",
                "kind_mismatch",
                f"机构 {unit.code} 已存在且类型为 {UnitKind(found.kind).label_zh},不能改为 {unit.kind.label_zh}",
                f"Unit {unit.code} exists as {found.kind}, not {unit.kind.value}",
            )

    known: dict[str, _KnownUnit] = {}
    for unit in plan.units:
        found = existing.get(unit.code)
        known.setdefault(
            unit.code, _KnownUnit(unit.kind, found.active if found else True, unit.path)
        )
    referenced = {staff.unit for staff in doc.staff}
    referenced |= {rule.area for rule in doc.dispatch_rules if rule.area}
    referenced |= {rule.unit for rule in doc.dispatch_rules if rule.unit != AREA_MARKER}
    outside = await units_repo.get_by_codes(referenced - known.keys())
    for code, other in outside.items():
        known[code] = _KnownUnit(UnitKind(other.kind), other.active, other.path)

    _check_staff(plan, doc, known)
    _check_rules(plan, doc, known)
    if plan.errors:
        raise InvalidOrgDocument(details=plan.errors)

    admins_before = await staff_repo.count_active_admins()
    unit_counts = await _apply_units(session, plan, existing)
    ids = {code: unit.id for code, unit in (await units_repo.get_by_codes(known.keys())).items()}
    staff_counts = await _apply_staff(session, doc, ids)
    if admins_before and not await staff_repo.count_active_admins():
        raise InvalidOrgDocument(
            details=[
                _error(
                    "staff",
                    "last_admin",
                    "导入后将没有可用的系统管理员",
                    "The import would leave no active admin",
                )
            ]
        )
    rule_counts = await _apply_rules(session, doc, ids, known, root_code=district.code)
    counts = (unit_counts, staff_counts, rule_counts)
    return schemas.ImportReport(
        created=sum(c.created for c in counts),
        updated=sum(c.updated for c in counts),
        unchanged=sum(c.unchanged for c in counts),
        units=unit_counts.out(),
        staff=staff_counts.out(),
        dispatch_rules=rule_counts.out(),
    )


def _check_staff(plan: _Plan, doc: schemas.OrgDocument, known: dict[str, _KnownUnit]) -> None:
    seen: set[str] = set()
    for i, staff in enumerate(doc.staff):
        loc = f"staff[{i}]"
        if staff.username in seen:
            plan.error(
                f"{loc}.username",
                "duplicate_username",
                f"用户名 {staff.username} 重复",
                f"Username {staff.username} appears twice",
            )
        seen.add(staff.username)
        # Every password in the document, used or not: a weak one is refused where it is written.
        weak = password_problem(staff.password, staff.username) if staff.password else None
        if weak is not None:
            plan.error(f"{loc}.password", weak.code, weak.message, weak.message_en)
        unit = known.get(staff.unit)
        if unit is None:
            plan.error(
                f"{loc}.unit",
                "unknown_unit",
                f"机构 {staff.unit} 不存在",
                f"Unit {staff.unit} does not exist",
            )
            continue
        if not unit.active:
            plan.error(
                f"{loc}.unit",
                "unit_inactive",
                f"机构 {staff.unit} 已停用",
                f"Unit {staff.unit} is inactive",
            )
        if unit.kind not in ROLE_UNIT_KINDS[staff.role]:
            plan.error(
                f"{loc}.role",
                "role_unit_mismatch",
                f"角色「{staff.role.label_zh}」不能设在{unit.kind.label_zh}({staff.unit})",
                f"Role {staff.role.value} does not fit a {unit.kind.value} unit ({staff.unit})",
            )


def _check_rules(plan: _Plan, doc: schemas.OrgDocument, known: dict[str, _KnownUnit]) -> None:
    seen: set[tuple[str, str | None, str]] = set()
    for i, rule in enumerate(doc.dispatch_rules):
        loc = f"dispatch_rules[{i}]"
        key = (rule.topic.value, rule.area, rule.unit)
        if key in seen:
            plan.error(
                loc,
                "duplicate_rule",
                "派单规则重复(主题、区域、承办单位相同)",
                "Duplicate rule (same topic, area and unit)",
            )
        seen.add(key)
        if rule.note is not None and rule.note.startswith(AREA_MARKER):
            plan.error(
                f"{loc}.note",
                "invalid_note",
                f"备注不能以 {AREA_MARKER} 开头",
                f"A note may not start with {AREA_MARKER}",
            )
        if rule.area is not None:
            area = known.get(rule.area)
            if area is None or area.kind not in AREA_KINDS:
                plan.error(
                    f"{loc}.area",
                    "invalid_area",
                    f"区域 {rule.area} 不存在或不是营商环境优化中心",
                    f"Area {rule.area} does not exist or is not a center",
                )
        if rule.unit != AREA_MARKER:
            unit = known.get(rule.unit)
            if unit is None or unit.kind not in TARGET_KINDS:
                plan.error(
                    f"{loc}.unit",
                    "invalid_unit",
                    f"承办单位 {rule.unit} 不存在或不能承办派单(纪委监委通过移交处理)",
                    f"Unit {rule.unit} does not exist or cannot receive dispatches",
                )
            elif not unit.active:
                plan.error(
                    f"{loc}.unit",
                    "unit_inactive",
                    f"承办单位 {rule.unit} 已停用",
                    f"Unit {rule.unit} is inactive",
                )


async def _apply_units(session: AsyncSession, plan: _Plan, existing: dict[str, OrgUnit]) -> _Counts:
    counts = _Counts()
    ids: dict[str, uuid.UUID] = {code: unit.id for code, unit in existing.items()}
    # New units first, parents before children, in one flush; then changes to existing ones
    # (a community may move to a new street, whose row must exist by then).
    for planned in plan.units:
        if planned.code in existing:
            continue
        ids[planned.code] = uuid.uuid4()
        session.add(
            OrgUnit(
                id=ids[planned.code],
                code=planned.code,
                name=planned.name,
                kind=planned.kind.value,
                tier=TIER[planned.kind],
                parent_id=ids[planned.parent_code] if planned.parent_code else None,
                path=planned.path,
                head_name=planned.head_name,
                phone=planned.phone,
                active=True,
            )
        )
        counts.count(created=True)
    await session.flush()
    repository = OrgUnitRepository.from_session(session)
    for planned in plan.units:
        unit = existing.get(planned.code)
        if unit is None:
            continue
        changed = False
        for attribute, value in (
            ("name", planned.name),
            ("head_name", planned.head_name),
            ("phone", planned.phone),
        ):
            if value is not None and getattr(unit, attribute) != value:
                setattr(unit, attribute, value)
                changed = True
        if unit.path != planned.path:
            unit.parent_id = ids[planned.parent_code] if planned.parent_code else None
            await repository.move_subtree(unit.path, planned.path)
            changed = True
        counts.count(changed=changed)
    await session.flush()
    return counts


async def _apply_staff(
    session: AsyncSession, doc: schemas.OrgDocument, ids: dict[str, uuid.UUID]
) -> _Counts:
    counts = _Counts()
    users = await StaffUserRepository.from_session(session).get_by_usernames(
        {staff.username for staff in doc.staff}
    )
    for staff in doc.staff:
        user = users.get(staff.username)
        password_hash = None
        if staff.password is not None and (user is None or user.password_hash is None):
            password_hash = await asyncio.to_thread(hash_password, staff.password)
        if user is None:
            session.add(
                StaffUser(
                    id=uuid.uuid4(),
                    username=staff.username,
                    display_name=staff.display_name,
                    role=staff.role.value,
                    unit_id=ids[staff.unit],
                    password_hash=password_hash,
                    phone=staff.phone,
                    active=True,
                )
            )
            counts.count(created=True)
            continue
        changed = False
        # Earlier tokens carry the old role and unit: refused from now on.
        if user.role != staff.role.value or user.unit_id != ids[staff.unit]:
            user.tokens_valid_after = utcnow()
        for attribute, value in (
            ("display_name", staff.display_name),
            ("role", staff.role.value),
            ("unit_id", ids[staff.unit]),
            ("phone", staff.phone),
            ("password_hash", password_hash),
        ):
            if value is not None and getattr(user, attribute) != value:
                setattr(user, attribute, value)
                changed = True
        counts.count(changed=changed)
    await session.flush()
    return counts


async def _apply_rules(
    session: AsyncSession,
    doc: schemas.OrgDocument,
    ids: dict[str, uuid.UUID],
    known: dict[str, _KnownUnit],
    *,
    root_code: str,
) -> _Counts:
    counts = _Counts()
    repository = DispatchRuleRepository.from_session(session)
    for rule in doc.dispatch_rules:
        area_code = rule.area if rule.area and rule.area != root_code else None
        area_path = known[area_code].path if area_code else ""
        direct = rule.unit == AREA_MARKER
        owner = (area_code or root_code) if direct else rule.unit
        unit_id = ids[owner]
        classification = rule.classification.value if rule.classification else None
        same = [
            found
            for found in await repository.same_key(rule.topic.value, area_path, unit_id)
            if is_direct(found) == direct
        ]
        if not same:
            session.add(
                DispatchRule(
                    id=uuid.uuid4(),
                    topic=rule.topic.value,
                    area_path=area_path,
                    unit_id=unit_id,
                    classification=classification,
                    confidence=rule.confidence,
                    note=stored_note(direct, rule.note),
                    active=True,
                )
            )
            counts.count(created=True)
            await session.flush()
            continue
        found = same[0]
        changed = False
        if found.confidence != rule.confidence:
            found.confidence = rule.confidence
            changed = True
        if found.classification != classification:
            found.classification = classification
            changed = True
        if rule.note is not None and public_note(found) != rule.note:
            found.note = stored_note(direct, rule.note)
            changed = True
        counts.count(changed=changed)
    await session.flush()
    return counts


# --- command line -----------------------------------------------------------------------------


async def _run(
    raw: bytes, media_type: str, database_url: str | None, migrate: bool
) -> schemas.ImportReport:
    from routing_service.spec import spec
    from services.db import create_engine, create_sessionmaker
    from services.migrations import upgrade_async
    from services.settings import normalize_database_url

    doc = parse_document(raw, media_type)
    url = (
        normalize_database_url(database_url)
        if database_url
        else spec.settings.resolved_database_url()
    )
    if migrate:
        await upgrade_async(spec, url)
    engine = create_engine(url, schema=spec.name, pool_size=1, max_overflow=0)
    try:
        async with create_sessionmaker(engine)() as session:
            report = await import_document(session, doc)
            await session.commit()
            return report
    finally:
        await engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m routing_service.department.loader",
        description="Load an org tree (YAML or JSON) into the routing service's database.",
    )
    parser.add_argument(
        "path",
        nargs="?",
        help="the document (.yaml/.yml/.json, or - for stdin); default: the packaged seed",
    )
    parser.add_argument("--database-url", help="override the routing service's database URL")
    parser.add_argument("--migrate", action="store_true", help="apply migrations first")
    args = parser.parse_args(argv)

    if args.path is None:
        raw, media_type = seed_document(), "application/yaml"
    elif args.path == "-":
        raw = sys.stdin.buffer.read()
        media_type = "application/json" if raw.lstrip()[:1] in (b"{", b"[") else "application/yaml"
    else:
        path = Path(args.path)
        raw = path.read_bytes()
        media_type = "application/json" if path.suffix.lower() == ".json" else "application/yaml"
    if len(raw) > MAX_DOCUMENT_BYTES:
        sys.stderr.write(f"document too large (> {MAX_DOCUMENT_BYTES} bytes)\n")
        return 2
    try:
        report = asyncio.run(_run(raw, media_type, args.database_url, args.migrate))
    except InvalidOrgDocument as exc:
        sys.stderr.write(f"{exc.message} / {exc.message_en}\n")
        for detail in exc.details or []:
            sys.stderr.write(
                f"  {detail['loc'] or '<document>'}: [{detail['code']}] {detail['message']}\n"
            )
        return 1
    sys.stdout.write(
        json.dumps(report.model_dump(mode="json"), ensure_ascii=False, indent=2) + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
