"""Chinese substring search: tagged bigrams per row in a GIN index (PostgreSQL), LIKE on SQLite.

Chinese is written without spaces, so a whitespace tokenizer (PostgreSQL's text search
parsers) finds nothing, and pg_trgm cannot use its index for a two-character query (``%停水%``
holds no trigram), which is the most common query here. Every distinct pair of adjacent
characters of each searchable field is kept in a ``text[]`` column with a GIN index, tagged with
its field's relevance tier (``0停水`` is "停水" in the title); a query of n ≥ 2 characters asks
for rows whose fields of one tier hold all of its n − 1 bigrams (``grams @> ARRAY[…]``, an index
lookup), and the candidates are confirmed by a substring match on the columns themselves. An
array of plain text needs no parser, no dictionary, no locale and no extension.

Relevance is the tier of the best field holding the query (the title, then the names and
numbers, then the address, then the text), newest first within a tier. A summed score would have
to be computed for every match before the first page could be cut (a common word is in a tenth
of a district's requests); tiers are read one after another, each an ordinary newest-first page
(``services.pagination.read_page``), and the tag lets the index answer "is it in any title" at
once, so a tier with no match costs an index probe, not a walk through every row holding the
word elsewhere. A query without cased letters (Chinese, digits) is confirmed with a byte-wise
LIKE: the same match as ILIKE, which on PostgreSQL lowercases each candidate's text under the
collation and costs about three times more.

SQLite (the embedded default) has no GIN: the substring match alone scans, which is fine at the
sizes the embedded default serves.
"""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Boolean, String, and_, case, cast, false, func, literal, or_, true
from sqlalchemy import text as sql_text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import JSON, TypeDecorator, TypeEngine

from services.errors import ServiceError
from shared.schemas.text import has_control_characters

Column = ColumnElement[Any] | InstrumentedAttribute[Any]

__all__ = ["GramArray", "SearchQuery", "field_grams", "grams", "parse_query"]

MIN_QUERY_CHARS = 2
MAX_QUERY_CHARS = 50


class InvalidQuery(ServiceError):
    status_code = 422
    code = "invalid_search_query"
    message = f"搜索词须为 {MIN_QUERY_CHARS}–{MAX_QUERY_CHARS} 个字符的单行文本"
    message_en = (
        f"The search query must be one line of {MIN_QUERY_CHARS} to {MAX_QUERY_CHARS} characters"
    )


def normalize(text: str) -> str:
    """Full-width to half-width (NFKC), case folded, whitespace and punctuation dropped: what
    bigrams are made of."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", text).casefold() if ch.isalnum())


def grams(*texts: str | None) -> list[str]:
    """The distinct bigrams of each text (bigrams never span two fields), sorted."""
    found: set[str] = set()
    for text in texts:
        if text:
            clean = normalize(text)
            found.update(clean[i : i + 2] for i in range(len(clean) - 1))
    return sorted(found)


def field_grams(*tiers: Sequence[str | None]) -> list[str]:
    """The bigrams of each tier's fields (best first), each tagged with its tier's number: what
    a row's ``search_grams`` holds."""
    return sorted({f"{tier}{gram}" for tier, texts in enumerate(tiers) for gram in grams(*texts)})


def _unlikely_to_filter(condition: ColumnElement[bool]) -> ColumnElement[bool]:
    """The substring confirmation, hidden from the planner's selectivity estimate.

    PostgreSQL multiplies the estimates of ``grams @> …`` and ``LIKE '%…%'`` as if they were
    independent, while the LIKE confirms nearly every row the bigrams found; the estimate then
    drops from tens of thousands of rows to one and the planner sorts every match instead of
    walking ``received_at`` until the page is full (10 ms against 330 ms at a million requests).
    A boolean CASE is estimated at one half, which keeps the bigram estimate in charge."""
    return case((condition, true()), else_=false())


def _contains(gram_column: Column, wanted: list[str]) -> ColumnElement[bool]:
    array = cast(literal(wanted, type_=ARRAY(String(8))), ARRAY(String(8)))
    return gram_column.op("@>", return_type=Boolean)(array)


class _Frequencies:
    """The most common elements of each table's ``search_grams`` with their frequencies, from
    ``pg_stats`` (kept fresh by ANALYZE; the column's statistics target is raised so that rare
    bigrams are told apart from absent ones), reread every ten minutes."""

    TTL_S = 600.0

    def __init__(self) -> None:
        self._cache: dict[str, tuple[float, dict[str, float]]] = {}

    async def get(self, session: AsyncSession, table: str) -> Mapping[str, float]:
        cached = self._cache.get(table)
        if cached is not None and time.monotonic() - cached[0] < self.TTL_S:
            return cached[1]
        row = (
            await session.execute(
                sql_text(
                    "SELECT most_common_elems::text::text[], most_common_elem_freqs FROM pg_stats "
                    "WHERE schemaname = current_schema() AND tablename = :table "
                    "AND attname = 'search_grams'"
                ),
                {"table": table},
            )
        ).first()
        found = dict(zip(row[0], row[1], strict=False)) if row and row[0] else {}
        self._cache[table] = (time.monotonic(), found)
        return found


