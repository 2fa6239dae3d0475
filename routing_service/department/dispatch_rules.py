"""The dispatch catalogue (派单目录): topic × area → responsible unit, and unit suggestions.

A rule's area is a center's path prefix (``""`` = the whole district). For a request in some
area the rules of that area and of every ancestor apply; the most specific area wins, then the
higher confidence. A rule may name a unit, or ``@AREA``: the street center of the request's own
area, which is how street-level matters go straight to the street (属地直派).

``@AREA`` rules are stored with ``unit_id`` = the rule's area unit (the district root for
district-wide rules) and a marker line at the head of ``note``; the API shows them as
``unit_code: "@AREA"`` and hides the marker.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from routing_service.department import schemas
from routing_service.department.exceptions import (
    DispatchRuleExists,
    DispatchRuleNotFound,
    InvalidDispatchRule,
    UnitInactive,
    UnknownTopic,
)
from routing_service.department.repository import DispatchRuleRepository, OrgUnitRepository
from routing_service.department.service import CENTER_KINDS, ancestor_paths, path_codes
from routing_service.models import DispatchRule, OrgUnit
from shared.enums import Classification, Topic, UnitKind

__all__ = [
    "AREA_MARKER",
    "AREA_KINDS",
    "TARGET_KINDS",
    "DispatchRuleService",
    "dispatch_rule_service",
    "is_direct",
    "public_note",
    "rule_out",
    "stored_note",
    "suggest_units",
]

AREA_MARKER = schemas.AREA_UNIT
AREA_KINDS = CENTER_KINDS
# Violations go to the discipline commission by transfer (移交), never by dispatch.
TARGET_KINDS = frozenset(
    {
        UnitKind.department,
        UnitKind.district_center,
        UnitKind.street_center,
        UnitKind.community_center,
    }
)
WHOLE_DISTRICT = "全区"
DIRECT_NAME = "属地街道中心(直派)"
FALLBACK_STREET_CONFIDENCE = 0.3
FALLBACK_DISTRICT_CONFIDENCE = 0.2


def is_direct(rule: DispatchRule) -> bool:
    note = rule.note
    return note is not None and (note == AREA_MARKER or note.startswith(AREA_MARKER + "\n"))


def public_note(rule: DispatchRule) -> str | None:
    if not is_direct(rule):
        return rule.note
    return (rule.note or "")[len(AREA_MARKER) + 1 :] or None


def stored_note(direct: bool, note: str | None) -> str | None:
    if not direct:
        return note
    return AREA_MARKER + (f"\n{note}" if note else "")


def rule_out(rule: DispatchRule, unit: OrgUnit) -> schemas.DispatchRule:
    area_code = path_codes(rule.area_path)[-1] if rule.area_path else None
    direct = is_direct(rule)
    topic = Topic(rule.topic)
    return schemas.DispatchRule(
        id=rule.id,
        topic=topic,
        topic_label=topic.label_zh,
        area_code=area_code,
        area_path=rule.area_path,
        unit_code=AREA_MARKER if direct else unit.code,
        unit_name=DIRECT_NAME if direct else unit.name,
        classification=Classification(rule.classification) if rule.classification else None,
        confidence=rule.confidence,
        note=public_note(rule),
        active=rule.active,
        created_at=rule.created_at,
    )


@dataclass(frozen=True, slots=True)
class RuleTarget:
    area_path: str
    area: OrgUnit | None
    unit: OrgUnit
    direct: bool


async def resolve_target(
    session: AsyncSession, area_code: str | None, unit_code: str
) -> RuleTarget:
    """Check a rule's area and unit, and give the stored ``area_path`` and ``unit_id`` owner."""
    units = OrgUnitRepository.from_session(session)
    area: OrgUnit | None = None
    area_path = ""
    if area_code is not None:
        area = await units.get_by_code(area_code)
        if area is None or UnitKind(area.kind) not in AREA_KINDS:
            raise InvalidDispatchRule(
                f"区域 {area_code} 不存在或不是营商环境优化中心",
                f"Area {area_code} does not exist or is not a center",
                details={"area_code": area_code},
            )
        if area.kind != UnitKind.district_center.value:
            area_path = area.path
    if unit_code == AREA_MARKER:
        owner = area if area is not None else None
        if owner is None:
            roots = await units.district_roots()
            if not roots:
                raise InvalidDispatchRule("尚未建立区级中心", "There is no district center yet")
            owner = roots[0]
        return RuleTarget(area_path=area_path, area=area, unit=owner, direct=True)
    unit = await units.get_by_code(unit_code)
    if unit is None or UnitKind(unit.kind) not in TARGET_KINDS:
        raise InvalidDispatchRule(
            f"承办单位 {unit_code} 不存在或不能承办派单(纪委监委通过移交处理)",
            f"Unit {unit_code} does not exist or cannot receive dispatches",
            details={"unit_code": unit_code},
        )
    if not unit.active:
        raise UnitInactive(f"承办单位 {unit_code} 已停用", f"Unit {unit_code} is inactive")
    return RuleTarget(area_path=area_path, area=area, unit=unit, direct=False)


