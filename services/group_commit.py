"""Group commit: concurrent writes gathered into one transaction.

A write waits only while earlier groups are being committed. At low load every write commits
alone, with no added latency; under load the groups grow with the load, so the transactions
and round trips per write fall as the rate rises. The database, not the number of
transactions our process can drive, becomes the limit.

A ``linger`` trades latency for bigger groups where latency is cheap: a queue worker that
polls every 50 ms loses nothing by waiting a few ms for the rest of a poll's jobs, and each
event it adds to a transaction saves that transaction's round trips and commit.

``apply`` receives a group and returns one result per item, in order: a value, or the
exception that item should raise (a per-item refusal). If ``apply`` itself fails for a group
of several, each item is retried alone, so one bad item never fails its neighbours.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, Generic, TypeVar

from prometheus_client import Histogram

__all__ = ["GroupCommit"]

T = TypeVar("T")
R = TypeVar("R")

Apply = Callable[[Sequence[T]], Awaitable[Sequence[R | BaseException]]]

GROUP_SIZE = Histogram(
    "yingshang_group_commit_size",
    "Writes committed together in one transaction",
    ["group"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)


class GroupCommit(Generic[T, R]):
    def __init__(
        self,
        name: str,
        apply: Apply[T, R],
        *,
        max_group: int = 64,
        max_in_flight: int = 2,
        linger: float = 0.0,
    ) -> None:
        """
        Args:
            name: label of the group-size metric.
            apply: commits one group (see the module doc).
            max_group: the most items in one transaction.
            max_in_flight: groups committed at once (connections used).
            linger: seconds a group that is not full waits for more items before it commits.
        """
        self._apply = apply
        self._max_group = max_group
        self._max_in_flight = max_in_flight
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._in_flight = 0
        self._linger = linger
        self._gathering = False  # a lingering group will take what arrives meanwhile
        self._wake: asyncio.Future[None] | None = None  # ends the linger early when full
        self._tasks: set[asyncio.Task[None]] = set()
        self._sizes = GROUP_SIZE.labels(name)

    async def submit(self, item: T) -> R:
        """Commit ``item`` with whatever else is waiting; returns its result once committed."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_mark_retrieved)
        self._pending.append((item, future))
        self._start_groups()
        # Shielded: a client that goes away does not take the group's answer with it (the
        # write commits regardless, as any write that has reached the database does).
        return await asyncio.shield(future)

    async def drain(self) -> None:
        """Wait for every group in flight (at shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _start_groups(self) -> None:
        if self._gathering:
            if len(self._pending) >= self._max_group:
                _wake_up(self._wake)  # a full group has nothing left to wait for
            return
        while self._pending and self._in_flight < self._max_in_flight:
            self._in_flight += 1
            if self._linger > 0 and len(self._pending) < self._max_group:
                self._gathering = True
                self._wake = asyncio.get_running_loop().create_future()
                self._spawn(self._gather_then_commit(self._wake))
                return
            self._spawn(self._commit(self._take()))

    def _take(self) -> list[tuple[T, asyncio.Future[R]]]:
        group = self._pending[: self._max_group]
        del self._pending[: self._max_group]
        return group

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _gather_then_commit(self, wake: asyncio.Future[None]) -> None:
        timer = asyncio.get_running_loop().call_later(self._linger, _wake_up, wake)
        try:
            await wake
        except BaseException:
            self._gathering = False
            self._in_flight -= 1
            raise
        finally:
            timer.cancel()
        self._gathering = False
        group = self._take()
        self._start_groups()  # what a full group left behind may start alongside it
        await self._commit(group)

    async def _commit(self, group: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            self._sizes.observe(len(group))
            items = [item for item, _ in group]
            try:
                results = await self._apply(items)
            except Exception as exc:
                if len(group) == 1:
                    results = [exc]
                else:
                    results = [await self._alone(item) for item in items]
            for (_, future), result in zip(group, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)
        except BaseException as exc:  # never leave a writer waiting forever
            for _, future in group:
                if not future.done():
                    future.set_exception(exc)
            raise
        finally:
            self._in_flight -= 1
            self._start_groups()

    async def _alone(self, item: T) -> R | BaseException:
        try:
            return (await self._apply([item]))[0]
        except Exception as exc:
            return exc


def _wake_up(future: asyncio.Future[None] | None) -> None:
    if future is not None and not future.done():
        future.set_result(None)


def _mark_retrieved(future: asyncio.Future[Any]) -> None:
    # A writer that went away leaves its future unawaited: its refusal is not an error to log.
    if not future.cancelled():
        future.exception()
