from __future__ import annotations

__all__ = ["ProjectRatingFilters", "ProjectRatingIn", "ProjectRatingOut", "ProjectRatingPage"]

import uuid
from typing import Annotated

from pydantic import Field, StringConstraints

from shared.enums import ProjectMilestone, Satisfaction
from shared.schemas.base import InputSchema
from shared.schemas.page import CursorPage
from shared.schemas.paging import PageQuery
from shared.schemas.project import ProjectRatingOut
from shared.schemas.text import PlainText


class ProjectRatingIn(InputSchema):
    """The enterprise's rating of the agency service at a milestone, relayed by intake."""

    tracking_no: Annotated[str, StringConstraints(min_length=4, max_length=32)]
    milestone: ProjectMilestone = Field(description="开工 started / 建成投用 completed")
    satisfaction: Satisfaction = Field(
        description="满意 satisfied / 基本满意 basic / 不满意 unsatisfied"
    )
    score: float | None = Field(None, ge=0, le=100, description="Optional score 0–100")
    comment: PlainText | None = None


class ProjectRatingFilters(PageQuery):
    project_id: uuid.UUID | None = None
    milestone: ProjectMilestone | None = None


ProjectRatingPage = CursorPage[ProjectRatingOut]
