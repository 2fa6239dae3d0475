"""Submissions written in groups: the requests that arrive together share one transaction.

Each request does its own reads and decisions (:meth:`IssueService.prepare`) on a connection
in autocommit mode, then hands the prepared rows to :class:`services.group_commit.GroupCommit`.
A group claims its Idempotency-Keys and stores their answers in one statement, adds the
requests, their history and events, commits once and pushes the events in one pipeline.
A request whose key was already answered (a retry, or a twin earlier in the same group)
gets the stored answer, as on the one-transaction path.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, status
from sqlalchemy.ext.asyncio import AsyncSession

from intake_service.config import settings
from intake_service.issue.schemas import IssueCreate
from intake_service.issue.service import Submission, issue_service, receipt_of
from intake_service.knowledge.service import knowledge_service
from intake_service.models import IdempotencyRecord
from services.api_keys import ApiKeyIdentity
from services.db import AsyncSessionMaker, create_sessionmaker, run_after_commit
from services.group_commit import GroupCommit
from services.idempotency import IdempotencyKey, claim_answered, remember, stored_answers
from services.queue import QueueClient
from services.responses import JSONResponse

__all__ = ["SubmissionGroups", "submission_groups"]


@dataclass
class _Pending:
    submission: Submission
    key: IdempotencyKey | None
    receipt: dict[str, Any]


class SubmissionGroups:
    def __init__(
        self, sessionmaker: AsyncSessionMaker, reads: AsyncSessionMaker, queue: QueueClient | None
    ) -> None:
        self._sessionmaker = sessionmaker
        self._reads = reads
        self._queue = queue
        self._groups: GroupCommit[_Pending, JSONResponse] = GroupCommit(
            "intake_submissions", self._commit, max_group=settings.group_commit_max
        )

    @staticmethod
    def takes(data: IssueCreate) -> bool:
        """Whether ``data`` can be written with a group: attachments are linked to the issue
        in the issue's own transaction (``IssueService.submit``)."""
        return not data.attachments

    async def accept(
        self,
        request_session: AsyncSession,
        data: IssueCreate,
        *,
        client: ApiKeyIdentity,
        key: IdempotencyKey | None,
        type_suggested: bool = False,
    ) -> tuple[Submission, JSONResponse]:
        """Decide on the submission, then write it with its group. Returns it with its answer:
        the 201 receipt, or the stored answer when ``key`` was already answered."""
        # No connection may be held while waiting for the group, or a burst would hold the
        # whole pool and leave none for the group's own transaction: the request's session
        # (the key lookup) ends here and the decisions read in autocommit mode.
        await request_session.commit()
        async with self._reads() as reads:
            submission = await issue_service.prepare(
                reads, data, client=client, type_suggested=type_suggested
            )
            submission.articles = await knowledge_service.offered_for(reads, submission.issue)
        receipt = receipt_of(
            submission.issue, submission.secret, submission.duplicate_of, submission.articles
        )
        pending = _Pending(submission, key, receipt.model_dump(mode="json"))
        return submission, await self._groups.submit(pending)

    async def drain(self) -> None:
        await self._groups.drain()

    async def _commit(self, group: Sequence[_Pending]) -> list[JSONResponse | BaseException]:
        answers: list[tuple[IdempotencyKey, int, Any]] = []
        first_with_key: set[tuple[str, str]] = set()
        for pending in group:
            if pending.key is not None:
                pair = (pending.key.client_id, pending.key.key)
                if pair not in first_with_key:
                    first_with_key.add(pair)
                    answers.append((pending.key, status.HTTP_201_CREATED, pending.receipt))
        replay: list[int] = []
        async with self._sessionmaker() as session:
            claimed = await claim_answered(session, IdempotencyRecord, answers)
            recorded: list[_Pending] = []
            for index, pending in enumerate(group):
                key = pending.key
                if key is not None and (key.client_id, key.key) in claimed:
                    claimed.discard((key.client_id, key.key))  # a later twin replays
                elif key is not None:
                    replay.append(index)
                    continue
                recorded.append(pending)
            for pending in self._link_repeats(recorded):
                await remember(session, IdempotencyRecord, pending.key, status.HTTP_201_CREATED,
                               pending.receipt)  # fmt: skip
            await issue_service.record_group(session, [p.submission for p in recorded])
            await session.commit()
            await run_after_commit(session, self._queue)
        results: list[JSONResponse | BaseException] = [
            JSONResponse(pending.receipt, status_code=status.HTTP_201_CREATED) for pending in group
        ]
        if replay:
            async with self._sessionmaker() as session:
                keys = [key for index in replay if (key := group[index].key) is not None]
                stored = await stored_answers(session, IdempotencyRecord, keys)
            for index, answer in zip(replay, stored, strict=True):
                results[index] = answer
        return results

    @staticmethod
    def _link_repeats(recorded: Sequence[_Pending]) -> list[_Pending]:
        """Link a request that repeats an earlier one of the same group (a double tap sent twice
        at once): each was decided before the other was written, so neither saw the other.
        Returns the ones changed; their receipts are rebuilt."""
        changed: list[_Pending] = []
        for position, pending in enumerate(recorded):
            submission = pending.submission
            if submission.duplicate_of is not None:
                continue
            earlier = next(
                (e for e in recorded[:position] if submission.repeats(e.submission)), None
            )
            if earlier is None:
                continue
            submission.mark_duplicate(*earlier.submission.chain_root())
            pending.receipt = receipt_of(
                submission.issue, submission.secret, submission.duplicate_of, submission.articles
            ).model_dump(mode="json")
            changed.append(pending)
        return changed


@asynccontextmanager
async def submission_groups(app: FastAPI) -> AsyncIterator[None]:
    """The intake app's group-commit writer (``INTAKE_GROUP_COMMIT_MAX=0`` turns it off)."""
    if settings.group_commit_max <= 0:
        app.state.submission_groups = None
        yield
        return
    reads = create_sessionmaker(app.state.engine.execution_options(isolation_level="AUTOCOMMIT"))
    groups = SubmissionGroups(app.state.sessionmaker, reads, app.state.queue)
    app.state.submission_groups = groups
    try:
        yield
    finally:
        await groups.drain()
