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

from tests.fixtures.oauth import assert_oauth_error
from tests.hostile.conftest import Loop, assert_envelope, assert_open311_errors, submission
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
TOKEN = _names("routing POST /v1/auth/token username")
PLATFORM_TRACKING_NO = _names("scoring POST /v1/ratings/by-platform tracking_no")
URLS = [p for p in PROBES if p.kind == "url"]


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


def _refused(probe: Probe, response: httpx.Response) -> dict[str, Any] | None:
    """A 4xx: the shared envelope, the token endpoint's RFC 6749 form (which carries the
    envelope's fields) or the Open311 list of errors. Returns the envelope's fields, if any."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    if probe.name.startswith("intake POST /open311"):
        errors = assert_open311_errors(response, response.status_code)
        assert all(e["code"] < 500 for e in errors), errors
        return None
    if probe in TOKEN:
        return assert_oauth_error(response, "invalid_request")
    return assert_envelope(response)


def _nul(probe: Probe) -> str:
    return "ab\x00cdef"


async def test_nul_is_refused_with_a_4xx(loop: Loop, reset_rate_limits: Callable[[], None]) -> None:
    """Every validated field, URLs and e-mail addresses included."""
    await _run(loop, PROBES, _nul, _refused, reset_rate_limits)


# --- other control characters ---------------------------------------------------------------

CONTROLS = ["\x1b[2J", "\x07", "\x1f", "\x7f"]
CONTROL_CHECKED = [p for p in TEXT_PROBES if p.control_checked]
# routing's case and card texts (scoring's redo reason is relayed to routing's RedoIn)
ROUTING_CASE_TEXT = [
    p
    for p in CONTROL_CHECKED
    if p.name.startswith(
        ("routing POST /v1/cases", "routing POST /v1/cards", "scoring POST /v1/ratings/{id}/redo")
    )
]
RELAYED = {"scoring POST /v1/ratings/{id}/redo reason"}


def _control_refused(probe: Probe, response: httpx.Response) -> None:
    error = _refused(probe, response)
    if error is not None:
        assert error["code"] == "validation_error", error
        if probe.name in RELAYED and error["details"] is None:
            return  # scoring passes routing's refusal on without its details
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


async def test_del_is_refused_in_routing_case_and_card_texts(
    loop: Loop, reset_rate_limits: Callable[[], None]
) -> None:
    await _run(loop, ROUTING_CASE_TEXT, lambda p: "ab\x7fcdef", _control_refused, reset_rate_limits)


async def test_controls_in_urls_and_emails_are_refused_by_the_one_validator(
    loop: Loop, reset_rate_limits: Callable[[], None]
) -> None:
    """URLs and e-mail addresses are single-line values: ESC, BEL, US, DEL and a line break
    are named as control characters (not as "does not match the pattern")."""
    controls = [*CONTROLS, "\n"]
    order = {p.name: i for i, p in enumerate(URLS)}
    await _run(
        loop,
        URLS,
        lambda p: f"ab{controls[order[p.name] % len(controls)]}cdef",
        _control_refused,
        reset_rate_limits,
    )


@pytest.mark.parametrize("raw", ["%1B%5B2J", "%07", "%7F", "%0A"])
async def test_controls_in_paths_and_queries_are_refused_by_the_one_validator(
    loop: Loop, raw: str
) -> None:
    admin = loop.org.auth("admin")
    native = [
        (loop.intake, f"/v1/requests/YS{raw}1234", {"X-Tracking-Secret": "x"}, ("path",)),
        (loop.intake, f"/v1/topics/suggest?title=a{raw}b&description=c",
         {}, ("query", "title")),
        (loop.routing, f"/v1/org/units/{raw}", admin, ("path",)),
        (loop.routing, f"/v1/cases?unit_code=A{raw}", admin, ("query", "unit_code")),
        (loop.scoring, f"/v1/evaluation/policy?month=2026{raw}", admin, ("query", "month")),
    ]  # fmt: skip
    for client, url, headers, where in native:
        response = await client.get(url, headers=headers)
        assert response.status_code == 422, (url, response.status_code, response.text[:200])
        (item,) = response.json()["error"]["details"]
        assert (item["type"], tuple(item["loc"])) == ("control_characters", where), url
    for url in (f"/open311/v2/requests/YS{raw}.json",
                f"/open311/v2/requests.json?service_code=water{raw}"):  # fmt: skip
        (error,) = assert_open311_errors(await loop.intake.get(url), 400)
        assert "控制字符" in error["description"], error


# --- lone surrogates ------------------------------------------------------------------------


def _surrogate_refused(probe: Probe, response: httpx.Response) -> None:
    error = _refused(probe, response)
    assert error is not None, probe
    assert error["code"] == "validation_error", error
    assert {item["type"] for item in error["details"]} & {"string_unicode", "json_invalid"}, error


async def test_lone_surrogates_are_refused(
    loop: Loop, reset_rate_limits: Callable[[], None]
) -> None:
    probes = [p for p in PROBES if not p.name.startswith("intake POST /open311")]
    await _run(loop, probes, lambda p: "ab\ud800cd\udfffef", _surrogate_refused, reset_rate_limits)


INVALID_UTF8 = {
    "cesu_surrogate": "%ED%A0%80",
    "ff": "%FF%FE",
    "overlong": "%C0%AF",
    "truncated": "%E4%B8",
}


async def test_invalid_utf8_in_an_open311_form_is_not_a_5xx(loop: Loop) -> None:
    """Decoded with replacement characters: accepted (as U+FFFD) or refused, never a 5xx."""
    statuses = {}
    for name, raw in INVALID_UTF8.items():
        body = (
            b"api_key=" + loop.channel_key.encode() + b"&service_code=water&address_string=abc"
            b"&attribute%5Brequest_type%5D=complaint&phone=1361234000" + str(len(statuses)).encode()
            + b"&description=abcdef" + raw.encode()
        )  # fmt: skip
        response = await loop.intake.post(
            "/open311/v2/requests.json",
            content=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        statuses[name] = response.status_code
    assert all(status in (200, 400) for status in statuses.values()), statuses


async def test_invalid_utf8_in_paths_and_queries_is_not_a_5xx(loop: Loop) -> None:
    failures: list[str] = []
    for raw in [*INVALID_UTF8.values(), "%00"]:
        await _paths_and_queries(loop, raw, failures)
    assert not failures, "\n".join(failures)


async def _paths_and_queries(loop: Loop, raw: str, failures: list[str]) -> None:
    admin = loop.org.auth("admin")
    requests = [
        (loop.intake, f"/v1/requests/YS{raw}1234", {"X-Tracking-Secret": "x"}),
        (loop.intake, f"/v1/topics/suggest?title={raw}&description={raw}", {}),
        (loop.intake, f"/open311/v2/requests/{raw}.json", {}),
        (loop.intake, f"/open311/v2/requests.json?service_code={raw}&status={raw}", {}),
        (loop.routing, f"/v1/org/units/{raw}", admin),
        (loop.routing, f"/v1/org/staff/{raw}", admin),
        (loop.routing, f"/v1/cases/by-tracking/YS{raw}", admin)
        if raw != "%00"
        else (loop.routing, "/v1/cases", admin),
        (loop.routing, f"/v1/cases?status={raw}&unit_code={raw}", admin),
        (loop.routing, f"/v1/dispatch-rules/suggest?topic=water&area_code={raw}", admin),
        (loop.scoring, f"/v1/evaluation/scorecards/{raw}", admin),
        (loop.scoring, f"/v1/evaluation/policy?month={raw}", admin),
    ]
    for client, url, headers in requests:
        response = await client.get(url, headers=headers)
        if response.status_code >= 500:
            failures.append(f"{url}: {response.status_code} {response.text[:200]}")


# --- NUL in every string parameter of every operation without a body ----------------------

NUL_VALUE = "YS26\x00ABCD"  # long enough for min_length, no pattern accepts it
# (service, method, path, parameter) that answer 5xx today (Open311: 400 with code 503)


def _schema_of(parameter: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = parameter.get("schema", {})
    if "anyOf" in schema:
        schema = next((s for s in schema["anyOf"] if s.get("type") != "null"), schema)
    return schema


def _plain_value(parameter: dict[str, Any]) -> str:
    schema = _schema_of(parameter)
    if schema.get("format") == "uuid":
        return "00000000-0000-4000-8000-000000000001"
    if schema.get("enum"):
        return str(schema["enum"][0])
    if schema.get("type") in ("integer", "number"):
        return "1"
    if schema.get("type") == "boolean":
        return "true"
    return {"fmt": "json", "month": "2026-05", "year": "2026"}.get(parameter["name"], "HS")


def _is_free_string(parameter: dict[str, Any]) -> bool:
    schema = _schema_of(parameter)
    if schema.get("type") == "array":
        schema = schema.get("items", {})
    return (
        parameter["in"] in ("path", "query")
        and schema.get("type", "string") == "string"
        and not schema.get("enum")
        and schema.get("format") not in ("uuid", "date", "date-time")
    )


async def _nul_parameter_failures(
    loop: Loop, reset: Callable[[], None]
) -> set[tuple[str, str, str, str]]:
    """Every bodiless operation of the three OpenAPI descriptions, NUL in each free string
    parameter in turn (others plain): the ones not refused as control characters."""
    from urllib.parse import quote

    clients = {"intake": loop.intake, "routing": loop.routing, "scoring": loop.scoring}
    failing = set()
    for service, client in clients.items():
        spec = (await client.get("/openapi.json")).json()
        headers = loop.org.auth("admin")
        if service == "intake":
            headers = {"X-API-Key": loop.channel_key, **headers}
        for path, item in spec["paths"].items():
            for method, operation in item.items():
                if method not in ("get", "delete", "post") or "requestBody" in operation:
                    continue
                parameters = operation.get("parameters", [])
                for target in filter(_is_free_string, parameters):
                    url, query = path, {}
                    for parameter in parameters:
                        value = NUL_VALUE if parameter is target else _plain_value(parameter)
                        if parameter["in"] == "path":
                            url = url.replace("{" + parameter["name"] + "}", quote(value, safe=""))
                        elif parameter["in"] == "query" and (
                            parameter is target or parameter.get("required")
                        ):
                            query[parameter["name"]] = value
                    reset()
                    response = await client.request(
                        method.upper(), url, params=query, headers=headers
                    )
                    if not _refused_as_control_characters(path, response):
                        failing.add((service, method.upper(), path, target["name"]))
    return failing


def _refused_as_control_characters(path: str, response: httpx.Response) -> bool:
    """Refused by the one validator: the native 422 naming ``control_characters``, or
    Open311's own 400 list of errors."""
    if path.startswith("/open311"):
        if response.status_code != 400:
            return False
        body = response.json() if "json" in path else None
        return body is None or all(error["code"] == 400 for error in body)
    if response.status_code != 422:
        return False
    error = response.json()["error"]
    return error["code"] == "validation_error" and any(
        item["type"] == "control_characters" for item in error["details"]
    )


