"""Unicode edge cases in every free-text field (see ``probes.py`` for the field list).

Decisions (asserted here):

* Full-width digits in phone numbers are accepted and normalized (NFKC) to ASCII; digits of
  other scripts (Arabic-Indic, Devanagari) are refused with 422 ``invalid_phone``.
* Emoji (ZWJ sequences, skin tones, flags), mixed scripts (Chinese, Uyghur, Tibetan, Latin,
  Cyrillic), combining characters, C1 controls and format characters (RTL override U+202E,
  zero-width space, BOM, line/paragraph separators) are stored **as given**: no NFC/NFKC
  normalization, no stripping inside the text, returned byte for byte. Only leading and
  trailing whitespace is trimmed (``strip_whitespace``). Rendering RTL overrides safely is the
  job of whatever displays the text.
* C0 control characters and DEL are refused with 422 where the schema has a control-character
  validator (``control_characters``; ``value_error`` in routing's case/card texts). NUL must be
  refused everywhere: PostgreSQL cannot store it, and letting it through turns into a 503.
* A lone surrogate (``"\\ud800"`` in JSON) is refused with 422 ``string_unicode``.
* Length limits count characters (code points): a field at its limit made of 4-byte
  characters, or of one grapheme (a letter with hundreds of combining marks), is accepted;
  one more character is 422 ``string_too_long``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.hostile.conftest import Loop, submission
from tests.hostile.probes import PROBES, Probe, Resources, encode, person

TEXT_PROBES = [p for p in PROBES if p.kind == "text"]
BY_NAME = {p.name: p for p in PROBES}


def _names(*names: str) -> list[Probe]:
    return [BY_NAME[name] for name in names]


# --- groups of fields sharing a fault (one fix each) ----------------------------------------

SCORING_TEXT = _names(
    "scoring POST /v1/cases/{id}/feedback notes",
    "scoring POST /v1/cases/{id}/feedback minutes",
    "scoring POST /v1/cases/{id}/feedback attendees[]",
    "scoring POST /v1/cases/{id}/ratings comment",
    "scoring POST /v1/ratings/by-platform comment",
    "scoring POST /v1/visits target_name",
    "intake POST /v1/requests/{no}/rating comment",
)
MILESTONE = _names("routing POST /v1/cases/{id}/dispatch milestones[].name")
TOKEN = _names("routing POST /v1/auth/token username")
PLATFORM_TRACKING_NO = _names("scoring POST /v1/ratings/by-platform tracking_no")
URLS = [p for p in PROBES if p.kind == "url"]
NUL_BUGS = {
    "scoring_text": (
        SCORING_TEXT,
        "scoring_service/feedback/schemas.py Text (FeedbackIn.notes/minutes/attendees, "
        "RatingIn.comment, VisitIn.target_name) and intake_service/issue/rating.py RatingIn.comment "
        "have no control-character validator: NUL reaches PostgreSQL and the answer is 503",
    ),
    "milestone_name": (
        MILESTONE,
        "routing_service/assignment/schemas.py MilestoneIn.name has no control-character "
        "validator: NUL reaches PostgreSQL and dispatch answers 503",
    ),
    "token_username": (
        TOKEN,
        "routing POST /v1/auth/token: a NUL in username goes into the staff lookup query; "
        "PostgreSQL refuses it and the answer is 503 instead of 401/422",
    ),
    "platform_tracking_no": (
        PLATFORM_TRACKING_NO,
        "scoring PlatformRatingIn.tracking_no accepts any characters: a NUL goes into the case "
        "lookup query and the answer is 503 instead of 404/422",
    ),
    "urls_and_email": (
        URLS,
        "URL/e-mail patterns ([^\\s]+, \\S+) let NUL through: intake AttachmentRef.url and "
        "SubmitterIn.email, routing EvidenceUrl and WebhookUrl, Open311 media_url reach "
        "PostgreSQL and answer 503 (Open311: 400 with code 503 'service unavailable')",
    ),
}
NUL_BUG_PROBES = {p.name for probes, _ in NUL_BUGS.values() for p in probes}
NUL_OK = [p for p in PROBES if p.name not in NUL_BUG_PROBES]


async def _run(
    loop: Loop,
    probes: list[Probe],
    value: Callable[[Probe], str],
    check: Callable[[Probe, httpx.Response], None],
    reset: Callable[[], None],
    fresh: bool = False,
) -> None:
    """Send ``value(probe)`` through each probe; collect every failing field."""
    resources = Resources(loop)
    failures = []
    for probe in probes:
        reset()
        response = await probe.send(resources, value(probe), fresh)
        if response.status_code < 300:
            resources.spoil()
        try:
            check(probe, response)
        except AssertionError as exc:
            failures.append(f"{probe}: {exc}")
    assert not failures, "\n".join(failures)


def _refused(probe: Probe, response: httpx.Response) -> None:
    """A 4xx: the shared envelope, or the Open311 list of errors."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    body = response.json()
    if probe.name.startswith("intake POST /open311"):
        assert isinstance(body, list) and all(set(e) == {"code", "description"} for e in body), body
        assert all(e["code"] < 500 for e in body), body
    else:
        assert set(body) == {"error"} and set(body["error"]) >= {"code", "message", "message_en"}, body


