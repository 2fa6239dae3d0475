"""Chinese substring search: a bigram array per row in a GIN index (PostgreSQL), LIKE on SQLite.

Chinese is written without spaces, so a whitespace tokenizer (PostgreSQL's text search
parsers) finds nothing, and pg_trgm cannot use its index for a two-character query (``%停水%``
holds no trigram), which is the most common query here. Every distinct pair of adjacent
characters of a row's searchable text is kept in a ``text[]`` column with a GIN index; a query
of n ≥ 2 characters asks for rows holding all of its n − 1 bigrams (``grams @> ARRAY[…]``, an
index lookup), and the candidates are confirmed by a case-insensitive substring match on the
columns themselves, which also gives the ranking. An array of plain text needs no parser, no
dictionary and no locale, and no extension beyond core PostgreSQL.

SQLite (the embedded default) has no GIN: the substring match alone scans, which is fine at the
sizes the embedded default serves.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Boolean, Integer, String, and_, case, cast, literal, or_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import JSON, TypeDecorator, TypeEngine

from services.errors import ServiceError
from shared.schemas.text import has_control_characters

Column = ColumnElement[Any] | InstrumentedAttribute[Any]

__all__ = ["GramArray", "SearchQuery", "grams", "parse_query"]

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

    def _pattern(self) -> str:
        escaped = self.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return f"%{escaped}%"

    def condition(
        self, dialect: str, gram_column: Column, columns: Sequence[Column]
    ) -> ColumnElement[bool]:
        pattern = self._pattern()
        matched = [column.ilike(pattern, escape="\\") for column in columns]
        substring = or_(*matched)
        if dialect != "postgresql" or not self.grams:
            return substring
        wanted = cast(literal(self.grams, type_=ARRAY(String(8))), ARRAY(String(8)))
        return and_(gram_column.op("@>", return_type=Boolean)(wanted), substring)

    def rank(self, weighted: Sequence[tuple[Column, int]]) -> ColumnElement[int]:
        """Relevance: the sum of the weights of the columns holding the query (a title hit
        outranks a hit deep in the description)."""
        pattern = self._pattern()
        total: ColumnElement[int] = literal(0, type_=Integer)
        for column, weight in weighted:
            total = total + case((column.ilike(pattern, escape="\\"), weight), else_=0)
        return total


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
