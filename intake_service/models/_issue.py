from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    and_,
    false,
    or_,
    text,
    type_coerce,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from intake_service.models._base import Model
from services.crypto import (
    PREFIX,
    ConfidentialText,
    PersonalText,
    Sealed,
    SealedText,
    blind_index,
)
from services.models import UTCDateTime, utcnow
from services.search import GramArray


def _plain(column: Any) -> ColumnElement[bool]:
    # The stored text, not through the column's type (which would seal the pattern).
    return type_coerce(column, Text()).not_like(f"{PREFIX}%")


class Issue(Model):
    """A request (诉求) as received from a channel, with its submitter-facing status."""

    __tablename__ = "issue"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tracking_no: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    tracking_secret_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    channel: Mapped[str] = mapped_column(String(32), nullable=False)
    type: Mapped[str] = mapped_column(String(16), nullable=False)
    topic: Mapped[str] = mapped_column(String(32), nullable=False)
    topic_suggested: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    topic_confidence: Mapped[float] = mapped_column(Float, default=1.0, nullable=False)
    # The client did not say the type (an Open311 app without attributes): suggested from text.
    type_suggested: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false(), nullable=False
    )
    urgency: Mapped[str] = mapped_column(String(16), nullable=False)
    # A confidential report's free text is sealed (services.crypto PersonalText); others plain.
    title: Mapped[str] = mapped_column(SealedText("issue.title", "plain"), nullable=False)
    description: Mapped[str] = mapped_column(
        SealedText("issue.description", "plain"), nullable=False
    )
    address: Mapped[str | None] = mapped_column(SealedText("issue.address", "plain"))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    area_code: Mapped[str | None] = mapped_column(String(32))
    submitter_kind: Mapped[str] = mapped_column(String(16), nullable=False)
    # Sealed with SM4 (services.crypto): the personal ring, or for an anonymous or confidential
    # request the confidential ring (loaded as Sealed; only the discipline read path opens it).
    submitter_name: Mapped[str | Sealed | None] = mapped_column(SealedText("issue.submitter_name"))
    submitter_phone: Mapped[str | Sealed | None] = mapped_column(
        SealedText("issue.submitter_phone")
    )
    submitter_email: Mapped[str | Sealed | None] = mapped_column(
        SealedText("issue.submitter_email")
    )
    uscc: Mapped[str | Sealed | None] = mapped_column(SealedText("issue.uscc"))
    # Plain for other requests (public registry name, searched by substring); sealed when it
    # would name a whistleblower.
    enterprise_name: Mapped[str | Sealed | None] = mapped_column(
        SealedText("issue.enterprise_name", "plain")
    )
    # Blind indexes (HMAC-SM3 of the normalised value) for what is looked up by equality: the
    # submitter's phone (ownership), the credit code, "the same submitter" (duplicates).
    phone_index: Mapped[str | None] = mapped_column(String(64))
    uscc_index: Mapped[str | None] = mapped_column(String(64))
    submitter_key: Mapped[str | None] = mapped_column(String(64))
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    confidential: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    status: Mapped[str] = mapped_column(String(32), nullable=False)
    status_note: Mapped[str | None] = mapped_column(Text)
    agency_responsible: Mapped[str | None] = mapped_column(String(200))
    expected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expected_provisional: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    duplicate_of_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("issue.id"))
    related_tracking_nos: Mapped[str | None] = mapped_column(Text)
    api_key_id: Mapped[uuid.UUID | None] = mapped_column()
    recorded_by: Mapped[str | None] = mapped_column(String(200))
    cppcc_member_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cppcc_member.id"))
    cppcc_visit_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("cppcc_visit.id"), index=True
    )
    # A blocker raised from a project (帮办代办): routing's project, owned there (no foreign key).
    project_id: Mapped[uuid.UUID | None] = mapped_column()
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Bigrams of what staff may search (services.search): never the identity of an anonymous or
    # confidential submitter, or a search by name would point at the whistleblower.
    search_grams: Mapped[list[str] | None] = mapped_column(GramArray)
    # Personal fields erased (PIPL): past retention after archiving, or at the submitter's
    # request once withdrawn (intake_service.privacy). The request and its figures stay.
    personal_erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    personal_erasure_reason: Mapped[str | None] = mapped_column(String(32))

    @classmethod
    def sealing_due(cls) -> ColumnElement[bool]:
        """Rows the background encryption (services/encryption.py) must reach besides plaintext
        in sealing columns: blind indexes not computed yet, a whistleblower's enterprise or a
        confidential report's text still plain."""
        return or_(
            and_(cls.phone_index.is_(None), cls.submitter_phone.is_not(None)),
            and_(cls.uscc_index.is_(None), cls.uscc.is_not(None)),
            and_(
                or_(cls.anonymous, cls.confidential),
                cls.enterprise_name.is_not(None),
                _plain(cls.enterprise_name),
            ),
            and_(cls.confidential, or_(_plain(cls.title), _plain(cls.description))),
        )

    def reseal(self) -> None:
        """Wrap a row written before encryption for its ring (services.crypto)."""
        from intake_service.issue.service import phone_index, searchable_grams, uscc_index

        protected = self.anonymous or self.confidential
        legacy = (self.phone_index is None and isinstance(self.submitter_phone, str)) or (
            self.uscc_index is None and isinstance(self.uscc, str)
        )
        if legacy:
            phone = self.submitter_phone if isinstance(self.submitter_phone, str) else None
            uscc = self.uscc if isinstance(self.uscc, str) else None
            self.phone_index, self.uscc_index = phone_index(phone), uscc_index(uscc)
            identity = uscc or phone
            self.submitter_key = (
                blind_index("submitter", f"{self.submitter_kind}:{identity}")
                if identity and not self.anonymous
                else None
            )
        if protected:
            for name in ("submitter_name", "submitter_phone", "submitter_email", "uscc",
                         "enterprise_name"):  # fmt: skip
                value = getattr(self, name)
                if isinstance(value, str) and not isinstance(value, ConfidentialText):
                    setattr(self, name, ConfidentialText(value))
        if self.confidential:
            self.title = PersonalText(self.title)
            self.description = PersonalText(self.description)
            if self.address is not None:
                self.address = PersonalText(self.address)
            self.search_grams = searchable_grams(self)

    attachments: Mapped[list[IssueAttachment]] = relationship(
        lazy="raise", order_by="IssueAttachment.created_at"
    )
    history: Mapped[list[IssueHistory]] = relationship(lazy="raise", order_by="IssueHistory.id")

    __table_args__ = (
        Index("ix_issue_submitter_key_received_at", "submitter_key", "received_at"),
        Index("ix_issue_topic_received_at", "topic", "received_at"),
        Index("ix_issue_received_at", "received_at"),
        Index("ix_issue_updated_at", "updated_at"),
        Index(
            "ix_issue_uscc_index",
            "uscc_index",
            postgresql_where=text("uscc_index IS NOT NULL"),
            sqlite_where=text("uscc_index IS NOT NULL"),
        ),
        Index("ix_issue_search_grams", "search_grams", postgresql_using="gin").ddl_if(
            dialect="postgresql"
        ),
    )


class IssueAttachment(Model):
    __tablename__ = "issue_attachment"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    issue_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("issue.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # "url" | "upload"
    url: Mapped[str | None] = mapped_column(String(2000))
    filename: Mapped[str | None] = mapped_column(String(255))
    content_type: Mapped[str | None] = mapped_column(String(100))
    size: Mapped[int | None] = mapped_column(Integer)
    sha256: Mapped[str | None] = mapped_column(String(64))
    api_key_id: Mapped[uuid.UUID | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class IssueHistory(Model):
    """What the submitter sees of the request's progress (the full audited history lives in
    routing)."""

    __tablename__ = "issue_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    issue_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("issue.id"), index=True, nullable=False)
    status: Mapped[str] = mapped_column(String(32), nullable=False)
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class IssueSupplement(Model):
    __tablename__ = "issue_supplement"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    issue_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("issue.id"), index=True, nullable=False)
    text: Mapped[str] = mapped_column(SealedText("issue_supplement.text", "plain"), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
