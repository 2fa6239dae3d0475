from __future__ import annotations

import hashlib
import uuid
from typing import Any

import orjson
from fastapi import APIRouter, File, Request, Response, UploadFile, status
from sqlalchemy import select

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
    TopicOut,
    TopicSuggestionOut,
    WithdrawIn,
    created,
)
from intake_service.issue.service import issue_service, receipt_of
from intake_service.issue.topic_suggest import suggest_topic
from intake_service.knowledge.service import ANSWERABLE, knowledge_service
from intake_service.models import IdempotencyRecord, Issue, IssueAttachment
from services import idempotency
from services.db import SessionDep
from services.errors import NotFound, error_responses
from services.headers import LOCATION
from services.idempotency import ACCEPTS_IDEMPOTENCY_KEY
from services.responses import JSONResponse, resource_path, set_location
from shared.enums import RequestStatus, Topic
from shared.schemas.rating import RatingOut

# Tags per route, not on the router: an operation has exactly one.
router = APIRouter(prefix="/v1")


@router.post(
    "/requests",
    status_code=status.HTTP_201_CREATED,
    response_model=IssueReceipt,
    responses={**error_responses(401, 403, 409, 422, 503, 429), **created()},
    summary="Submit a request (诉求受理)",
    tags=["requests"],
    dependencies=[ACCEPTS_IDEMPOTENCY_KEY],
)
async def submit_request(
    request: Request, data: IssueCreate, session: SessionDep, client: ChannelClient
) -> Any:
    """Any channel client with an API key (X-API-Key) scoped to the request's channel. Answers
    at once with the tracking number and the tracking secret (shown only here); `Location` is
    the tracking view. Honours `Idempotency-Key`; writes are rate limited per key."""

    def location(body: dict[str, Any]) -> str:
        return resource_path(request, "track_request", tracking_no=body["tracking_no"])

    groups: SubmissionGroups | None = request.app.state.submission_groups
    if groups is None or not groups.takes(data):

        async def produce() -> IssueReceipt:
            issue, secret = await issue_service.submit(session, data, client=client)
            return await receipt_for(session, issue, secret)

        return await idempotency.respond_idempotently(
            request, session, IdempotencyRecord, client_id=str(client.key_id),
            body=data.model_dump(mode="json"), produce=produce,
            status_code=status.HTTP_201_CREATED, location=location,
        )  # fmt: skip
    key = idempotency.read_key(request, str(client.key_id), data.model_dump(mode="json"))
    _submission, answer = await groups.accept(session, data, client=client, key=key)
    # A fresh receipt and a replayed one alike (the group answers both).
    if answer.status_code == status.HTTP_201_CREATED:
        answer.headers[LOCATION] = location(orjson.loads(answer.body))
    return answer


async def duplicate_tracking_no(session: SessionDep, issue: Issue) -> str | None:
    if issue.duplicate_of_id is None:
        return None
    found = await IssueRepository.from_session(session).tracking_nos([issue.duplicate_of_id])
    return found.get(issue.duplicate_of_id)


async def receipt_for(session: SessionDep, issue: Issue, secret: str) -> IssueReceipt:
    articles = await knowledge_service.offered_for(session, issue)
    return receipt_of(issue, secret, await duplicate_tracking_no(session, issue), articles)


async def public_view(session: SessionDep, issue: Issue) -> IssuePublic:
    duplicate_of = await duplicate_tracking_no(session, issue)
    state = RequestStatus(issue.status)
    # Offered while the submitter may still say one answered it (knowledge-answer).
    articles = (
        await knowledge_service.offered_for(session, issue) if issue.status in ANSWERABLE else []
    )
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
        articles=articles,
    )


@router.get(
    "/requests/{tracking_no}",
    response_model=IssuePublic,
    responses=error_responses(404, 422, 429),
    summary="Track a request (needs X-Tracking-Secret or X-Submitter-Phone)",
    tags=["requests"],
)
async def track_request(issue: OwnedIssue, session: SessionDep) -> IssuePublic:
    """The submitter's view of the request and its progress. Public, with proof of ownership:
    the tracking secret (X-Tracking-Secret) or the submitter's phone (X-Submitter-Phone); a
    wrong proof is the same 404 as an unknown number, and misses are rate limited per IP."""
    return await public_view(session, issue)


@router.post(
    "/requests/{tracking_no}/withdraw",
    response_model=IssuePublic,
    responses=error_responses(404, 409, 422, 429),
    summary="Withdraw a request (撤回)",
    tags=["requests"],
)
async def withdraw_request(issue: OwnedIssue, data: WithdrawIn, session: SessionDep) -> IssuePublic:
    """The submitter (X-Tracking-Secret or X-Submitter-Phone) withdraws a request that is not
    finished; 409 once it is completed, withdrawn or rejected."""
    await issue_service.withdraw(session, issue, data.reason)
    return await public_view(session, await _reloaded(session, issue))


