"""SQL, HTML/script, template and path text in every free-text field: stored and returned exactly
as given (a byte-for-byte round trip through every place it is read back), in JSON responses
(``application/json``: nothing is ever rendered as HTML), and escaped in Open311's XML.

Each payload travels the whole loop: submitted to intake → tracked → routed (case detail,
history, webhook payload) → handled by the department (contact, progress, extension, complete,
review) → feedback and rating in scoring; and separately through the org tree, dispatch rules,
webhooks, the CPPCC 165 API and Open311.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import xml.etree.ElementTree as ElementTree
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from openpyxl import load_workbook

from tests.hostile.conftest import Loop, submission

PAYLOADS = [
    "'; DROP TABLE issue; --",
    '" OR 1=1 --',
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "{{7*7}} ${7*7} #{7*7} <%= 7*7 %>",
    "../../etc/passwd",
    "Robert'); DELETE FROM card WHERE ('1'='1 -- & <b>粗体</b> &amp; &lt; \\x00 %s %n",
]
IDS = ["sql_drop", "sql_or", "script", "img_onerror", "template", "path", "mixed"]


async def for_each_payload(check: Callable[[str], Awaitable[None]]) -> None:
    """Run ``check`` for every payload (one set-up for all: the loop fixture is costly); report
    every payload that failed, not only the first."""
    failures = []
    for name, payload in zip(IDS, PAYLOADS, strict=True):
        try:
            await check(payload)
        except AssertionError as exc:
            failures.append(f"[{name}] {payload!r}: {exc}")
    assert not failures, "\n\n".join(failures)


def _json(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("application/json"), response.headers
    return response.json()


_PHONES = itertools.count(1000)


def person(name: str = "张三") -> dict[str, str]:
    """A submitter with a phone of their own: the same phone with similar text is a duplicate."""
    return {"kind": "person", "name": name, "phone": f"1381234{next(_PHONES):04d}"}


def _long(payload: str, minimum: int = 5) -> str:
    """The payload, padded (at the end, with a Chinese word) to a field's minimum length."""
    return payload if len(payload) >= minimum else payload + " 的说明"


async def test_request_text_round_trips_through_the_whole_loop(loop: Loop) -> None:
    admin = loop.org.auth("admin")
    # A subscription first, so each dispatch produces a webhook delivery to inspect.
    _json(
        await loop.routing.post(
            "/v1/webhooks/subscriptions",
            headers=admin,
            json={
                "unit_code": "DEPT-JT",
                "url": "https://hooks.example.com/ys",
                "event_types": ["*"],
            },
        ),
        201,
    )
    await for_each_payload(lambda payload: _whole_loop(loop, payload))


