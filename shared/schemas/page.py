"""One page of a list: keyset pagination (``services.pagination``), the total only when asked."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import Field

from shared.schemas.base import Schema

T = TypeVar("T")


class CursorPage(Schema, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page"
    )
    limit: int
    total: int | None = Field(None, description="Only with `with_total=true` (a count costs)")
