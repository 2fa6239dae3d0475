from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field

from shared.enums import HotIssueState, Topic, UnitKind
from shared.schemas.base import InputSchema, Instant, Schema
from shared.schemas.text import Reason

Weight = Annotated[float, Field(ge=0, le=100)]
Factor = Annotated[float, Field(ge=0, le=1)]


class Ratio(Schema):
    """A rate with the counts it comes from; ``rate`` is null when the denominator is 0.

    ``pending`` items are in the cohort but not decided yet (not due yet, or suspended); they
    are left out of the denominator until they are.
    """

    numerator: int
    denominator: int
    rate: float | None = Field(description="numerator / denominator, 4 decimals; null if 0/0")
    pending: int = 0


class SatisfactionRatio(Schema):
    """满意率 = (satisfied + k x basic) / valid revisits."""

    numerator: float
    denominator: int
    rate: float | None
    satisfied: int
    basic: int
    unsatisfied: int
    k: float


class SupervisionCounts(Schema):
    """Cards due in the month at each step of the ladder (each card counted once, at its
    highest step)."""

    red: int
    listed: int
    escalated: int


class Scorecard(Schema):
    unit_code: str
    unit_name: str | None
    unit_kind: UnitKind = Field(
        description="As reported by routing (older facts: inferred from the name)"
    )
    month: str
    dispatched: int = Field(description="派单数: cards dispatched in the month")
    sign_on_time: Ratio = Field(description="按时签收率")
    response: Ratio = Field(description="响应率: signed on time and first contact on time")
    due_in_period: int = Field(description="Cards due in the month (not returned or cancelled)")
    completion_on_time: Ratio = Field(description="按时办结率")
    # Defaults: months closed before agency steps existed have none.
    agency_due_in_period: int = Field(
        0, description="Agency steps (代办事项) due in the month (not returned or cancelled)"
    )
    agency_on_time: Ratio = Field(
        default_factory=lambda: Ratio(numerator=0, denominator=0, rate=None),
        description="办件按时率(代办事项): steps submitted by their due time / steps due",
    )
    resolution: Ratio = Field(description="解决率")
    satisfaction: SatisfactionRatio = Field(description="满意率")
    completed: int = Field(description="Cards approved (办结) in the month")
    redo: Ratio = Field(description="发回重办率")
    returned: Ratio = Field(description="回退率")
    average_working_days: float | None = Field(description="平均办结工作日")
    overdue: int = Field(description="超期件数")
    supervision: SupervisionCounts
    deductions: float = Field(description="扣分")
    base_score: float | None = Field(description="Weighted rates before deductions")
    score: float | None = Field(description="得分 in [0, 100]; null if no weighted rate exists")
    rank: int | None = Field(description="排名 among the units listed; null if unscored")


class RankEntry(Schema):
    rank: int
    unit_code: str
    unit_name: str | None
    score: float


class EvaluationWeights(Schema):
    weight_sign: Weight
    weight_on_time: Weight
    weight_satisfaction: Weight
    weight_resolution: Weight
    # 0 unless set: policies and closed months from before the agency rate leave it out.
    weight_agency: Weight = Field(0.0, description="办件按时率(代办事项)的权重")
    basic_satisfaction_k: Factor
    deduction_listed: Weight
    deduction_escalated: Weight
    deduction_red: Weight


class EvaluationPolicy(EvaluationWeights):
    month: str = Field(description="The month asked about")
    effective_month: str | None = Field(description="Month the policy took effect; null = defaults")
    source: Literal["policy", "settings"]
    created_by: str | None = None
    created_at: Instant | None = None


class EvaluationPolicyUpdate(InputSchema):
    """Fields left out keep the value in force for that month before the change."""

    weight_sign: Weight | None = None
    weight_on_time: Weight | None = None
    weight_satisfaction: Weight | None = None
    weight_resolution: Weight | None = None
    weight_agency: Weight | None = None
    basic_satisfaction_k: Factor | None = None
    deduction_listed: Weight | None = None
    deduction_escalated: Weight | None = None
    deduction_red: Weight | None = None


class ClosedFlags(Schema):
    closed: bool = Field(False, description="The month is closed: these are its frozen figures")
    closed_at: Instant | None = Field(None, description="When the version served was stored")
    version: int | None = Field(None, description="The closed month's version served")


class UnitScorecard(Scorecard, ClosedFlags):
    """One unit's scorecard, with whether it comes from a closed month's snapshot."""


class ScorecardList(ClosedFlags):
    month: str
    unit_kind: UnitKind | None
    policy: EvaluationPolicy
    generated_at: Instant = Field(description="When the figures were computed")
    ranked: int = Field(description="Units with a score")
    units: list[Scorecard]
    top: list[RankEntry]
    bottom: list[RankEntry] = Field(description="Lowest first; never repeats a unit of top")


def _blank_as_missing(value: object) -> object:
    # A blank reason is no reason: it gets the same stable code as a missing one.
    return None if isinstance(value, str) and not value.strip() else value


class MonthRecompute(InputSchema):
    reason: Annotated[Reason | None, BeforeValidator(_blank_as_missing)] = Field(
        None, description="Why the closed month is recomputed (required)"
    )


