"""Who is calling: staff (JWT bearer tokens), department systems and channel clients (API keys),
and the services themselves (service tokens).

Tokens are signed with ``SECRET_KEY`` (HS256) by the routing service's token endpoint and verified
by every service without a database read: they carry the role and the unit's path, which is all
the scope checks in :mod:`services.policy` need.
"""

from __future__ import annotations

import functools
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Depends, Header

from services.errors import Unauthorized
from services.models import utcnow
from services.settings import CommonSettings, common_settings

__all__ = [
    "BearerPrincipal",
    "Principal",
    "bearer_principal",
    "service_token",
    "decode_token",
    "hash_password",
    "issue_token",
    "verify_password",
]

ISSUER = "yingshang"
_hasher = PasswordHasher()


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


def issue_token(
    *,
    subject: str,
    role: str,
    unit_code: str | None,
    unit_path: str | None,
    display_name: str | None = None,
    kind: str = "staff",
    ttl: timedelta = timedelta(hours=8),
) -> str:
    now = utcnow()
    claims = {
        "iss": ISSUER,
        "sub": subject,
        "role": role,
        "kind": kind,
        "unit": unit_code,
        "path": unit_path,
        "name": display_name,
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, common_settings().secret_key, algorithm="HS256")


_EXTERNAL_ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"]


@functools.lru_cache(maxsize=4)
def _jwks_client(url: str) -> jwt.PyJWKClient:
    # Keys are cached by the client; a key rotation at the provider is picked up on a miss.
    return jwt.PyJWKClient(url, cache_keys=True, lifespan=300, timeout=5)


# Tokens verified so far, until they expire: a token cannot change, so the requests of one
# session (its every call carries the same token) verify the signature once. Forgotten when the
# settings they were verified under are replaced; bounded, cleared wholesale when full.
_VERIFIED: dict[str, tuple[Principal, float]] = {}
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
    if verified is not None and time.time() < verified[1]:
        return verified[0]
    principal, expires_at = _verify(token, settings)
    if len(_VERIFIED) >= _VERIFIED_LIMIT:
        _VERIFIED.clear()
    _VERIFIED[token] = (principal, expires_at)
    return principal


def _verify(token: str, settings: CommonSettings) -> tuple[Principal, float]:
    """The principal a token names, and when the token expires (epoch seconds)."""
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
            )
            return external, float(claims["exp"])
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
    ours = Principal(
        kind=str(claims.get("kind") or "staff"),
        subject=str(claims["sub"]),
        role=str(claims["role"]),
        unit_code=claims.get("unit"),
        unit_path=claims.get("path"),
        display_name=claims.get("name"),
    )
    return ours, float(claims["exp"])


def service_token(service: str) -> str:
    """A short-lived token one service presents to another (role ``service``)."""
    return issue_token(
        subject=service, role="service", unit_code=None, unit_path=None, kind="service",
        ttl=timedelta(minutes=5),
    )  # fmt: skip


async def bearer_principal(
    authorization: Annotated[str | None, Header()] = None,
) -> Principal:
    """FastAPI dependency: the caller of a JWT-only API (scoring; service-to-service calls)."""
    if not authorization or not authorization.lower().startswith("bearer "):
        raise Unauthorized("需要登录令牌(Authorization: Bearer)", "A bearer token is required")
    return decode_token(authorization[7:].strip())


BearerPrincipal = Annotated[Principal, Depends(bearer_principal)]
