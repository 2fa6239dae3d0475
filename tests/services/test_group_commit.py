"""GroupCommit on its own: groups grow with concurrency, results reach their writers in order,
and one failing item does not fail its group."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from services.group_commit import GroupCommit


class Refused(Exception):
    pass


class Recorder:
    """An ``apply`` that takes a little time, like a commit, and records its groups."""

    def __init__(self, *, poison: int | None = None, refuse: int | None = None) -> None:
        self.groups: list[list[int]] = []
        self.poison = poison  # makes a whole group fail (like a constraint violation)
        self.refuse = refuse  # a per-item refusal, returned in its place

    async def __call__(self, items: Sequence[int]) -> list[int | BaseException]:
        self.groups.append(list(items))
        await asyncio.sleep(0.005)
        if self.poison in items:
            raise RuntimeError("the group's transaction failed")
        return [Refused(item) if item == self.refuse else item * 10 for item in items]


async def test_a_lone_write_commits_alone_and_at_once() -> None:
    recorder = Recorder()
    groups = GroupCommit("test", recorder)
    assert await groups.submit(1) == 10
    assert recorder.groups == [[1]]


async def test_concurrent_writes_share_transactions_and_get_their_own_results() -> None:
    recorder = Recorder()
    groups = GroupCommit("test", recorder, max_group=16, max_in_flight=2)
    results = await asyncio.gather(*(groups.submit(i) for i in range(100)))
    assert results == [i * 10 for i in range(100)]
    assert sorted(i for group in recorder.groups for i in group) == list(range(100))
    assert max(len(group) for group in recorder.groups) == 16
    assert len(recorder.groups) <= 100 // 16 + 3  # two lone starters, then full groups


async def test_a_failing_group_is_retried_item_by_item() -> None:
    recorder = Recorder(poison=7)
    groups = GroupCommit("test", recorder, max_in_flight=1)
    outcomes = await asyncio.gather(*(groups.submit(i) for i in range(20)), return_exceptions=True)
    assert isinstance(outcomes[7], RuntimeError)
    assert [o for i, o in enumerate(outcomes) if i != 7] == [i * 10 for i in range(20) if i != 7]
    assert [7] in recorder.groups  # retried alone


async def test_a_refused_item_raises_for_its_writer_only() -> None:
    recorder = Recorder(refuse=3)
    groups = GroupCommit("test", recorder)
    outcomes = await asyncio.gather(*(groups.submit(i) for i in range(6)), return_exceptions=True)
    assert isinstance(outcomes[3], Refused)
    assert [o for i, o in enumerate(outcomes) if i != 3] == [0, 10, 20, 40, 50]


async def test_a_writer_that_goes_away_does_not_cancel_the_commit() -> None:
    recorder = Recorder()
    groups = GroupCommit("test", recorder)
    writer = asyncio.create_task(groups.submit(5))
    await asyncio.sleep(0)
    writer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await writer
    await groups.drain()
    assert recorder.groups == [[5]]


async def test_a_linger_gathers_writes_that_arrive_apart() -> None:
    async def staggered(groups: GroupCommit[int, int]) -> list[int]:
        async def later(item: int) -> int:
            await asyncio.sleep(item * 0.002)
            return await groups.submit(item)

        return list(await asyncio.gather(*(later(i) for i in range(5))))

    eager, lingering = Recorder(), Recorder()
    assert await staggered(GroupCommit("test", eager)) == [0, 10, 20, 30, 40]
    assert await staggered(GroupCommit("test", lingering, linger=0.05)) == [0, 10, 20, 30, 40]
    assert len(eager.groups) > 1  # without a linger the first writes commit at once
    assert lingering.groups == [[0, 1, 2, 3, 4]]


async def test_a_full_group_does_not_linger_and_leftovers_start_alongside() -> None:
    recorder = Recorder()
    groups = GroupCommit("test", recorder, max_group=4, linger=10.0)
    # Ten at once: two full groups start without waiting; the two left over wait for the
    # linger, which this test does not sit out.
    started = [asyncio.create_task(groups.submit(i)) for i in range(10)]
    done, _ = await asyncio.wait(started[:8], timeout=1.0)
    assert len(done) == 8
    assert recorder.groups == [[0, 1, 2, 3], [4, 5, 6, 7]]
    for task in started[8:]:
        task.cancel()
    for task in list(groups._tasks):
        task.cancel()
    await asyncio.gather(*groups._tasks, *started, return_exceptions=True)
    assert groups._in_flight == 0  # a cancelled linger gives its slot back
