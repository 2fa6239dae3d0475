"""Facts of a small, hand-computed October 2026 (and its neighbours) for the evaluation tests.

All times are Asia/Shanghai. "Now" is 2026-11-20 12:00, so every October card is decided.
The expected figures below are worked out by hand in the comments of :func:`build_october`.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from scoring_service.models import CardFact, CaseFact, Rating, RequestFact, VisitFact
from services.auth import issue_token
from shared.calendar import SHANGHAI

JT, JT_NAME = "DEPT-JT", "区交通运输局"
GH, GH_NAME = "DEPT-GH", "区自然资源和规划局"
FG, FG_NAME = "DEPT-FG", "区发展和改革局"
KG, KG_NAME = "DEPT-KG", "区科学技术和工业信息化局"
GM, GM_NAME = "HS-GM", "光明路街道营商环境优化中心"

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=SHANGHAI)


def sh(month: int, day: int, hour: int = 9, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def token(role: str, unit_code: str = "HS", unit_path: str = "HS") -> dict[str, str]:
    raw = issue_token(
        subject=f"{role}@{unit_code}", role=role, unit_code=unit_code, unit_path=unit_path
    )
    return {"Authorization": f"Bearer {raw}"}


def card(
    unit: tuple[str, str],
    case_id: uuid.UUID,
    *,
    dispatched: datetime,
    due: datetime,
    role: str = "single",
    status: str = "approved",
    signed: datetime | None = None,
    sign_due: datetime | None = None,
    contact_due: datetime | None = None,
    first_contact: datetime | None = None,
    original_due: datetime | None = None,
    extension_approved: bool = False,
    returned: datetime | None = None,
    submitted: datetime | None = None,
    approved: datetime | None = None,
    working_days: int | None = None,
    redo_count: int = 0,
    level: str = "none",
    listed: bool = False,
) -> CardFact:
    return CardFact(
        card_id=uuid.uuid4(),
        case_id=case_id,
        revision=1,
        unit_code=unit[0],
        unit_name=unit[1],
        role=role,
        status=status,
        dispatched_at=dispatched,
        sign_due_at=sign_due or dispatched + timedelta(hours=2),
        signed_at=signed,
        contact_due_at=contact_due or (signed + timedelta(days=1) if signed else None),
        first_contact_at=first_contact,
        original_due_at=original_due or due,
        due_at=due,
        extension_approved=extension_approved,
        returned_at=returned,
        submitted_at=submitted,
        approved_at=approved,
        working_days_taken=working_days,
        redo_count=redo_count,
        supervision_level=level,
        listed=listed,
    )


def rating(
    case_id: uuid.UUID,
    satisfaction: str,
    rated_at: datetime,
    *,
    round: int = 0,
    resolved: bool | None = None,
) -> Rating:
    return Rating(
        id=uuid.uuid4(),
        case_id=case_id,
        round=round,
        satisfaction=satisfaction,
        resolved=resolved,
        unit_at_fault=satisfaction == "unsatisfied",
        source="staff",
        method="phone",
        recorded_by="staff:hs_operator",
        rated_at=rated_at,
    )


def case_fact(
    *,
    channel: str = "app",
    topic: str = "transport",
    status: str = "closed",
    received: datetime | None = None,
    owner: str = "HS",
    case_id: uuid.UUID | None = None,
    request_id: uuid.UUID | None = None,
) -> CaseFact:
    return CaseFact(
        case_id=case_id or uuid.uuid4(),
        revision=1,
        request_id=request_id or uuid.uuid4(),
        tracking_no="YS" + uuid.uuid4().hex[:12].upper(),
        channel=channel,
        type="help",
        topic=topic,
        urgency="normal",
        status=status,
        owner_unit_code=owner,
        submitter={"kind": "enterprise", "name": "张骞", "phone": "13812345678"},
        received_at=received or sh(10, 9),
    )


def request_fact(
    *,
    channel: str,
    topic: str,
    received: datetime,
    duplicate: bool = False,
    request_id: uuid.UUID | None = None,
) -> RequestFact:
    return RequestFact(
        request_id=request_id or uuid.uuid4(),
        tracking_no="YS" + uuid.uuid4().hex[:12].upper(),
        channel=channel,
        type="help",
        topic=topic,
        duplicate=duplicate,
        anonymous=False,
        submitter_kind="enterprise",
        uscc="91130400MA0XXXXX0X",
        enterprise_name="邯郸制药股份有限公司",
        received_at=received,
    )


def visit(channel: str, kind: str, key: str, on: date) -> VisitFact:
    return VisitFact(
        id=uuid.uuid4(),
        channel=channel,
        target_kind=kind,
        target_key=key,
        target_name=key,
        visited_on=on,
        recorded_by="staff:hs_operator",
    )


def build_october(session: AsyncSession) -> None:
    """The October 2026 scenario (National Day holiday: 1-8 October; 9 October is the first
    working day).

    DEPT-JT 区交通运输局 (k = 1):
      dispatched in Oct: c1 c2 c3 c5 c6 co c8 = 7 (a card cancelled before signing is left out;
        c4 was dispatched in September)
      signed on time: c1 c5 c6 co c8 = 5 (c2 late, c3 returned unsigned) -> 5/7 = 0.7143
      responded (signed and first contact on time): c1 c6 co c8 = 4 (c5 never called) -> 0.5714
      returned in Oct: c3 -> 1/7 = 0.1429
      due in Oct (not returned/cancelled): c1 c2 c4 c5 c6 co = 6; on time c1, c2 (extended due),
        c4, co = 4 -> 0.6667; overdue c5 (open) and c6 (late) = 2
      approved in Oct: c1 c2 c4 c6 co = 5; redone c4 -> 0.2; working days 5+9+12+8+8 -> 8.4
      revisits in Oct on cases it held alone or as lead: A satisfied/resolved, B basic/resolved,
        D (round 1) satisfied/resolved, F unsatisfied/not asked = 4 (C: it returned the card;
        G: co-handler) -> satisfaction (2 + 1)/4 = 0.75 (k = 0.5: 0.625), resolution 3/3 = 1
      deductions: c5 listed 2.0 + c6 red 0.5 = 2.5
      base = 10 x 5/7 + 30 x 4/6 + 40 x 0.75 + 20 x 1 = 77.142857 -> score 74.642857 = 74.64
        (k = 0.5: base 72.14, score 69.64)
    DEPT-GH 区自然资源和规划局: 3 cards, all on time, 2 revisits satisfied/resolved in Oct (the
      third, at 00:30 on 1 November Shanghai time, belongs to November) -> 100
    HS-GM 光明路街道中心: 1 card on time, 1 revisit basic / not resolved -> 10 + 30 + 40k + 0
      = 80 (k = 0.5: 60)
    DEPT-FG 区发展和改革局: September only -> October null; September: signed late, finished on
      time, no revisit -> 30/40 = 75
    DEPT-KG 区科学技术和工业信息化局: first card in November (not in October's list);
      November: signed on time, overdue -> 10/40 = 25
    """
    jt, gh, gm, fg, kg = (JT, JT_NAME), (GH, GH_NAME), (GM, GM_NAME), (FG, FG_NAME), (KG, KG_NAME)
    case_a, case_b, case_c, case_d, case_e, case_f, case_g, case_h, case_i, case_j, case_k = (
        uuid.uuid4() for _ in range(11)
    )
    cards = [
        # DEPT-JT
        card(jt, case_a, dispatched=sh(10, 9), signed=sh(10, 9, 10), first_contact=sh(10, 10),
             due=sh(10, 16, 17, 30), submitted=sh(10, 15), approved=sh(10, 16, 10), working_days=5),
        card(jt, case_b, dispatched=sh(10, 12), signed=sh(10, 12, 14), first_contact=sh(10, 13),
             original_due=sh(10, 19, 17, 30), due=sh(10, 26, 17, 30), extension_approved=True,
             submitted=sh(10, 23), approved=sh(10, 23, 16), working_days=9),
        card(jt, case_c, dispatched=sh(10, 13), status="returned", returned=sh(10, 14, 10),
             due=sh(10, 20, 17, 30)),
        card(jt, case_d, role="lead", dispatched=sh(9, 20), signed=sh(9, 20, 9, 30),
             first_contact=sh(9, 20, 15), original_due=sh(9, 27, 17, 30), due=sh(10, 20, 17, 30),
             submitted=sh(10, 19), approved=sh(10, 20), working_days=12, redo_count=1),
        card(jt, case_e, status="signed", dispatched=sh(10, 14), signed=sh(10, 14, 9, 30),
             due=sh(10, 21, 17, 30), level="listed", listed=True),
        card(jt, case_f, dispatched=sh(10, 15), signed=sh(10, 15, 10), first_contact=sh(10, 16, 10),
             due=sh(10, 22, 17, 30), submitted=sh(10, 27), approved=sh(10, 28), working_days=8,
             level="red"),
        card(jt, uuid.uuid4(), status="cancelled", dispatched=sh(10, 16), due=sh(10, 23, 17, 30)),
        card(jt, case_g, role="co", dispatched=sh(10, 19), signed=sh(10, 19, 9, 10),
             first_contact=sh(10, 19, 15), due=sh(10, 30, 17, 30), submitted=sh(10, 29),
             approved=sh(10, 30), working_days=8),
        card(jt, uuid.uuid4(), status="signed", dispatched=sh(10, 28), signed=sh(10, 28, 9, 20),
             first_contact=sh(10, 28, 11), due=sh(11, 4, 17, 30)),
        # DEPT-GH
        card(gh, case_c, dispatched=sh(10, 14, 11), signed=sh(10, 14, 12), first_contact=sh(10, 15),
             due=sh(10, 21, 17, 30), submitted=sh(10, 20), approved=sh(10, 21), working_days=5),
        card(gh, case_g, role="lead", dispatched=sh(10, 19), signed=sh(10, 19, 9, 30),
             first_contact=sh(10, 19, 16), due=sh(10, 30, 17, 30), submitted=sh(10, 30, 10),
             approved=sh(10, 30, 15), working_days=9),
        card(gh, case_h, dispatched=sh(10, 26), signed=sh(10, 26, 9, 30), first_contact=sh(10, 26, 14),
             due=sh(10, 30, 17, 30), submitted=sh(10, 29), approved=sh(10, 30, 16), working_days=4),
        # HS-GM
        card(gm, case_i, dispatched=sh(10, 9), signed=sh(10, 9, 10, 30), first_contact=sh(10, 9, 15),
             due=sh(10, 15, 17, 30), submitted=sh(10, 15, 17), approved=sh(10, 16), working_days=5),
        # DEPT-FG: September only
        card(fg, case_j, dispatched=sh(9, 10), signed=sh(9, 10, 15), first_contact=sh(9, 11),
             due=sh(9, 17, 17, 30), submitted=sh(9, 16), approved=sh(9, 17), working_days=5),
        # DEPT-KG: November only, overdue
        card(kg, case_k, status="signed", dispatched=sh(11, 3), signed=sh(11, 3, 10),
             first_contact=sh(11, 3, 15), due=sh(11, 10, 17, 30)),
    ]  # fmt: skip
    ratings = [
        rating(case_a, "satisfied", sh(10, 17), resolved=True),
        rating(case_b, "basic", sh(10, 24), resolved=True),
        rating(case_d, "unsatisfied", sh(9, 28), resolved=False),  # September, round 0
        rating(case_d, "satisfied", sh(10, 21), round=1, resolved=True),
        rating(case_f, "unsatisfied", sh(10, 29)),
        rating(case_c, "satisfied", sh(10, 25), resolved=True),  # DEPT-GH (JT returned C)
        rating(case_g, "satisfied", sh(10, 31, 23, 30), resolved=True),  # GH lead; JT co
        rating(case_h, "unsatisfied", sh(11, 1, 0, 30), resolved=False),  # November in Shanghai
        rating(case_i, "basic", sh(10, 17), resolved=False),
    ]
    session.add_all([*cards, *ratings])
    # HS owns cases but never had a card: known, so its scorecard is zeros rather than a 404.
    session.add(case_fact(owner="HS", received=sh(10, 9)))


def expected_jt(k: float = 1.0) -> dict[str, Any]:
    satisfaction = 0.75 if k == 1.0 else 0.625
    return {
        "unit_code": JT,
        "unit_name": JT_NAME,
        "unit_kind": "department",
        "month": "2026-10",
        "dispatched": 7,
        "sign_on_time": {"numerator": 5, "denominator": 7, "rate": 0.7143, "pending": 0},
        "response": {"numerator": 4, "denominator": 7, "rate": 0.5714, "pending": 0},
        "due_in_period": 6,
        "completion_on_time": {"numerator": 4, "denominator": 6, "rate": 0.6667, "pending": 0},
        # JT has no project steps in October: the agency rate is 0/0.
        "agency_due_in_period": 0,
        "agency_on_time": {"numerator": 0, "denominator": 0, "rate": None, "pending": 0},
        "resolution": {"numerator": 3, "denominator": 3, "rate": 1.0, "pending": 0},
        "satisfaction": {
            "numerator": 2 + k,
            "denominator": 4,
            "rate": satisfaction,
            "satisfied": 2,
            "basic": 1,
            "unsatisfied": 1,
            "k": k,
        },
        "completed": 5,
        "redo": {"numerator": 1, "denominator": 5, "rate": 0.2, "pending": 0},
        "returned": {"numerator": 1, "denominator": 7, "rate": 0.1429, "pending": 0},
        "average_working_days": 8.4,
        "overdue": 2,
        "supervision": {"red": 1, "listed": 1, "escalated": 0},
        "deductions": 2.5,
        "base_score": 77.14 if k == 1.0 else 72.14,
        "score": 74.64 if k == 1.0 else 69.64,
    }