def _check_note(note: str | None) -> None:
    if note is not None and note.startswith(AREA_MARKER):
        raise InvalidDispatchRule(
            f"备注不能以 {AREA_MARKER} 开头", f"A note may not start with {AREA_MARKER}"
        )


class DispatchRuleService:
    async def list(
        self,
        session: AsyncSession,
        *,
        topic: Topic | None = None,
        unit_code: str | None = None,
        area_code: str | None = None,
        include_inactive: bool = True,
    ) -> list[schemas.DispatchRule]:
        units = OrgUnitRepository.from_session(session)
        unit_id: uuid.UUID | None = None
        area_path: str | None = None
        if unit_code is not None and unit_code != AREA_MARKER:
            unit = await units.get_by_code(unit_code.upper())
            if unit is None:
                return []
            unit_id = unit.id
        if area_code is not None:
            area = await units.get_by_code(area_code.upper())
            if area is None:
                return []
            area_path = "" if area.kind == UnitKind.district_center.value else area.path
        rows = await DispatchRuleRepository.from_session(session).list(
            topic=topic.value if topic else None,
            unit_id=unit_id,
            area_path=area_path,
            include_inactive=include_inactive,
        )
        if unit_code == AREA_MARKER:
            rows = [row for row in rows if is_direct(row[0])]
        elif unit_id is not None:
            rows = [row for row in rows if not is_direct(row[0])]
        return [rule_out(rule, unit) for rule, unit in rows]

    async def get(self, session: AsyncSession, rule_id: uuid.UUID) -> tuple[DispatchRule, OrgUnit]:
        found = await DispatchRuleRepository.from_session(session).get(rule_id)
        if found is None:
            raise DispatchRuleNotFound()
        return found

    async def _check_unique(
        self,
        session: AsyncSession,
        topic: str,
        target: RuleTarget,
        exclude: uuid.UUID | None = None,
    ) -> None:
        same = await DispatchRuleRepository.from_session(session).same_key(
            topic, target.area_path, target.unit.id
        )
        if any(rule.id != exclude and is_direct(rule) == target.direct for rule in same):
            raise DispatchRuleExists()

    async def create(
        self, session: AsyncSession, data: schemas.DispatchRuleCreate
    ) -> tuple[DispatchRule, OrgUnit]:
        _check_note(data.note)
        target = await resolve_target(session, data.area_code, data.unit_code)
        await self._check_unique(session, data.topic.value, target)
        rule = DispatchRule(
            id=uuid.uuid4(),
            topic=data.topic.value,
            area_path=target.area_path,
            unit_id=target.unit.id,
            classification=data.classification.value if data.classification else None,
            confidence=data.confidence,
            note=stored_note(target.direct, data.note),
            active=data.active,
        )
        session.add(rule)
        await session.flush()
        return rule, target.unit

    async def update(
        self,
        session: AsyncSession,
        rule: DispatchRule,
        unit: OrgUnit,
        data: schemas.DispatchRuleUpdate,
    ) -> tuple[DispatchRule, OrgUnit]:
        given = data.model_fields_set
        note = data.note if "note" in given else public_note(rule)
        _check_note(note)
        if {"area_code", "unit_code", "topic"} & given:
            area_code = (
                data.area_code
                if "area_code" in given
                else (path_codes(rule.area_path)[-1] if rule.area_path else None)
            )
            unit_code = data.unit_code or (AREA_MARKER if is_direct(rule) else unit.code)
            topic = (data.topic or Topic(rule.topic)).value
            target = await resolve_target(session, area_code, unit_code)
            await self._check_unique(session, topic, target, exclude=rule.id)
            rule.topic = topic
            rule.area_path = target.area_path
            rule.unit_id = target.unit.id
            unit = target.unit
            direct = target.direct
        else:
            direct = is_direct(rule)
        rule.note = stored_note(direct, note)
        if "classification" in given:
            rule.classification = data.classification.value if data.classification else None
        if data.confidence is not None:
            rule.confidence = data.confidence
        if data.active is not None:
            if data.active and not direct and not unit.active:
                raise UnitInactive(f"承办单位 {unit.code} 已停用", f"Unit {unit.code} is inactive")
            rule.active = data.active
        await session.flush()
        return rule, unit

    async def delete(self, session: AsyncSession, rule: DispatchRule) -> None:
        await DispatchRuleRepository.from_session(session).delete(rule.id)