async def _whole_loop(loop: Loop, payload: str) -> None:
    admin = loop.org.auth("admin")
    description = _long(payload, 5)
    body = submission(
        title=payload,
        description=description,
        channel="hotline",
        recorded_by=payload,
        submitter=person(payload[:50]),
        location={"address": payload, "lat": 36.58, "lon": 114.51},
    )
    receipt = await loop.submit(body)
    owner = {"X-Tracking-Secret": receipt["tracking_secret"]}

    # intake: the submitter's view
    view = _json(await loop.intake.get(f"/v1/requests/{receipt['tracking_no']}", headers=owner))
    assert view["title"] == payload
    assert view["description"] == description

    # routing: case detail, in the list too
    case = await loop.case_for(receipt["tracking_no"])
    assert case["title"] == payload
    assert case["description"] == description
    assert case["address"] == payload
    listed = _json(await loop.routing.get("/v1/cases", headers=admin, params={"limit": 100}))
    assert payload in [c["title"] for c in listed["items"]]

    case_url = f"/v1/cases/{case['id']}"
    _json(await loop.routing.post(f"{case_url}/verify", headers=admin,
                                  json={"decision": "accept", "classification": "special", "reason": payload}))  # fmt: skip
    case = _json(
        await loop.routing.post(
            f"{case_url}/dispatch",
            headers=admin,
            json={
                "units": [{"unit_code": "DEPT-JT"}],
                "instructions": _long(payload, 2),
                "milestones": [{"name": payload, "days": 3}],
            },
        )
    )
    card = case["cards"][0]
    assert card["instructions"] == _long(payload, 2)
    assert [m["name"] for m in case["milestones"]] == [payload]
    assert case["decision_note"] in (None, payload)

    # the department's webhook payload carries the same text
    deliveries = _json(await loop.routing.get("/v1/webhooks/deliveries", headers=admin))
    items = deliveries["items"] if isinstance(deliveries, dict) else deliveries
    payloads = [
        _json(await loop.routing.get(f"/v1/webhooks/deliveries/{d['id']}", headers=admin))[
            "payload"
        ]
        for d in items
        if d["event_type"] == "card.dispatched"
    ]
    [data] = [p["data"] for p in payloads if p["data"]["card_id"] == card["id"]]
    assert data["title"] == payload
    assert data["description"] == description
    assert data["address"] == payload
    assert data["instructions"] == _long(payload, 2)

    # the department handles the card
    unit = {"X-API-Key": loop.jt_key}
    card_url = f"/v1/cards/{card['id']}"
    text = _long(payload, 2)
    _json(await loop.routing.post(f"{card_url}/sign", headers=unit))
    _json(await loop.routing.post(f"{card_url}/contact", headers=unit, json={"text": text}))
    _json(await loop.routing.post(f"{card_url}/progress", headers=unit, json={"text": text}))
    extension = _json(
        await loop.routing.post(
            f"{card_url}/extensions", headers=unit, json={"days": 2, "reason": text}
        ),
        201,
    )
    assert extension["reason"] == text
    _json(
        await loop.routing.post(
            f"{card_url}/extensions/{extension['id']}/decide",
            headers=admin,
            json={"approve": True, "note": text},
        )
    )
    done = _json(
        await loop.routing.post(f"{card_url}/complete", headers=unit, json={"result": text})
    )
    assert done["result"] == text
    back = _json(
        await loop.routing.post(
            f"{card_url}/review", headers=admin, json={"accept": False, "note": text}
        )
    )
    assert back["review_note"] == text
    _json(await loop.routing.post(f"{card_url}/complete", headers=unit, json={"result": text}))
    _json(await loop.routing.post(f"{card_url}/review", headers=admin, json={"accept": True}))
    card = _json(await loop.routing.get(card_url, headers=admin))
    assert card["result"] == text

    # the history keeps every reason exactly
    history = _json(await loop.routing.get(f"{case_url}/history", headers=admin))
    reasons = [event["reason"] for event in history if event["reason"] is not None]
    assert reasons, history
    assert all(reason in (payload, text) for reason in reasons), reasons
    assert text in reasons
    events_json = json.dumps([event["data"] for event in history], ensure_ascii=False)
    assert json.dumps(text, ensure_ascii=False)[1:-1] in events_json
    check = _json(await loop.routing.get(f"{case_url}/history/verify", headers=admin))
    assert check["valid"] is True, check

    # scoring: feedback and rating
    await loop.flush()
    feedback = {"method": "symposium", "notes": payload, "attendees": [payload], "minutes": payload}
    _json(
        await loop.scoring.post(f"/v1/cases/{case['id']}/feedback", headers=admin, json=feedback),
        201,
    )
    stored = _json(await loop.scoring.get(f"/v1/cases/{case['id']}/feedback", headers=admin))
    assert [(f["notes"], f["attendees"], f["minutes"]) for f in stored] == [
        (payload, [payload], payload)
    ]
    rating = {"satisfaction": "unsatisfied", "unit_at_fault": True, "comment": payload}
    _json(
        await loop.scoring.post(f"/v1/cases/{case['id']}/ratings", headers=admin, json=rating), 201
    )
    ratings = _json(await loop.scoring.get(f"/v1/cases/{case['id']}/ratings", headers=admin))
    assert [r["comment"] for r in ratings] == [payload]

    # the redo order travels scoring → routing (REST, wired by the loop fixture) with its reason
    redo = await loop.scoring.post(
        f"/v1/ratings/{ratings[0]['id']}/redo", headers=admin, json={"reason": text}
    )
    assert redo.status_code == 200, redo.text
    history = _json(await loop.routing.get(f"{case_url}/history", headers=admin))
    assert text in [event["reason"] for event in history]

    # and the submitter sees the statuses, never a rendered page
    view = _json(await loop.intake.get(f"/v1/requests/{receipt['tracking_no']}", headers=owner))
    assert view["title"] == payload


