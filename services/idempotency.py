"""Idempotency-Key support for writes: a retry gets the first answer and creates nothing.

The record is written in the same transaction as the effect, so either both exist or neither.
Two concurrent requests with one key race on the primary key; the loser rolls back and replays
the winner's answer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.errors import BadRequest, Conflict
from services.models import IdempotencyRecordMixin

__all__ = [
    "IdempotencyKey",
    "fingerprint",
    "read_key",
    "remember",
    "replay",
    "respond_idempotently",
]

MAX_KEY_LENGTH = 255


class IdempotencyKey:
    def __init__(self, client_id: str, key: str, fingerprint: str) -> None:
        self.client_id = client_id
        self.key = key
        self.fingerprint = fingerprint


def fingerprint(method: str, path: str, body: Any) -> str:
    payload = orjson.dumps([method, path, body], option=orjson.OPT_SORT_KEYS, default=str)
    return hashlib.sha256(payload).hexdigest()


def read_key(request: Request, client_id: str, body: Any) -> IdempotencyKey | None:
    key = request.headers.get("idempotency-key")
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


async def replay(
    session: AsyncSession, model: type[IdempotencyRecordMixin], key: IdempotencyKey | None
) -> JSONResponse | None:
    """The stored answer for this key, or None when the key is new."""
    if key is None:
        return None
    record = await session.scalar(
        select(model).where(model.client_id == key.client_id, model.key == key.key)
    )
    if record is None:
        return None
    if record.fingerprint != key.fingerprint:
        raise Conflict(
            "该 Idempotency-Key 已用于内容不同的请求",
            "This Idempotency-Key was already used with a different request body",
            code="idempotency_key_reused",
        )
    return JSONResponse(
        record.response_body,
        status_code=record.status_code,
        headers={"Idempotent-Replayed": "true"},
    )


def remember(
    session: AsyncSession,
    model: type[IdempotencyRecordMixin],
    key: IdempotencyKey | None,
    status_code: int,
    body: Any,
) -> None:
    if key is None:
        return
    session.add(
        model(
            client_id=key.client_id,
            key=key.key,
            fingerprint=key.fingerprint,
            status_code=status_code,
            response_body=body,
        )
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
) -> JSONResponse:
    """Run a write once per Idempotency-Key: replay the stored answer on a retry, else run
    ``produce`` and store its answer in the same transaction."""
    key = read_key(request, client_id, body)
    replayed = await replay(session, model, key)
    if replayed is not None:
        return replayed
    result = (await produce()).model_dump(mode="json")
    remember(session, model, key, status_code, result)
    return JSONResponse(result, status_code=status_code)
