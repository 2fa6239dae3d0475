"""The enterprise file (一企一档) as answered to staff."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import Field

from routing_service.assignment.schemas import CardOut
from shared.enums import CaseStatus
from shared.schemas.base import Instant, Schema
from shared.schemas.enterprise import EnterpriseRequest, EnterpriseVisit, Section

# The parts another service answers; listed in ``partial`` when it could not be reached.
Part = Literal["requests", "visits", "ratings"]


class EnterpriseCaseOut(Schema):
    id: uuid.UUID
    tracking_no: str
    title: str
    channel: str
    type: str
    topic: str
    urgency: str
    classification: str | None
    status: CaseStatus
    status_label: str
    owner_unit_code: str
    cppcc_visit_id: uuid.UUID | None
    redo_count: int
    received_at: Instant
    due_at: Instant | None
    closed_at: Instant | None


class EnterpriseRatingOut(Schema):
    id: uuid.UUID
    case_id: uuid.UUID
    tracking_no: str | None
    round: int
    satisfaction: str
    resolved: bool | None
    unit_at_fault: bool
    source: str
    method: str
    rated_at: Instant


class EnterpriseFigures(Schema):
    """Counts over everything in the caller's scope (not only the listed items). ``None``: the
    service holding that part could not be reached (see ``partial``)."""

    requests: int | None = Field(description="Requests as received (intake)")
    cases: int
    cases_open: int = Field(description="Still being verified, dispatched or handled")
    cases_closed: int = Field(description="Finished: closed, completed, answered, rejected…")
    cards: int
    cards_open: int
    cards_overdue: int = Field(description="Open and past due")
    ratings: int | None = Field(description="Cases rated (each case's final rating)")
    ratings_satisfied: int | None
    ratings_basic: int | None
    ratings_unsatisfied: int | None
    satisfaction_rate: float | None = Field(
        description="(satisfied + k·basic) / ratings, k of the evaluation policy in force"
    )
    visits: int | None = Field(description="CPPCC 165 visits (intake)")


class EnterpriseFileOut(Schema):
    uscc: str = Field(description="统一社会信用代码, normalized")
    name: str | None = Field(description="The most recent non-empty enterprise name")
    requests_scope: Literal["all", "cases_in_scope"] = Field(
        description="all: every request of the enterprise (district-level readers); "
        "cases_in_scope: the requests behind the cases in your scope"
    )
    generated_at: Instant
    partial: list[Part] = Field(
        description="Parts missing because their service could not be reached (their sections "
        "and figures are null); empty when the file is complete"
    )
    figures: EnterpriseFigures
    requests: Section[EnterpriseRequest] | None
    cases: Section[EnterpriseCaseOut]
    cards: Section[CardOut]
    ratings: Section[EnterpriseRatingOut] | None = Field(
        description="Ratings of the listed cases; truncated also when cases are"
    )
    visits: Section[EnterpriseVisit] | None
