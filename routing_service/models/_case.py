from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Boolean,
    ColumnElement,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    case,
    event,
    func,
    inspect,
    or_,
    select,
    text,
    type_coerce,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from routing_service.models._base import Model
from services.crypto import PREFIX, PersonalText, SealedJSON, SealedText
from services.models import JSONType, UTCDateTime, utcnow
from services.search import GramArray


class Case(Model):
    """工单: one verified request and everything done about it."""

    __tablename__ = "case"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    request_id: Mapped[uuid.UUID] = mapped_column(unique=True, nullable=False)
    tracking_no: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    channel: Mapped[str] = mapped_column(String(32), nullable=False)
    type: Mapped[str] = mapped_column(String(16), nullable=False)
    topic: Mapped[str] = mapped_column(String(32), nullable=False)
    topic_suggested: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    urgency: Mapped[str] = mapped_column(String(16), nullable=False)
    # A confidential report's free text is sealed (services.crypto PersonalText); others plain.
    title: Mapped[str] = mapped_column(SealedText("case.title", "plain"), nullable=False)
    description: Mapped[str] = mapped_column(
        SealedText("case.description", "plain"), nullable=False
    )
    address: Mapped[str | None] = mapped_column(SealedText("case.address", "plain"))
    area_code: Mapped[str | None] = mapped_column(String(32))
    # Sealed whole (SM4): names and phones of the submitters of unprotected requests.
    submitter: Mapped[dict[str, Any]] = mapped_column(SealedJSON("case.submitter"), nullable=False)
    # Columns of the submitter for filters and the enterprise file (一企一档); the masked
    # identity of anonymous and confidential requests never carries a credit code.
    submitter_kind: Mapped[str] = mapped_column(String(16), default="person", nullable=False)
    enterprise_uscc: Mapped[str | None] = mapped_column(String(18))
    enterprise_name: Mapped[str | None] = mapped_column(String(200))
    # Bigrams of title, description, address, tracking number and enterprise name (services.search).
    search_grams: Mapped[list[str] | None] = mapped_column(GramArray)
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    confidential: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    attachments: Mapped[list[str]] = mapped_column(JSONType, default=list, nullable=False)
    cppcc_member_id: Mapped[uuid.UUID | None] = mapped_column()
    cppcc_visit_id: Mapped[uuid.UUID | None] = mapped_column()
    status: Mapped[str] = mapped_column(String(32), nullable=False)
    classification: Mapped[str | None] = mapped_column(String(16))
    owner_unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("org_unit.id"), nullable=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    verify_due_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # The next deadline the case waits on, for lists sorted by due: its earliest open card's,
    # or verification's while pending, else none. Kept by refresh_case_due after every flush.
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    verified_by: Mapped[str | None] = mapped_column(String(100))
    decision_note: Mapped[str | None] = mapped_column(Text)
    merged_into_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("case.id"))
    duplicate_of_tracking_no: Mapped[str | None] = mapped_column(String(32))
    must_designate: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    redo_count: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    escalated: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A project's own cases: its agency plan ("plan": one per project, its steps are the
    # cards) and the blockers raised from it ("blocker": requests like any other).
    project_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("project.id"))
    project_role: Mapped[str | None] = mapped_column(String(8))
    # A proactive case (主动治理) opened from a radar cluster: handles every member request.
    hot_issue_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("hot_issue.id"))
    revision: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    history_head: Mapped[str | None] = mapped_column(String(64))
    history_seq: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    @classmethod
    def sealing_due(cls) -> ColumnElement[bool]:
        """A confidential report's text still plain (services/encryption.py)."""
        return and_(
            cls.confidential,
            or_(
                *(
                    type_coerce(c, Text()).not_like(f"{PREFIX}%")
                    for c in (cls.title, cls.description)
                )
            ),
        )

    def reseal(self) -> None:
        """Seal a confidential report's text written before encryption, and drop it from the
        search grams (services.crypto)."""
        from routing_service.assignment.service import searchable_grams

        if self.confidential:
            self.title = PersonalText(self.title)
            self.description = PersonalText(self.description)
            if self.address is not None:
                self.address = PersonalText(self.address)
            self.search_grams = searchable_grams(self)

    __table_args__ = (
        Index("ix_case_owner_status", "owner_unit_id", "status"),
        Index("ix_case_received_at", "received_at"),
        Index("ix_case_updated_at", "updated_at"),
        Index("ix_case_due_at", "due_at", "id"),
        Index(
            "ix_case_enterprise_uscc",
            "enterprise_uscc",
            postgresql_where=text("enterprise_uscc IS NOT NULL"),
            sqlite_where=text("enterprise_uscc IS NOT NULL"),
        ),
        Index("ix_case_search_grams", "search_grams", postgresql_using="gin").ddl_if(
            dialect="postgresql"
        ),
        Index(
            "uq_case_hot_issue",
            "hot_issue_id",
            unique=True,
            postgresql_where=text("hot_issue_id IS NOT NULL"),
            sqlite_where=text("hot_issue_id IS NOT NULL"),
        ),
        Index(
            "ix_case_project",
            "project_id",
            postgresql_where=text("project_id IS NOT NULL"),
            sqlite_where=text("project_id IS NOT NULL"),
        ),
        # Verification deadlines still open: the only rows the supervision tick scans for them.
        Index(
            "ix_case_verify_due_open",
            "verify_due_at",
            postgresql_where=text("status = 'pending_verification'"),
            sqlite_where=text("status = 'pending_verification'"),
        ),
    )


