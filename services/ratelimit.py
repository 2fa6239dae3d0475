"""Rate limits on public endpoints, counted in Redis (fixed windows shared by every replica).

If Redis is unreachable the limiter lets requests through: refusing submissions because the
counter store is down would lose exactly what the platform exists to keep.

Every response of a limited endpoint advertises the policies it consumed and what is left of
each, in the fields of draft-ietf-httpapi-ratelimit-headers-11 (May 2026, sections 3 and 4):
``RateLimit-Policy: "track";q=60;w=60`` and ``RateLimit: "track";r=42;t=17`` (r requests left,
t seconds until the window resets). A refusal (429) carries them too, and ``Retry-After`` is the
exhausted window's t, never earlier than the end of that window (section 6).
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import structlog
from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.errors import ServiceError
from services.headers import RATELIMIT, RATELIMIT_POLICY, RETRY_AFTER
from services.queue import QueueClient, RedisError
from services.settings import common_settings

__all__ = [
    "RateLimitHeadersMiddleware",
    "RateLimited",
    "RatePolicy",
    "client_ip",
    "ensure_not_blocked",
    "hit",
    "public_base_url",
]

log = structlog.get_logger(__name__)

# Where a request's consumed quotas wait for the response headers (see the middleware).
_SCOPE_KEY = "yingshang.ratelimit"


class RateLimited(ServiceError):
    status_code = 429
    code = "rate_limited"
    message = "请求过于频繁,请稍后再试"
    message_en = "Too many requests, slow down"


@dataclass(frozen=True)
class RatePolicy:
    """A quota of ``limit`` requests per fixed window, advertised under ``name``."""

    name: str
    limit: int
    window_seconds: int

    def window(self, now: float) -> tuple[int, int]:
        """The current window's number and its whole seconds left (1 to window_seconds)."""
        number = int(now // self.window_seconds)
        left = (number + 1) * self.window_seconds - now
        return number, max(1, math.ceil(left))


@dataclass(frozen=True)
class _Quota:
    policy: RatePolicy
    remaining: int
    reset_seconds: int


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _address(value: str) -> IPAddress | None:
    """An IP address as a proxy writes it into X-Forwarded-For (bare, ``v4:port``, ``[v6]`` or
    ``[v6]:port``); None for anything else (``unknown``, obfuscated names, garbage)."""
    value = value.strip()
    if value.startswith("["):
        value, bracket, rest = value[1:].partition("]")
        if not bracket or (rest and not (rest[0] == ":" and rest[1:].isdigit())):
            return None
    elif value.count(":") == 1:  # IPv4 with a port; more colons is IPv6
        value, _, port = value.partition(":")
        if not port.isdigit():
            return None
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    # A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d; count them as the IPv4 client.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def client_ip(request: Request, trusted: Sequence[IPNetwork] | None = None) -> str:
    """The address per-IP limits count: the direct peer, unless the peer is one of
    ``TRUSTED_PROXIES``; then the right-most X-Forwarded-For hop that is not a trusted proxy.

    Everything left of that hop was written by the client and is never believed (uvicorn runs
    with --no-proxy-headers in deploy/, so the peer is the real socket's). A malformed hop stops the
    walk at the trusted proxy that forwarded it: a client-chosen string is never a partition.
    """
    proxies = common_settings().trusted_proxies if trusted is None else trusted
    peer = request.scope.get("client")
    if not peer:
        return "unknown"
    hop = _address(str(peer[0]))
    if hop is None or not any(hop in network for network in proxies):
        return str(hop) if hop is not None else str(peer[0])
    forwarded = ",".join(request.headers.getlist("x-forwarded-for"))
    for entry in reversed(forwarded.split(",") if forwarded else []):
        address = _address(entry)
        if address is None:
            break
        if not any(address in network for network in proxies):
            return str(address)
        hop = address
    # Only trusted proxies (or none) forwarded this: the one nearest the client is counted.
    return str(hop)


def public_base_url(request: Request, trusted: Sequence[IPNetwork] | None = None) -> str:
    """The URL clients reach this service at: the socket's, except that a trusted proxy's
    ``X-Forwarded-Proto`` (the TLS it terminated) and ``X-Forwarded-Host`` are believed, as
    ``client_ip`` believes its X-Forwarded-For; nobody else can rewrite a published URL."""
    base = request.base_url
    proxies = common_settings().trusted_proxies if trusted is None else trusted
    peer = request.scope.get("client")
    hop = _address(str(peer[0])) if peer else None
    if hop is not None and any(hop in network for network in proxies):
        proto = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
        host = request.headers.get("x-forwarded-host", "").split(",")[0].strip()
        if proto in ("http", "https"):
            base = base.replace(scheme=proto)
        if host and all(ch.isalnum() or ch in ".-:[]" for ch in host):
            base = base.replace(netloc=host)
    return str(base).rstrip("/")


def _counters(request: Request, policy: RatePolicy) -> QueueClient | None:
    """Where the policy is counted; None when there is nothing to count (no Redis configured,
    or the limit set to 0 to disable it)."""
    queue: QueueClient | None = request.app.state.queue
    return queue if policy.limit > 0 else None


def _key(policy: RatePolicy, partition: str, window: int) -> str:
    return f"ratelimit:{policy.name}:{partition}:{window}"


def _record(request: Request, policy: RatePolicy, used: int, reset_seconds: int) -> _Quota:
    quota = _Quota(policy, max(0, policy.limit - used), reset_seconds)
    quotas: dict[str, _Quota] | None = request.scope.get(_SCOPE_KEY)
    if quotas is not None:  # None outside the middleware (a bare router in a unit test)
        quotas[policy.name] = quota  # a later count of the same policy supersedes
    return quota


def _refuse(quota: _Quota) -> RateLimited:
    return RateLimited(headers={RETRY_AFTER: str(quota.reset_seconds)})


async def hit(request: Request, policy: RatePolicy, partition: str) -> None:
    """Count one request against ``policy`` for ``partition``; 429 once over the limit."""
    queue = _counters(request, policy)
    if queue is None:
        return
    window, reset_seconds = policy.window(time.time())
    key = _key(policy, partition, window)
    try:
        async with queue.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, policy.window_seconds + 1)
            count, _ = await pipe.execute()
    except (RedisError, OSError) as exc:
        log.warning("ratelimit.unavailable", error=str(exc)[:200])
        return
    quota = _record(request, policy, int(count), reset_seconds)
    if int(count) > policy.limit:
        raise _refuse(quota)


