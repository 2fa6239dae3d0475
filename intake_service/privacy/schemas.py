"""The identity-access log and the submitter's erasure: what they answer, how they are queried."""

from __future__ import annotations

import uuid
from datetime import date
from enum import StrEnum
from typing import Annotated, Self

from pydantic import Field, StringConstraints, model_validator

from services.filters import check_forwards
from shared.schemas.base import Instant, Schema
from shared.schemas.page import CursorPage
from shared.schemas.paging import PageQuery


class AccessKind(StrEnum):
    # A protected (anonymous or confidential) submitter's identity, opened with a reason.
    whistleblower_identity = "whistleblower_identity"
    # The name or phone of another request's submitter, as staff views show them.
    personal_fields = "personal_fields"
    # Personal data leaving in a file (no export carries any yet).
    export = "export"
    # The personal fields erased (retention, or the submitter's request).
    erasure = "erasure"


class IdentityAccessOut(Schema):
    id: uuid.UUID
    at: Instant
    actor: str
    role: str
    unit_code: str | None
    issue_id: uuid.UUID
    tracking_no: str
    kind: AccessKind
    reason: str | None = Field(description="X-Access-Reason as given, or why it was erased")
    endpoint: str = Field(description="The API operation (or job) that read or erased")
    request_id: str | None = Field(description="X-Request-Id of the API call, for the logs")


IdentityAccessPage = CursorPage[IdentityAccessOut]


class IdentityAccessFilters(PageQuery):
    """Newest first; filters combine."""

    tracking_no: Annotated[str, StringConstraints(min_length=4, max_length=32)] | None = None
    actor: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = Field(
        None, description="As recorded, e.g. `staff:jw_officer`"
    )
    kind: AccessKind | None = None
    from_: date | None = Field(None, alias="from", description="On or after (Asia/Shanghai)")
    to: date | None = Field(None, description="On or before (Asia/Shanghai)")

    @model_validator(mode="after")
    def _forwards(self) -> Self:
        check_forwards(self, ("from_", "to"))
        return self


class ErasureOut(Schema):
    tracking_no: str
    erased_at: Instant
