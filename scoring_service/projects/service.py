"""The enterprise's ratings of the agency service (帮办代办) at 开工 and 建成投用."""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, exists, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from scoring_service.models import CardFact, ProjectFact, ProjectRating
from scoring_service.projects.exceptions import (
    MilestoneNotReached,
    ProjectAlreadyRated,
    ProjectNotFound,
)
from scoring_service.projects.schemas import ProjectRatingIn
from services.auth import Principal
from services.models import utcnow
from services.policy import list_scope
from shared.enums import CardRole, ProjectMilestone, ProjectStage

# The stage whose actual date says a milestone was reached.
MILESTONE_STAGE: dict[ProjectMilestone, ProjectStage] = {
    ProjectMilestone.started: ProjectStage.started,
    ProjectMilestone.completed: ProjectStage.completed,
}


class ProjectRatingService:
    async def rate(
        self, session: AsyncSession, data: ProjectRatingIn, *, via: str
    ) -> tuple[ProjectRating, bool]:
        """Record the milestone's rating; returns (rating, created). The same answer twice is
        one rating; a different one is refused."""
        project = await session.scalar(
            select(ProjectFact).where(ProjectFact.tracking_no == data.tracking_no)
        )
        if project is None:
            raise ProjectNotFound()
        stage = MILESTONE_STAGE[data.milestone].value
        if not (project.stage_dates.get(stage) or {}).get("actual"):
            raise MilestoneNotReached(
                details={"milestone": data.milestone.value, "stage": project.stage}
            )
        existing = await session.scalar(
            select(ProjectRating).where(
                ProjectRating.project_id == project.project_id,
                ProjectRating.milestone == data.milestone.value,
            )
        )
        if existing is not None:
            answer = (data.satisfaction.value, data.score, data.comment)
            if (existing.satisfaction, existing.score, existing.comment) == answer:
                return existing, False
            raise ProjectAlreadyRated(details={"rating_id": str(existing.id)})
        rating = ProjectRating(
            id=uuid.uuid4(),
            project_id=project.project_id,
            milestone=data.milestone.value,
            satisfaction=data.satisfaction.value,
            score=data.score,
            comment=data.comment,
            via=via,
            rated_at=utcnow(),
        )
        session.add(rating)
        await session.flush()
        return rating, True


project_rating_service = ProjectRatingService()


def ratings_in_scope(principal: Principal) -> ColumnElement[bool]:
    """Over ``ProjectRating`` joined to ``ProjectFact``: a center sees the projects of its
    subtree (by area or responsible center), a department those where it holds a step."""
    scope = list_scope(principal)
    if scope.own_unit_code is not None:
        return exists().where(
            CardFact.project_id == ProjectRating.project_id,
            CardFact.role == CardRole.step.value,
            CardFact.unit_code == scope.own_unit_code,
        )
    if scope.subtree is None:
        return true()
    return or_(
        ProjectFact.area_unit_path.startswith(scope.subtree),
        ProjectFact.center_unit_path.startswith(scope.subtree),
    )