async def ensure_not_blocked(request: Request, policy: RatePolicy, partition: str) -> None:
    """Refuse (429) while ``partition`` has used up ``policy`` in this window, without
    counting this request."""
    queue = _counters(request, policy)
    if queue is None:
        return
    window, reset_seconds = policy.window(time.time())
    try:
        count = await queue.redis.get(_key(policy, partition, window))
    except (RedisError, OSError):
        return
    used = int(count) if count is not None else 0
    quota = _record(request, policy, used, reset_seconds)
    if used >= policy.limit:
        raise _refuse(quota)


def _fields(quotas: dict[str, _Quota]) -> list[tuple[bytes, bytes]]:
    # Structured Field lists (RFC 9651), one item per policy; names are quoted Strings.
    policies = ", ".join(
        f'"{q.policy.name}";q={q.policy.limit};w={q.policy.window_seconds}' for q in quotas.values()
    )
    limits = ", ".join(
        f'"{q.policy.name}";r={q.remaining};t={q.reset_seconds}' for q in quotas.values()
    )
    return [
        (RATELIMIT_POLICY.lower().encode(), policies.encode()),
        (RATELIMIT.lower().encode(), limits.encode()),
    ]


class RateLimitHeadersMiddleware:
    """Adds the RateLimit fields for the quotas :func:`hit` and :func:`ensure_not_blocked`
    consumed while handling the request, to whatever answer it gets (an error included)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        quotas: dict[str, _Quota] = {}
        scope[_SCOPE_KEY] = quotas

        async def send_with_fields(message: Message) -> None:
            if message["type"] == "http.response.start" and quotas:
                message["headers"] = [*message.get("headers", []), *_fields(quotas)]
            await send(message)

        await self.app(scope, receive, send_with_fields)