_frequencies = _Frequencies()


class GramArray(TypeDecorator[list[str]]):
    """``text[]`` on PostgreSQL; nothing is stored on other databases (they search by LIKE)."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(ARRAY(String(8)))
        return dialect.type_descriptor(JSON())

    def process_bind_param(self, value: list[str] | None, dialect: Dialect) -> list[str] | None:
        return value if dialect.name == "postgresql" else None


class SearchQuery:
    """A validated query and the SQL that finds and ranks it over some weighted columns."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.grams = grams(text)
        self.cased = text.lower() != text.upper()
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        self._pattern = f"%{escaped}%"
        self.frequencies: Mapping[str, float] = {}

    async def learn(self, session: AsyncSession, table: str) -> None:
        """How common each tagged bigram of ``table`` is (PostgreSQL's own statistics), so the
        index condition names the rarest bigram of the query: see :meth:`_indexed`."""
        if session.get_bind().dialect.name == "postgresql":
            self.frequencies = await _frequencies.get(session, table)

    def hit(self, column: Column) -> ColumnElement[bool]:
        """The column holds the query (never NULL, so a tier's ``NOT`` of a hit is exact)."""
        value = func.coalesce(column, "")
        if self.cased:
            return value.ilike(self._pattern, escape="\\")
        return value.like(self._pattern, escape="\\")

    def _indexed(self, gram_column: Column, tier: int) -> ColumnElement[bool]:
        """The row's fields of this tier hold every bigram of the query.

        PostgreSQL estimates ``grams @> {a, b, c}`` as the product of the three frequencies,
        while the bigrams of one phrase come together (扬尘, 尘污, 污染): the estimate falls a
        thousandfold and the planner sorts 47,000 matches instead of walking the newest rows.
        Only the rarest bigram is shown to the planner (its estimate is right, and an upper
        bound of the phrase's); the whole set is checked on the rows it finds."""
        tagged = [f"{tier}{gram}" for gram in self.grams]
        rarest = min(tagged, key=lambda gram: (self.frequencies.get(gram, 0.0), gram))
        condition = _contains(gram_column, [rarest])
        if len(tagged) > 1:
            condition = and_(condition, _unlikely_to_filter(_contains(gram_column, tagged)))
        return condition

    def condition(
        self, dialect: str, gram_column: Column, tiers: Sequence[Sequence[Column]]
    ) -> ColumnElement[bool]:
        """Some field holds the query."""
        substring = or_(*(self.hit(column) for columns in tiers for column in columns))
        if dialect != "postgresql" or not self.grams:
            return substring
        indexed = or_(*(self._indexed(gram_column, tier) for tier in range(len(tiers))))
        return and_(indexed, _unlikely_to_filter(substring))

    def tiers(
        self, dialect: str, gram_column: Column, tiers: Sequence[Sequence[Column]]
    ) -> list[ColumnElement[bool]]:
        """One condition per relevance tier, best first: the best field holding the query is
        in that tier (a row is in at most one; together they are :meth:`condition`)."""
        conditions: list[ColumnElement[bool]] = []
        better: list[ColumnElement[bool]] = []
        for tier, columns in enumerate(tiers):
            hit = or_(*(self.hit(column) for column in columns))
            condition = and_(_unlikely_to_filter(hit), *(~b for b in better))
            if dialect == "postgresql" and self.grams:
                condition = and_(self._indexed(gram_column, tier), condition)
            conditions.append(condition)
            better.append(hit)
        return conditions


def parse_query(raw: str | None) -> SearchQuery | None:
    """``q`` as given: absent is no search; empty, too short, too long or multi-line is 422."""
    if raw is None:
        return None
    text = unicodedata.normalize("NFKC", raw).strip()
    if has_control_characters(text, multiline=False) or not (
        MIN_QUERY_CHARS <= len(text) <= MAX_QUERY_CHARS
    ):
        raise InvalidQuery(details={"q": raw[:MAX_QUERY_CHARS]})
    if len(normalize(text)) < MIN_QUERY_CHARS:
        raise InvalidQuery(details={"q": raw[:MAX_QUERY_CHARS]})
    return SearchQuery(text)
