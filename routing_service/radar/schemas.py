"""The radar (热点问题) as the API reads and writes it."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from pydantic import Field, StringConstraints, field_validator
from pydantic_core import PydanticCustomError

from shared.enums import CaseStatus, Classification, HotIssueState, Topic
from shared.schemas.base import InputSchema, Instant, Schema
from shared.schemas.paging import PageQuery

UnitCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9@][A-Za-z0-9\-]{0,31}$")]
Month = Annotated[str, StringConstraints(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]


class Threshold(InputSchema):
    submitters: int = Field(ge=2, le=1000, description="Distinct submitters at least")
    window_days: int = Field(ge=1, le=90, description="Within this many days")


class RadarPolicyIn(InputSchema):
    thresholds: list[Threshold] = Field(min_length=1, max_length=5)
    similarity: float = Field(
        ge=0.1, le=0.95, description="How alike (overlap of bigrams) a request must be to join"
    )
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None

    @field_validator("thresholds")
    @classmethod
    def _distinct(cls, value: list[Threshold]) -> list[Threshold]:
        keys = [(t.submitters, t.window_days) for t in value]
        if len(set(keys)) != len(keys):
            raise PydanticCustomError("duplicate_threshold", "阈值重复 / a threshold appears twice")
        return value


class RadarPolicyOut(Schema):
    thresholds: list[dict[str, int]]
    similarity: float
    updated_by: str | None
    updated_at: Instant | None
    note: str | None


class HotIssueFilters(PageQuery):
    topic: list[Topic] = Field(default_factory=list, max_length=10)
    state: list[HotIssueState] = Field(default_factory=list, max_length=4)
    area: UnitCode | None = Field(None, description="A unit's subtree")
    since_days: int | None = Field(
        None, ge=1, le=366, description="Clusters with a request in the last N days"
    )
    min_submitters: int | None = Field(None, ge=1, le=100_000)


class HotIssueOut(Schema):
    id: uuid.UUID
    topic: Topic
    topic_label: str
    area_unit_code: str
    area_unit_name: str
    state: HotIssueState
    state_label: str
    title: str = Field(description="Its first request's title")
    requests: int
    submitters: int = Field(description="Distinct submitters (all time)")
    first_at: Instant
    last_at: Instant
    theme_month: str | None = Field(description="每月一题: the month it is the center's theme")
    proactive_case_id: uuid.UUID | None
    proactive_tracking_no: str | None


class MemberOut(Schema):
    case_id: uuid.UUID
    tracking_no: str
    title: str
    status: CaseStatus
    received_at: Instant
    similarity: float
    joined_by: str


class TrendPoint(Schema):
    day: date = Field(description="Asia/Shanghai")
    requests: int


class HotIssueDetailOut(HotIssueOut):
    members: list[MemberOut]
    trend: list[TrendPoint] = Field(description="Requests per day, first to last")
    alerts: list[str] = Field(description="Thresholds crossed (told once each), e.g. 5/7d")


class ProactiveIn(InputSchema):
    """Open one case for the whole cluster (主动治理 / 未诉先办)."""

    classification: Classification = Classification.general
    title: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=200)]
        | None
    ) = None
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] | None = None


class MemberIn(InputSchema):
    tracking_no: Annotated[str, StringConstraints(min_length=4, max_length=32)]


class ThemeIn(InputSchema):
    month: Month = Field(description="YYYY-MM")
