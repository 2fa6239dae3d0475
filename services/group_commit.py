"""Group commit: concurrent writes gathered into one transaction.

A write waits only while earlier groups are being committed. At low load every write commits
alone, with no added latency; under load the groups grow with the load, so the transactions
and round trips per write fall as the rate rises. The database, not the number of
transactions our process can drive, becomes the limit.

``apply`` receives a group and returns one result per item, in order: a value, or the
exception that item should raise (a per-item refusal). If ``apply`` itself fails for a group
of several, each item is retried alone, so one bad item never fails its neighbours.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
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
        self, name: str, apply: Apply[T, R], *, max_group: int = 64, max_in_flight: int = 2
    ) -> None:
        """
        Args:
            name: label of the group-size metric.
            apply: commits one group (see the module doc).
            max_group: the most items in one transaction.
            max_in_flight: groups committed at once (connections used).
        """
        self._apply = apply
        self._max_group = max_group
        self._max_in_flight = max_in_flight
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._in_flight = 0
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
        while self._pending and self._in_flight < self._max_in_flight:
            group = self._pending[: self._max_group]
            del self._pending[: self._max_group]
            self._in_flight += 1
            task = asyncio.create_task(self._commit(group))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

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


def _mark_retrieved(future: asyncio.Future[Any]) -> None:
    # A writer that went away leaves its future unawaited: its refusal is not an error to log.
    if not future.cancelled():
        future.exception()