def _nul(probe: Probe) -> str:
    return "ab\x00cdef"


def _nul_params() -> list[Any]:
    params: list[Any] = [pytest.param(NUL_OK, id="validated_fields")]
    for name, (probes, reason) in NUL_BUGS.items():
        params.append(pytest.param(probes, id=name, marks=pytest.mark.xfail(strict=True, reason=reason)))
    return params


@pytest.mark.parametrize("probes", _nul_params())
async def test_nul_is_refused_with_a_4xx(
    loop: Loop, reset_rate_limits: Callable[[], None], probes: list[Probe]
) -> None:
    await _run(loop, probes, _nul, _refused, reset_rate_limits)


# --- other control characters ---------------------------------------------------------------

CONTROLS = ["\x1b[2J", "\x07", "\x1f", "\x7f"]
CONTROL_CHECKED = [p for p in TEXT_PROBES if p.control_checked]
ROUTING_CASE_TEXT = [p for p in CONTROL_CHECKED if p.name.startswith(("routing POST /v1/cases", "routing POST /v1/cards"))]


def _control_refused(probe: Probe, response: httpx.Response) -> None:
    _refused(probe, response)
    if not probe.name.startswith("intake POST /open311"):
        error = response.json()["error"]
        assert error["code"] == "validation_error", error
        types = {item["type"] for item in error["details"]}
        assert types & {"control_characters", "value_error"}, error


async def test_c0_controls_are_refused_where_the_schema_says_so(
    loop: Loop, reset_rate_limits: Callable[[], None]
) -> None:
    """ESC (terminal escape sequences), BEL and US, in turn over the fields."""
    order = {p.name: i for i, p in enumerate(CONTROL_CHECKED)}
    await _run(
        loop,
        CONTROL_CHECKED,
        lambda p: f"ab{CONTROLS[order[p.name] % 3]}cdef",
        _control_refused,
        reset_rate_limits,
    )


async def test_del_is_refused_where_the_schema_says_so(
    loop: Loop, reset_rate_limits: Callable[[], None]
) -> None:
    probes = [p for p in CONTROL_CHECKED if p not in ROUTING_CASE_TEXT]
    await _run(loop, probes, lambda p: "ab\x7fcdef", _control_refused, reset_rate_limits)


@pytest.mark.xfail(
    strict=True,
    reason=(
        "routing_service/assignment/schemas.py _no_control checks ord < 32 only: DEL (0x7f) is "
        "accepted in case/card texts (reason, answer, instructions, result, notes), unlike "
        "intake and routing's department/webhook schemas, which refuse it"
    ),
)
async def test_del_is_refused_in_routing_case_and_card_texts(
    loop: Loop, reset_rate_limits: Callable[[], None]
) -> None:
    await _run(loop, ROUTING_CASE_TEXT, lambda p: "ab\x7fcdef", _control_refused, reset_rate_limits)


UNCHECKED_TEXT = [p for p in TEXT_PROBES if not p.control_checked and p not in TOKEN + PLATFORM_TRACKING_NO]