async def test_nul_in_parameters_is_refused_by_the_one_validator(
    loop: Loop, reset_rate_limits: Callable[[], None]
) -> None:
    """Generated from the live OpenAPI descriptions, so new endpoints are covered too."""
    failing = await _nul_parameter_failures(loop, reset_rate_limits)
    assert not failing, sorted(failing)


# --- length limits are in characters --------------------------------------------------------

LIMITED = [
    p for p in TEXT_PROBES if p.max_length is not None and p not in TOKEN + PLATFORM_TRACKING_NO
]
RECORDED_BY = _names("intake POST /v1/requests recorded_by")


def _accepted(probe: Probe, response: httpx.Response) -> None:
    assert response.status_code < 300, (response.status_code, response.text[:300])


def _too_long(probe: Probe, response: httpx.Response) -> None:
    error = _refused(probe, response)
    if error is not None:
        assert "string_too_long" in {item["type"] for item in error["details"]}, error


def _at_limit(char: str) -> Callable[[Probe], str]:
    return lambda p: char * (p.max_length or 0)


def _one_grapheme(p: Probe) -> str:
    """One user-perceived character: a letter and (limit - 1) combining marks."""
    return "e" + "\u0301\u0308\u0323"[0] * ((p.max_length or 1) - 1)


def _four_bytes(p: Probe) -> str:
    """4-byte UTF-8 characters (CJK extension B and emoji, alternating) up to the limit."""
    return "".join("\U00020000" if i % 2 else "😀" for i in range(p.max_length or 0))