dispatch_rule_service = DispatchRuleService()


async def suggest_units(
    session: AsyncSession, topic: str, area_code: str | None, limit: int = 3
) -> list[schemas.UnitSuggestion]:
    """Suggest the units a request should be dispatched to, best first.

    Rules of the area and its ancestors apply (the most specific area first, then the higher
    confidence); ``@AREA`` rules resolve to the street center of the request's area. An unknown
    area code counts as "no area" (district-wide rules only). When no rule gives an active unit,
    the area's street center (属地) or else the district center is suggested with a low
    confidence, so a dispatcher always has a starting point.

    Args:
        session: the routing service's session.
        topic: a :class:`shared.enums.Topic` value; anything else raises ``UnknownTopic``.
        area_code: the request's area (a center's code), if known.
        limit: at most this many suggestions.
    """
    try:
        topic_value = Topic(topic)
    except ValueError:
        raise UnknownTopic(details={"topic": topic}) from None
    if limit <= 0:
        return []
    units = OrgUnitRepository.from_session(session)
    area = await units.get_by_code(area_code.strip().upper()) if area_code else None
    if area is not None and UnitKind(area.kind) not in AREA_KINDS:
        area = None
    lineage: dict[str, OrgUnit] = {}
    if area is not None:
        by_code = await units.get_by_codes(path_codes(area.path))
        lineage = {unit.path: unit for unit in by_code.values()}
    street = next(
        (unit for unit in lineage.values() if unit.kind == UnitKind.street_center.value), None
    )
    area_paths = ["", *(ancestor_paths(area.path) if area is not None else [])]
    rows = await DispatchRuleRepository.from_session(session).matching(
        topic_value.value, area_paths
    )
    ordered = sorted(
        rows,
        key=lambda row: (
            -len(row[0].area_path),
            -row[0].confidence,
            row[0].created_at,
            str(row[0].id),
        ),
    )

    suggestions: list[schemas.UnitSuggestion] = []
    seen: set[str] = set()
    for rule, unit in ordered:
        if is_direct(rule):
            if street is None or not street.active:
                continue
            target, reason = street, f"属地街道直派:{street.name}"
        else:
            if not unit.active:
                continue
            scope_unit = lineage.get(rule.area_path)
            scope = (
                scope_unit.name
                if scope_unit is not None and scope_unit.kind != UnitKind.district_center.value
                else WHOLE_DISTRICT
            )
            target, reason = unit, f"派单目录:{topic_value.label_zh} → {unit.name}({scope})"
        if target.code in seen:
            continue
        seen.add(target.code)
        suggestions.append(
            schemas.UnitSuggestion(
                unit_code=target.code,
                unit_name=target.name,
                confidence=rule.confidence,
                reason=reason,
                classification=Classification(rule.classification) if rule.classification else None,
                rule_id=rule.id,
            )
        )
    if not suggestions:
        suggestions = await _fallback(units, street, topic_value)
    return suggestions[:limit]


async def _fallback(
    units: OrgUnitRepository, street: OrgUnit | None, topic: Topic
) -> list[schemas.UnitSuggestion]:
    if street is not None and street.active:
        return [
            schemas.UnitSuggestion(
                unit_code=street.code,
                unit_name=street.name,
                confidence=FALLBACK_STREET_CONFIDENCE,
                reason=f"派单目录未覆盖「{topic.label_zh}」,属地街道直派:{street.name}",
            )
        ]
    roots = [root for root in await units.district_roots() if root.active]
    if not roots:
        return []
    root = roots[0]
    return [
        schemas.UnitSuggestion(
            unit_code=root.code,
            unit_name=root.name,
            confidence=FALLBACK_DISTRICT_CONFIDENCE,
            reason=f"派单目录未覆盖「{topic.label_zh}」,由{root.name}自行办理",
        )
    ]
