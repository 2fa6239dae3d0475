"""Keyset (cursor) pagination, one mechanism for every list.

A page is read with ``WHERE (sort keys) after (the last row's keys) ORDER BY keys LIMIT n``, so
page 1,000 costs what page 1 costs, and rows inserted between pages neither repeat nor hide
others. The cursor carries the last row's keys and a fingerprint of the query it came from
(filters, sort, caller), signed with the service secret: a tampered cursor, or one from another
query, is refused with a stable code instead of silently paging something else.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

import orjson
from sqlalchemy import Select, and_, func, literal, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import ColumnElement

from services.errors import ServiceError
from services.settings import common_settings

__all__ = ["Key", "Keyset", "InvalidCursor", "query_fingerprint", "read_page"]

KeyKind = Literal["datetime", "date", "uuid", "int", "float", "str"]

_PARSE: dict[str, Callable[[Any], Any]] = {
    "datetime": datetime.fromisoformat,
    "date": date.fromisoformat,
    "uuid": uuid.UUID,
    "int": int,
    "float": float,
    "str": str,
}


class InvalidCursor(ServiceError):
    status_code = 400
    code = "invalid_cursor"
    message = "分页游标无效或已被篡改"
    message_en = "The cursor is malformed or has been tampered with"


class CursorMismatch(ServiceError):
    status_code = 400
    code = "cursor_query_mismatch"
    message = "分页游标属于另一个查询,请从第一页重新查询"
    message_en = "The cursor belongs to another query; start again from the first page"


@dataclass(frozen=True)
class Key:
    """One sort key: an expression, its direction and how its value round-trips as JSON."""

    expression: ColumnElement[Any] | InstrumentedAttribute[Any]
    kind: KeyKind
    descending: bool = False

    def dump(self, value: Any) -> Any:
        if value is None:
            raise ValueError("keyset sort keys must not be NULL")
        if isinstance(value, date):  # a datetime too
            return value.isoformat()
        if isinstance(value, uuid.UUID):
            return str(value)
        return value


@dataclass(frozen=True)
class Keyset:
    """The total order of a list: its keys, the last of which must be unique (the id)."""

    keys: tuple[Key, ...]

    def order_by(self) -> list[ColumnElement[Any]]:
        return [k.expression.desc() if k.descending else k.expression.asc() for k in self.keys]

    def after(self, values: Sequence[Any]) -> ColumnElement[bool]:
        """Rows strictly after ``values`` in this order. One row comparison when every key runs
        the same way (an index range on PostgreSQL); the expanded OR chain otherwise."""
        # Bound with each key's own type, so custom column types (UTC datetimes) apply.
        bound = [
            literal(v, type_=k.expression.type) for k, v in zip(self.keys, values, strict=True)
        ]
        if len({k.descending for k in self.keys}) == 1:
            left = tuple_(*(k.expression for k in self.keys))
            right = tuple_(*bound)
            return left < right if self.keys[0].descending else left > right
        clauses = []
        for i, key in enumerate(self.keys):
            equal = [self.keys[j].expression == bound[j] for j in range(i)]
            step = key.expression < bound[i] if key.descending else key.expression > bound[i]
            clauses.append(and_(*equal, step))
        return or_(*clauses)

    def encode(self, row_values: Sequence[Any], fingerprint: str) -> str:
        body = orjson.dumps(
            {"k": [k.dump(v) for k, v in zip(self.keys, row_values, strict=True)], "q": fingerprint}
        )
        return f"{_b64(body)}.{_b64(_sign(body))}"

    def decode(self, cursor: str, fingerprint: str) -> list[Any]:
        try:
            encoded, signature = cursor.split(".", 1)
            body = _unb64(encoded)
            valid = hmac.compare_digest(_unb64(signature), _sign(body))
        except (ValueError, TypeError) as exc:
            raise InvalidCursor() from exc
        if not valid:
            raise InvalidCursor()
        try:
            data = orjson.loads(body)
            raw = data["k"]
            if len(raw) != len(self.keys):
                raise InvalidCursor()
            if data["q"] != fingerprint:
                raise CursorMismatch()
            return [_PARSE[k.kind](v) for k, v in zip(self.keys, raw, strict=True)]
        except (KeyError, TypeError, ValueError, orjson.JSONDecodeError) as exc:
            raise InvalidCursor() from exc


# The tier's place in a tiered cursor (never compared in SQL: each tier is its own query).
_TIER = Key(literal(0), "int")


def query_fingerprint(caller: str, params: Mapping[str, Any]) -> str:
    """What makes two requests "the same query": the caller and every filter and sort value
    (not the cursor, the limit or whether a total was asked for)."""
    canonical = orjson.dumps(
        {"caller": caller, "params": params}, option=orjson.OPT_SORT_KEYS, default=str
    )
    return hashlib.sha256(canonical).hexdigest()[:24]


async def read_page(
    session: AsyncSession,
    stmt: Select[Any],
    keyset: Keyset,
    *,
    cursor: str | None,
    fingerprint: str,
    limit: int,
    with_total: bool = False,
    tiers: Sequence[ColumnElement[bool]] = (),
) -> tuple[list[Any], str | None, int | None]:
    """One page of ``stmt`` (which selects the ORM entity first, then the sort key values):
    the entities, the next cursor (``None`` on the last page) and, when asked, the total.

    With ``tiers`` (disjoint conditions, best first: search relevance) the list is the rows of
    ``stmt`` in some tier, ordered by the tier, then ``keyset``: tiers are read one after another,
    each an ordinary keyset page, until the page is full, so a page costs what its rows cost and
    not a score over every match. The cursor then carries the tier too."""
    total = None
    if with_total:
        counted = stmt.where(or_(*tiers)) if tiers else stmt
        total = await session.scalar(
            select(func.count()).select_from(counted.order_by(None).subquery())
        )
    parts: Sequence[ColumnElement[bool] | None] = tiers or [None]
    codec = Keyset((_TIER, *keyset.keys)) if tiers else keyset
    start, after = 0, None
    if cursor:
        after = codec.decode(cursor, fingerprint)
        if tiers:
            start, after = after[0], after[1:]
            if not 0 <= start < len(tiers):
                raise InvalidCursor()
    width = len(keyset.keys)
    found: list[tuple[int, Any]] = []
    for index in range(start, len(parts)):
        page = stmt.add_columns(*(k.expression for k in keyset.keys))
        condition = parts[index]
        if condition is not None:
            page = page.where(condition)
        if after is not None and index == start:
            page = page.where(keyset.after(after))
        page = page.order_by(*keyset.order_by()).limit(limit + 1 - len(found))
        found += [(index, row) for row in (await session.execute(page)).all()]
        if len(found) > limit:
            break
    items = [row[0] for _, row in found[:limit]]
    next_cursor = None
    if len(found) > limit:
        index, last = found[limit - 1]
        values = tuple(last[len(last) - width :])
        next_cursor = codec.encode((index, *values) if tiers else values, fingerprint)
    return items, next_cursor, total


def _sign(body: bytes) -> bytes:
    key = hashlib.sha256(b"cursor:" + common_settings().secret_key.encode()).digest()
    return hmac.new(key, body, hashlib.sha256).digest()[:16]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    if len(text) > 4096:
        raise ValueError("cursor too long")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
