"""Sign-in lockout with backoff, counted in Redis (shared by every replica).

Failed sign-ins are counted per username and per client address (``client_ip``). A count is
forgotten once ``ROUTING_LOGIN_FAILURE_WINDOW_SECONDS`` (15 min) pass without a failure, or
after the lock it caused has run out. The ``ROUTING_LOGIN_MAX_FAILURES``-th failure (5) locks
the username for ``ROUTING_LOGIN_LOCK_SECONDS`` (60 s); every further failure doubles the lock
(120 s, 240 s, …) up to ``ROUTING_LOGIN_LOCK_MAX_SECONDS`` (1 h). An address is locked the same
way after ``ROUTING_LOGIN_MAX_FAILURES_PER_ADDRESS`` (20) failures, whichever usernames it tried.
While locked, a sign-in is refused with 429 ``login_locked`` and ``Retry-After`` before the
password is looked at, so a correct one does not get through either. A successful sign-in
clears its username's count (never the address's: an attacker could otherwise reset it with an
account of their own). Usernames are counted whether or not they exist, so the answers never
tell which do.

Like the rate limits (services/ratelimit.py), the lockout fails open: with Redis unreachable,
sign-in goes on unguarded rather than locking every staff member out. The keys live under the
rate limits' ``ratelimit:`` prefix, so whatever forgets those forgets these too.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import cast

import structlog
from fastapi import Request

from routing_service.config import settings
from routing_service.department.exceptions import LoginLocked
from services.headers import RETRY_AFTER
from services.queue import QueueClient, RedisError
from services.ratelimit import client_ip

__all__ = ["SignInGuard"]

log = structlog.get_logger(__name__)

_PREFIX = "ratelimit:signin"

# KEYS: (failure count, lock) pairs; ARGV: window, first lock, cap, then each pair's threshold.
# Returns the longest lock this failure set (0: none).
_FAIL = """
local longest = 0
for i = 1, #KEYS, 2 do
  local threshold = tonumber(ARGV[3 + (i + 1) / 2])
  local failures = redis.call('INCR', KEYS[i])
  local lock = 0
  if failures >= threshold then
    local doublings = math.min(failures - threshold, 30)
    lock = math.floor(math.min(tonumber(ARGV[2]) * 2 ^ doublings, tonumber(ARGV[3])))
    redis.call('SET', KEYS[i + 1], failures, 'EX', lock)
  end
  redis.call('EXPIRE', KEYS[i], tonumber(ARGV[1]) + lock)
  if lock > longest then longest = lock end
end
return longest
"""


@dataclass(frozen=True, slots=True)
class SignInGuard:
    """The lockout of one request's sign-in attempts: by username, and by ``address`` unless
    it is None (a password change counts its username only: its caller is signed in)."""

    queue: QueueClient | None
    address: str | None

    @classmethod
    def for_request(cls, request: Request, *, by_address: bool = True) -> SignInGuard:
        queue: QueueClient | None = getattr(request.app.state, "queue", None)
        return cls(queue, client_ip(request) if by_address else None)

    def _pairs(self, username: str) -> list[tuple[str, str, int]]:
        """(count key, lock key, threshold) of each partition this attempt is counted in."""
        name = username.strip().lower()
        pairs = [
            (f"{_PREFIX}:user:{name}:failures", f"{_PREFIX}:user:{name}:locked",
             settings.login_max_failures),
        ]  # fmt: skip
        if self.address is not None:
            pairs.append(
                (f"{_PREFIX}:address:{self.address}:failures",
                 f"{_PREFIX}:address:{self.address}:locked",
                 settings.login_max_failures_per_address)
            )  # fmt: skip
        return pairs

    def _usable(self) -> QueueClient | None:
        return self.queue if self.queue is not None and self.queue.available else None

    async def ensure_unlocked(self, username: str) -> None:
        """429 ``login_locked`` while the username or the address is locked."""
        queue = self._usable()
        if queue is None:
            return
        try:
            async with queue.redis.pipeline(transaction=False) as pipe:
                for _count, lock, _threshold in self._pairs(username):
                    pipe.pttl(lock)
                remaining = await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("signin.lockout_unavailable", error=str(exc)[:200])
            return
        longest = max((int(ms) for ms in remaining if int(ms) > 0), default=0)
        if longest:
            seconds = math.ceil(longest / 1000)
            raise LoginLocked(
                headers={RETRY_AFTER: str(seconds)}, details={"retry_after_seconds": seconds}
            )

    async def failed(self, username: str) -> None:
        """Count a failed attempt; the one that reaches a threshold starts (or doubles) a lock."""
        queue = self._usable()
        if queue is None:
            return
        pairs = self._pairs(username)
        keys = [key for count, lock, _threshold in pairs for key in (count, lock)]
        args = [
            str(number)
            for number in (
                settings.login_failure_window_seconds,
                settings.login_lock_seconds,
                settings.login_lock_max_seconds,
                *(threshold for _count, _lock, threshold in pairs),
            )
        ]
        try:
            # redis-py types eval for its sync and async clients at once.
            locked = await cast("Awaitable[int]", queue.redis.eval(_FAIL, len(keys), *keys, *args))
        except (RedisError, OSError) as exc:
            log.warning("signin.lockout_unavailable", error=str(exc)[:200])
            return
        if int(locked):
            # Not the username: a password typed into the wrong field would land in the log.
            log.warning("signin.locked", address=self.address, seconds=int(locked))

    async def succeeded(self, username: str) -> None:
        """Forget the username's failures (the address keeps its count)."""
        queue = self._usable()
        if queue is None:
            return
        count, lock, _threshold = self._pairs(username)[0]
        try:
            await queue.redis.delete(count, lock)
        except (RedisError, OSError) as exc:
            log.warning("signin.lockout_unavailable", error=str(exc)[:200])