async def test_submitter_side_text_round_trips(loop: Loop) -> None:
    """Supplements and withdrawal reasons."""
    await for_each_payload(lambda payload: _submitter_side(loop, payload))


async def _submitter_side(loop: Loop, payload: str) -> None:
    receipt = await loop.submit(submission(title=payload, submitter=person()))
    owner = {"X-Tracking-Secret": receipt["tracking_secret"]}
    url = f"/v1/requests/{receipt['tracking_no']}"
    supplemented = _json(
        await loop.intake.post(f"{url}/supplements", headers=owner, json={"text": _long(payload)}),
        201,
    )
    assert supplemented["title"] == payload
    await loop.flush()
    case = await loop.case_for(receipt["tracking_no"])
    history = _json(
        await loop.routing.get(f"/v1/cases/{case['id']}/history", headers=loop.org.auth("admin"))
    )
    assert json.dumps(_long(payload), ensure_ascii=False)[1:-1] in json.dumps(
        history, ensure_ascii=False
    )
    withdrawn = _json(
        await loop.intake.post(f"{url}/withdraw", headers=owner, json={"reason": payload})
    )
    assert withdrawn["status"] == "withdrawn"
    assert payload in [entry["note"] for entry in withdrawn["history"]] + [withdrawn["status_note"]]


async def test_public_rating_comment_round_trips(loop: Loop) -> None:
    await for_each_payload(lambda payload: _public_rating(loop, payload))


async def _public_rating(loop: Loop, payload: str) -> None:
    case = await loop.completed(submission(submitter=person()))
    rated = await loop.intake.post(
        f"/v1/requests/{case['tracking_no']}/rating",
        headers={"X-Tracking-Secret": case["tracking_secret"]},
        json={"satisfaction": "basic", "comment": payload},
    )
    assert _json(rated, 201)["comment"] == payload
    ratings = _json(
        await loop.scoring.get(f"/v1/cases/{case['id']}/ratings", headers=loop.org.auth("admin"))
    )
    assert [r["comment"] for r in ratings] == [payload]


async def test_org_and_catalogue_text_round_trips(loop: Loop) -> None:
    subscription = _json(
        await loop.routing.post(
            "/v1/webhooks/subscriptions",
            headers=loop.org.auth("admin"),
            json={
                "unit_code": "DEPT-JT",
                "url": "https://hooks.example.com/ys",
                "event_types": ["*"],
            },
        ),
        201,
    )
    counter = iter(range(len(PAYLOADS)))
    await for_each_payload(lambda payload: _org(loop, payload, next(counter), subscription["id"]))


async def _org(loop: Loop, payload: str, n: int, subscription_id: str) -> None:
    admin = loop.org.auth("admin")
    code = f"DEPT-X{n}"
    unit = _json(
        await loop.routing.post(
            "/v1/org/units",
            headers=admin,
            json={"code": code, "name": payload, "kind": "department", "head_name": payload[:50]},
        ),
        201,
    )
    assert (unit["name"], unit["head_name"]) == (payload, payload[:50])
    fetched = _json(await loop.routing.get(f"/v1/org/units/{code}", headers=admin))
    assert (fetched["name"], fetched["head_name"]) == (payload, payload[:50])
    staff = _json(
        await loop.routing.post(
            "/v1/org/staff",
            headers=admin,
            json={"username": f"x{n}_liaison", "display_name": payload[:50], "role": "liaison",
                  "unit_code": code, "password": "long-enough-password"},
        ),
        201,
    )  # fmt: skip
    assert staff["display_name"] == payload[:50]
    assert staff["unit_name"] == payload
    key = _json(
        await loop.routing.post(
            f"/v1/org/units/{code}/api-keys", headers=admin, json={"name": payload}
        ),
        201,
    )
    assert key["name"] == payload
    keys = _json(await loop.routing.get(f"/v1/org/units/{code}/api-keys", headers=admin))
    assert [k["name"] for k in keys] == [payload]
    rule = _json(
        await loop.routing.post(
            "/v1/dispatch-rules",
            headers=admin,
            json={"topic": "water", "unit_code": code, "note": payload},
        ),
        201,
    )
    assert rule["note"] == payload
    assert rule["unit_name"] == payload
    fetched_rule = _json(await loop.routing.get(f"/v1/dispatch-rules/{rule['id']}", headers=admin))
    assert fetched_rule["note"] == payload
    patched = _json(
        await loop.routing.patch(
            f"/v1/webhooks/subscriptions/{subscription_id}",
            headers=admin,
            json={"description": payload},
        )
    )
    assert patched["description"] == payload
    again = _json(
        await loop.routing.get(f"/v1/webhooks/subscriptions/{subscription_id}", headers=admin)
    )
    assert again["description"] == payload


