"""A submitter's rating as the scoring service records it (满意度测评); the intake service relays
``POST /v1/requests/{tracking_no}/rating`` to scoring and answers with this."""

from __future__ import annotations

import uuid

from shared.enums import Satisfaction
from shared.schemas.base import Instant, Schema

__all__ = ["RatingOut"]


class RatingOut(Schema):
    id: uuid.UUID
    case_id: uuid.UUID
    round: int
    satisfaction: Satisfaction
    score: float | None
    resolved: bool | None
    unit_at_fault: bool
    comment: str | None
    source: str
    method: str
    rated_at: Instant
    redo_ordered_at: Instant | None
