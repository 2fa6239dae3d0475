"""Receiving requests: validation beyond the schema, duplicates, related requests, events."""

from __future__ import annotations

import functools
import hmac
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from intake_service.config import settings
from intake_service.issue.exceptions import AttachmentNotFound, ChannelNotAllowed, IssueClosed
from intake_service.issue.repository import IssueRepository
from intake_service.issue.schemas import AttachmentRef, IssueCreate, IssueReceipt, SupplementIn
from intake_service.issue.similarity import bigrams, similarity
from intake_service.issue.topic_suggest import suggest_topic
from intake_service.knowledge.schemas import ArticleBrief
from intake_service.models import Issue, IssueAttachment, IssueHistory, IssueSupplement
from services.api_keys import ApiKeyIdentity
from services.crypto import ConfidentialText, PersonalText, Sealed, blind_index
from services.models import utcnow
from services.outbox import add_event, batched
from services.search import field_grams
from services.tracking import hash_secret, new_tracking_no, new_tracking_secret, secret_matches
from shared.enums import RequestStatus, RequestType, SubmitterKind, Topic
from shared.events import (
    CaseStatusChanged,
    Location,
    RequestSubmitted,
    RequestSupplemented,
    RequestWithdrawn,
    SubmitterInfo,
)
from shared.identifiers import InvalidIdentifier, mask_name, mask_phone, validate_phone

ANY_CHANNEL = "*"
FINAL_STATUSES = frozenset(
    {RequestStatus.closed, RequestStatus.withdrawn, RequestStatus.rejected, RequestStatus.merged}
)


# What a sealed identity shows where a masked one is due (the mask would need the plaintext).
FULLY_MASKED = "***"


def submitter_key(data: IssueCreate) -> str | None:
    """ "The same submitter" for duplicate detection: a blind index of the credit code, else
    the phone (keyed, so a dump's keys do not give the phones back)."""
    if data.submitter is None or data.anonymous:
        return None
    identity = data.submitter.uscc or data.submitter.phone
    if identity is None:
        return None
    return blind_index("submitter", f"{data.submitter.kind}:{identity}")


def phone_index(phone: str | None) -> str | None:
    return blind_index("phone", phone) if phone else None


def uscc_index(uscc: str | None) -> str | None:
    return blind_index("uscc", uscc.strip().upper()) if uscc else None


def _masked(value: str | Sealed | None, mask: Callable[[str], str]) -> str | None:
    """A masked identity value; a sealed one (loaded from a protected request) is masked whole:
    only the discipline read path opens it."""
    if value is None:
        return None
    return FULLY_MASKED if isinstance(value, Sealed) else mask(value)


def _open(value: str | Sealed | None) -> str | None:
    # Only protected requests hold Sealed values, and their identity is never sent unmasked.
    assert not isinstance(value, Sealed), "a protected identity reached an unmasked view"
    return value


def _sealed(value: str | None, protected: bool) -> str | None:
    """How an identity value is written: under the confidential ring when it would name a
    whistleblower, else the personal ring (the column's default)."""
    if value is None:
        return None
    return ConfidentialText(value) if protected else value


async def _insert_all(
    session: AsyncSession, model: type[Issue | IssueHistory], rows: Sequence[Issue | IssueHistory]
) -> None:
    """One ORM bulk INSERT of new rows: the attributes set on each (unset ones get their column
    defaults, as in a flush), NULLs written as NULLs (else each pattern of empty fields would be
    a statement of its own)."""
    values = [{k: v for k, v in vars(row).items() if not k.startswith("_sa_")} for row in rows]
    await session.execute(insert(model).execution_options(render_nulls=True), values)


