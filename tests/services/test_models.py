"""with_defaults: a new object carries what its INSERT would default, without a flush."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from routing_service.models import Card, Case
from services.models import with_defaults


def test_defaults_are_filled_and_given_values_kept() -> None:
    case_id = uuid.uuid4()
    at = datetime(2026, 3, 2, tzinfo=UTC)
    case = with_defaults(Case(id=case_id, status="dispatched", revision=4, created_at=at))
    assert (case.id, case.status, case.revision, case.created_at) == (case_id, "dispatched", 4, at)
    assert (case.history_seq, case.redo_count, case.must_designate) == (0, 0, False)
    assert case.attachments == []
    assert case.updated_at.tzinfo is not None
    assert case.history_head is None  # no default: left alone


def test_callable_defaults_give_each_object_its_own_value() -> None:
    first, second = with_defaults(Card()), with_defaults(Card())
    assert first.id != second.id
    first.evidence.append("https://example.org/a.jpg")
    assert second.evidence == []
    assert first.supervision_level == "none"
