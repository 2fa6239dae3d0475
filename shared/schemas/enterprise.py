"""Contracts of the enterprise file (一企一档): the credit code type, and the parts routing
collects from intake (requests as received, 165 visits) and scoring (ratings) over REST.

Only enterprises are filed, by their unified social credit code; a person is never looked up
this way. Anonymous and confidential requests are never part of any of these answers.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Generic, TypeVar

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from shared.identifiers import InvalidIdentifier, validate_uscc
from shared.schemas.base import InputSchema, Instant, Schema

__all__ = [
    "MAX_SECTION",
    "EnterpriseRating",
    "EnterpriseRatings",
    "EnterpriseRatingsQuery",
    "EnterpriseRecords",
    "EnterpriseRecordsQuery",
    "EnterpriseRequest",
    "EnterpriseVisit",
    "RatingFigures",
    "Section",
    "Uscc",
]

# The most recent items of each section an answer carries (the rest is counted, not listed).
MAX_SECTION = 200


def _uscc(value: str) -> str:
    try:
        return validate_uscc(value)
    except InvalidIdentifier as exc:
        raise PydanticCustomError(
            exc.code, "{zh} / {en}", {"zh": exc.message_zh, "en": exc.message_en}
        ) from exc


# 统一社会信用代码 (GB 32100-2015): 18 characters, registration authority, check character;
# normalized to capitals without separators.
Uscc = Annotated[str, AfterValidator(_uscc)]

T = TypeVar("T")


class Section(Schema, Generic[T]):
    """Up to ``MAX_SECTION`` most recent items, how many there are in all, and whether some
    were left out."""

    items: list[T]
    total: int
    truncated: bool


# ---- intake ---------------------------------------------------------------------------------


class EnterpriseRecordsQuery(InputSchema):
    """What routing asks intake for. ``None``: every record of the credit code (the caller may
    read all requests as received); a list: only those of these ids (the caller's scope)."""

    request_ids: list[uuid.UUID] | None = Field(None, max_length=MAX_SECTION)
    visit_ids: list[uuid.UUID] | None = Field(None, max_length=MAX_SECTION)
    limit: int = Field(MAX_SECTION, ge=1, le=MAX_SECTION)


class EnterpriseRequest(Schema):
    """A request as received (no contact person: the enterprise is the submitter)."""

    id: uuid.UUID
    tracking_no: str
    channel: str
    type: str
    topic: str
    urgency: str
    title: str
    status: str
    enterprise_name: str | None
    cppcc_visit_id: uuid.UUID | None
    duplicate: bool
    received_at: Instant


class EnterpriseVisit(Schema):
    """A CPPCC member's "165" visit to the enterprise (政协委员营商环境直通车)."""

    id: uuid.UUID
    member_name: str
    station_name: str
    target_kind: str
    target_name: str
    area_code: str | None
    visited_on: date
    findings: str | None
    issue_count: int


class EnterpriseRecords(Schema):
    requests: Section[EnterpriseRequest]
    visits: Section[EnterpriseVisit]


# ---- scoring --------------------------------------------------------------------------------


class EnterpriseRatingsQuery(InputSchema):
    case_ids: list[uuid.UUID] = Field(max_length=MAX_SECTION)


class EnterpriseRating(Schema):
    id: uuid.UUID
    case_id: uuid.UUID
    round: int
    satisfaction: str
    resolved: bool | None
    unit_at_fault: bool
    source: str
    method: str
    rated_at: Instant


class RatingFigures(Schema):
    """Each case's final rating (its highest round), as in the public statistics."""

    ratings: int
    satisfied: int
    basic: int
    unsatisfied: int
    satisfaction_rate: float | None = Field(
        description="(satisfied + k·basic) / ratings, k of the evaluation policy in force"
    )


class EnterpriseRatings(Schema):
    ratings: Section[EnterpriseRating]
    figures: RatingFigures