def receipt_of(
    issue: Issue,
    secret: str,
    duplicate_of: str | None,
    articles: list[ArticleBrief] | None = None,
) -> IssueReceipt:
    """What the submitter gets back: the tracking number and the secret (shown once), and for
    a consultation the published answers that may already answer it."""
    return IssueReceipt(
        id=issue.id,
        tracking_no=issue.tracking_no,
        tracking_secret=secret,
        status=RequestStatus(issue.status),
        received_at=issue.received_at,
        topic=Topic(issue.topic),
        topic_suggested=issue.topic_suggested,
        topic_confidence=issue.topic_confidence,
        type=RequestType(issue.type),
        type_suggested=issue.type_suggested,
        duplicate_of=duplicate_of,
        related=(issue.related_tracking_nos or "").split(",") if issue.related_tracking_nos else [],
        articles=articles or [],
    )


# What staff search finds a request by, in relevance tiers (best first); the staff list searches
# the same columns in the same tiers.
SEARCH_FIELDS = (("title",), ("tracking_no", "enterprise_name"), ("address",), ("description",))


def searchable_grams(issue: Issue) -> list[str]:
    """The enterprise of an anonymous or confidential request stays out: its name would find the
    whistleblower."""
    if issue.confidential:
        # A confidential report's text is sealed: its grams would spell it out again. Staff
        # find it by tracking number and filters.
        return field_grams(*([issue.tracking_no if name == "tracking_no" else None
                              for name in tier] for tier in SEARCH_FIELDS))  # fmt: skip
    hidden = "enterprise_name" if issue.anonymous else None
    return field_grams(
        *(
            [None if name == hidden else getattr(issue, name) for name in tier]
            for tier in SEARCH_FIELDS
        )
    )


@dataclass
class Submission:
    """A request decided and ready to be written (see :meth:`IssueService.prepare`)."""

    issue: Issue
    history: IssueHistory
    event: RequestSubmitted
    secret: str  # shown once, in the receipt
    # A consultation's receipt: the published answers offered (decided with the rest).
    articles: list[ArticleBrief] = field(default_factory=list)

    @property
    def duplicate_of(self) -> str | None:
        return self.event.duplicate_of

    @functools.cached_property
    def text(self) -> frozenset[str]:
        """The bigrams of title and description, as duplicate checks compare them."""
        return bigrams(self.issue.title + self.issue.description)

    def repeats(self, earlier: Submission) -> bool:
        """Whether this is ``earlier`` sent again: same submitter and type, text alike."""
        mine, theirs = self.issue, earlier.issue
        return (
            mine.submitter_key is not None
            and mine.submitter_key == theirs.submitter_key
            and same_request(self.text, mine.type, earlier.text, theirs.type)
        )

    def mark_duplicate(self, of_id: uuid.UUID, of_tracking_no: str) -> None:
        """Record this request as a repeat of ``of`` (the first of its chain): kept and linked,
        answered with the first one's tracking number, not routed as a new case."""
        self.issue.status = RequestStatus.duplicate.value
        self.issue.duplicate_of_id = of_id
        self.issue.related_tracking_nos = None
        self.history.status = self.issue.status
        self.history.note = f"与 {of_tracking_no} 重复,已关联"
        self.event.duplicate_of = of_tracking_no
        self.event.related = []

    def chain_root(self) -> tuple[uuid.UUID, str]:
        """The id and tracking number a repeat of this request is linked to."""
        if self.issue.duplicate_of_id is not None and self.event.duplicate_of is not None:
            return self.issue.duplicate_of_id, self.event.duplicate_of
        return self.issue.id, self.issue.tracking_no


def same_request(
    text: frozenset[str], type_: str, earlier_text: frozenset[str], earlier_type: str
) -> bool:
    """Whether a request (its type and text bigrams) repeats an earlier one by the same
    submitter (the caller checks the submitter)."""
    return earlier_type == type_ and similarity(text, earlier_text) >= settings.duplicate_similarity


