"""A consultation answered by the knowledge base (知识库解答): the submitter told intake that a
published answer solved it, so the request's case is answered with that article and closed —
without a verifier, and still counted as a service item (scoring has the same event)."""

from __future__ import annotations

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from routing_service.assignment import facts, history
from routing_service.assignment.repository import CaseRepository
from routing_service.assignment.service import case_service
from routing_service.knowledge.repository import KnowledgeRepository
from routing_service.models import Case
from services.auth import Principal
from services.errors import ServiceUnavailable
from shared.enums import CaseStatus, RequestStatus
from shared.events import RequestAnsweredByKnowledge

log = structlog.get_logger(__name__)

SUBMITTER = "submitter"
# Who closes it: intake relayed the submitter's word.
_INTAKE = Principal(kind="service", subject="intake", role="service")


async def answer_from_knowledge(
    session: AsyncSession, event: RequestAnsweredByKnowledge
) -> Case | None:
    """Answer and close the request's case with the cited article; None when nothing changed
    (a case already past verification is left as it is). Idempotent."""
    case = await CaseRepository.from_session(session).by_request(event.request_id, for_update=True)
    if case is None:
        # request.submitted has not been applied yet: the event is delivered again later.
        raise ServiceUnavailable(
            "诉求的工单尚未建立,稍后重试",
            "The request's case does not exist yet; retry later",
            code="case_not_created_yet",
            details={"request_id": str(event.request_id)},
        )
    if case.status != CaseStatus.pending_verification.value:
        log.info("knowledge.answered_case_left", case_id=str(case.id), status=case.status,
                 article_id=str(event.article_id))  # fmt: skip
        return None
    version = await KnowledgeRepository(session).version(event.article_id, event.version)
    question = version.question if version is not None else None
    note = f"已由知识库解答:{question}" if question else "已由知识库解答"
    before = case.status
    case.status = CaseStatus.answered.value
    case.verified_at = event.answered_at
    case.verified_by = SUBMITTER
    case.decision_note = note
    case.completed_at = event.answered_at
    history.record(session, case, actor=SUBMITTER, action="knowledge.answered",
                   from_status=before, to_status=case.status, reason=note,
                   data={"article_id": str(event.article_id), "article_version": event.version})  # fmt: skip
    await facts.tell_submitter(session, case, RequestStatus.answered, note)
    await case_service.close(session, _INTAKE, case, "知识库答复已解决问题,自动归档")
    return case
