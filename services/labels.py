"""Label discovery: every enumeration the APIs use, with its Chinese labels, so a console or an
app shows 待核查 and 红牌督办 without hard-coding them (one endpoint on every service)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from shared.enums import (
    ArticleStatus,
    CardRole,
    CardStatus,
    CaseStatus,
    Channel,
    Classification,
    HotIssueState,
    LabelledEnum,
    ProjectLevel,
    ProjectMilestone,
    ProjectStage,
    RequestStatus,
    RequestType,
    Role,
    Satisfaction,
    StepStatus,
    SubmitterKind,
    SupervisionLevel,
    Topic,
    UnitKind,
    Urgency,
)
from shared.schemas.base import Schema

__all__ = ["router"]

# Name in the answer → the enumeration (names are the query and field names the APIs use).
ENUMS: dict[str, type[LabelledEnum]] = {
    "channel": Channel,
    "request_type": RequestType,
    "topic": Topic,
    "urgency": Urgency,
    "submitter_kind": SubmitterKind,
    "request_status": RequestStatus,
    "case_status": CaseStatus,
    "classification": Classification,
    "card_status": CardStatus,
    "card_role": CardRole,
    "supervision_level": SupervisionLevel,
    "satisfaction": Satisfaction,
    "unit_kind": UnitKind,
    "role": Role,
    "project_level": ProjectLevel,
    "project_stage": ProjectStage,
    "project_milestone": ProjectMilestone,
    "step_status": StepStatus,
    "article_status": ArticleStatus,
    "hot_issue_state": HotIssueState,
}


class LabelOut(Schema):
    value: str
    label: str


class LabelsOut(Schema):
    enums: dict[str, list[LabelOut]]


_ANSWER = LabelsOut(
    enums={
        name: [LabelOut(value=member.value, label=member.label_zh) for member in enum]
        for name, enum in ENUMS.items()
    }
)

router = APIRouter(prefix="/v1", tags=["labels"])


@router.get(
    "/labels",
    response_model=LabelsOut,
    summary="Every enumeration with its Chinese labels (public, cacheable)",
)
async def labels(response: Response) -> LabelsOut:
    """Every enumeration the APIs use (statuses, topics, channels, supervision levels…) with
    its values' Chinese and English labels, the same on every service. Public; cacheable for an
    hour, since the labels change only with a release."""
    # The labels change only with a release.
    response.headers["Cache-Control"] = "public, max-age=3600"
    return _ANSWER
