"""The hot-issue radar (热点问题 · 主动治理).

Every new case is placed as it arrives — never by recomputing history: it is compared with the
clusters of its topic in its street (the street center whose subtree holds its area) that had a
request within the policy's longest window, an index range on ``(topic, area, last_at)``. It
joins the most alike if the overlap of their bigrams reaches the policy's similarity, else it
starts a cluster. Clustering in one street is serialised by locking the street's org-unit row, so
two similar requests arriving together do not start two clusters.

A cluster turns hot when its distinct submitters within a threshold's window reach that
threshold (one person writing ten times is one submitter); the street's center is told once per
cluster and threshold (``hot_issue.detected`` webhook, and the alert row that makes it once).

The center may open one proactive case (主动治理) for a cluster: a case like any other
(classification, dispatch, cards, deadlines), linked to every member request, including those
that join later. The members are accepted into it at once (their own verification is done by
it); when it is completed, each member is completed with its result, so each submitter hears it
through the channel they used and is asked to rate (scoring opens their revisits).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from routing_service.assignment import facts, history
from routing_service.assignment.repository import CaseRepository, UnitRepository
from routing_service.assignment.service import FINISHED_CASE_STATUSES, case_service
from routing_service.models import (
    Case,
    HotIssue,
    HotIssueAlert,
    HotIssueMember,
    OrgUnit,
    RadarPolicy,
)
from routing_service.radar.exceptions import (
    AlreadyClustered,
    CaseNotClusterable,
    ClusterMismatch,
    ClusterResolved,
    HotIssueNotFound,
    ProactiveExists,
    ProactiveNotAllowed,
    ThemeTaken,
)
from routing_service.radar.schemas import (
    HotIssueDetailOut,
    HotIssueFilters,
    HotIssueOut,
    MemberOut,
    ProactiveIn,
    RadarPolicyIn,
    RadarPolicyOut,
    TrendPoint,
)
from routing_service.webhook.service import webhook_service
from services.auth import Principal
from services.crypto import blind_index
from services.models import utcnow
from services.outbox import add_event
from services.pagination import Key, Keyset
from services.policy import in_scope, list_scope
from services.search import grams
from services.tracking import new_tracking_no
from shared.calendar import SHANGHAI
from shared.enums import (
    CaseStatus,
    Channel,
    Classification,
    HotIssueState,
    RequestStatus,
    RequestType,
    SubmitterKind,
    Topic,
    Urgency,
)
from shared.events import HotIssueSnapshot
from shared.webhooks import HotIssueData

__all__ = ["HOT_ISSUE_ORDER", "DEFAULT_POLICY", "RadarService", "overlap", "radar_service"]

SYSTEM = "system"
# The policy until an admin sets one: ≥ 5 distinct submitters within 7 days in one street.
DEFAULT_POLICY: dict[str, Any] = {
    "thresholds": [{"submitters": 5, "window_days": 7}],
    "similarity": 0.3,
}
CANDIDATES = 50  # the most recent clusters of a topic and street compared with a request
PROFILE = 20  # the most recent members a cluster keeps the bigrams of
HOT_ISSUE_ORDER = Keyset(
    (Key(HotIssue.last_at, "datetime", descending=True), Key(HotIssue.id, "uuid", descending=True))
)
_OPEN = (CaseStatus.pending_verification.value, CaseStatus.awaiting_dispatch.value)


def overlap(a: Sequence[str], b: Sequence[str]) -> float:
    """How much of the shorter text the other one shares (overlap coefficient of bigrams): a
    short complaint and a long one about the same bus line are alike, which Jaccard's union in
    the denominator would hide."""
    sa, sb = set(a), set(b)
    if not sa or not sb:
        return 0.0
    return len(sa & sb) / min(len(sa), len(sb))


def profile_of(case: Case) -> dict[str, list[str]]:
    return {"t": grams(case.title), "x": grams(case.title, case.description)}


def likeness(mine: dict[str, list[str]], cluster: HotIssue) -> float:
    """How alike a request is to a cluster: to its nearest recent member, the mean of the
    titles' overlap and the whole texts' (a title names the problem; the text carries the
    place and the detail)."""
    return max(
        ((overlap(mine["t"], m["t"]) + overlap(mine["x"], m["x"])) / 2 for m in cluster.grams),
        default=0.0,
    )


def _submitter_key(case: Case) -> str:
    who = case.submitter or {}
    raw = (
        f"case:{case.id}"
        if case.anonymous or who.get("masked")
        else who.get("uscc") or who.get("phone") or who.get("name") or f"case:{case.id}"
    )
    # Keyed like intake's blind indexes: a dump of the radar tables does not give the phones back.
    return blind_index("radar.submitter", str(raw))


def _threshold_key(threshold: dict[str, int]) -> str:
    return f"{threshold['submitters']}/{threshold['window_days']}d"


class RadarService:
    # ------------------------------------------------------------------ policy

    async def policy(self, session: AsyncSession) -> RadarPolicyOut:
        row = await session.get(RadarPolicy, 1)
        if row is None:
            return RadarPolicyOut(**DEFAULT_POLICY, updated_by=None, updated_at=None, note=None)
        return RadarPolicyOut(thresholds=row.thresholds, similarity=row.similarity / 1000,
                              updated_by=row.updated_by, updated_at=row.updated_at, note=row.note)  # fmt: skip

    async def set_policy(
        self, session: AsyncSession, principal: Principal, body: RadarPolicyIn
    ) -> RadarPolicyOut:
        row = await session.get(RadarPolicy, 1, with_for_update=True)
        values = {
            "thresholds": [t.model_dump() for t in body.thresholds],
            "similarity": round(body.similarity * 1000), "updated_by": principal.actor,
            "updated_at": utcnow(), "note": body.note,
        }  # fmt: skip
        if row is None:
            session.add(RadarPolicy(id=1, **values))
        else:
            for key, value in values.items():
                setattr(row, key, value)
        await session.flush()
        return await self.policy(session)

    # ------------------------------------------------------------------ placing a request

    async def place(self, session: AsyncSession, case_id: uuid.UUID) -> HotIssue | None:
        """The ``radar.place`` handler: place a case once (a redelivery finds it placed)."""
        placed = await session.scalar(
            select(HotIssueMember.hot_issue_id).where(HotIssueMember.case_id == case_id)
        )
        case = await session.get(Case, case_id)
        if placed is not None or case is None:
            return None
        return await self.observe(session, case)

    async def observe(self, session: AsyncSession, case: Case) -> HotIssue | None:
        """Place a new case: join the most alike cluster of its topic and street, or start one."""
        units = UnitRepository.from_session(session)
        street = await units.street_center_for_area(case.area_code)
        if street is None:
            return None  # no street to cluster in (no area, or a district-level one)
        await session.get(OrgUnit, street.id, with_for_update=True)  # one placement at a time
        policy = await self.policy(session)
        window = max(t["window_days"] for t in policy.thresholds)
        mine = profile_of(case)
        candidates = (
            await session.scalars(
                select(HotIssue)
                .where(
                    HotIssue.topic == case.topic,
                    HotIssue.area_unit_id == street.id,
                    HotIssue.last_at >= case.received_at - timedelta(days=window),
                    HotIssue.state != HotIssueState.resolved.value,
                )
                .order_by(HotIssue.last_at.desc())
                .limit(CANDIDATES)
            )
        ).all()
        scored = [(likeness(mine, c), c) for c in candidates]
        best = max(scored, key=lambda pair: pair[0], default=None)
        if best is not None and best[0] >= policy.similarity:
            cluster, alike = best[1], best[0]
        else:
            cluster, alike = self._start(session, case, street), 1.0
        await self._add(session, cluster, case, alike, SYSTEM, policy)
        return cluster

    def _start(self, session: AsyncSession, case: Case, street: OrgUnit) -> HotIssue:
        now = utcnow()
        cluster = HotIssue(
            id=uuid.uuid4(), topic=case.topic, area_unit_id=street.id,
            state=HotIssueState.forming.value, title=case.title[:200], grams=[], requests=0,
            submitters=0, first_at=case.received_at, last_at=case.received_at, revision=0,
            created_at=now, updated_at=now,
        )  # fmt: skip
        session.add(cluster)
        return cluster

    async def _add(
        self, session: AsyncSession, cluster: HotIssue, case: Case, alike: float, actor: str,
        policy: RadarPolicyOut,
    ) -> None:  # fmt: skip
        session.add(HotIssueMember(
            id=uuid.uuid4(), hot_issue_id=cluster.id, case_id=case.id,
            submitter_key=_submitter_key(case), received_at=case.received_at,
            similarity=round(alike * 1000), joined_by=actor,
        ))  # fmt: skip
        await session.flush()
        cluster.grams = [*cluster.grams, profile_of(case)][-PROFILE:]
        cluster.requests += 1
        cluster.first_at = min(cluster.first_at, case.received_at)
        cluster.last_at = max(cluster.last_at, case.received_at)
        cluster.submitters = await self._submitters(session, cluster.id)
        if cluster.submitters >= min(t["submitters"] for t in policy.thresholds):
            await self._check_hot(session, cluster, policy, case.received_at)
        if cluster.state == HotIssueState.handling.value:
            proactive = await self.proactive_case(session, cluster.id)
            assert proactive is not None
            await self._link(session, proactive, case, actor)
        self._snapshot(session, cluster, await self._area(session, cluster))

    async def _submitters(
        self, session: AsyncSession, cluster_id: uuid.UUID, since: datetime | None = None
    ) -> int:
        stmt = select(func.count(func.distinct(HotIssueMember.submitter_key))).where(
            HotIssueMember.hot_issue_id == cluster_id
        )
        if since is not None:
            stmt = stmt.where(HotIssueMember.received_at >= since)
        return int(await session.scalar(stmt) or 0)

    async def _check_hot(
        self, session: AsyncSession, cluster: HotIssue, policy: RadarPolicyOut, at: datetime
    ) -> None:
        """Tell the street's center of each threshold the cluster now crosses, once each."""
        told = set(
            (await session.scalars(
                select(HotIssueAlert.threshold).where(HotIssueAlert.hot_issue_id == cluster.id)
            )).all()
        )  # fmt: skip
        area = await self._area(session, cluster)
        for threshold in policy.thresholds:
            key = _threshold_key(threshold)
            if key in told:
                continue
            since = at - timedelta(days=threshold["window_days"])
            count = await self._submitters(session, cluster.id, since)
            if count < threshold["submitters"]:
                continue
            now = utcnow()
            session.add(HotIssueAlert(id=uuid.uuid4(), hot_issue_id=cluster.id, threshold=key,
                                      submitters=count, at=now))  # fmt: skip
            if cluster.state == HotIssueState.forming.value:
                cluster.state = HotIssueState.hot.value
            cluster.updated_at = now
            await webhook_service.notify_unit(
                session, area.id, "hot_issue.detected",
                HotIssueData(
                    cluster_id=cluster.id, topic=Topic(cluster.topic), area_code=area.code,
                    title=cluster.title, submitters=count, requests=cluster.requests,
                    window_days=threshold["window_days"], threshold=threshold["submitters"],
                    first_at=cluster.first_at, last_at=cluster.last_at,
                ),
            )  # fmt: skip

    # ------------------------------------------------------------------ the center's actions

    async def add_member(
        self, session: AsyncSession, principal: Principal, cluster: HotIssue, tracking_no: str
    ) -> HotIssue:
        """A request the radar did not place (worded differently): the center adds it."""
        if cluster.state == HotIssueState.resolved.value:
            raise ClusterResolved()
        case = await CaseRepository.from_session(session).by_tracking_no(tracking_no)
        if (
            case is None
            or not await case_service.visible(session, principal, case)
            or case.project_role == facts.AGENCY_PLAN
        ):
            raise CaseNotClusterable(details={"tracking_no": tracking_no})
        current = await session.scalar(
            select(HotIssueMember).where(HotIssueMember.case_id == case.id)
        )
        if current is not None:
            if current.hot_issue_id == cluster.id:
                return cluster  # already in: harmless
            if await self.proactive_case(session, current.hot_issue_id) is not None:
                # Handled by that cluster's proactive case: never by two.
                raise AlreadyClustered(details={"hot_issue_id": str(current.hot_issue_id)})
        street = await UnitRepository.from_session(session).street_center_for_area(case.area_code)
        if case.topic != cluster.topic or street is None or street.id != cluster.area_unit_id:
            raise ClusterMismatch(details={"tracking_no": tracking_no})
        await session.refresh(case, with_for_update=True)
        if current is not None:
            await self._move_out(session, current)
        await self._add(session, cluster, case, likeness(profile_of(case), cluster), principal.actor,
                        await self.policy(session))  # fmt: skip
        await session.flush()
        return cluster

    async def _move_out(self, session: AsyncSession, member: HotIssueMember) -> None:
        """The center moves a request the radar placed elsewhere: its old cluster shrinks (and
        is closed once empty)."""
        old = await session.get(HotIssue, member.hot_issue_id, with_for_update=True)
        assert old is not None
        await session.delete(member)
        await session.flush()
        old.requests -= 1
        old.submitters = await self._submitters(session, old.id)
        kept = set(
            (await session.scalars(
                select(Case.title).join(HotIssueMember, HotIssueMember.case_id == Case.id)
                .where(HotIssueMember.hot_issue_id == old.id)
            )).all()
        )  # fmt: skip
        old.grams = [g for g in old.grams if kept] if kept else []
        if old.requests == 0:
            old.state = HotIssueState.resolved.value
        old.updated_at = utcnow()
        self._snapshot(session, old, await self._area(session, old))

    async def open_proactive(
        self, session: AsyncSession, principal: Principal, cluster: HotIssue, body: ProactiveIn
    ) -> Case:
        """One case for the whole cluster, accepted with its classification and waiting for
        dispatch like any verified case; every member is linked to it."""
        if body.classification == Classification.violation:
            raise ProactiveNotAllowed()
        if cluster.state == HotIssueState.resolved.value:
            raise ClusterResolved()
        if await self.proactive_case(session, cluster.id) is not None:
            raise ProactiveExists()
        area = await self._area(session, cluster)
        now = utcnow()
        title = body.title or f"主动治理:{cluster.title}"
        case = await case_service.open_center_case(
            session, principal.actor, {"hot_issue": str(cluster.id)}, tracking_no=new_tracking_no("ZD"),
            channel=Channel.proactive.value, type=RequestType.suggestion.value, topic=cluster.topic,
            urgency=Urgency.normal.value, title=title[:200],
            description=body.note or f"{area.name}:{cluster.requests}件同类诉求({cluster.submitters}位提交人)",
            area_code=area.code,
            submitter={"kind": SubmitterKind.person.value, "masked": True},
            submitter_kind=SubmitterKind.person.value, status=CaseStatus.awaiting_dispatch.value,
            classification=body.classification.value, owner_unit_id=area.id,
            decision_note=body.note, hot_issue_id=cluster.id,
        )  # fmt: skip
        cluster.state = HotIssueState.handling.value
        cluster.updated_at = now
        members = await self._member_cases(session, cluster.id)
        for member in members:
            await self._link(session, case, member, principal.actor)
        self._snapshot(session, cluster, area)
        await session.flush()
        return case

    async def _link(self, session: AsyncSession, proactive: Case, member: Case, actor: str) -> None:
        """A member request is accepted into the proactive case (its own verification done)."""
        if member.status not in _OPEN:
            return  # already being handled on its own (it is completed with the cluster)
        before = member.status
        member.status = CaseStatus.in_progress.value
        member.classification = proactive.classification
        member.verified_at = member.verified_at or utcnow()
        member.verified_by = member.verified_by or actor
        member.decision_note = f"纳入主动治理工单 {proactive.tracking_no} 统一办理"
        history.record(session, member, actor=actor, action="proactive.link", from_status=before,
                       to_status=member.status, data={"proactive_case": proactive.tracking_no})  # fmt: skip
        await facts.tell_submitter(session, member, RequestStatus.in_progress,
                                   f"同类问题已由中心主动治理统一办理({proactive.tracking_no})")  # fmt: skip
        facts.case_snapshot(session, member, await case_service._owner(session, member))

    async def proactive_completed(
        self, session: AsyncSession, proactive: Case, result: str | None
    ) -> None:
        """The proactive case is done: every member is completed with its result, so each
        submitter is told through their own channel and asked to rate."""
        assert proactive.hot_issue_id is not None
        cluster = await session.get(HotIssue, proactive.hot_issue_id, with_for_update=True)
        assert cluster is not None
        text = result or "已由中心主动治理办结"
        for member in await self._member_cases(session, cluster.id, lock=True):
            if (
                CaseStatus(member.status) in FINISHED_CASE_STATUSES
                or member.status == CaseStatus.completed.value
            ):
                continue
            await case_service._cancel_open_cards(
                session, member, f"已由主动治理工单 {proactive.tracking_no} 办结"
            )
            before = member.status
            member.status = CaseStatus.completed.value
            member.completed_at = utcnow()
            history.record(session, member, actor=SYSTEM, action="complete", from_status=before,
                           to_status=member.status,
                           data={"result": text, "proactive_case": proactive.tracking_no})  # fmt: skip
            await facts.tell_submitter(session, member, RequestStatus.completed, text)
            facts.case_snapshot(session, member, await case_service._owner(session, member))
        cluster.state = HotIssueState.resolved.value
        cluster.updated_at = utcnow()
        self._snapshot(session, cluster, await self._area(session, cluster))
        # The proactive case itself has no submitter to revisit: it is archived at once.
        proactive.status, proactive.closed_at = CaseStatus.closed.value, utcnow()
        history.record(session, proactive, actor=SYSTEM, action="close",
                       from_status=CaseStatus.completed.value, to_status=proactive.status,
                       reason="成员诉求已逐一反馈")  # fmt: skip

    async def set_theme(
        self, session: AsyncSession, principal: Principal, cluster: HotIssue, month: str
    ) -> HotIssue:
        """每月一题: one theme per street and month."""
        if cluster.theme_month == month:
            return cluster
        taken = await session.scalar(
            select(HotIssue.id).where(HotIssue.theme_month == month,
                                      HotIssue.area_unit_id == cluster.area_unit_id)
        )  # fmt: skip
        if taken is not None:
            raise ThemeTaken(details={"month": month, "hot_issue_id": str(taken)})
        cluster.theme_month = month
        cluster.updated_at = utcnow()
        self._snapshot(session, cluster, await self._area(session, cluster))
        await session.flush()
        return cluster

    # ------------------------------------------------------------------ reads

    async def load(self, session: AsyncSession, principal: Principal, cluster_id: uuid.UUID,
                   *, for_update: bool = False) -> HotIssue:  # fmt: skip
        cluster = await session.get(HotIssue, cluster_id, with_for_update=for_update)
        if cluster is None or not in_scope(principal, (await self._area(session, cluster)).path):
            raise HotIssueNotFound()
        return cluster

    async def list_statement(self, session: AsyncSession, principal: Principal,
                             filters: HotIssueFilters) -> Select[Any]:  # fmt: skip
        stmt = select(HotIssue).join(OrgUnit, OrgUnit.id == HotIssue.area_unit_id)
        scope = list_scope(principal)
        if scope.subtree is not None:
            stmt = stmt.where(OrgUnit.path.startswith(scope.subtree, autoescape=True))
        if filters.area:
            unit = await UnitRepository.from_session(session).by_code(filters.area)
            prefix = unit.path if unit is not None else "//"
            stmt = stmt.where(OrgUnit.path.startswith(prefix, autoescape=True))
        if filters.topic:
            stmt = stmt.where(HotIssue.topic.in_([t.value for t in filters.topic]))
        if filters.state:
            stmt = stmt.where(HotIssue.state.in_([s.value for s in filters.state]))
        if filters.since_days:
            stmt = stmt.where(HotIssue.last_at >= utcnow() - timedelta(days=filters.since_days))
        if filters.min_submitters:
            stmt = stmt.where(HotIssue.submitters >= filters.min_submitters)
        return stmt

    async def out(self, session: AsyncSession, clusters: Sequence[HotIssue]) -> list[HotIssueOut]:
        units = await UnitRepository.from_session(session).by_ids(
            [c.area_unit_id for c in clusters]
        )
        proactive = {
            c.hot_issue_id: c
            for c in (await session.scalars(
                select(Case).where(Case.hot_issue_id.in_([c.id for c in clusters]))
            )).all()
        } if clusters else {}  # fmt: skip
        return [self._out(c, units[c.area_unit_id], proactive.get(c.id)) for c in clusters]

    @staticmethod
    def _out(c: HotIssue, area: OrgUnit, proactive: Case | None) -> HotIssueOut:
        topic, state = Topic(c.topic), HotIssueState(c.state)
        return HotIssueOut(
            id=c.id, topic=topic, topic_label=topic.label_zh, area_unit_code=area.code,
            area_unit_name=area.name, state=state, state_label=state.label_zh, title=c.title,
            requests=c.requests, submitters=c.submitters, first_at=c.first_at, last_at=c.last_at,
            theme_month=c.theme_month, proactive_case_id=proactive.id if proactive else None,
            proactive_tracking_no=proactive.tracking_no if proactive else None,
        )  # fmt: skip

    async def detail(self, session: AsyncSession, cluster: HotIssue) -> HotIssueDetailOut:
        base = (await self.out(session, [cluster]))[0]
        rows = (await session.execute(
            select(HotIssueMember, Case).join(Case, Case.id == HotIssueMember.case_id)
            .where(HotIssueMember.hot_issue_id == cluster.id).order_by(HotIssueMember.received_at)
        )).all()  # fmt: skip
        trend: dict[date, int] = {}
        for member, _case in rows:
            day = member.received_at.astimezone(SHANGHAI).date()
            trend[day] = trend.get(day, 0) + 1
        alerts = (await session.scalars(
            select(HotIssueAlert.threshold).where(HotIssueAlert.hot_issue_id == cluster.id)
            .order_by(HotIssueAlert.at)
        )).all()  # fmt: skip
        return HotIssueDetailOut(
            **base.model_dump(),
            members=[MemberOut(case_id=c.id, tracking_no=c.tracking_no, title=c.title,
                               status=CaseStatus(c.status), received_at=m.received_at,
                               similarity=m.similarity / 1000, joined_by=m.joined_by)
                     for m, c in rows],
            trend=[TrendPoint(day=d, requests=n) for d, n in sorted(trend.items())],
            alerts=list(alerts),
        )  # fmt: skip

    async def proactive_case(self, session: AsyncSession, cluster_id: uuid.UUID) -> Case | None:
        return await session.scalar(select(Case).where(Case.hot_issue_id == cluster_id))

    # ------------------------------------------------------------------ internals

    async def _member_cases(
        self, session: AsyncSession, cluster_id: uuid.UUID, *, lock: bool = False
    ) -> list[Case]:
        stmt = (
            select(Case).join(HotIssueMember, HotIssueMember.case_id == Case.id)
            .where(HotIssueMember.hot_issue_id == cluster_id).order_by(HotIssueMember.received_at)
        )  # fmt: skip
        if lock:
            stmt = stmt.with_for_update(of=Case)
        return list((await session.scalars(stmt)).all())

    async def _area(self, session: AsyncSession, cluster: HotIssue) -> OrgUnit:
        area = await session.get(OrgUnit, cluster.area_unit_id)
        assert area is not None
        return area

    def _snapshot(self, session: AsyncSession, cluster: HotIssue, area: OrgUnit) -> None:
        """Scoring's copy, for the public "top issues this month" (no personal data). A lone
        request is not an issue yet: most requests stay alone, and cost no event."""
        if cluster.requests < 2 and cluster.revision == 0:
            return
        cluster.revision += 1
        add_event(session, HotIssueSnapshot(
            hot_issue_id=cluster.id, revision=cluster.revision, topic=Topic(cluster.topic),
            area_unit_code=area.code, area_unit_name=area.name, area_unit_path=area.path,
            state=HotIssueState(cluster.state), title=cluster.title, requests=cluster.requests,
            submitters=cluster.submitters, first_at=cluster.first_at, last_at=cluster.last_at,
            theme_month=cluster.theme_month,
        ))  # fmt: skip


radar_service = RadarService()