@pytest.mark.xfail(
    strict=True,
    reason=(
        "no control-character validator on scoring's free texts (feedback, ratings, visits), "
        "intake's rating comment and routing's milestone names: ESC/BEL/US/DEL are stored"
    ),
)
async def test_controls_are_refused_in_scoring_and_milestone_texts(
    loop: Loop, reset_rate_limits: Callable[[], None]
) -> None:
    await _run(loop, UNCHECKED_TEXT, lambda p: "ab\x1b[2Jcdef", _control_refused, reset_rate_limits, fresh=True)


# --- lone surrogates ------------------------------------------------------------------------


def _surrogate_refused(probe: Probe, response: httpx.Response) -> None:
    _refused(probe, response)
    error = response.json()["error"]
    assert error["code"] == "validation_error", error
    assert {item["type"] for item in error["details"]} & {"string_unicode", "json_invalid"}, error


async def test_lone_surrogates_are_refused(loop: Loop, reset_rate_limits: Callable[[], None]) -> None:
    probes = [p for p in PROBES if not p.name.startswith("intake POST /open311")]
    await _run(loop, probes, lambda p: "ab\ud800cd\udfffef", _surrogate_refused, reset_rate_limits)


@pytest.mark.parametrize("raw", [b"%ED%A0%80", b"%FF%FE", b"%C0%AF", b"%E4%B8"], ids=["cesu_surrogate", "ff_fe", "overlong", "truncated"])
async def test_invalid_utf8_in_an_open311_form_is_not_a_5xx(loop: Loop, raw: bytes) -> None:
    body = (
        b"api_key=" + loop.channel_key.encode() + b"&service_code=water&address_string=abc"
        b"&attribute%5Brequest_type%5D=complaint&phone=13612340000&description=abcdef" + raw
    )
    response = await loop.intake.post(
        "/open311/v2/requests.json", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code in (200, 400), response.text


@pytest.mark.parametrize("raw", ["%ED%A0%80", "%FF", "%00", "%C0%AF"], ids=["surrogate", "ff", "nul", "overlong"])
async def test_invalid_utf8_in_paths_and_queries_is_not_a_5xx(loop: Loop, raw: str) -> None:
    admin = loop.org.auth("admin")
    requests = [
        (loop.intake, f"/v1/requests/YS{raw}1234", {"X-Tracking-Secret": "x"}),
        (loop.intake, f"/v1/topics/suggest?title={raw}&description={raw}", {}),
        (loop.intake, f"/open311/v2/requests/{raw}.json", {}),
        (loop.intake, f"/open311/v2/requests.json?service_code={raw}&status={raw}", {}),
        (loop.routing, f"/v1/org/units/{raw}", admin),
        (loop.routing, f"/v1/org/staff/{raw}", admin),
        (loop.routing, f"/v1/cases/by-tracking/YS{raw}", admin) if raw != "%00" else (loop.routing, "/v1/cases", admin),
        (loop.routing, f"/v1/cases?status={raw}&unit_code={raw}", admin),
        (loop.routing, f"/v1/dispatch-rules/suggest?topic=water&area_code={raw}", admin),
        (loop.scoring, f"/v1/evaluation/scorecards/{raw}", admin),
        (loop.scoring, f"/v1/evaluation/policy?month={raw}", admin),
    ]
    failures = []
    for client, url, headers in requests:
        response = await client.get(url, headers=headers)
        if response.status_code >= 500:
            failures.append(f"{url}: {response.status_code} {response.text[:200]}")
    assert not failures, "\n".join(failures)


@pytest.mark.xfail(
    strict=True,
    reason=(
        "routing GET /v1/cases/by-tracking/{tracking_no} has no pattern on the path parameter: "
        "a NUL goes into the case lookup query and the answer is 503 instead of 404/422"
    ),
)
async def test_nul_in_the_routing_tracking_path_is_not_a_5xx(loop: Loop) -> None:
    response = await loop.routing.get("/v1/cases/by-tracking/YS%00123", headers=loop.org.auth("admin"))
    assert 400 <= response.status_code < 500, response.text


# --- length limits are in characters --------------------------------------------------------

LIMITED = [p for p in TEXT_PROBES if p.max_length is not None and p not in TOKEN + PLATFORM_TRACKING_NO]
RECORDED_BY = _names("intake POST /v1/requests recorded_by")


def _accepted(probe: Probe, response: httpx.Response) -> None:
    assert response.status_code < 300, (response.status_code, response.text[:300])


def _too_long(probe: Probe, response: httpx.Response) -> None:
    _refused(probe, response)
    if not probe.name.startswith("intake POST /open311"):
        error = response.json()["error"]
        assert "string_too_long" in {item["type"] for item in error["details"]}, error


def _at_limit(char: str) -> Callable[[Probe], str]:
    return lambda p: char * (p.max_length or 0)


def _one_grapheme(p: Probe) -> str:
    """One user-perceived character: a letter and (limit - 1) combining marks."""
    return "e" + "\u0301\u0308\u0323"[0] * ((p.max_length or 1) - 1)


def _four_bytes(p: Probe) -> str:
    """4-byte UTF-8 characters (CJK extension B and emoji, alternating) up to the limit."""
    return "".join("\U00020000" if i % 2 else "😀" for i in range(p.max_length or 0))


@pytest.mark.parametrize("value", [_four_bytes, _one_grapheme], ids=["four_byte_chars", "one_grapheme"])
async def test_values_at_the_length_limit_are_accepted(
    loop: Loop, reset_rate_limits: Callable[[], None], value: Callable[[Probe], str]
) -> None:
    probes = [p for p in LIMITED if p not in RECORDED_BY]
    await _run(loop, probes, value, _accepted, reset_rate_limits, fresh=True)


async def test_one_character_over_the_limit_is_refused(
    loop: Loop, reset_rate_limits: Callable[[], None]
) -> None:
    await _run(loop, LIMITED, lambda p: "\U00020000" * ((p.max_length or 0) + 1), _too_long, reset_rate_limits)


@pytest.mark.xfail(
    strict=True,
    reason=(
        "intake IssueCreate.recorded_by allows 200 characters (ShortText) but the column "
        "issue.recorded_by is String(100): 101-200 characters end in a 503"
    ),
)
async def test_recorded_by_at_its_documented_limit_is_accepted(
    loop: Loop, reset_rate_limits: Callable[[], None]
) -> None:
    await _run(loop, RECORDED_BY, _at_limit("录"), _accepted, reset_rate_limits, fresh=True)


# --- stored as given: emoji, scripts, combining marks, format characters ------------------

AS_GIVEN = {
    "emoji_zwj_family": "家庭👨‍👩‍👧‍👦投诉",
    "emoji_skin_tones": "点赞👍🏽👋🏿🤝🏻",
    "emoji_flags_keycaps": "🇨🇳🏳️‍🌈1️⃣#️⃣",
    "mixed_scripts": "邯山区 ئۇيغۇرچە بىلدۈرۈش བོད་ཡིག་ Latin Кириллица ελληνικά",
    "combining_decomposed": "Cafe\u0301 re\u0301sume\u0301 n\u0303",
    "zalgo": "Z\u0364\u0351\u0313a\u0308\u0356\u032dl\u036e\u0312g\u030c\u0317o\u0319",
    "rtl_override": "正常文本\u202e这段反向显示\u202c结束",
    "bidi_isolates": "地址\u2066ABC\u2069\u200f编号",
    "zero_width": "零\u200b宽\u200c字\u200d符\ufeff",
    "line_separators": "第一行\u2028第二行\u2029第三段",
    "c1_controls": "文本\u0085\u009b31m带C1控制符",
    "nfkc_sensitive": "ｆｕｌｌｗｉｄｔｈ ①②③ ㍿ ﬁ",
    "cjk_ext_b": "𠀀𠀁𪚥𰻞",
    "newlines_tabs": "第一行\n第二行\r\n\t缩进",
}


@pytest.mark.parametrize("text", list(AS_GIVEN.values()), ids=list(AS_GIVEN))
async def test_text_is_stored_as_given(loop: Loop, text: str) -> None:
    """Title and description keep every code point, in the submitter's view, the routing case,
    the webhook payload and the scoring rating comment."""
    title = text[:100]
    description = f"{text} 详细情况说明"
    receipt = await loop.submit(submission(title=title, description=description, submitter=person()))
    view = (await loop.intake.get(f"/v1/requests/{receipt['tracking_no']}",
                                  headers={"X-Tracking-Secret": receipt["tracking_secret"]})).json()  # fmt: skip
    assert (view["title"], view["description"]) == (title, description)
    case = await loop.case_for(receipt["tracking_no"])
    assert (case["title"], case["description"]) == (title, description)


async def test_only_outer_whitespace_is_trimmed(loop: Loop) -> None:
    receipt = await loop.submit(
        submission(title="  \u3000 前后空白 \t\n", description="\n  中间  保留   空白 \u3000", submitter=person())
    )
    view = (await loop.intake.get(f"/v1/requests/{receipt['tracking_no']}",
                                  headers={"X-Tracking-Secret": receipt["tracking_secret"]})).json()  # fmt: skip
    assert view["title"] == "前后空白"
    assert view["description"] == "中间  保留   空白"


async def test_emoji_round_trip_through_the_webhook_payload(loop: Loop) -> None:
    admin = loop.org.auth("admin")
    await loop.call("POST", "/v1/webhooks/subscriptions", status=201,
                    json={"unit_code": "DEPT-JT", "url": "https://hooks.example.com/ys", "event_types": ["*"]})  # fmt: skip
    title = "👨‍👩‍👧‍👦 ئۇيغۇر བོད 𠀀\u202eRTL"
    case = await loop.dispatched(submission(title=title, submitter=person()))
    deliveries = (await loop.routing.get("/v1/webhooks/deliveries", headers=admin)).json()
    items = deliveries["items"] if isinstance(deliveries, dict) else deliveries
    [delivery] = [d for d in items if d["event_type"] == "card.dispatched"]
    detail = (await loop.routing.get(f"/v1/webhooks/deliveries/{delivery['id']}", headers=admin)).json()
    assert detail["payload"]["data"]["title"] == title
    assert detail["payload"]["data"]["card_id"] == case["card_id"]


# --- phone numbers --------------------------------------------------------------------------

FULL_WIDTH_PHONES = {
    "１３８１２３４５６７８": "13812345678",
    "１３８ １２３４ ５６７８": "13812345678",
    "＋８６ １３８－１２３４－５６７８": "13812345678",
    "（０３１０）１２３４５６７": "0310-1234567",
    "０３１０－１２３４５６７": "0310-1234567",
}


@pytest.mark.parametrize("given", list(FULL_WIDTH_PHONES), ids=lambda v: v.encode("unicode_escape").decode()[:24])
async def test_full_width_phone_digits_are_normalized(loop: Loop, given: str) -> None:
    expected = FULL_WIDTH_PHONES[given]
    body = submission(submitter={"kind": "person", "name": "张三", "phone": given})
    receipt = await loop.submit(body)
    tracked = await loop.intake.get(
        f"/v1/requests/{receipt['tracking_no']}", headers={"X-Submitter-Phone": expected}
    )
    assert tracked.status_code == 200, tracked.text
    case = await loop.case_for(receipt["tracking_no"])
    assert expected in str(case["submitter"]) or "*" in str(case["submitter"].get("phone", "")), case["submitter"]
    # the same number on the other phone fields
    staff = await loop.routing.post(
        "/v1/org/staff",
        headers=loop.org.auth("admin"),
        json={"username": f"p{abs(hash(given)) % 10**6}_x", "display_name": "电话测试", "role": "liaison",
              "unit_code": "DEPT-JT", "password": "long-enough-password", "phone": given},
    )  # fmt: skip
    assert staff.status_code == 201, staff.text
    assert staff.json()["phone"] == expected


@pytest.mark.parametrize(
    "phone",
    ["١٣٨١٢٣٤٥٦٧٨", "१३८१२३४५६७८", "𝟏𝟑𝟖𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖", "138\u200b1234\u200b5678", "13812345678\x00", "1" * 40],
    ids=["arabic_indic", "devanagari", "math_bold", "zero_width_space", "nul", "long"],
)
async def test_other_digit_forms_are_refused_or_normalized_never_5xx(loop: Loop, phone: str) -> None:
    response = await loop.intake.post(
        "/v1/requests",
        content=encode(submission(submitter={"kind": "person", "name": "张三", "phone": phone})),
        headers={"X-API-Key": loop.channel_key, "Content-Type": "application/json"},
    )
    assert response.status_code in (201, 422), response.text
    if response.status_code == 422:
        error = response.json()["error"]
        assert "invalid_phone" in {item["type"] for item in error["details"]}, error