@router.post(
    "/requests/{tracking_no}/supplements",
    status_code=status.HTTP_201_CREATED,
    response_model=IssuePublic,
    responses={**error_responses(404, 409, 422, 429), **created()},
    summary="Add information to a request (补充材料)",
    tags=["requests"],
    dependencies=[ACCEPTS_IDEMPOTENCY_KEY],
)
async def supplement_request(
    request: Request, issue: OwnedIssue, data: SupplementIn, session: SessionDep
) -> Any:
    """The submitter (X-Tracking-Secret or X-Submitter-Phone) adds text and attachments to an
    open request. Honours `Idempotency-Key`. A supplement has no resource of its own:
    `Location` is the request's tracking view, which shows it."""

    async def produce() -> IssuePublic:
        await issue_service.supplement(session, issue, data, None)
        return await public_view(session, await _reloaded(session, issue))

    return await idempotency.respond_idempotently(
        request, session, IdempotencyRecord, client_id=f"owner:{issue.id}",
        body=data.model_dump(mode="json"), produce=produce, status_code=status.HTTP_201_CREATED,
        location=lambda body: resource_path(request, "track_request", tracking_no=body["tracking_no"]),
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
    response_model=RatingOut,
    responses={
        **error_responses(404, 409, 422, 503, 429),
        **created(),
        200: {"model": RatingOut, "description": "Rated before with the same answer: that rating"},
    },
    summary="Rate how the request was handled (满意度测评), after it is completed",
    tags=["requests"],
)
async def rate_request(issue: OwnedIssue, data: RatingIn, request: Request) -> JSONResponse:
    """The submitter (X-Tracking-Secret or X-Submitter-Phone) rates a completed request once;
    the same rating again is 200, a different one 409. Relayed to the scoring service, which
    owns ratings (its errors come back unchanged); `Location` is the request's tracking view."""
    answer = await relay_rating(request.app.state.http, issue.tracking_no, data)
    if answer.status_code == status.HTTP_201_CREATED:
        answer.headers[LOCATION] = resource_path(
            request, "track_request", tracking_no=issue.tracking_no
        )
    return answer


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
    responses={**error_responses(401, 413, 415, 422, 429), **created()},
    summary="Upload a photo, video or document to attach to a request",
    tags=["attachments"],
)
async def upload_attachment(
    request: Request,
    response: Response,
    session: SessionDep,
    client: ChannelClient,
    file: UploadFile = File(...),
) -> AttachmentOut:
    """A channel client (X-API-Key) uploads a file, then names its `upload_id` in a request's
    or supplement's `attachments`. The type is read from the file's bytes (images, PDF, MP4,
    MP3); the size is limited. `Location` is the upload's metadata."""
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
    set_location(response, request, "get_attachment", upload_id=attachment.id)
    return _attachment_out(attachment)


def _attachment_out(attachment: IssueAttachment) -> AttachmentOut:
    return AttachmentOut(
        upload_id=attachment.id,
        filename=attachment.filename,
        content_type=attachment.content_type,
        size=attachment.size,
        sha256=attachment.sha256,
    )


@router.get(
    "/attachments/{upload_id}",
    response_model=AttachmentOut,
    responses=error_responses(401, 404, 422),
    summary="An uploaded file's metadata",
    tags=["attachments"],
)
async def get_attachment(
    upload_id: uuid.UUID, session: SessionDep, client: ChannelClient
) -> AttachmentOut:
    """The metadata of a file this API key uploaded (X-API-Key); another key's upload is 404,
    as for `attachments` of a request, which may only name the submitting key's uploads."""
    attachment = await session.scalar(
        select(IssueAttachment).where(
            IssueAttachment.id == upload_id,
            IssueAttachment.kind == "upload",
            IssueAttachment.api_key_id == client.key_id,
        )
    )
    if attachment is None:
        raise NotFound(
            "未找到该附件", "No such attachment upload for this API key", code="upload_not_found"
        )
    return _attachment_out(attachment)


@router.get(
    "/topics",
    response_model=list[TopicOut],
    tags=["reference"],
    summary="Topics with their Chinese names",
)
async def list_topics() -> list[TopicOut]:
    """Every topic's code (the `topic` of a request) and Chinese name. Public."""
    return [TopicOut(code=topic, name=topic.label_zh) for topic in Topic]


@router.get(
    "/topics/suggest",
    response_model=TopicSuggestionOut,
    tags=["reference"],
    summary="Suggest a topic for a text",
)
async def suggest(title: str = "", description: str = "") -> TopicSuggestionOut:
    """The topic a submission with this title and description would be given when it names
    none, with the confidence and the keywords that decided it. Public; the texts are cut at
    200 and 5,000 characters."""
    suggestion = suggest_topic(title[:200], description[:5000])
    return TopicSuggestionOut(
        topic=suggestion.topic,
        name=suggestion.topic.label_zh,
        confidence=suggestion.confidence,
        matched=list(suggestion.matched),
    )
