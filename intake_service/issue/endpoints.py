from __future__ import annotations

import hashlib
import uuid
from typing import Any

from fastapi import APIRouter, File, Request, UploadFile, status

from intake_service.config import settings
from intake_service.issue.dependencies import ChannelClient, OwnedIssue
from intake_service.issue.exceptions import UnsupportedUpload, UploadTooLarge
from intake_service.issue.group import SubmissionGroups
from intake_service.issue.rating import RatingIn, relay_rating
from intake_service.issue.repository import IssueRepository
from intake_service.issue.schemas import (
    AttachmentOut,
    HistoryEntry,
    IssueCreate,
    IssuePublic,
    IssueReceipt,
    SupplementIn,
    WithdrawIn,
)
from intake_service.issue.service import issue_service, receipt_of
from intake_service.issue.topic_suggest import suggest_topic
from intake_service.models import IdempotencyRecord, Issue, IssueAttachment
from services import idempotency
from services.db import SessionDep
from services.errors import error_responses
from services.responses import JSONResponse
from shared.enums import RequestStatus, Topic

router = APIRouter(prefix="/v1", tags=["requests"])


@router.post(
    "/requests",
    status_code=status.HTTP_201_CREATED,
    response_model=IssueReceipt,
    responses=error_responses(401, 403, 409, 422, 503),
    summary="Submit a request (诉求受理)",
)
async def submit_request(
    request: Request, data: IssueCreate, session: SessionDep, client: ChannelClient
) -> Any:
    groups: SubmissionGroups | None = request.app.state.submission_groups
    if groups is None or not groups.takes(data):

        async def produce() -> IssueReceipt:
            issue, secret = await issue_service.submit(session, data, client=client)
            return await receipt_for(session, issue, secret)

        return await idempotency.respond_idempotently(
            request, session, IdempotencyRecord, client_id=str(client.key_id),
            body=data.model_dump(mode="json"), produce=produce,
            status_code=status.HTTP_201_CREATED,
        )  # fmt: skip
    key = idempotency.read_key(request, str(client.key_id), data.model_dump(mode="json"))
    _submission, answer = await groups.accept(session, data, client=client, key=key)
    return answer


async def duplicate_tracking_no(session: SessionDep, issue: Issue) -> str | None:
    if issue.duplicate_of_id is None:
        return None
    found = await IssueRepository.from_session(session).tracking_nos([issue.duplicate_of_id])
    return found.get(issue.duplicate_of_id)


async def receipt_for(session: SessionDep, issue: Issue, secret: str) -> IssueReceipt:
    return receipt_of(issue, secret, await duplicate_tracking_no(session, issue))


async def public_view(session: SessionDep, issue: Issue) -> IssuePublic:
    duplicate_of = await duplicate_tracking_no(session, issue)
    state = RequestStatus(issue.status)
    return IssuePublic(
        tracking_no=issue.tracking_no,
        channel=issue.channel,  # type: ignore[arg-type]
        type=issue.type,  # type: ignore[arg-type]
        topic=issue.topic,  # type: ignore[arg-type]
        urgency=issue.urgency,  # type: ignore[arg-type]
        title=issue.title,
        description=issue.description,
        status=state,
        status_label=state.label_zh,
        status_note=issue.status_note,
        agency_responsible=issue.agency_responsible,
        expected_at=issue.expected_at,
        expected_provisional=issue.expected_provisional,
        received_at=issue.received_at,
        duplicate_of=duplicate_of,
        attachments=len(issue.attachments),
        history=[
            HistoryEntry(
                status=RequestStatus(entry.status),
                status_label=RequestStatus(entry.status).label_zh,
                note=entry.note,
                at=entry.at,
            )
            for entry in sorted(issue.history, key=lambda h: (h.at, h.id))
        ],
    )


@router.get(
    "/requests/{tracking_no}",
    response_model=IssuePublic,
    responses=error_responses(404, 422),
    summary="Track a request (needs X-Tracking-Secret or X-Submitter-Phone)",
)
async def track_request(issue: OwnedIssue, session: SessionDep) -> IssuePublic:
    return await public_view(session, issue)


