"""Who is calling: staff (JWT bearer tokens), department systems and channel clients (API keys),
and the services themselves (service tokens).

Tokens are signed with ``SECRET_KEY`` (HS256) by the routing service's token endpoint and verified
by every service without a database read: they carry the role and the unit's path, which is all
the scope checks in :mod:`services.policy` need.

A staff member disabled, moved or re-roled must not keep using the tokens issued before: routing
records a cutoff on the staff row and publishes it to the Redis hash ``auth:tokens_valid_after``
(subject → epoch seconds). Every process keeps a local copy, reloaded by a request once it is
older than ``TOKEN_CUTOFF_REFRESH_SECONDS`` (no Redis round trip per request), and refuses staff
tokens issued before their subject's cutoff (``token_revoked``).

Staff sessions end when idle: a sign-in's token lives ``STAFF_TOKEN_IDLE_MINUTES``, and routing's
``POST /v1/auth/refresh`` renews a still-valid one, never past ``STAFF_SESSION_MAX_HOURS`` after
the sign-in (``auth_time``, carried from token to token). A token carrying ``pwd_change`` (a
staff member who must change the password first, in production) is refused everywhere
(``password_change_required``) but by the password change itself: :func:`principal_from_token`,
which every service's bearer resolution goes through.
"""

from __future__ import annotations

import functools
import math
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any

import jwt
import structlog
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from services.errors import Forbidden, Unauthorized
from services.models import utcnow
from services.queue import QueueClient, RedisError
from services.settings import CommonSettings, common_settings

__all__ = [
    "BearerPrincipal",
    "PasswordChangeRequired",
    "Principal",
    "TokenRevoked",
    "bearer_principal",
    "service_token",
    "decode_token",
    "hash_password",
    "issue_token",
    "principal_from_token",
    "publish_token_cutoffs",
    "refresh_token_cutoffs",
    "refresh_token_cutoffs_if_stale",
    "staff_session_max_age",
    "staff_token_ttl",
    "TOKEN_CUTOFFS_KEY",
    "verify_password",
]

