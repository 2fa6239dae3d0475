from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Literal, Self

from pydantic import Field, StringConstraints, model_validator

from shared.enums import Satisfaction
from shared.schemas.base import InputSchema, Instant, Schema
from shared.schemas.page import CursorPage
from shared.schemas.paging import PageQuery
from shared.schemas.text import Label, PlainText, Reason, ShortText

FeedbackMethod = Literal["original_channel", "visit", "symposium"]
Text = PlainText


class FeedbackIn(InputSchema):
    method: FeedbackMethod
    notes: Text | None = None
    attendees: list[Label] = Field(default_factory=list, max_length=200)
    minutes: Text | None = None

    @model_validator(mode="after")
    def _symposium(self) -> Self:
        if self.method == "symposium" and (not self.attendees or not self.minutes):
            raise ValueError(
                "a symposium needs attendees and minutes / 座谈反馈须填写参会人员和纪要"
            )
        return self


class RatingIn(InputSchema):
    satisfaction: Satisfaction = Field(
        description="满意 satisfied / 基本满意 basic / 不满意 unsatisfied"
    )
    score: float | None = Field(None, ge=0, le=100, description="Optional on-site score 0–100")
    resolved: bool | None = None
    unit_at_fault: bool = Field(False, description="Unsatisfied for reasons on the unit's side")
    comment: Text | None = None


class StaffRatingIn(RatingIn):
    method: FeedbackMethod = "visit"


class PlatformRatingIn(RatingIn):
    tracking_no: Annotated[str, StringConstraints(min_length=4, max_length=32)]


class RedoIn(InputSchema):
    reason: Reason


class FeedbackOut(Schema):
    id: uuid.UUID
    case_id: uuid.UUID
    method: str
    recorded_by: str
    at: Instant
    notes: str | None
    attendees: list[str]
    minutes: str | None


class RevisitOut(Schema):
    id: uuid.UUID
    case_id: uuid.UUID
    tracking_no: str
    channel: str
    anonymous: bool
    round: int
    status: str
    due_at: Instant
    overdue: bool
    submitter: dict[str, object]


class RevisitFilters(PageQuery):
    status: Literal["open", "done", "expired"] = "open"
    limit: int = Field(100, ge=1, le=500)


RevisitPage = CursorPage[RevisitOut]


class VisitIn(InputSchema):
    """A center's visit to an enterprise or merchant (走访), counted in the public figures."""

    target_kind: Literal["enterprise", "merchant"]
    target_name: ShortText
    uscc: Annotated[str, StringConstraints(strip_whitespace=True, max_length=18)] | None = None
    visited_on: date

    @model_validator(mode="after")
    def _uscc(self) -> Self:
        if self.uscc is not None:
            from shared.identifiers import InvalidIdentifier, validate_uscc

            try:
                self.uscc = validate_uscc(self.uscc)
            except InvalidIdentifier as exc:
                raise ValueError(f"{exc.message_zh} / {exc.message_en}") from exc
        return self


class VisitBatchIn(InputSchema):
    visits: list[VisitIn] = Field(min_length=1, max_length=1000)


class VisitBatchOut(Schema):
    recorded: int
