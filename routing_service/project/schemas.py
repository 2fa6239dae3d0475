"""Projects (帮办代办 · 重点项目) and the procedure catalogue (事项目录) as the API reads and
writes them."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field, StringConstraints
from pydantic_core import PydanticCustomError

from routing_service.config import HistoryHash
from shared.enums import (
    CardStatus,
    CaseStatus,
    ProjectLevel,
    ProjectStage,
    RequestType,
    StepStatus,
    SupervisionLevel,
    Topic,
    Urgency,
)
from shared.identifiers import InvalidIdentifier, validate_phone
from shared.schemas.base import InputSchema, Instant, Schema
from shared.schemas.enterprise import Uscc

UnitCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9@][A-Za-z0-9\-]{0,31}$")]
ProcedureCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,31}$")]
Username = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=200)]
Cursor = Annotated[
    str, StringConstraints(min_length=1, max_length=1000, pattern=r"^[A-Za-z0-9_\-.]+$")
]
# 万元 (¥10k): positive, at most ¥100 bn (10,000,000 万元), two decimals.
Investment = Annotated[Decimal, Field(gt=0, le=10_000_000, max_digits=14, decimal_places=2)]

# The stages a project moves through, in order (paused and terminated stand outside it).
PROGRESS = (
    ProjectStage.planned,
    ProjectStage.signed,
    ProjectStage.started,
    ProjectStage.continuing,
    ProjectStage.completed,
)


def _phone(value: str) -> str:
    try:
        return validate_phone(value)
    except InvalidIdentifier as exc:
        raise PydanticCustomError(
            exc.code, "{zh} / {en}", {"zh": exc.message_zh, "en": exc.message_en}
        ) from exc


Phone = Annotated[str, AfterValidator(_phone)]


def _progress_stage(value: ProjectStage) -> ProjectStage:
    if value not in PROGRESS:
        raise PydanticCustomError(
            "not_a_progress_stage",
            "暂停、终止没有计划或实际日期 / paused and terminated have no dates",
        )
    return value


ProgressStage = Annotated[ProjectStage, AfterValidator(_progress_stage)]


# --- procedure catalogue ----------------------------------------------------------------------


class ProcedureIn(InputSchema):
    code: ProcedureCode
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=100)]
    unit_code: UnitCode | None = Field(
        None, description="The responsible department (null: not yet named)"
    )
    time_limit_days: int = Field(ge=1, le=365, description="Legal time limit in working days")
    prerequisites: list[ProcedureCode] = Field(
        default_factory=list, max_length=50, description="Codes of the steps done before it"
    )
    active: bool = True


class ProcedurePatch(InputSchema):
    name: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=100)]
        | None
    ) = None
    unit_code: UnitCode | None = None
    time_limit_days: int | None = Field(None, ge=1, le=365)
    prerequisites: list[ProcedureCode] | None = Field(None, max_length=50)
    active: bool | None = None


class ProcedureOut(Schema):
    id: uuid.UUID
    code: str
    name: str
    unit_code: str | None
    unit_name: str | None
    time_limit_days: int
    prerequisites: list[str]
    active: bool
    created_at: Instant
    updated_at: Instant


class ProcedureDocument(InputSchema):
    """A whole catalogue to import (upsert by code, all or nothing)."""

    procedures: list[ProcedureIn] = Field(min_length=1, max_length=500)


class ProcedureImportReport(Schema):
    created: int
    updated: int
    unchanged: int


class ProcedureFilters(InputSchema):
    active: bool | None = Field(None, description="Only active (true) or inactive (false)")


# --- projects ---------------------------------------------------------------------------------


class StageDatesIn(InputSchema):
    planned: date | None = None
    actual: date | None = None


class ContactIn(InputSchema):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
    phone: Phone | None = None


class ProjectIn(InputSchema):
    name: Text200
    enterprise_name: Text200
    uscc: Uscc = Field(description="统一社会信用代码, validated as at intake")
    investment: Investment = Field(description="Investment in 万元 (¥10k)")
    industry: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)] | None
    ) = None
    area_unit_code: UnitCode = Field(description="Where the project is (an active org unit)")
    center_unit_code: UnitCode | None = Field(
        None, description="The responsible center; by default the area unit when it is a center"
    )
    level: ProjectLevel = ProjectLevel.general
    stage: ProgressStage = Field(
        ProjectStage.planned, description="The stage the project is taken on at"
    )
    agent: Username | None = Field(None, description="代办员: an active center staff username")
    contact: ContactIn | None = None
    stage_dates: dict[ProgressStage, StageDatesIn] = Field(default_factory=dict)


class ProjectPatch(InputSchema):
    """Fields to change; the stage changes through ``POST /v1/projects/{id}/stage`` only."""

    name: Text200 | None = None
    enterprise_name: Text200 | None = None
    uscc: Uscc | None = None
    investment: Investment | None = None
    industry: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)] | None
    ) = None
    area_unit_code: UnitCode | None = None
    center_unit_code: UnitCode | None = None
    level: ProjectLevel | None = None
    agent: Username | None = None
    contact: ContactIn | None = None
    stage_dates: dict[ProgressStage, StageDatesIn] | None = Field(
        None, description="Merged stage by stage (a stage's dates given replace its dates)"
    )


class StageIn(InputSchema):
    stage: ProjectStage = Field(
        description="The next stage, paused/terminated (with a reason), or, when paused, the "
        "stage it left (resume)"
    )
    reason: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=500)]
        | None
    ) = None
    on: date | None = Field(
        None, description="The actual date of the new stage (default: today, Asia/Shanghai)"
    )


class StageDatesOut(Schema):
    planned: date | None
    actual: date | None


class ContactOut(Schema):
    name: str | None
    phone: str | None


class ProjectEventOut(Schema):
    seq: int
    actor: str
    action: str
    from_status: str | None
    to_status: str | None
    reason: str | None
    data: dict[str, Any]
    at: Instant
    hash: str
    hash_alg: str = Field(description="What `hash` was computed with: sm3 or sha256")


class ProjectOut(Schema):
    id: uuid.UUID
    name: str
    tracking_no: str = Field(description="What the enterprise follows its project by")
    enterprise_name: str
    uscc: str
    investment: Decimal = Field(description="万元 (¥10k)")
    industry: str | None
    area_unit_code: str
    area_unit_name: str
    center_unit_code: str
    center_unit_name: str
    level: ProjectLevel
    level_label: str
    stage: ProjectStage
    stage_label: str
    paused_from: ProjectStage | None
    stage_reason: str | None
    agent: str | None = Field(description="The agent's username")
    agent_name: str | None
    contact: ContactOut
    stage_dates: dict[ProjectStage, StageDatesOut]
    created_by: str
    created_at: Instant
    updated_at: Instant


class ProjectCreatedOut(ProjectOut):
    tracking_secret: str = Field(
        description="Shown once: hand it to the enterprise to follow its project through intake"
    )


class ProjectDetailOut(ProjectOut):
    history: list[ProjectEventOut] = Field(description="The project's history, oldest first")


class ProjectFilters(InputSchema):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    level: list[ProjectLevel] = Field(default_factory=list, max_length=4)
    stage: list[ProjectStage] = Field(default_factory=list, max_length=7)
    area: UnitCode | None = Field(None, description="The area unit's subtree (街道 and its 社区…)")
    agent: Username | None = Field(None, description="The agent's username")
    uscc: Uscc | None = Field(None, description="One enterprise's projects (统一社会信用代码)")
    overdue: bool | None = Field(
        None, description="true: projects with a step past its deadline and still open"
    )
    limit: int = Field(50, ge=1, le=200)
    cursor: Cursor | None = None
    with_total: bool = False

    def fingerprint_params(self) -> dict[str, object]:
        return self.model_dump(mode="json", exclude={"limit", "cursor", "with_total"})


class ProjectChainCheckOut(Schema):
    project_id: uuid.UUID
    events: int
    valid: bool
    broken_at_seq: int | None
    problem: str | None
    algorithms: list[str] = Field(
        description="The hash algorithms of the chain's events (sm3, sha256), in the order "
        "they first appear: a chain begun before the switch to SM3 shows both"
    )
    current_algorithm: HistoryHash = Field(description="What new events are hashed with")


# --- the agency plan (代办事项), agents' records and blockers ----------------------------------


class StepIn(InputSchema):
    procedure_code: ProcedureCode
    unit_code: UnitCode | None = Field(
        None, description="The responsible department; by default the catalogue's"
    )
    limit_days: int | None = Field(
        None, ge=1, le=250,
        description="Working days promised; by default, and at most, the legal time limit",
    )  # fmt: skip
    instructions: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] | None
    ) = None
    on_spot: bool = Field(False, description="当场办结: done at the counter as the step is created")
    result: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] | None = Field(
        None, description="What was done, for a step done on the spot"
    )  # fmt: skip


class PlanIn(InputSchema):
    """Steps to add to a project's agency plan, all or nothing. Prerequisites come from the
    catalogue: those in the plan order the steps, those outside it count as done already."""

    steps: list[StepIn] = Field(min_length=1, max_length=40)


class RedispatchIn(InputSchema):
    unit_code: UnitCode | None = Field(None, description="Another department; by default the same")
    instructions: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] | None
    ) = None


class StepCancelIn(InputSchema):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=1000)]


class RecordIn(InputSchema):
    """The agent's record of a contact made or a document handed over for a step."""

    kind: Literal["contact", "document"]
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=2000)]
    attachments: list[Annotated[str, StringConstraints(min_length=1, max_length=500)]] = Field(
        default_factory=list, max_length=20
    )