class Card(Model):
    """督办卡: one responsible unit's part of a case, with its deadlines and supervision state."""

    __tablename__ = "card"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case.id"), index=True, nullable=False)
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("org_unit.id"), nullable=False)
    role: Mapped[str] = mapped_column(String(8), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    instructions: Mapped[str | None] = mapped_column(Text)
    dispatched_by: Mapped[str] = mapped_column(String(100), nullable=False)
    dispatched_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    sign_due_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    signed_by: Mapped[str | None] = mapped_column(String(100))
    contact_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_contact_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The deadline is always recomputable: clock_start_at + limit_days (+ paused_days) working
    # days, which is how provisional deadlines are redone when a year's schedule is loaded.
    clock_start_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    limit_days: Mapped[int] = mapped_column(Integer, nullable=False)
    paused_days: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    original_due_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    due_provisional: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    return_deadline_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    return_reason: Mapped[str | None] = mapped_column(Text)
    suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    suspend_reason: Mapped[str | None] = mapped_column(Text)
    status_before_suspend: Mapped[str | None] = mapped_column(String(16))
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    result: Mapped[str | None] = mapped_column(Text)
    evidence: Mapped[list[str]] = mapped_column(JSONType, default=list, nullable=False)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    review_note: Mapped[str | None] = mapped_column(Text)
    send_back_count: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    redo_count: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    extension_approved: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    # Designated by the center (指定承办): the unit may not return it.
    designated: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    # A step of a project's agency plan (role ``step``): the project and procedure it does, and
    # whether it was done on the spot (当场办结: created already approved).
    project_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("project.id"))
    procedure_code: Mapped[str | None] = mapped_column(String(32))
    # The procedure's legal time limit: what "time used ÷ time allowed" compares against (the
    # card's own limit may be a shorter promise, or longer after an extension).
    legal_limit_days: Mapped[int | None] = mapped_column(Integer)
    on_spot: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    supervision_level: Mapped[str] = mapped_column(String(16), default="none", nullable=False)
    listed: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    # When the supervision ladder next has something to do for this card; NULL when nothing
    # can fall due (finished cards). The tick reads only rows with next_check_at <= now.
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revision: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    __table_args__ = (
        Index("ix_card_unit_status", "unit_id", "status"),
        Index("ix_card_unit_due", "unit_id", "due_at"),
        # The queues count open work only: these partial indexes hold no finished card.
        Index(
            "ix_card_open_due",
            "due_at",
            postgresql_where=text("status IN ('dispatched', 'signed')"),
            sqlite_where=text("status IN ('dispatched', 'signed')"),
        ),
        Index(
            "ix_card_awaiting_center",
            "status",
            postgresql_where=text("status IN ('returned', 'submitted')"),
            sqlite_where=text("status IN ('returned', 'submitted')"),
        ),
        # Cards past due and still open (red card or worse): the overdue gauge reads only these.
        Index(
            "ix_card_overdue_open",
            "unit_id",
            postgresql_where=text(
                "status IN ('dispatched', 'signed') AND supervision_level IN ('red', 'listed', 'escalated')"
            ),
            sqlite_where=text(
                "status IN ('dispatched', 'signed') AND supervision_level IN ('red', 'listed', 'escalated')"
            ),
        ),
        Index(
            "ix_card_project",
            "project_id",
            postgresql_where=text("project_id IS NOT NULL"),
            sqlite_where=text("project_id IS NOT NULL"),
        ),
        # A project's open steps by deadline: the overdue filter of the project list.
        Index(
            "ix_card_project_open_due",
            "project_id",
            "due_at",
            postgresql_where=text("project_id IS NOT NULL AND status IN ('dispatched', 'signed')"),
            sqlite_where=text("project_id IS NOT NULL AND status IN ('dispatched', 'signed')"),
        ),
        Index(
            "ix_card_next_check",
            "next_check_at",
            postgresql_where=text("next_check_at IS NOT NULL"),
            sqlite_where=text("next_check_at IS NOT NULL"),
        ),
    )


class CardNote(Model):
    """Progress notes, co-handler inputs and first contact records."""

    __tablename__ = "card_note"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    card_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("card.id"), index=True, nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # progress | contact | input
    text: Mapped[str] = mapped_column(Text, nullable=False)
    attachments: Mapped[list[str]] = mapped_column(JSONType, default=list, nullable=False)
    author: Mapped[str] = mapped_column(String(100), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class Extension(Model):
    __tablename__ = "extension"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    card_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("card.id"), index=True, nullable=False)
    days: Mapped[int] = mapped_column(Integer, nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    requested_by: Mapped[str] = mapped_column(String(100), nullable=False)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # pending|approved|rejected
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision_note: Mapped[str | None] = mapped_column(Text)
    new_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index(
            "ix_extension_pending",
            "card_id",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )


class Milestone(Model):
    """Tracked steps of a special case (e.g. project agency: pre-procedures, land quota, power…)."""

    __tablename__ = "milestone"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case.id"), index=True, nullable=False)
    card_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("card.id"))
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    due_provisional: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(Text)
    position: Mapped[int] = mapped_column(Integer, default=0, nullable=False)