async def test_cppcc_text_round_trips(loop: Loop) -> None:
    await for_each_payload(lambda payload: _cppcc(loop, payload))


async def _cppcc(loop: Loop, payload: str) -> None:
    key = {"X-API-Key": loop.channel_key}
    station = _json(
        await loop.intake.post(
            "/v1/cppcc/stations", headers=key, json={"name": payload, "sector": payload}
        ),
        201,
    )
    assert (station["name"], station["sector"]) == (payload, payload)
    member = _json(
        await loop.intake.post(
            "/v1/cppcc/members",
            headers=key,
            json={"name": payload[:50], "station_id": station["id"]},
        ),
        201,
    )
    assert member["name"] == payload[:50]
    visit = _json(
        await loop.intake.post(
            "/v1/cppcc/visits",
            headers=key,
            json={
                "member_id": member["id"],
                "target_kind": "merchant",
                "target_name": payload,
                "visited_on": "2026-01-05",
                "findings": _long(payload),
                "issues": [
                    {
                        "type": "suggestion",
                        "title": payload,
                        "description": _long(payload),
                        "contact": {"name": payload[:50], "phone": "13912345678"},
                    }
                ],
            },
        ),
        201,
    )
    detail = _json(await loop.intake.get(f"/v1/cppcc/visits/{visit['id']}", headers=key))
    assert (detail["target_name"], detail["findings"]) == (payload, _long(payload))
    assert [r["title"] for r in detail["requests"]] == [payload]
    stored = _json(await loop.intake.get(f"/v1/cppcc/members/{member['id']}", headers=key))
    assert stored["name"] == payload[:50]
    recorded = _json(await loop.scoring.post(
        "/v1/visits", headers=loop.org.auth("admin"),
        json={"visits": [{"target_kind": "merchant", "target_name": payload, "visited_on": "2026-01-05"}]},
    ), 201)  # fmt: skip
    assert recorded == {"recorded": 1}


async def test_open311_escapes_xml_and_keeps_json_exact(loop: Loop) -> None:
    await for_each_payload(lambda payload: _open311(loop, payload))


async def _open311(loop: Loop, payload: str) -> None:
    description = _long(payload, 10)
    created = await loop.intake.post(
        "/open311/v2/requests.xml",
        data={
            "api_key": loop.channel_key,
            "service_code": "water",
            "address_string": payload,
            "description": description,
            "first_name": payload[:20],
            "attribute[request_type]": "complaint",
        },
    )
    assert created.status_code == 200, created.text
    root = ElementTree.fromstring(created.content)
    request_id = root.findtext("request/service_request_id")
    assert request_id

    as_xml = await loop.intake.get(f"/open311/v2/requests/{request_id}.xml")
    assert as_xml.status_code == 200, as_xml.text
    assert as_xml.headers["content-type"].startswith("text/xml")
    raw = as_xml.content
    # Markup characters never appear raw inside text: the payload's "<" is always escaped.
    if "<" in payload:
        assert payload.encode() not in raw
    element = ElementTree.fromstring(raw).find("request")
    assert element is not None
    assert element.findtext("description") == description
    assert element.findtext("address") == payload

    as_json = await loop.intake.get(f"/open311/v2/requests/{request_id}.json")
    assert as_json.headers["content-type"].startswith("application/json")
    [item] = as_json.json()
    assert (item["description"], item["address"]) == (description, payload)


