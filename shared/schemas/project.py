"""What an enterprise sees of its project (帮办代办进度) and how it rates the agency service.

Routing answers ``GET /v1/projects/tracking/{tracking_no}`` (service callers only, with the
tracking secret); the intake service relays it to the enterprise as
``GET /v1/projects/{tracking_no}`` and relays the rating to scoring. No staff names but the
agent's, no phone numbers, nothing of other enterprises.
"""

from __future__ import annotations

import uuid
from datetime import date

from pydantic import Field

from shared.enums import (
    ProjectLevel,
    ProjectMilestone,
    ProjectStage,
    Satisfaction,
    StepStatus,
)
from shared.schemas.base import InputSchema, Instant, Schema
from shared.schemas.text import Comment

__all__ = [
    "ProjectBlockerProgress",
    "ProjectProgressOut",
    "ProjectRatingIn",
    "ProjectRatingOut",
    "ProjectStepProgress",
    "StageDatesView",
]


class StageDatesView(Schema):
    planned: date | None = None
    actual: date | None = None


class ProjectStepProgress(Schema):
    procedure_code: str
    name: str
    unit_name: str
    status: StepStatus
    status_label: str
    on_spot: bool = Field(description="当场办结 / done on the spot")
    due_at: Instant | None = None
    due_provisional: bool = False
    done_at: Instant | None = None


class ProjectBlockerProgress(Schema):
    tracking_no: str = Field(description="The blocker's own request, tracked like any request")
    title: str
    raised_at: Instant


class ProjectProgressOut(Schema):
    tracking_no: str
    name: str
    enterprise_name: str
    level: ProjectLevel
    level_label: str
    stage: ProjectStage
    stage_label: str
    stage_dates: dict[ProjectStage, StageDatesView]
    center_unit_name: str
    agent_name: str | None = None
    steps: list[ProjectStepProgress]
    blockers: list[ProjectBlockerProgress]
    ratable: list[ProjectMilestone] = Field(
        description="Milestones reached, at which the enterprise may rate the agency service"
    )


class ProjectRatingIn(InputSchema):
    """The enterprise's rating of the agency service at one milestone."""

    milestone: ProjectMilestone
    satisfaction: Satisfaction
    score: float | None = Field(None, ge=0, le=100)
    comment: Comment | None = None


class ProjectRatingOut(Schema):
    id: uuid.UUID
    project_id: uuid.UUID
    milestone: ProjectMilestone
    satisfaction: Satisfaction
    score: float | None
    comment: str | None
    via: str = Field(description="How it arrived: platform (relayed by intake)")
    rated_at: Instant