class MonthVersion(Schema):
    version: int
    action: Literal["close", "recompute"]
    reason: str | None
    closed_by: str
    closed_at: Instant
    current: bool = Field(description="The version GET serves")
    scores: dict[str, float | None] = Field(description="Each unit's score in this version")


class MonthHistory(Schema):
    month: str
    closed: bool
    versions: list[MonthVersion] = Field(description="Oldest first")


class AnnualMonth(Schema):
    month: str
    score: float | None


class AnnualEntry(Schema):
    unit_code: str
    unit_name: str | None
    unit_kind: UnitKind
    months: list[AnnualMonth]
    months_scored: int
    score: float | None = Field(description="年终综合考评: mean of the scored months")
    rank: int | None


class AnnualList(Schema):
    year: int
    unit_kind: UnitKind | None
    months_included: list[str] = Field(description="Months up to now that the mean may use")
    generated_at: Instant
    ranked: int
    units: list[AnnualEntry]
    top: list[RankEntry]
    bottom: list[RankEntry]


class Figures(Schema):
    label_zh: str
    collected: int = Field(description="收集问题: requests received, duplicates excluded")
    resolved: int = Field(description="办结: completed, closed or answered directly")
    in_progress: int = Field(description="正在办理")
    ratings: int = Field(description="Cases rated (final rating of each case)")
    satisfied: int
    basic: int
    satisfaction_rate: float | None


class ChannelFigures(Figures):
    enterprises_visited: int
    merchants_visited: int


class OnlineFigures(ChannelFigures):
    channels: list[str]


class ProjectCounts(Schema):
    total: int
    by_level: dict[str, int] = Field(description="ProjectLevel value → projects (every level)")
    by_stage: dict[str, int] = Field(
        description="ProjectStage value → projects, by their current stage (every stage)"
    )


class ProjectSteps(Schema):
    done: int = Field(description="办结事项: step cards approved in the period")
    done_on_spot: int = Field(description="当场办结: of those, done on the spot")
    on_time: Ratio = Field(
        description="办件按时率(代办事项): steps due in the period submitted by their due time; "
        "not yet due or suspended ones are pending"
    )
    measured: int = Field(
        description="Steps approved in the period with both working days taken and a legal limit"
    )
    working_days_used: int = Field(description="Sum of working days taken over measured steps")
    working_days_allowed: int = Field(description="Sum of legal limits over measured steps")
    time_ratio: float | None = Field(
        description="用时 ÷ 法定时限: used / allowed, 4 decimals; null if nothing allowed"
    )
    average_working_days: float | None = Field(description="平均用时(工作日) per measured step")
    average_limit_days: float | None = Field(description="平均法定时限(工作日) per measured step")


class ProjectSatisfaction(Schema):
    ratings: int = Field(description="Enterprises' ratings of the agency service in the period")
    satisfied: int
    basic: int
    unsatisfied: int
    satisfaction_rate: float | None = Field(description="(satisfied + k x basic) / ratings")


class ProjectStatistics(Schema):
    """帮办代办: projects served, stages reached, steps done and the enterprises' satisfaction."""

    served: ProjectCounts = Field(
        description="服务项目: created by the end of the period and not terminated before its start"
    )
    started: int = Field(description="开工: projects that reached 开工 in the period")
    continuing: int = Field(description="续建: projects that reached 续建 in the period")
    completed: int = Field(description="建成投用: projects that reached 建成投用 in the period")
    steps: ProjectSteps
    satisfaction: ProjectSatisfaction


class KnowledgeStatistics(Schema):
    """Consultations answered from the knowledge base (知识库解答); they stay service items."""

    answered: int = Field(
        description="Consultations whose submitter said a published answer solved them"
    )
    articles_used: int = Field(description="Distinct articles that answered them")


class TopIssue(Schema):
    """A radar cluster as the public sees it: what, where, how many — no text, no person."""

    topic: Topic
    topic_label: str
    area_unit_name: str
    requests: int
    submitters: int = Field(description="Distinct submitters")
    state: HotIssueState
    state_label: str
    theme: bool = Field(description="The street's theme of the month (每月一题)")


class HotIssueStatistics(Schema):
    month: str = Field(description="The month of the period's end (YYYY-MM)")
    top: list[TopIssue] = Field(description="热点问题: the month's clusters, most submitters first")
    themes: list[TopIssue] = Field(description="每月一题: the themes chosen for the month")


class Statistics(Schema):
    start: date
    end: date
    enterprises_visited: int = Field(description="走访企业 (distinct)")
    merchants_visited: int = Field(description="走访商户 (distinct)")
    issues_collected: int = Field(
        description="问题: requests other than consultations, not duplicates"
    )
    resolved: int
    in_progress: int
    ratings: int
    satisfaction_rate: float | None
    k: float
    service_items: int = Field(
        description="办件: consultations and service items handled (咨询/办事)"
    )
    service_items_resolved: int
    online: OnlineFigures = Field(description="网上办件: app, smart hall, website and Open311")
    by_channel: dict[str, ChannelFigures]
    by_topic: dict[str, Figures]
    projects: ProjectStatistics = Field(description="帮办代办 (investment projects)")
    knowledge: KnowledgeStatistics = Field(
        description="知识库: answers given on the days of the period"
    )
    hot_issues: HotIssueStatistics = Field(description="热点问题 of the month of the period's end")
    generated_at: Instant
