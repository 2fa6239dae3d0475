"""Public figures like the seed's (DESIGN §9): visits, issues collected, resolved, in progress and
satisfaction, in total, per channel, per topic and for the online channels together; the
agency service of investment projects (帮办代办); and the consultations answered from the
knowledge base (知识库).

Only aggregates leave this module; nothing names a person or an enterprise.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from scoring_service.evaluation import schemas
from scoring_service.evaluation.exceptions import DateRangeTooLong, InvalidDateRange
from scoring_service.evaluation.repository import (
    FigureCounts,
    ProjectFigures,
    StatisticsRepository,
    VisitCounts,
)
from scoring_service.evaluation.service import (
    MAX_YEAR,
    MIN_YEAR,
    Month,
    evaluation_service,
    half_up,
)
from scoring_service.knowledge.service import knowledge_counts
from scoring_service.radar.service import hot_issues
from services.models import utcnow
from shared.calendar import SHANGHAI
from shared.enums import Channel, ProjectLevel, ProjectStage, Topic

__all__ = [
    "MAX_RANGE_DAYS",
    "ONLINE_CHANNELS",
    "StatisticsCache",
    "StatisticsService",
    "check_range",
    "public_cache",
    "statistics_service",
]

# 网上办件: the seed's "online" figures are the app, the smart hall, the website and Open311.
ONLINE_CHANNELS: tuple[str, ...] = (
    Channel.app.value,
    Channel.smart_hall.value,
    Channel.website.value,
    Channel.open311.value,
)
ONLINE_LABEL = "网上办件"
MAX_RANGE_DAYS = 3 * 365 + 1  # three years, leap day included


def check_range(start: date, end: date) -> None:
    if start.year < MIN_YEAR or end.year > MAX_YEAR:
        raise InvalidDateRange(
            f"日期须在 {MIN_YEAR} 年至 {MAX_YEAR} 年之间",
            f"Dates must lie between {MIN_YEAR} and {MAX_YEAR}",
            details={"start": start.isoformat(), "end": end.isoformat()},
        )
    if end < start:
        raise InvalidDateRange(details={"start": start.isoformat(), "end": end.isoformat()})
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise DateRangeTooLong(details={"max_days": MAX_RANGE_DAYS})


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=SHANGHAI).astimezone(UTC)


def _label(enum: type[Channel] | type[Topic], code: str) -> str:
    try:
        return enum(code).label_zh
    except ValueError:
        return code


def _satisfaction(counts: FigureCounts, k: float) -> float | None:
    if not counts.ratings:
        return None
    return half_up((counts.satisfied + k * counts.basic) / counts.ratings, 4)


def _sum(groups: Iterable[FigureCounts]) -> FigureCounts:
    total = FigureCounts()
    for group in groups:
        total.add(group)
    return total


def _figures(label: str, counts: FigureCounts, k: float) -> schemas.Figures:
    return schemas.Figures(
        label_zh=label,
        collected=counts.collected,
        resolved=counts.resolved,
        in_progress=counts.in_progress,
        ratings=counts.ratings,
        satisfied=counts.satisfied,
        basic=counts.basic,
        satisfaction_rate=_satisfaction(counts, k),
    )


def _channel_figures(
    label: str, counts: FigureCounts, visits: VisitCounts, k: float
) -> schemas.ChannelFigures:
    return schemas.ChannelFigures(
        **_figures(label, counts, k).model_dump(),
        enterprises_visited=visits.enterprises,
        merchants_visited=visits.merchants,
    )


def _projects(counts: ProjectFigures, k: float) -> schemas.ProjectStatistics:
    levels = [level.value for level in ProjectLevel]
    stages = [stage.value for stage in ProjectStage]
    by_level = dict.fromkeys(levels, 0)
    by_stage = dict.fromkeys(stages, 0)
    for (level, stage), n in counts.served.items():
        by_level[level] = by_level.get(level, 0) + n
        by_stage[stage] = by_stage.get(stage, 0) + n
    due = counts.steps_due - counts.steps_due_pending
    measured = counts.measured
    return schemas.ProjectStatistics(
        served=schemas.ProjectCounts(
            total=sum(counts.served.values()), by_level=by_level, by_stage=by_stage
        ),
        started=counts.started,
        continuing=counts.continuing,
        completed=counts.completed,
        steps=schemas.ProjectSteps(
            done=counts.steps_done,
            done_on_spot=counts.steps_on_spot,
            on_time=schemas.Ratio(
                numerator=counts.steps_on_time,
                denominator=due,
                rate=half_up(counts.steps_on_time / due, 4) if due else None,
                pending=counts.steps_due_pending,
            ),
            measured=measured,
            working_days_used=counts.working_days_used,
            working_days_allowed=counts.working_days_allowed,
            time_ratio=(
                half_up(counts.working_days_used / counts.working_days_allowed, 4)
                if counts.working_days_allowed
                else None
            ),
            average_working_days=(
                half_up(counts.working_days_used / measured, 2) if measured else None
            ),
            average_limit_days=(
                half_up(counts.working_days_allowed / measured, 2) if measured else None
            ),
        ),
        satisfaction=schemas.ProjectSatisfaction(
            ratings=counts.ratings,
            satisfied=counts.satisfied,
            basic=counts.basic,
            unsatisfied=counts.unsatisfied,
            satisfaction_rate=(
                half_up((counts.satisfied + k * counts.basic) / counts.ratings, 4)
                if counts.ratings
                else None
            ),
        ),
    )


class StatisticsService:
    async def figures(self, session: AsyncSession, start: date, end: date) -> schemas.Statistics:
        """Figures for requests received from ``start`` to ``end`` (inclusive, Asia/Shanghai
        dates) and visits made on those days. Satisfaction weighs 基本满意 with the k of the
        evaluation policy in force in the month of ``end``."""
        check_range(start, end)
        repository = StatisticsRepository.from_session(session)
        policy = await evaluation_service.policy_for(session, Month(end.year, end.month))
        k = policy.basic_satisfaction_k
        since, until = _midnight(start), _midnight(end + timedelta(days=1))
        groups = await repository.figures(since, until)
        projects = await repository.projects(start, end, since, until, utcnow())
        visits = await repository.visits(start, end)
        online_visits = await repository.visits(start, end, ONLINE_CHANNELS)
        channel_visits = await repository.visits_by_channel(start, end)
        knowledge = await knowledge_counts(session, since, until)
        month_start = _midnight(date(end.year, end.month, 1))
        hot = await hot_issues(session, end, month_start, until)

        channels = [c.value for c in Channel] + sorted(
            {ch for ch, _, _ in groups} - {c.value for c in Channel}
        )
        topics = [t.value for t in Topic] + sorted(
            {tp for _, tp, _ in groups} - {t.value for t in Topic}
        )
        by_channel = {
            channel: _channel_figures(
                _label(Channel, channel),
                _sum(v for (ch, _, _), v in groups.items() if ch == channel),
                channel_visits.get(channel, VisitCounts()),
                k,
            )
            for channel in channels
        }
        by_topic = {
            topic: _figures(
                _label(Topic, topic), _sum(v for (_, tp, _), v in groups.items() if tp == topic), k
            )
            for topic in topics
        }
        # By channel, by topic and online count every item handled (the seed's 网上办件 1,258 are
        # mostly consultations); the headline figures count issues (问题) only.
        online = _sum(v for (ch, _, _), v in groups.items() if ch in ONLINE_CHANNELS)
        total = _sum(v for (_, _, service), v in groups.items() if not service)
        services = _sum(v for (_, _, service), v in groups.items() if service)
        return schemas.Statistics(
            start=start,
            end=end,
            enterprises_visited=visits.enterprises,
            merchants_visited=visits.merchants,
            issues_collected=total.collected,
            resolved=total.resolved,
            in_progress=total.in_progress,
            ratings=total.ratings,
            satisfaction_rate=_satisfaction(total, k),
            k=k,
            service_items=services.collected,
            service_items_resolved=services.resolved,
            online=schemas.OnlineFigures(
                **_channel_figures(ONLINE_LABEL, online, online_visits, k).model_dump(),
                channels=list(ONLINE_CHANNELS),
            ),
            by_channel=by_channel,
            by_topic=by_topic,
            projects=_projects(projects, k),
            knowledge=schemas.KnowledgeStatistics(
                answered=knowledge.answered, articles_used=knowledge.articles_used
            ),
            hot_issues=hot,
            generated_at=utcnow(),
        )


class StatisticsCache:
    """A small in-process cache of public answers (per process; 60 s is stale enough for a hall
    screen and keeps anonymous traffic off the database)."""

    def __init__(self, ttl: float = 60.0, max_entries: int = 256) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[date, date], tuple[float, schemas.Statistics]] = (
            OrderedDict()
        )
        self._locks: dict[tuple[date, date], asyncio.Lock] = {}

    def get(self, key: tuple[date, date]) -> schemas.Statistics | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        stored_at, value = entry
        if time.monotonic() - stored_at >= self.ttl:
            del self._entries[key]
            return None
        return value

    def put(self, key: tuple[date, date], value: schemas.Statistics) -> None:
        self._entries[key] = (time.monotonic(), value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()

    async def figures(self, session: AsyncSession, start: date, end: date) -> schemas.Statistics:
        """The cached answer, else computed once: concurrent callers of the same range (every
        hall screen when the entry expires) wait for the first one instead of all querying."""
        check_range(start, end)
        key = (start, end)
        cached = self.get(key)
        if cached is not None:
            return cached
        lock = self._locks.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                cached = self.get(key)
                if cached is None:
                    cached = await statistics_service.figures(session, start, end)
                    self.put(key, cached)
                return cached
        finally:
            if not lock.locked():
                self._locks.pop(key, None)


statistics_service = StatisticsService()
public_cache = StatisticsCache()