async def test_search_text_is_a_parameter_not_sql(loop: Loop) -> None:
    """Query-string filters carrying SQL are values: no error, nothing matched, nothing dropped."""
    await loop.submit(submission())
    admin = loop.org.auth("admin")
    for value in ["' OR '1'='1", "1; DROP TABLE card; --", "%' --", "\\", "%", "_"]:
        for path in ("/v1/cases", "/v1/cards", "/v1/org/units", "/v1/org/staff", "/v1/transfers"):
            response = await loop.routing.get(
                path, headers=admin, params={"q": value, "unit_code": value, "status": value}
            )
            assert response.status_code < 500, (path, value, response.text[:300])
    # and nothing was dropped: a second request still becomes a case
    await loop.case_for((await loop.submit(submission(title="第二件诉求标题")))["tracking_no"])


FORMULAS = [
    '=HYPERLINK("http://evil.example","点我")',
    "+1+2",
    "-3+4",
    "@SUM(A1:A9)",
    "=cmd|' /C calc'!A0",
]


async def test_exports_defuse_formulas_and_json_keeps_them_exact(loop: Loop) -> None:
    """Unit names reach the CSV/XLSX scorecard exports: a cell a spreadsheet would run as a
    formula gets a leading apostrophe (OWASP CSV injection); the JSON keeps the exact text."""
    admin = loop.org.auth("admin")
    for n, formula in enumerate(FORMULAS):
        code = f"DEPT-F{n}"
        _json(
            await loop.routing.post(
                "/v1/org/units",
                headers=admin,
                json={"code": code, "name": formula, "kind": "department"},
            ),
            201,
        )
        # a card to the unit, so that it has a scorecard
        receipt = await loop.submit(submission(submitter=person(), title=f"公式单位{n}"))
        case = await loop.case_for(receipt["tracking_no"])
        await loop.call(
            "POST",
            f"/v1/cases/{case['id']}/verify",
            json={"decision": "accept", "classification": "general"},
        )
        await loop.call(
            "POST", f"/v1/cases/{case['id']}/dispatch", json={"units": [{"unit_code": code}]}
        )
    await loop.flush()

    scorecards = _json(await loop.scoring.get("/v1/evaluation/scorecards", headers=admin))
    names = {unit["unit_name"] for unit in scorecards["units"]}
    assert set(FORMULAS) <= names, names

    csv_export = await loop.scoring.get(
        "/v1/evaluation/scorecards/export", params={"format": "csv"}, headers=admin
    )
    assert csv_export.status_code == 200, csv_export.text
    cells = {
        cell
        for row in csv.reader(io.StringIO(csv_export.content.decode("utf-8-sig")))
        for cell in row
    }
    for formula in FORMULAS:
        assert formula not in cells, formula
        assert "'" + formula in cells, formula

    xlsx_export = await loop.scoring.get(
        "/v1/evaluation/scorecards/export", params={"format": "xlsx"}, headers=admin
    )
    assert xlsx_export.status_code == 200, xlsx_export.text
    sheet = load_workbook(io.BytesIO(xlsx_export.content)).active
    assert sheet is not None
    values = [cell for row in sheet.iter_rows() for cell in row]
    assert all(cell.data_type != "f" for cell in values)
    texts = {cell.value for cell in values if isinstance(cell.value, str)}
    for formula in FORMULAS:
        assert formula not in texts, formula


HOSTILE_REQUEST_IDS = {
    "script": "<script>alert(1)</script>",
    "sql": "'; DROP TABLE issue; --",
    "long": "x" * 5000,
    "latin1_bytes": "caf\xe9-\xff",
}


async def test_hostile_request_ids_are_echoed_as_plain_text(
    intake_client: httpx.AsyncClient,
) -> None:
    """X-Request-ID is echoed (header and error body, cut to 64 characters) as data: a JSON
    string in a JSON body, never markup."""
    for name, value in HOSTILE_REQUEST_IDS.items():
        response = await intake_client.get(
            "/v1/requests/YS0000000000",
            headers={"X-Request-ID": value.encode("latin-1"), "X-Tracking-Secret": "x"},
        )
        assert response.status_code == 404, (name, response.text)
        assert response.headers["content-type"].startswith("application/json"), name
        echoed = response.json()["error"]["request_id"]
        assert echoed == value[:64], (name, echoed)
        raw = dict(response.headers.raw)
        assert raw[b"x-request-id"] == value[:64].encode("latin-1"), name