class DisciplineTransfer(Model):
    """移交纪委监委: the record of a violation handed to the discipline commission."""

    __tablename__ = "discipline_transfer"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case.id"), index=True, nullable=False)
    to_unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("org_unit.id"), nullable=False)
    subject_unit_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("org_unit.id"))
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    evidence: Mapped[list[str]] = mapped_column(JSONType, default=list, nullable=False)
    transferred_by: Mapped[str] = mapped_column(String(100), nullable=False)
    transferred_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(Text)


class CaseEvent(Model):
    """Append-only, hash-chained history of a case: who did what, when, from which state to which,
    and why. Each row's hash covers the previous row's hash, so editing or deleting any row breaks
    the chain from there on."""

    __tablename__ = "case_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case.id"), nullable=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    card_id: Mapped[uuid.UUID | None] = mapped_column()
    actor: Mapped[str] = mapped_column(String(120), nullable=False)
    action: Mapped[str] = mapped_column(String(40), nullable=False)
    from_status: Mapped[str | None] = mapped_column(String(32))
    to_status: Mapped[str | None] = mapped_column(String(32))
    # Plain, except a confidential report's supplement (PersonalText): the chain's digest is
    # over the text, so sealing it at rest leaves every chain verifying.
    reason: Mapped[str | None] = mapped_column(SealedText("case_event.reason", "plain"))
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict, nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)
    # "sm3" or "sha256": what ``hash`` was computed with; no default, every append names it
    # (the migration marked the rows from before SM3 "sha256").
    hash_alg: Mapped[str] = mapped_column(String(16), nullable=False)

    __table_args__ = (UniqueConstraint("case_id", "seq", name="uq_case_event_case_id_seq"),)


class SupervisionEvent(Model):
    """One step of the ladder for one card and due date; the unique key is what makes every
    step happen exactly once even when two worker replicas tick at the same moment."""

    __tablename__ = "supervision_event"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    card_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("card.id"), nullable=False)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case.id"), index=True, nullable=False)
    unit_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("org_unit.id"), index=True, nullable=False
    )
    level: Mapped[str] = mapped_column(String(16), nullable=False)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    notice: Mapped[str] = mapped_column(Text, nullable=False)

    __table_args__ = (
        UniqueConstraint("card_id", "level", "due_at", name="uq_supervision_event_card_level_due"),
    )


class CalendarYear(Model):
    """An admin-loaded official schedule for one year (holidays and adjusted working days)."""

    __tablename__ = "calendar_year"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    holidays: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    workdays: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    source: Mapped[str] = mapped_column(String(200), nullable=False)
    loaded_by: Mapped[str] = mapped_column(String(100), nullable=False)
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


# Card statuses whose deadline is running (a case's due date is the earliest of these).
_RUNNING = ("dispatched", "signed")


def case_due_expression(case_table: Any, card_table: Any) -> Any:
    """SQL for a case's ``due_at``; one definition for the flush hook and the migration."""
    earliest_card = (
        select(func.min(card_table.c.due_at))
        .where(card_table.c.case_id == case_table.c.id, card_table.c.status.in_(_RUNNING))
        .scalar_subquery()
    )
    pending = case(
        (case_table.c.status == "pending_verification", case_table.c.verify_due_at), else_=None
    )
    return func.coalesce(earliest_card, pending)


# The columns case_due_expression reads, per model.
_DUE_INPUTS: dict[type, tuple[str, ...]] = {
    Card: ("due_at", "status", "case_id"),
    Case: ("status", "verify_due_at"),
}


def _changed(obj: Any, names: tuple[str, ...]) -> bool:
    attrs = inspect(obj).attrs
    return any(attrs[name].history.has_changes() for name in names)


@event.listens_for(Session, "after_flush")
def refresh_case_due(session: Session, _context: Any) -> None:
    """Recompute ``case.due_at`` for the cases whose cards or status this flush wrote: one
    UPDATE per flush, on the rows just written, so the list's due order is an index range."""
    touched = {obj.case_id for obj in session.new if isinstance(obj, Card)}
    touched |= {obj.id for obj in session.new if isinstance(obj, Case)}
    # A dirty row counts only if it changed what the due date is made of: supervision's
    # escalations write a thousand cards a batch without moving any deadline.
    for obj in session.dirty:
        inputs = _DUE_INPUTS.get(type(obj))
        if inputs is not None and _changed(obj, inputs):
            touched.add(obj.case_id if isinstance(obj, Card) else obj.id)
    if not touched:
        return
    table, cards = cast(Table, Case.__table__), cast(Table, Card.__table__)
    session.connection().execute(
        update(table)
        .where(table.c.id.in_(touched))
        .values(due_at=case_due_expression(table, cards))
    )
