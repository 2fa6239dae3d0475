"""Personal data in use and over time (PIPL, GB/T 35273): every staff read of a submitter's name
or phone is logged, a whistleblower's identity opens only for the discipline role with a stated
reason, and personal fields are erased past retention or at the submitter's request.

The log names who, when, which request, through which operation and why; never the values.
"""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Sequence
from datetime import datetime, timedelta
from urllib.parse import unquote

from sqlalchemy.ext.asyncio import AsyncSession

from intake_service.config import settings
from intake_service.models import Issue
from intake_service.privacy.exceptions import ErasureNotAllowed, InvalidAccessReason
from intake_service.privacy.repository import (
    ERASED_COLUMNS,
    Accessor,
    IdentityAccessRepository,
    Revealed,
)
from intake_service.privacy.schemas import AccessKind
from services.auth import Principal
from services.crypto import unseal
from services.db import AsyncSessionMaker, row_locks, run_after_commit
from services.models import utcnow
from services.observability import current_request_id
from services.outbox import add_event
from services.policy import can
from services.queue import QueueClient
from shared.enums import RequestStatus, SubmitterKind
from shared.events import ErasureReason, RequestPersonalDataErased, SubmitterInfo

MAX_REASON = 200
# Control, format (bidi overrides, zero-width) and line-breaking characters would let a reason
# hide or rearrange what an auditor reads.
_UNPRINTABLE = frozenset({"Cc", "Cf", "Zl", "Zp"})

RETENTION_JOB = "intake.erase_personal_data"
RETENTION_BATCH = 500
RETENTION_RUN_SECONDS = 20.0  # under the job timeout (30 s); the next run takes the rest


def parse_access_reason(raw: str | None) -> str | None:
    """``X-Access-Reason`` as text: None when absent; 422 when blank, too long, unprintable
    or not UTF-8. Header values are bytes (read as Latin-1): Chinese arrives percent-encoded
    (``encodeURIComponent``) or, from clients that send them raw, as UTF-8 bytes."""
    if raw is None:
        return None
    try:
        text = unquote(raw.encode("latin-1").decode("utf-8"), errors="strict").strip()
    except UnicodeError:
        raise InvalidAccessReason() from None
    if not 1 <= len(text) <= MAX_REASON or any(
        unicodedata.category(char) in _UNPRINTABLE for char in text
    ):
        raise InvalidAccessReason()
    return text


def reveals_identity(principal: Principal, reason: str | None) -> bool:
    """Whether this call opens protected identities: the discipline role, with a reason."""
    return reason is not None and can(principal, "case.identity")


def unsealed_submitter(issue: Issue) -> SubmitterInfo:
    """A protected request's identity, opened (``services.crypto.unseal``). Only for calls
    where :func:`reveals_identity` holds, which record the read with its reason."""
    return SubmitterInfo(
        kind=SubmitterKind(issue.submitter_kind),
        name=unseal(issue.submitter_name, "issue.submitter_name"),
        phone=unseal(issue.submitter_phone, "issue.submitter_phone"),
        uscc=unseal(issue.uscc, "issue.uscc"),
        enterprise_name=unseal(issue.enterprise_name, "issue.enterprise_name"),
    )


def read_kind(submitter: SubmitterInfo, identity_revealed: bool) -> AccessKind | None:
    """What a staff view showed of its submitter, for the log; None when nothing personal (a
    masked identity, or no name and phone: erased, or an enterprise by its code only)."""
    if identity_revealed:
        return AccessKind.whistleblower_identity
    if not submitter.masked and (submitter.name or submitter.phone):
        return AccessKind.personal_fields
    return None


def staff_accessor(principal: Principal, endpoint: str) -> Accessor:
    return Accessor(
        actor=principal.actor,
        role=principal.role,
        unit_code=principal.unit_code,
        endpoint=endpoint,
        request_id=current_request_id(),
    )


class PrivacyService:
    async def record_reads(
        self,
        session: AsyncSession,
        principal: Principal,
        endpoint: str,
        revealed: Sequence[Revealed],
        reason: str | None,
    ) -> None:
        """Log what a staff read revealed, in the read's session: committed with it, before
        the response leaves (``SessionDep``), so no answer goes out unlogged."""
        await IdentityAccessRepository.from_session(session).record(
            staff_accessor(principal, endpoint), revealed, reason=reason, at=utcnow()
        )

    async def erase_on_request(self, session: AsyncSession, issue: Issue, endpoint: str) -> Issue:
        """The submitter's own request (PIPL art. 47) on a withdrawn request; again: the same
        answer. Other statuses are refused: the case is still being handled, or finished and
        kept for its retention period."""
        if row_locks(session):
            # Two calls at once erase (and log, and tell the others) once.
            await session.refresh(
                issue, ["status", "personal_erased_at", *ERASED_COLUMNS], with_for_update=True
            )
        if issue.personal_erased_at is not None:
            return issue
        if issue.status != RequestStatus.withdrawn.value:
            raise ErasureNotAllowed(details={"status": issue.status})
        now = utcnow()
        for column in ERASED_COLUMNS:
            setattr(issue, column, None)
        issue.personal_erased_at = now
        issue.personal_erasure_reason = "submitter_request"
        submitter = Accessor("submitter", "submitter", None, endpoint, current_request_id())
        erased = [Revealed(issue.id, issue.tracking_no, AccessKind.erasure.value)]
        await self._erased(session, submitter, erased, "submitter_request", now)
        return issue

    async def erase_expired_batch(self, session: AsyncSession, now: datetime, limit: int) -> int:
        """Erase up to ``limit`` requests archived longer than the retention period (oldest
        first), in the caller's transaction; how many were erased."""
        if settings.personal_retention_days <= 0:
            return 0
        repository = IdentityAccessRepository.from_session(session)
        cutoff = now - timedelta(days=settings.personal_retention_days)
        rows = await repository.retention_candidates(cutoff, limit)
        if not rows:
            return 0
        await repository.erase([row.id for row in rows], "retention", now)
        job = Accessor("system:retention", "system", None, RETENTION_JOB, None)
        erased = [Revealed(row.id, row.tracking_no, AccessKind.erasure.value) for row in rows]
        await self._erased(session, job, erased, "retention", now)
        return len(rows)

    async def erase_expired(
        self,
        sessionmaker: AsyncSessionMaker,
        queue: QueueClient | None,
        now: datetime,
        *,
        batch: int = RETENTION_BATCH,
        run_seconds: float = RETENTION_RUN_SECONDS,
    ) -> int:
        """The retention job: batches, each its own short transaction, for at most
        ``run_seconds``; what is left is the next run's."""
        erased = 0
        deadline = time.monotonic() + run_seconds
        while time.monotonic() < deadline:
            async with sessionmaker() as session:
                count = await self.erase_expired_batch(session, now, batch)
                await session.commit()
                await run_after_commit(session, queue)
            erased += count
            if count < batch:
                break
        return erased

    @staticmethod
    async def _erased(
        session: AsyncSession,
        who: Accessor,
        erased: Sequence[Revealed],
        reason: ErasureReason,
        at: datetime,
    ) -> None:
        """Log the erasure and tell routing and scoring, which blank their copies."""
        await IdentityAccessRepository.from_session(session).record(
            who, erased, reason=reason, at=at
        )
        for item in erased:
            add_event(
                session,
                RequestPersonalDataErased(
                    request_id=item.issue_id,
                    tracking_no=item.tracking_no,
                    reason=reason,
                    erased_at=at,
                ),
            )


privacy_service = PrivacyService()
