"""Schemas of the CPPCC "165" express API: liaison stations, members, visits, summary."""

from __future__ import annotations

import uuid
from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints
from pydantic_core import PydanticCustomError

from intake_service.issue.schemas import (
    Description,
    IssueReceipt,
    LocationIn,
    Name,
    Phone,
    Title,
    Uscc,
)
from services.models import utcnow
from shared.calendar import SHANGHAI
from shared.enums import RequestStatus, RequestType, Topic, Urgency
from shared.schemas.base import InputSchema, Instant, Schema
from shared.schemas.page import CursorPage
from shared.schemas.paging import PageQuery
from shared.schemas.text import Label, ShortText

MAX_IMPORT_ROWS = 500
MAX_MEMBER_PAGE = 500
MAX_VISIT_PAGE = 200
MAX_VISIT_ISSUES = 20
EARLIEST_VISIT = date(2000, 1, 1)


class TargetKind(StrEnum):
    enterprise = "enterprise"  # 企业
    merchant = "merchant"  # 商户


def local_today() -> date:
    return utcnow().astimezone(SHANGHAI).date()


def _visit_date(value: date) -> date:
    if value < EARLIEST_VISIT:
        raise PydanticCustomError(
            "visited_on_too_early", "走访日期不能早于2000年 / visited_on must not be before 2000"
        )
    if value > local_today():
        raise PydanticCustomError(
            "visited_on_in_future", "走访日期不能晚于今天 / visited_on must not be in the future"
        )
    return value


AreaCode = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z_\-]{1,32}$")]
VisitDate = Annotated[date, AfterValidator(_visit_date)]


# ---- liaison stations -----------------------------------------------------------------------


class StationCreate(InputSchema):
    name: Label = Field(description="e.g. 经济界别联络站")
    sector: Label = Field(description="界别, e.g. 经济界")


class StationOut(Schema):
    id: uuid.UUID
    name: str
    sector: str
    member_count: int = 0
    created_at: Instant


# ---- members --------------------------------------------------------------------------------


class MemberCreate(InputSchema):
    name: Name
    phone: Phone | None = None
    sector: Label | None = Field(None, description="Defaults to the station's sector")
    station_id: uuid.UUID


class MemberImport(InputSchema):
    members: list[MemberCreate] = Field(min_length=1, max_length=MAX_IMPORT_ROWS)


class MemberOut(Schema):
    id: uuid.UUID
    name: str
    phone: str | None
    sector: str | None
    station_id: uuid.UUID
    station_name: str
    created_at: Instant


class MemberDetail(MemberOut):
    visit_count: int
    issue_count: int


class MemberFilters(PageQuery):
    """``GET /members``: oldest first (the order they were registered), by cursor."""

    station_id: uuid.UUID | None = Field(None, description="Only this liaison station's members")
    limit: int = Field(100, ge=1, le=MAX_MEMBER_PAGE)


MemberPage = CursorPage[MemberOut]


class MemberImportOut(Schema):
    imported: int
    members: list[MemberOut]


# ---- visits ---------------------------------------------------------------------------------


class ContactIn(InputSchema):
    """The enterprise's or merchant's contact person for this issue (the submitter)."""

    name: Name
    phone: Phone


class VisitIssueIn(InputSchema):
    type: RequestType
    topic: Topic | None = Field(
        None, description="Omit to let the service suggest one from the text"
    )
    urgency: Urgency = Urgency.normal
    title: Title
    description: Description
    location: LocationIn | None = Field(None, description="area_code defaults to the visit's")
    contact: ContactIn


class VisitCreate(InputSchema):
    member_id: uuid.UUID
    target_kind: TargetKind
    target_name: ShortText = Field(description="Enterprise or merchant name")
    uscc: Uscc | None = Field(
        None, description="Unified social credit code; the submitter is then the enterprise"
    )
    area_code: AreaCode | None = Field(None, description="Street/township/park code")
    visited_on: VisitDate
    findings: Description | None = None
    issues: list[VisitIssueIn] = Field(default_factory=list, max_length=MAX_VISIT_ISSUES)


class VisitOut(Schema):
    id: uuid.UUID
    member_id: uuid.UUID
    member_name: str
    station_id: uuid.UUID
    station_name: str
    target_kind: TargetKind
    target_name: str
    uscc: str | None
    area_code: str | None
    visited_on: date
    findings: str | None
    issue_count: int
    created_at: Instant


class VisitCreated(VisitOut):
    receipts: list[IssueReceipt] = Field(
        description="One per issue; the tracking secrets are shown once"
    )


class VisitRequest(Schema):
    """A request created from the visit, with its current status (跟踪问效)."""

    tracking_no: str
    title: str
    type: RequestType
    topic: Topic
    status: RequestStatus
    status_label: str
    agency_responsible: str | None = None
    duplicate_of: str | None = None
    received_at: Instant
    status_changed_at: Instant | None = None


class VisitDetail(VisitOut):
    requests: list[VisitRequest]


class VisitFilters(PageQuery):
    """``GET /visits``: newest visit first (then newest logged), by cursor."""

    member_id: uuid.UUID | None = None
    station_id: uuid.UUID | None = None
    start: date | None = Field(None, description="Visited on or after")
    end: date | None = Field(None, description="Visited on or before")
    target_kind: TargetKind | None = None
    limit: int = Field(50, ge=1, le=MAX_VISIT_PAGE)


VisitPage = CursorPage[VisitOut]


# ---- summary --------------------------------------------------------------------------------


class Summary(Schema):
    start: date | None
    end: date | None
    stations: int = Field(description="Liaison stations (联络站)")
    members: int = Field(description="Registered CPPCC members")
    active_members: int = Field(description="Members with at least one visit in the period")
    enterprises_visited: int = Field(description="Distinct enterprises (by credit code, else name)")
    merchants_visited: int = Field(description="Distinct merchants (by credit code, else name)")
    visits: int
    issues_collected: int
    answered_closed: int = Field(description="答复办结: answered, completed or closed")
    pending: int = Field(
        description="在办: received, verifying, dispatched, in progress, extended, suspended"
    )
    by_topic: dict[str, int]
    by_status: dict[str, int]
