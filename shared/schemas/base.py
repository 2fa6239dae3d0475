"""Base classes of every schema, and the one way an instant is written.

Every instant the APIs and webhook payloads carry is RFC 3339 in UTC with ``Z``
(``2026-12-07T08:30:00Z``), whatever offset the value had inside the service; calendar days
(working days, months) are plain dates in Asia/Shanghai. Response fields declare :data:`Instant`
instead of ``datetime`` (a test keeps it so), and free-form data uses :func:`rfc3339`.
"""

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

__all__ = ["RFC3339_UTC", "InputSchema", "Instant", "Schema", "rfc3339", "to_utc"]

RFC3339_UTC = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$"


def to_utc(value: datetime) -> datetime:
    """The same instant in UTC; a naive value is taken as UTC already (SQLite returns them)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def rfc3339(value: datetime) -> str:
    """An instant as the APIs write it, for data that is not a schema field."""
    return to_utc(value).isoformat().replace("+00:00", "Z")


# Converted at validation, so pydantic's own (fast) serializer writes ``Z``.
Instant = Annotated[
    datetime, AfterValidator(to_utc), Field(json_schema_extra={"pattern": RFC3339_UTC})
]


class Schema(BaseModel):
    """Base of every schema: reads ORM objects, rejects unknown fields on input."""

    model_config = ConfigDict(from_attributes=True, populate_by_name=True)


class InputSchema(Schema):
    model_config = ConfigDict(from_attributes=True, populate_by_name=True, extra="forbid")