@router.post(
    "/requests/{tracking_no}/withdraw",
    response_model=IssuePublic,
    responses=error_responses(404, 409, 422),
    summary="Withdraw a request (撤回)",
)
async def withdraw_request(issue: OwnedIssue, data: WithdrawIn, session: SessionDep) -> IssuePublic:
    await issue_service.withdraw(session, issue, data.reason)
    return await public_view(session, await _reloaded(session, issue))


@router.post(
    "/requests/{tracking_no}/supplements",
    status_code=status.HTTP_201_CREATED,
    response_model=IssuePublic,
    responses=error_responses(404, 409, 422),
    summary="Add information to a request (补充材料)",
)
async def supplement_request(
    request: Request, issue: OwnedIssue, data: SupplementIn, session: SessionDep
) -> Any:
    async def produce() -> IssuePublic:
        await issue_service.supplement(session, issue, data, None)
        return await public_view(session, await _reloaded(session, issue))

    return await idempotency.respond_idempotently(
        request, session, IdempotencyRecord, client_id=f"owner:{issue.id}",
        body=data.model_dump(mode="json"), produce=produce, status_code=status.HTTP_201_CREATED,
    )  # fmt: skip


async def _reloaded(session: SessionDep, issue: Issue) -> Issue:
    await session.flush()
    reloaded = await IssueRepository.from_session(session).get_by_tracking_no(
        issue.tracking_no, with_history=True, refresh=True
    )
    assert reloaded is not None
    return reloaded


@router.post(
    "/requests/{tracking_no}/rating",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(404, 409, 422, 503),
    summary="Rate how the request was handled (满意度测评), after it is completed",
)
async def rate_request(issue: OwnedIssue, data: RatingIn, request: Request) -> JSONResponse:
    """Relayed to the scoring service, which owns ratings; its errors come back unchanged."""
    return await relay_rating(request.app.state.http, issue.tracking_no, data)


_MAGIC: list[tuple[bytes, int, str]] = [
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"%PDF-", 0, "application/pdf"),
    (b"ftyp", 4, "video/mp4"),
    (b"ID3", 0, "audio/mpeg"),
]


def sniff_content_type(head: bytes) -> str | None:
    """The type from the file's own bytes: the declared Content-Type is not trusted."""
    for magic, offset, content_type in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return content_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


@router.post(
    "/attachments",
    status_code=status.HTTP_201_CREATED,
    response_model=AttachmentOut,
    responses=error_responses(401, 413, 415, 422),
    summary="Upload a photo, video or document to attach to a request",
    tags=["attachments"],
)
async def upload_attachment(
    session: SessionDep, client: ChannelClient, file: UploadFile = File(...)
) -> AttachmentOut:
    limit = settings.upload_max_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise UploadTooLarge()
    content_type = sniff_content_type(data[:16])
    if content_type is None:
        raise UnsupportedUpload()
    digest = hashlib.sha256(data).hexdigest()
    path = settings.resolved_upload_dir() / digest
    if not path.exists():
        tmp = path.with_suffix(f".{uuid.uuid4().hex}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    attachment = IssueAttachment(
        id=uuid.uuid4(),
        kind="upload",
        filename="".join(ch for ch in (file.filename or "") if ch.isprintable())[:255] or None,
        content_type=content_type,
        size=len(data),
        sha256=digest,
        api_key_id=client.key_id,
    )
    session.add(attachment)
    await session.flush()
    return AttachmentOut(
        upload_id=attachment.id,
        filename=attachment.filename,
        content_type=attachment.content_type,
        size=attachment.size,
        sha256=attachment.sha256,
    )


@router.get("/topics", tags=["reference"], summary="Topics with their Chinese names")
async def list_topics() -> list[dict[str, str]]:
    return [{"code": topic.value, "name": topic.label_zh} for topic in Topic]


@router.get("/topics/suggest", tags=["reference"], summary="Suggest a topic for a text")
async def suggest(title: str = "", description: str = "") -> dict[str, Any]:
    suggestion = suggest_topic(title[:200], description[:5000])
    return {
        "topic": suggestion.topic.value,
        "name": suggestion.topic.label_zh,
        "confidence": suggestion.confidence,
        "matched": list(suggestion.matched),
    }
