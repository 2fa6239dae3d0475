"""API keys for channel clients and department systems.

A key looks like ``ys_<8-char prefix>_<secret>``; only its SHA-256 is stored (the secret has
192 bits of entropy, so a slow password hash would add nothing). Keys are shown once at creation,
bound to one scope (a channel, a department) and revocable.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.models import ApiKeyMixin, utcnow

__all__ = ["ApiKeyIdentity", "create_api_key", "hash_key", "revoke_api_key", "verify_api_key"]

KEY_PREFIX = "ys"
# Verified keys are remembered briefly: a channel sends every submission with the same key, and
# a lookup per request is a database round trip. A key revoked in another process stops
# working within this many seconds (at once in the process that revoked it).
CACHE_SECONDS = 10.0
CACHE_MAX = 10_000
_verified: dict[tuple[str, str], tuple[ApiKeyIdentity, float]] = {}


@dataclass(frozen=True, slots=True)
class ApiKeyIdentity:
    key_id: uuid.UUID
    name: str
    scope: str


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


async def create_api_key(
    session: AsyncSession, model: type[ApiKeyMixin], *, name: str, scope: str
) -> tuple[ApiKeyMixin, str]:
    """Create a key; returns the row and the raw key, which is never stored."""
    prefix = secrets.token_hex(4)
    raw = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(24)}"
    row = model(id=uuid.uuid4(), name=name, prefix=prefix, key_hash=hash_key(raw), scope=scope)
    session.add(row)
    await session.flush()
    return row, raw


async def verify_api_key(
    session: AsyncSession, model: type[ApiKeyMixin], raw: str
) -> ApiKeyIdentity | None:
    if not raw.startswith(f"{KEY_PREFIX}_") or len(raw) > 200:
        return None
    digest = hash_key(raw)
    cache_key = (model.__tablename__, digest)
    cached = _verified.get(cache_key)
    now = time.monotonic()
    if cached is not None and cached[1] > now:
        return cached[0]
    row = await session.scalar(
        select(model).where(model.key_hash == digest, model.revoked_at.is_(None))
    )
    if row is None:
        _verified.pop(cache_key, None)
        return None
    identity = ApiKeyIdentity(key_id=row.id, name=row.name, scope=row.scope)
    if len(_verified) >= CACHE_MAX:
        _verified.clear()
    _verified[cache_key] = (identity, now + CACHE_SECONDS)
    return identity


async def revoke_api_key(
    session: AsyncSession, model: type[ApiKeyMixin], key_id_or_prefix: str
) -> int:
    condition = model.prefix == key_id_or_prefix
    try:
        condition = model.id == uuid.UUID(key_id_or_prefix)
    except ValueError:
        pass
    result = await session.execute(
        update(model).where(condition, model.revoked_at.is_(None)).values(revoked_at=utcnow())
    )
    _verified.clear()
    return int(getattr(result, "rowcount", 0) or 0)