@pytest.mark.parametrize(
    "value", [_four_bytes, _one_grapheme], ids=["four_byte_chars", "one_grapheme"]
)
async def test_values_at_the_length_limit_are_accepted(
    loop: Loop, reset_rate_limits: Callable[[], None], value: Callable[[Probe], str]
) -> None:
    await _run(loop, LIMITED, value, _accepted, reset_rate_limits, fresh=True)


async def test_one_character_over_the_limit_is_refused(
    loop: Loop, reset_rate_limits: Callable[[], None]
) -> None:
    await _run(
        loop,
        LIMITED,
        lambda p: "\U00020000" * ((p.max_length or 0) + 1),
        _too_long,
        reset_rate_limits,
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


async def test_text_is_stored_as_given(loop: Loop) -> None:
    """Title and description keep every code point, in the submitter's view and in the routing
    case (and the webhook payload: see below)."""
    failures = []
    for name, text in AS_GIVEN.items():
        title = text[:100]
        description = f"{text} 详细情况说明"
        receipt = await loop.submit(
            submission(title=title, description=description, submitter=person())
        )
        view = (await loop.intake.get(f"/v1/requests/{receipt['tracking_no']}",
                                      headers={"X-Tracking-Secret": receipt["tracking_secret"]})).json()  # fmt: skip
        case = await loop.case_for(receipt["tracking_no"])
        for where, got in (("intake", view), ("routing", case)):
            if (got["title"], got["description"]) != (title, description):
                failures.append(f"[{name}] {where}: {got['title']!r} / {got['description']!r}")
    assert not failures, "\n".join(failures)


async def test_only_outer_whitespace_is_trimmed(loop: Loop) -> None:
    receipt = await loop.submit(
        submission(
            title="  \u3000 前后空白 \t\n",
            description="\n  中间  保留   空白 \u3000",
            submitter=person(),
        )
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
    detail = (
        await loop.routing.get(f"/v1/webhooks/deliveries/{delivery['id']}", headers=admin)
    ).json()
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


async def test_full_width_phone_digits_are_normalized(loop: Loop) -> None:
    for n, (given, expected) in enumerate(FULL_WIDTH_PHONES.items()):
        await _full_width_phone(loop, n, given, expected)


async def _full_width_phone(loop: Loop, n: int, given: str, expected: str) -> None:
    body = submission(submitter={"kind": "person", "name": "张三", "phone": given})
    receipt = await loop.submit(body)
    tracked = await loop.intake.get(
        f"/v1/requests/{receipt['tracking_no']}", headers={"X-Submitter-Phone": expected}
    )
    assert tracked.status_code == 200, tracked.text
    case = await loop.case_for(receipt["tracking_no"])
    assert expected in str(case["submitter"]) or "*" in str(case["submitter"].get("phone", "")), (
        case["submitter"]
    )
    # the same number on the other phone fields
    staff = await loop.routing.post(
        "/v1/org/staff",
        headers=loop.org.auth("admin"),
        json={"username": f"phone{n}_x", "display_name": "电话测试", "role": "liaison",
              "unit_code": "DEPT-JT", "password": "long-enough-password", "phone": given},
    )  # fmt: skip
    assert staff.status_code == 201, (given, staff.text)
    assert staff.json()["phone"] == expected, given


OTHER_DIGITS = {
    "arabic_indic": "١٣٨١٢٣٤٥٦٧٨",
    "devanagari": "१३८१२३४५६७८",
    "math_bold": "𝟏𝟑𝟖𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖",
    "zero_width_space": "138\u200b1234\u200b5678",
    "nul": "13812345678\x00",
    "long": "1" * 40,
}


async def test_other_digit_forms_are_refused_or_normalized_never_5xx(
    intake_client: httpx.AsyncClient, channel_key: str
) -> None:
    """NFKC maps mathematical digits to ASCII (accepted); Arabic-Indic and Devanagari digits are
    not compatibility forms (refused, ``invalid_phone``); nothing is a 5xx."""
    outcomes = {}
    for name, phone in OTHER_DIGITS.items():
        response = await intake_client.post(
            "/v1/requests",
            content=encode(
                submission(submitter={"kind": "person", "name": "张三", "phone": phone})
            ),
            headers={"X-API-Key": channel_key, "Content-Type": "application/json"},
        )
        outcomes[name] = response.status_code
        assert response.status_code in (201, 422), (name, response.text)
        if response.status_code == 422:
            error = response.json()["error"]
            assert "invalid_phone" in {item["type"] for item in error["details"]}, (name, error)
    assert (
        outcomes["arabic_indic"]
        == outcomes["devanagari"]
        == outcomes["nul"]
        == outcomes["long"]
        == 422
    ), outcomes
