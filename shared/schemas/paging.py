"""The query parameters of a cursor-paged list (``services.pagination``): ``limit``, ``cursor``,
``with_total``; a list's filters subclass :class:`PageQuery` and add their own fields."""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field, StringConstraints

from shared.schemas.base import Schema

__all__ = ["Cursor", "PageQuery"]

# What read_page encodes: two base64url parts joined by a dot.
Cursor = Annotated[
    str, StringConstraints(min_length=1, max_length=1000, pattern=r"^[A-Za-z0-9_\-.]+$")
]


class PageQuery(Schema):
    """Unknown parameters are 422 (an old ``offset`` must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid")

    limit: int = Field(50, ge=1, le=200)
    cursor: Cursor | None = Field(None, description="`next_cursor` of the previous page")
    with_total: bool = Field(False, description="Also count every matching row (costs a query)")

    def fingerprint_params(self) -> dict[str, object]:
        """The filters that make two requests the same query (the cursor is bound to them)."""
        return self.model_dump(mode="json", exclude={"limit", "cursor", "with_total"})