class RecordOut(Schema):
    id: uuid.UUID
    kind: str
    text: str
    attachments: list[str]
    author: str
    at: Instant


class StepCardOut(Schema):
    """The step's current card: its deadline and where it stands on the ladder."""

    id: uuid.UUID
    status: CardStatus
    status_label: str
    sign_due_at: Instant
    signed_at: Instant | None
    due_at: Instant
    due_provisional: bool
    submitted_at: Instant | None
    approved_at: Instant | None
    supervision_level: SupervisionLevel
    supervision_label: str
    overdue: bool = Field(description="Past its deadline and still open")


class StepOut(Schema):
    id: uuid.UUID
    procedure_code: str
    name: str
    unit_code: str
    unit_name: str
    limit_days: int = Field(description="Working days promised for the step")
    legal_limit_days: int = Field(description="The procedure's legal time limit (法定时限)")
    prerequisites: list[str]
    waiting_for: list[str] = Field(description="Prerequisites of the plan not done yet")
    position: int
    status: StepStatus
    status_label: str
    on_spot: bool
    instructions: str | None
    dispatched_at: Instant | None
    done_at: Instant | None
    working_days_used: int | None = Field(
        description="Working days from dispatch to completion (done steps)"
    )
    cancel_reason: str | None
    card: StepCardOut | None
    records: list[RecordOut]


class BlockerIn(InputSchema):
    title: Text200
    description: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=5, max_length=5000)
    ]
    topic: Topic | None = Field(None, description="Omit to let intake suggest one from the text")
    type: RequestType = RequestType.help
    urgency: Urgency = Urgency.normal


class BlockerOut(Schema):
    id: uuid.UUID
    project_id: uuid.UUID
    request_id: uuid.UUID
    tracking_no: str
    title: str
    raised_by: str
    raised_at: Instant
    case_id: uuid.UUID | None = Field(description="The blocker's case once routing has it")
    case_status: CaseStatus | None
    case_status_label: str | None


class BlockerCreatedOut(BlockerOut):
    tracking_secret: str = Field(
        description="Shown once: hand it to the enterprise to follow the blocker's request"
    )


class TrackingSecretOut(Schema):
    tracking_no: str
    tracking_secret: str = Field(
        description="Shown once: the enterprise follows its project with it"
    )