ISSUER = "yingshang"
_hasher = PasswordHasher()
log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller.

    ``kind`` is ``staff`` (a person with a role), ``unit_key`` (a department system's API key),
    ``channel`` (a channel client key) or ``service`` (another Yingshang service).
    """

    kind: str
    subject: str
    role: str
    unit_code: str | None = None
    unit_path: str | None = None
    display_name: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
    # Of a bearer token (epoch seconds): when it was issued, and when its session signed in.
    issued_at: float | None = None
    session_started_at: float | None = None
    # A staff member who must change the password before doing anything else (production).
    password_change_required: bool = False

    @property
    def actor(self) -> str:
        """How the history names this caller."""
        return f"{self.kind}:{self.subject}"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        # Same work as a real check, so timing does not reveal unknown users.
        _hasher.hash(password)
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


class TokenRevoked(Unauthorized):
    code = "token_revoked"
    message = "登录凭据已失效(账号已停用或调整),请重新登录"
    message_en = "Token revoked (the account was disabled or changed): sign in again"


class PasswordChangeRequired(Forbidden):
    code = "password_change_required"
    message = "请先修改初始密码(POST /v1/auth/password),再进行其他操作"
    message_en = "Change your initial password first (POST /v1/auth/password)"


def staff_token_ttl() -> timedelta:
    """How long a staff token lives without a refresh: the idle timeout."""
    return timedelta(minutes=common_settings().staff_token_idle_minutes)


def staff_session_max_age() -> timedelta:
    """How long after the sign-in a staff session may still be refreshed."""
    return timedelta(hours=common_settings().staff_session_max_hours)


def issue_token(
    *,
    subject: str,
    role: str,
    unit_code: str | None,
    unit_path: str | None,
    display_name: str | None = None,
    kind: str = "staff",
    ttl: timedelta = timedelta(hours=8),
    session_started_at: float | None = None,
    password_change_required: bool = False,
) -> str:
    """A signed token. Sign-in and refresh pass ``ttl=staff_token_ttl()`` (capped at the
    session's end) and the session's sign-in time; the 8-hour default serves tokens minted
    outside a sign-in (tools, benchmarks, tests)."""
    now = utcnow()
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": subject,
        "role": role,
        "kind": kind,
        "unit": unit_code,
        "path": unit_path,
        "name": display_name,
        # Milliseconds, not whole seconds: a token issued just after a cutoff (re-enabled in the
        # same second it was disabled) must not fall before it.
        "iat": _epoch_ms(now) / 1000,
        "exp": int((now + ttl).timestamp()),
        "jti": uuid.uuid4().hex,
        # The sign-in this token's session started with (OpenID Connect's claim): a refresh
        # carries it on, so the session's absolute limit cannot be refreshed away.
        "auth_time": int(session_started_at if session_started_at is not None else now.timestamp()),
    }
    if password_change_required:
        claims["pwd_change"] = True
    return jwt.encode(claims, common_settings().secret_key, algorithm="HS256")


_EXTERNAL_ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"]


@functools.lru_cache(maxsize=4)
def _jwks_client(url: str) -> jwt.PyJWKClient:
    # Keys are cached by the client; a key rotation at the provider is picked up on a miss.
    return jwt.PyJWKClient(url, cache_keys=True, lifespan=300, timeout=5)


# Tokens verified so far, until they expire: a token cannot change, so the requests of one
# session (its every call carries the same token) verify the signature once. Forgotten when the
# settings they were verified under are replaced; bounded, cleared wholesale when full.
_VERIFIED: dict[str, tuple[Principal, float, int]] = {}
_VERIFIED_LIMIT = 10_000
_verified_under: list[CommonSettings] = []


def decode_token(token: str) -> Principal:
    """Verify a bearer token: ours (HS256, SECRET_KEY) or, when ``JWKS_URL`` is configured, an
    external identity provider's (asymmetric, key from its JWKS; role/unit/path claims mapped by
    ``JWT_*_CLAIM``)."""
    settings = common_settings()
    if not _verified_under or _verified_under[0] is not settings:
        _VERIFIED.clear()
        _verified_under[:] = [settings]
    verified = _VERIFIED.get(token)
    if verified is None or time.time() >= verified[1]:
        verified = _verify(token, settings)
        if len(_VERIFIED) >= _VERIFIED_LIMIT:
            _VERIFIED.clear()
        _VERIFIED[token] = verified
    principal, _expires_at, issued_ms = verified
    # Checked on every use, cached or not: the cutoff may have arrived after the first one.
    if principal.kind == "staff":
        cutoff = _cutoffs.values.get(principal.subject)
        if cutoff is not None and issued_ms < cutoff:
            raise TokenRevoked()
    return principal


def _issued_ms(claims: dict[str, Any]) -> int:
    # A token without ``iat`` cannot show it postdates a cutoff: it counts as issued at 0.
    iat = claims.get("iat")
    return round(float(iat) * 1000) if isinstance(iat, int | float) else 0


def _verify(token: str, settings: CommonSettings) -> tuple[Principal, float, int]:
    """The principal a token names, when the token expires (epoch seconds) and when it was
    issued (epoch milliseconds)."""
    try:
        algorithm = str(jwt.get_unverified_header(token).get("alg", ""))
        if settings.jwks_url and algorithm in _EXTERNAL_ALGORITHMS:
            key = _jwks_client(settings.jwks_url).get_signing_key_from_jwt(token).key
            claims = jwt.decode(
                token,
                key,
                algorithms=_EXTERNAL_ALGORITHMS,
                issuer=settings.jwt_issuer,
                audience=settings.jwt_audience,
                options={
                    "require": ["exp", "sub"],
                    "verify_aud": settings.jwt_audience is not None,
                },
            )
            issued_at, session_started_at = _session_claims(claims)
            role = claims.get(settings.jwt_role_claim)
            if not isinstance(role, str) or not role:
                raise jwt.InvalidTokenError("no role claim")
            external = Principal(
                kind="staff",
                subject=str(claims["sub"]),
                role=role,
                unit_code=claims.get(settings.jwt_unit_claim),
                unit_path=claims.get(settings.jwt_path_claim),
                display_name=claims.get("name"),
                issued_at=issued_at,
                session_started_at=session_started_at,
            )
            return external, float(claims["exp"]), _issued_ms(claims)
        claims = jwt.decode(
            token,
            settings.secret_key,
            algorithms=["HS256"],
            issuer=ISSUER,
            options={"require": ["exp", "sub", "role"]},
        )
    except (jwt.PyJWTError, jwt.PyJWKClientError, ValueError) as exc:
        raise Unauthorized(
            "登录凭据无效或已过期", "Invalid or expired token", code="invalid_token"
        ) from exc
    issued_at, session_started_at = _session_claims(claims)
    ours = Principal(
        kind=str(claims.get("kind") or "staff"),
        subject=str(claims["sub"]),
        role=str(claims["role"]),
        unit_code=claims.get("unit"),
        unit_path=claims.get("path"),
        display_name=claims.get("name"),
        issued_at=issued_at,
        session_started_at=session_started_at,
        password_change_required=claims.get("pwd_change") is True,
    )
    return ours, float(claims["exp"]), _issued_ms(claims)


def _session_claims(claims: dict[str, Any]) -> tuple[float | None, float | None]:
    """When the token was issued and when its session signed in (``auth_time``; a token
    without one counts from its issue)."""
    iat = claims.get("iat")
    issued_at = float(iat) if isinstance(iat, int | float) else None
    auth_time = claims.get("auth_time")
    started = float(auth_time) if isinstance(auth_time, int | float) else issued_at
    return issued_at, started


# --- token cutoffs ------------------------------------------------------------------------------

TOKEN_CUTOFFS_KEY = "auth:tokens_valid_after"


def _epoch_ms(moment: datetime) -> int:
    return math.floor(moment.timestamp() * 1000)


@dataclass(slots=True)
class _CutoffCopy:
    """This process's copy of the cutoffs (subject → epoch ms). It only ever grows: a cutoff
    never moves back, so an emptied (restarted) Redis cannot bring revoked tokens back to life
    here before routing's cron has refilled it."""

    values: dict[str, int] = field(default_factory=dict)
    loaded_at: float = -math.inf  # time.monotonic() of the last reload attempt

    def merge(self, cutoffs: Mapping[str, int]) -> None:
        for subject, cutoff in cutoffs.items():
            if cutoff > self.values.get(subject, -1):
                self.values[subject] = cutoff


_cutoffs = _CutoffCopy()

# HSET each field unless the hash already holds a later cutoff: the periodic re-publish reads the
# database before a concurrent change publishes, and must not overwrite it with an older value.
_PUBLISH = """
for i = 1, #ARGV, 2 do
  local current = redis.call('HGET', KEYS[1], ARGV[i])
  if not current or tonumber(current) < tonumber(ARGV[i + 1]) then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
end
return 1
"""
_PUBLISH_CHUNK = 500


async def publish_token_cutoffs(redis: Any, cutoffs: Mapping[str, datetime]) -> None:
    """Publish subjects' cutoffs to every process (and apply them in this one at once).

    ``redis`` is a ``redis.asyncio`` client; Redis errors propagate to the caller.
    """
    as_ms = {subject: _epoch_ms(moment) for subject, moment in cutoffs.items()}
    _cutoffs.merge(as_ms)
    items = list(as_ms.items())
    for start in range(0, len(items), _PUBLISH_CHUNK):
        args: list[str] = []
        for subject, cutoff in items[start : start + _PUBLISH_CHUNK]:
            args += [subject, f"{cutoff / 1000:.3f}"]
        await redis.eval(_PUBLISH, 1, TOKEN_CUTOFFS_KEY, *args)


async def refresh_token_cutoffs(redis: Any) -> bool:
    """Reload this process's copy from Redis now; on failure keep the last known copy."""
    _cutoffs.loaded_at = time.monotonic()
    try:
        raw: dict[bytes | str, bytes | str] = await redis.hgetall(TOKEN_CUTOFFS_KEY)
    except (RedisError, OSError) as exc:
        log.warning("auth.token_cutoffs_unavailable", error=str(exc)[:300])
        return False
    loaded: dict[str, int] = {}
    for subject, value in raw.items():
        name = subject.decode() if isinstance(subject, bytes) else subject
        try:
            loaded[name] = round(float(value) * 1000)
        except ValueError:
            log.warning("auth.token_cutoff_unreadable", subject=name)
    _cutoffs.merge(loaded)
    return True


async def refresh_token_cutoffs_if_stale(queue: QueueClient | None) -> None:
    """Reload the copy when it is older than the refresh interval, at most one request at a
    time (the others go on with the current copy). Skipped while the queue's breaker is open."""
    interval = common_settings().token_cutoff_refresh_seconds
    if queue is None or time.monotonic() - _cutoffs.loaded_at < interval:
        return
    if not queue.available:
        return
    if not await refresh_token_cutoffs(queue.redis):
        queue.trip()


def service_token(service: str) -> str:
    """A short-lived token one service presents to another (role ``service``)."""
    return issue_token(
        subject=service, role="service", unit_code=None, unit_path=None, kind="service",
        ttl=timedelta(minutes=5),
    )  # fmt: skip


# The security schemes of the OpenAPI documents. They never refuse by themselves
# (auto_error=False): the dependencies below answer with the error envelope instead.
bearer_scheme = HTTPBearer(
    scheme_name="bearer",
    bearerFormat="JWT",
    description="登录令牌(POST /v1/auth/token 取得) / A staff or service token from POST /v1/auth/token",
    auto_error=False,
)
BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]