class IssueService:
    async def submit(
        self,
        session: AsyncSession,
        data: IssueCreate,
        *,
        client: ApiKeyIdentity | None,
        cppcc_member_id: uuid.UUID | None = None,
        cppcc_visit_id: uuid.UUID | None = None,
        type_suggested: bool = False,
        project_id: uuid.UUID | None = None,
    ) -> tuple[Issue, str]:
        """Accept a request; returns it and its tracking secret (shown once).

        ``type_suggested``: the client did not say the type and it was suggested from the text
        (an Open311 app without attributes); the verifier confirms it. ``project_id``: a
        blocker raised from routing's project (帮办代办), named on the event for routing.
        """
        submission = await self.prepare(
            session, data, client=client, cppcc_member_id=cppcc_member_id,
            cppcc_visit_id=cppcc_visit_id, type_suggested=type_suggested, project_id=project_id,
        )  # fmt: skip
        if data.attachments:
            # The attachment rows point at the issue, and the event (serialised when recorded)
            # lists them: write the issue first.
            session.add(submission.issue)
            await session.flush()
            submission.event.attachments = await self._attach(
                session, submission.issue, data.attachments, client
            )
        self.record(session, submission)
        return submission.issue, submission.secret

    async def prepare(
        self,
        session: AsyncSession,
        data: IssueCreate,
        *,
        client: ApiKeyIdentity | None,
        cppcc_member_id: uuid.UUID | None = None,
        cppcc_visit_id: uuid.UUID | None = None,
        type_suggested: bool = False,
        project_id: uuid.UUID | None = None,
    ) -> Submission:
        """Everything a submission needs decided before it is written: the channel check,
        the topic, duplicate and related requests (reads only; nothing is added)."""
        if client is not None and client.scope not in (ANY_CHANNEL, data.channel.value):
            raise ChannelNotAllowed()
        repository = IssueRepository.from_session(session)
        now = utcnow()

        if data.topic is None:
            suggestion = suggest_topic(data.title, data.description)
            topic, topic_suggested, confidence = suggestion.topic, True, suggestion.confidence
        else:
            topic, topic_suggested, confidence = data.topic, False, 1.0

        key = submitter_key(data)
        text = bigrams(data.title + data.description)
        since = now - timedelta(days=settings.duplicate_window_days)
        area_code = data.location.area_code if data.location else None
        # Both checks' rows in one round trip (the related ones are unused for a duplicate).
        recent = await repository.recent_for_checks(
            key, topic.value, since, area_code=area_code, limit=settings.related_scan_limit
        )
        duplicate_of = None
        if key is not None:
            for earlier in recent.by_submitter:
                earlier_text = bigrams(earlier.title + earlier.description)
                if same_request(text, data.type.value, earlier_text, earlier.type):
                    duplicate_of = earlier
                    break
        if duplicate_of is not None and duplicate_of.duplicate_of_id is not None:
            duplicate_of = await repository.brief(duplicate_of.duplicate_of_id) or duplicate_of

        related: list[str] = []
        if duplicate_of is None:
            for other in recent.by_topic:
                if other.submitter_key == key and key is not None:
                    continue
                if other.duplicate_of_id is not None:
                    continue
                if (
                    similarity(text, bigrams(other.title + other.description))
                    >= settings.related_similarity
                ):
                    related.append(other.tracking_no)
                if len(related) >= 5:
                    break

        confidential = (
            data.confidential if data.confidential is not None else data.type == RequestType.report
        )
        protected = confidential or data.anonymous
        # A confidential report's own words are sealed too (they may name the reporter).
        free_text: Callable[[str], str] = PersonalText if confidential else str
        secret = new_tracking_secret()
        submitter = data.submitter
        issue = Issue(
            id=uuid.uuid4(),
            tracking_no=new_tracking_no("YS"),
            tracking_secret_hash=hash_secret(secret),
            channel=data.channel.value,
            type=data.type.value,
            topic=topic.value,
            topic_suggested=topic_suggested,
            topic_confidence=confidence,
            type_suggested=type_suggested,
            urgency=data.urgency.value,
            title=free_text(data.title),
            description=free_text(data.description),
            address=free_text(data.location.address)
            if data.location and data.location.address
            else None,
            lat=data.location.lat if data.location else None,
            lon=data.location.lon if data.location else None,
            area_code=data.location.area_code if data.location else None,
            submitter_kind=(submitter.kind if submitter else SubmitterKind.person).value,
            submitter_name=_sealed(submitter.name if submitter else None, protected),
            submitter_phone=_sealed(submitter.phone if submitter else None, protected),
            submitter_email=_sealed(submitter.email if submitter else None, protected),
            uscc=_sealed(submitter.uscc if submitter else None, protected),
            enterprise_name=_sealed(submitter.enterprise_name if submitter else None, protected),
            phone_index=phone_index(submitter.phone if submitter else None),
            uscc_index=uscc_index(submitter.uscc if submitter else None),
            submitter_key=key,
            anonymous=data.anonymous,
            confidential=confidential,
            status=RequestStatus.received.value,
            related_tracking_nos=",".join(related) or None,
            api_key_id=client.key_id if client else None,
            recorded_by=data.recorded_by,
            cppcc_member_id=cppcc_member_id,
            cppcc_visit_id=cppcc_visit_id,
            project_id=project_id,
            received_at=now,
            updated_at=now,
            status_changed_at=now,
        )
        issue.search_grams = searchable_grams(issue)
        history = IssueHistory(
            issue_id=issue.id, status=issue.status, note=f"已受理({data.channel.label_zh})", at=now
        )
        event = RequestSubmitted(
            request_id=issue.id,
            tracking_no=issue.tracking_no,
            channel=data.channel,
            type=data.type,
            topic=topic,
            topic_suggested=topic_suggested,
            topic_confidence=confidence,
            type_suggested=type_suggested,
            urgency=data.urgency,
            title=data.title,
            description=data.description,
            location=Location(
                address=issue.address, lat=issue.lat, lon=issue.lon, area_code=issue.area_code
            ),
            submitter=self.submitter_for_events(issue),
            anonymous=issue.anonymous,
            confidential=issue.confidential,
            attachments=[],
            related=related,
            cppcc_member_id=cppcc_member_id,
            cppcc_visit_id=cppcc_visit_id,
            project_id=project_id,
            received_at=now,
        )
        submission = Submission(issue, history, event, secret)
        if duplicate_of is not None:
            submission.mark_duplicate(duplicate_of.id, duplicate_of.tracking_no)
        return submission

    @staticmethod
    def record(session: AsyncSession, submission: Submission) -> None:
        """Add a prepared submission to the session's transaction, with its event."""
        session.add(submission.issue)
        session.add(submission.history)
        add_event(session, submission.event)

    @staticmethod
    async def record_group(session: AsyncSession, submissions: Sequence[Submission]) -> None:
        """Write prepared submissions, their history and events, one INSERT per table (a group
        commit's transaction): the same rows as :meth:`record`, without the unit of work, which
        cost more CPU than the rows. The objects stay transient (nothing reads them back)."""
        if not submissions:
            return
        await _insert_all(session, Issue, [s.issue for s in submissions])
        await _insert_all(session, IssueHistory, [s.history for s in submissions])
        async with batched(session):
            for submission in submissions:
                add_event(session, submission.event)

    @staticmethod
    def submitter_for_events(issue: Issue) -> SubmitterInfo:
        """The identity other services may see: masked for anonymous and confidential requests
        (a whistleblower's identity stays in intake, readable by the discipline role only)."""
        kind = SubmitterKind(issue.submitter_kind)
        if issue.anonymous or issue.confidential:
            return SubmitterInfo(
                kind=kind,
                name=_masked(issue.submitter_name, mask_name),
                phone=_masked(issue.submitter_phone, mask_phone),
                masked=True,
            )
        return SubmitterInfo(
            kind=kind,
            name=_open(issue.submitter_name),
            phone=_open(issue.submitter_phone),
            uscc=_open(issue.uscc),
            enterprise_name=_open(issue.enterprise_name),
        )

    async def _attach(
        self,
        session: AsyncSession,
        issue: Issue,
        refs: list[AttachmentRef],
        client: ApiKeyIdentity | None,
    ) -> list[str]:
        urls: list[str] = []
        upload_ids = [ref.upload_id for ref in refs if ref.upload_id is not None]
        uploads = await IssueRepository.from_session(session).unattached_uploads(
            upload_ids, client.key_id if client else None
        )
        if len(uploads) != len(set(upload_ids)):
            raise AttachmentNotFound()
        for upload in uploads:
            upload.issue_id = issue.id
            urls.append(f"upload:{upload.id}")
        for ref in refs:
            if ref.url is not None:
                session.add(IssueAttachment(issue_id=issue.id, kind="url", url=ref.url))
                urls.append(ref.url)
        return urls

    def verify_owner(self, issue: Issue, *, secret: str | None, phone: str | None) -> bool:
        if secret_matches(secret, issue.tracking_secret_hash):
            return True
        if phone and (issue.phone_index or issue.submitter_phone):
            try:
                given = validate_phone(phone)
            except InvalidIdentifier:
                return False
            if issue.phone_index is not None:
                return hmac.compare_digest(blind_index("phone", given), issue.phone_index)
            # A row the background encryption has not reached yet still holds its phone.
            stored = issue.submitter_phone
            return isinstance(stored, str) and hmac.compare_digest(given, stored)
        return False

    async def withdraw(self, session: AsyncSession, issue: Issue, reason: str | None) -> Issue:
        if issue.status == RequestStatus.withdrawn.value:
            return issue
        if RequestStatus(issue.status) in FINAL_STATUSES | {RequestStatus.completed}:
            raise IssueClosed()
        now = utcnow()
        self._set_status(session, issue, RequestStatus.withdrawn, reason or "提交人撤回", now)
        add_event(
            session,
            RequestWithdrawn(
                request_id=issue.id, tracking_no=issue.tracking_no, reason=reason, withdrawn_at=now
            ),
        )
        return issue

    async def supplement(
        self, session: AsyncSession, issue: Issue, data: SupplementIn, client: ApiKeyIdentity | None
    ) -> IssueSupplement:
        if RequestStatus(issue.status) in FINAL_STATUSES:
            raise IssueClosed()
        now = utcnow()
        # A confidential report's supplement is as sealed as the report it adds to.
        text = PersonalText(data.text) if issue.confidential else data.text
        supplement = IssueSupplement(issue_id=issue.id, text=text, created_at=now)
        session.add(supplement)
        urls = await self._attach(session, issue, data.attachments, client)
        session.add(
            IssueHistory(issue_id=issue.id, status=issue.status, note="提交人补充材料", at=now)
        )
        add_event(
            session,
            RequestSupplemented(
                request_id=issue.id,
                tracking_no=issue.tracking_no,
                text=data.text,
                attachments=urls,
                supplemented_at=now,
            ),
        )
        return supplement

    async def apply_status(self, session: AsyncSession, change: CaseStatusChanged) -> None:
        """Keep the submitter-facing status current from routing's events.

        Events can arrive out of order (retries): an older change never overwrites a newer one.
        """
        issue = await IssueRepository.from_session(session).get_by_id(
            change.request_id, for_update=True
        )
        if issue is None:
            return
        if issue.status == RequestStatus.withdrawn.value:
            return
        if issue.status_changed_at is not None and change.changed_at < issue.status_changed_at:
            session.add(
                IssueHistory(
                    issue_id=issue.id,
                    status=change.status.value,
                    note=change.note,
                    at=change.changed_at,
                )
            )
            return
        if change.agency_responsible is not None:
            issue.agency_responsible = change.agency_responsible
        if change.expected_at is not None:
            issue.expected_at = change.expected_at
            issue.expected_provisional = change.expected_provisional
        self._set_status(session, issue, change.status, change.note, change.changed_at)

    @staticmethod
    def _set_status(
        session: AsyncSession, issue: Issue, status: RequestStatus, note: str | None, at: datetime
    ) -> None:
        issue.status = status.value
        issue.status_note = note
        issue.status_changed_at = at
        issue.updated_at = utcnow()
        session.add(IssueHistory(issue_id=issue.id, status=status.value, note=note, at=at))


issue_service = IssueService()
