"""Idempotency-Key support for writes: a retry gets the first answer and creates nothing.

The key is claimed first, by inserting its record in the same transaction as the effect, so
either both exist or neither. A concurrent twin's claim waits on the primary key until the first
transaction ends: if it committed, the twin replays its answer; if it rolled back, the twin runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any

import orjson
from fastapi import Depends, Header, Request
from pydantic import BaseModel
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.db import insert_on_conflict
from services.errors import BadRequest
from services.headers import IDEMPOTENCY_KEY, IDEMPOTENT_REPLAYED, LOCATION
from services.models import IdempotencyRecordMixin, utcnow
from services.responses import JSONResponse

__all__ = [
    "ACCEPTS_IDEMPOTENCY_KEY",
    "IdempotencyKey",
    "IdempotencyKeyReused",
    "claim",
    "claim_answered",
    "fingerprint",
    "read_key",
    "remember",
    "respond_idempotently",
    "stored_answers",
]

MAX_KEY_LENGTH = 255


class IdempotencyKeyReused(BadRequest):
    """422, not 409, as draft-ietf-httpapi-idempotency-key-header-07 ("Error Scenarios") says
    for a different payload under a used key; it keeps 409 for a retry while the first request
    is still in flight (here such a twin waits for the first and replays its answer)."""

    status_code = 422
    code = "idempotency_key_reused"
    message = "该 Idempotency-Key 已用于内容不同的请求"
    message_en = "This Idempotency-Key was already used with a different request body"


class IdempotencyKey:
    def __init__(self, client_id: str, key: str, fingerprint: str) -> None:
        self.client_id = client_id
        self.key = key
        self.fingerprint = fingerprint


def fingerprint(method: str, path: str, body: Any) -> str:
    payload = orjson.dumps([method, path, body], option=orjson.OPT_SORT_KEYS, default=str)
    return hashlib.sha256(payload).hexdigest()


def read_key(request: Request, client_id: str, body: Any) -> IdempotencyKey | None:
    key = request.headers.get(IDEMPOTENCY_KEY)
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise BadRequest(
            "Idempotency-Key 格式无效(1–255 个可打印字符)",
            "Invalid Idempotency-Key (1-255 printable characters)",
            code="invalid_idempotency_key",
        )
    return IdempotencyKey(client_id, key, fingerprint(request.method, request.url.path, body))


async def _idempotency_key_parameter(
    idempotency_key: Annotated[
        str | None,
        Header(
            alias=IDEMPOTENCY_KEY,
            description=(
                "重试时带上同一个值:首次的答复原样返回,不会重复创建;同一值配不同请求体会被拒绝(422),保留 7 天"
                " / Send the same value on a retry to get the first answer back instead of a "
                "second write; the same value with another body is refused (422). Kept for IDEMPOTENCY_RETENTION_DAYS (7 by default)."
            ),
            json_schema_extra={"minLength": 1, "maxLength": MAX_KEY_LENGTH},
        ),
    ] = None,
) -> None:
    """Declares the header in the OpenAPI document; :func:`read_key` reads and checks it.
    ``async``: FastAPI runs a plain ``def`` dependency in a thread pool, a thread hop on every
    write that accepts the key."""


# ``dependencies=[ACCEPTS_IDEMPOTENCY_KEY]`` on a route whose handler honours the key.
ACCEPTS_IDEMPOTENCY_KEY = Depends(_idempotency_key_parameter)


# Status of a claimed record until the answer is stored; never visible outside the transaction,
# because the answer is stored before it commits.
_CLAIMED = 0


async def claim(
    session: AsyncSession, model: type[IdempotencyRecordMixin], key: IdempotencyKey | None
) -> JSONResponse | None:
    """Claim the key for this transaction: None when the write should run, else the stored
    answer to replay. Waits while a concurrent request holding the same key is in flight."""
    if key is None:
        return None
    record = None
    while record is None:  # a record deleted between the two statements is claimed again
        if await claim_answered(session, model, [(key, _CLAIMED, None)]):
            return None
        record = await session.scalar(
            select(model).where(model.client_id == key.client_id, model.key == key.key)
        )
    return _stored_answer(record, key)


def _stored_answer(record: IdempotencyRecordMixin, key: IdempotencyKey) -> JSONResponse:
    if record.fingerprint != key.fingerprint:
        raise IdempotencyKeyReused()
    return JSONResponse(
        record.response_body,
        status_code=record.status_code,
        headers={IDEMPOTENT_REPLAYED: "true"},
    )


async def claim_answered(
    session: AsyncSession,
    model: type[IdempotencyRecordMixin],
    answers: Sequence[tuple[IdempotencyKey, int, Any]],
) -> set[tuple[str, str]]:
    """Claim keys whose answers are known before the write, storing the answers at once (one
    statement for a whole group). Returns the (client id, key) pairs this transaction claimed;
    the others already have an answer, for :func:`stored_answers` after the commit."""
    if not answers:
        return set()
    table = sa_inspect(model).local_table
    now = utcnow()
    # In key order, so two transactions claiming overlapping keys cannot deadlock.
    rows = sorted(
        (
            {"client_id": key.client_id, "key": key.key, "fingerprint": key.fingerprint,
             "status_code": status_code, "response_body": body, "created_at": now}
            for key, status_code, body in answers
        ),
        key=lambda row: (row["client_id"], row["key"]),
    )  # fmt: skip
    # Parameters as a list, not .values(rows): SQLAlchemy then sends the same one multi-row
    # statement but compiles it once per process instead of on every call.
    claimed = await session.execute(
        insert_on_conflict(session, table)
        .on_conflict_do_nothing()
        .returning(table.c.client_id, table.c.key),
        rows,
    )
    return {(row.client_id, row.key) for row in claimed}


async def stored_answers(
    session: AsyncSession, model: type[IdempotencyRecordMixin], keys: Sequence[IdempotencyKey]
) -> list[JSONResponse | IdempotencyKeyReused]:
    """The committed answer to replay for each key, or the refusal when its body differs."""
    if not keys:
        return []
    pairs = {(key.client_id, key.key) for key in keys}
    records = {
        (record.client_id, record.key): record
        for record in await session.scalars(
            select(model).where(tuple_(model.client_id, model.key).in_(pairs))
        )
    }
    answers: list[JSONResponse | IdempotencyKeyReused] = []
    for key in keys:
        try:
            answers.append(_stored_answer(records[(key.client_id, key.key)], key))
        except IdempotencyKeyReused as refusal:
            answers.append(refusal)
    return answers


async def remember(
    session: AsyncSession,
    model: type[IdempotencyRecordMixin],
    key: IdempotencyKey | None,
    status_code: int,
    body: Any,
) -> None:
    """Store the answer on the record this transaction claimed."""
    if key is None:
        return
    await session.execute(
        update(model)
        .where(model.client_id == key.client_id, model.key == key.key)
        .values(status_code=status_code, response_body=body)
    )


async def respond_idempotently(
    request: Request,
    session: AsyncSession,
    model: type[IdempotencyRecordMixin],
    *,
    client_id: str,
    body: Any,
    produce: Callable[[], Awaitable[BaseModel]],
    status_code: int = 200,
    location: Callable[[Any], str] | None = None,
) -> JSONResponse:
    """Run a write once per Idempotency-Key: replay the stored answer on a retry, else run
    ``produce`` and store its answer in the same transaction. ``location`` names the created
    resource from the answer's JSON (see :func:`services.responses.resource_path`); a replay
    carries the same ``Location`` as the first answer."""
    key = read_key(request, client_id, body)
    answer = await claim(session, model, key)
    if answer is None:
        result = (await produce()).model_dump(mode="json")
        await remember(session, model, key, status_code, result)
        answer = JSONResponse(result, status_code=status_code)
    if location is not None and answer.status_code == 201:
        answer.headers[LOCATION] = location(orjson.loads(answer.body))
    return answer