def api_key_scheme(description: str) -> APIKeyHeader:
    """The ``X-API-Key`` scheme (a channel's or a department system's key); the same key is also
    accepted as a bearer token."""
    return APIKeyHeader(
        name="X-API-Key", scheme_name="apiKey", description=description, auto_error=False
    )


def bearer_token(credentials: HTTPAuthorizationCredentials | None) -> str | None:
    token = credentials.credentials.strip() if credentials is not None else ""
    return token or None


async def principal_from_token(
    request: Request, token: str, *, changing_password: bool = False
) -> Principal:
    """The caller a bearer token names, as every service resolves it: revoked tokens refused
    (``token_revoked``), and a token that must change its password first refused everywhere
    but the password change (``changing_password``) with 403 ``password_change_required``."""
    await refresh_token_cutoffs_if_stale(getattr(request.app.state, "queue", None))
    principal = decode_token(token)
    if principal.password_change_required and not changing_password:
        raise PasswordChangeRequired()
    return principal


async def bearer_principal(request: Request, credentials: BearerCredentials) -> Principal:
    """FastAPI dependency: the caller of a JWT-only API (scoring; service-to-service calls)."""
    token = bearer_token(credentials)
    if token is None:
        raise Unauthorized("需要登录令牌(Authorization: Bearer)", "A bearer token is required")
    return await principal_from_token(request, token)


BearerPrincipal = Annotated[Principal, Depends(bearer_principal)]
