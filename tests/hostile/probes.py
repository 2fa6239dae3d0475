"""Every free-text field of the three services, as a probe that puts a chosen string into that
field of an otherwise valid request (and creates whatever resource the request needs first).

Used by the Unicode tests: NUL and other control characters, lone surrogates, and strings at
each field's documented length limit (in characters) made of 4-byte characters and of one
very long grapheme.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from services.auth import service_token
from tests.hostile.conftest import Loop, submission

_PHONES = itertools.count(2000)
_CODES = itertools.count(1)


def person(name: str = "张三") -> dict[str, str]:
    return {"kind": "person", "name": name, "phone": f"1391234{next(_PHONES):04d}"}


class Resources:
    """Resources in the state a request needs, created on demand and reused while a probe's
    request is refused (a refused request changes nothing); ``fresh=True`` makes new ones."""

    def __init__(self, loop: Loop) -> None:
        self.loop = loop
        self.cache: dict[str, Any] = {}
        self.admin = loop.org.auth("admin")

    async def get(self, kind: str, fresh: bool = False) -> Any:
        if fresh or kind not in self.cache:
            self.cache[kind] = await getattr(self, f"_make_{kind}")()
        return self.cache[kind]

    def spoil(self) -> None:
        """A request was accepted: states may have moved on."""
        self.cache.clear()

    async def _post(
        self,
        url: str,
        json: Any = None,
        status: int = 200,
        service: str = "routing",
        who: str = "admin",
    ) -> Any:
        return await self.loop.call("POST", url, json=json, status=status, service=service, who=who)

    async def _make_receipt(self) -> dict[str, Any]:
        return await self.loop.submit(
            submission(submitter=person(), title=f"路灯不亮{next(_CODES)}号")
        )

    async def _make_received(self) -> dict[str, Any]:
        receipt = await self._make_receipt()
        return await self.loop.case_for(receipt["tracking_no"])

    async def _make_verified(self) -> dict[str, Any]:
        case = await self._make_received()
        return await self._post(
            f"/v1/cases/{case['id']}/verify", {"decision": "accept", "classification": "general"}
        )  # type: ignore[no-any-return]

    async def _make_dispatched(self) -> dict[str, Any]:
        case = await self._make_verified()
        case = await self._post(
            f"/v1/cases/{case['id']}/dispatch",
            {"units": [{"unit_code": "DEPT-JT"}], "milestones": [{"name": "现场勘查", "days": 2}]},
        )
        return {**case, "card_id": case["cards"][0]["id"]}

    async def _make_signed(self) -> dict[str, Any]:
        case = await self._make_dispatched()
        await self._post(f"/v1/cards/{case['card_id']}/sign", who="jt_key")
        return case

    async def _make_submitted(self) -> dict[str, Any]:
        case = await self._make_signed()
        await self._post(
            f"/v1/cards/{case['card_id']}/complete", {"result": "已办结"}, who="jt_key"
        )
        return case

    async def _make_extension(self) -> dict[str, Any]:
        case = await self._make_signed()
        extension = await self._post(
            f"/v1/cards/{case['card_id']}/extensions",
            {"days": 2, "reason": "需要协调"},
            status=201,
            who="jt_key",
        )
        return {**case, "extension_id": extension["id"]}

    async def _make_completed(self) -> dict[str, Any]:
        receipt = await self._make_receipt()
        case = await self.loop.case_for(receipt["tracking_no"])
        await self._post(
            f"/v1/cases/{case['id']}/verify", {"decision": "accept", "classification": "general"}
        )
        case = await self._post(
            f"/v1/cases/{case['id']}/dispatch", {"units": [{"unit_code": "DEPT-JT"}]}
        )
        card = case["cards"][0]["id"]
        await self._post(f"/v1/cards/{card}/sign", who="jt_key")
        await self._post(f"/v1/cards/{card}/complete", {"result": "已办结"}, who="jt_key")
        await self._post(f"/v1/cards/{card}/review", {"accept": True})
        await self.loop.flush()
        return {**case, "card_id": card, "tracking_secret": receipt["tracking_secret"]}

    async def _make_rating(self) -> dict[str, Any]:
        case = await self._make_completed()
        rating = await self._post(
            f"/v1/cases/{case['id']}/ratings",
            {"satisfaction": "unsatisfied", "unit_at_fault": True},
            status=201,
            service="scoring",
        )
        return {**case, "rating_id": rating["id"]}

    async def _make_station(self) -> dict[str, Any]:
        response = await self.loop.intake.post(
            "/v1/cppcc/stations",
            json={"name": f"联络站{next(_CODES)}", "sector": "经济界"},
            headers={"X-API-Key": self.loop.channel_key},
        )
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    async def _make_member(self) -> dict[str, Any]:
        station = await self.get("station")
        response = await self.loop.intake.post(
            "/v1/cppcc/members",
            json={"name": "李委员", "station_id": station["id"]},
            headers={"X-API-Key": self.loop.channel_key},
        )
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    async def _make_subscription(self) -> dict[str, Any]:
        return await self._post(  # type: ignore[no-any-return]
            "/v1/webhooks/subscriptions",
            {"unit_code": "DEPT-JT", "url": "https://hooks.example.com/ys", "event_types": ["*"]},
            status=201,
        )


Sender = Callable[[Resources, str, bool], Awaitable[httpx.Response]]


@dataclass(frozen=True)
class Probe:
    name: str
    max_length: int | None  # characters, as documented by the schema
    min_length: int
    send: Sender
    # The schema refuses control characters in this field (422; ``control_characters`` where
    # the validator says so).
    control_checked: bool = True
    # "text" (free text: also probed at its length limit) or "url"/"identifier" (NUL only)
    kind: str = "text"

    def __str__(self) -> str:
        return self.name


def encode(body: Any) -> bytes:
    """JSON with every non-ASCII character escaped (``\\ud800`` for a lone surrogate: what a
    client in a language with UTF-16 strings sends), so any string can be put on the wire."""
    return json.dumps(body, ensure_ascii=True).encode("ascii")


def _send(
    client: httpx.AsyncClient, method: str, url: str, body: Any, headers: dict[str, str] | None
) -> Awaitable[httpx.Response]:
    return client.request(
        method,
        url,
        content=encode(body),
        headers={**(headers or {}), "Content-Type": "application/json"},
    )


def _intake(rs: Resources, method: str, url: str, *, json: Any = None, data: Any = None,
            headers: dict[str, str] | None = None) -> Awaitable[httpx.Response]:  # fmt: skip
    if data is not None:
        return rs.loop.intake.request(method, url, data=data, headers=headers)
    return _send(rs.loop.intake, method, url, json, headers)


def _routing(rs: Resources, url: str, json: Any, method: str = "POST") -> Awaitable[httpx.Response]:
    return _send(rs.loop.routing, method, url, json, rs.admin)


def _scoring(
    rs: Resources, url: str, json: Any, headers: dict[str, str] | None = None
) -> Awaitable[httpx.Response]:
    return _send(rs.loop.scoring, "POST", url, json, headers or rs.admin)


def _submit(**overrides: Any) -> Callable[[str], dict[str, Any]]:
    def build(value: str) -> dict[str, Any]:
        body = submission(submitter=person())
        for key, template in overrides.items():
            body[key] = template(value) if callable(template) else template
        return body

    return build


def _submission_probe(
    name: str, max_length: int, min_length: int, build: Callable[[str], dict[str, Any]]
) -> Probe:
    async def send(rs: Resources, value: str, fresh: bool) -> httpx.Response:
        return await _intake(
            rs,
            "POST",
            "/v1/requests",
            json=build(value),
            headers={"X-API-Key": rs.loop.channel_key},
        )

    return Probe(f"intake POST /v1/requests {name}", max_length, min_length, send)


async def _withdraw(rs: Resources, value: str, fresh: bool) -> httpx.Response:
    receipt = await rs.get("receipt", fresh)
    return await _intake(rs, "POST", f"/v1/requests/{receipt['tracking_no']}/withdraw", json={"reason": value},
                         headers={"X-Tracking-Secret": receipt["tracking_secret"]})  # fmt: skip


async def _supplement(rs: Resources, value: str, fresh: bool) -> httpx.Response:
    receipt = await rs.get("receipt", fresh)
    return await _intake(rs, "POST", f"/v1/requests/{receipt['tracking_no']}/supplements", json={"text": value},
                         headers={"X-Tracking-Secret": receipt["tracking_secret"]})  # fmt: skip


async def _public_rating(rs: Resources, value: str, fresh: bool) -> httpx.Response:
    case = await rs.get("completed", True)  # a rating can be given once
    return await _intake(rs, "POST", f"/v1/requests/{case['tracking_no']}/rating",
                         json={"satisfaction": "basic", "comment": value},
                         headers={"X-Tracking-Secret": case["tracking_secret"]})  # fmt: skip


async def _station(rs: Resources, value: str, fresh: bool, field: str = "name") -> httpx.Response:
    body = {"name": f"站{next(_CODES)}", "sector": "经济界", field: value}
    return await _intake(
        rs, "POST", "/v1/cppcc/stations", json=body, headers={"X-API-Key": rs.loop.channel_key}
    )


async def _member(rs: Resources, value: str, fresh: bool) -> httpx.Response:
    station = await rs.get("station")
    return await _intake(rs, "POST", "/v1/cppcc/members", json={"name": value, "station_id": station["id"]},
                         headers={"X-API-Key": rs.loop.channel_key})  # fmt: skip


def _visit(field: str) -> Sender:
    async def send(rs: Resources, value: str, fresh: bool) -> httpx.Response:
        member = await rs.get("member")
        issue = {"type": "suggestion", "title": "园区道路破损", "description": "园区主干道路面破损严重,影响通行。",
                 "contact": {"name": "王经理", "phone": f"1371234{next(_PHONES):04d}"}}  # fmt: skip
        body: dict[str, Any] = {"member_id": member["id"], "target_kind": "enterprise", "target_name": "邯郸制药",
                                "visited_on": "2026-01-05", "issues": [issue]}  # fmt: skip
        if field.startswith("issue."):
            key = field.removeprefix("issue.")
            if key == "contact.name":
                issue["contact"]["name"] = value
            else:
                issue[key] = value
        else:
            body[field] = value
        return await _intake(
            rs, "POST", "/v1/cppcc/visits", json=body, headers={"X-API-Key": rs.loop.channel_key}
        )

    return send


def _open311(field: str, wrap: Callable[[str], str] = str) -> Sender:
    async def send(rs: Resources, value: str, fresh: bool) -> httpx.Response:
        data = {"api_key": rs.loop.channel_key, "service_code": "water", "address_string": "邯山区光明大街",
                "description": "小区停水三天无人处理,请尽快恢复供水。", "attribute[request_type]": "complaint",
                "phone": f"1361234{next(_PHONES):04d}"}  # fmt: skip
        data[field] = wrap(value)
        return await _intake(rs, "POST", "/open311/v2/requests.json", data=data)

    return send


async def _unit(rs: Resources, value: str, fresh: bool, field: str = "name") -> httpx.Response:
    body = {"code": f"DEPT-Z{next(_CODES)}", "name": "区测试局", "kind": "department", field: value}
    return await _routing(rs, "/v1/org/units", body)


async def _staff(rs: Resources, value: str, fresh: bool) -> httpx.Response:
    body = {"username": f"z{next(_CODES)}_liaison", "display_name": value, "role": "liaison",
            "unit_code": "DEPT-JT", "password": "long-enough-password"}  # fmt: skip
    return await _routing(rs, "/v1/org/staff", body)


async def _api_key(rs: Resources, value: str, fresh: bool) -> httpx.Response:
    return await _routing(rs, "/v1/org/units/DEPT-JT/api-keys", {"name": value})


_RULE_TARGETS = itertools.cycle(
    itertools.product(
        ["land", "funds", "environment", "electricity", "permit", "legal", "market_order", "other"],
        ["DEPT-GH", "DEPT-FG", "DEPT-GD", "DEPT-KG"],
    )
)


async def _rule(rs: Resources, value: str, fresh: bool) -> httpx.Response:
    # one (topic, unit) pair per rule: a second rule for the same pair is a 409
    topic, unit = next(_RULE_TARGETS)
    return await _routing(
        rs, "/v1/dispatch-rules", {"topic": topic, "unit_code": unit, "note": value}
    )


async def _webhook(rs: Resources, value: str, fresh: bool) -> httpx.Response:
    body = {
        "unit_code": "DEPT-JT",
        "url": "https://hooks.example.com/ys",
        "event_types": ["*"],
        "description": value,
    }
    return await _routing(rs, "/v1/webhooks/subscriptions", body)


async def _token(rs: Resources, value: str, fresh: bool) -> httpx.Response:
    return await _send(
        rs.loop.routing,
        "POST",
        "/v1/auth/token",
        {"username": value, "password": "whatever-pw"},
        None,
    )


async def _verify(rs: Resources, value: str, fresh: bool, field: str = "reason") -> httpx.Response:
    case = await rs.get("received", fresh)
    body = (
        {"decision": "answer", "answer": value}
        if field == "answer"
        else {"decision": "reject", "reason": value}
    )
    return await _routing(rs, f"/v1/cases/{case['id']}/verify", body)


def _dispatch(field: str) -> Sender:
    async def send(rs: Resources, value: str, fresh: bool) -> httpx.Response:
        case = await rs.get("verified", fresh)
        body: dict[str, Any] = {"units": [{"unit_code": "DEPT-JT"}]}
        if field == "instructions":
            body["instructions"] = value
        else:
            body["milestones"] = [{"name": value, "days": 3}]
        return await _routing(rs, f"/v1/cases/{case['id']}/dispatch", body)

    return send


def _case_action(kind: str, action: str, build: Callable[[str], dict[str, Any]]) -> Sender:
    async def send(rs: Resources, value: str, fresh: bool) -> httpx.Response:
        case = await rs.get(kind, fresh)
        return await _routing(rs, f"/v1/cases/{case['id']}/{action}", build(value))

    return send


def _card_action(kind: str, action: str, build: Callable[[str], dict[str, Any]]) -> Sender:
    async def send(rs: Resources, value: str, fresh: bool) -> httpx.Response:
        case = await rs.get(kind, fresh)
        path = action.format(**case)
        return await _routing(rs, f"/v1/cards/{case['card_id']}/{path}", build(value))

    return send


async def _milestone_done(rs: Resources, value: str, fresh: bool) -> httpx.Response:
    case = await rs.get("dispatched", fresh)
    milestone = case["milestones"][0]["id"]
    return await _routing(
        rs, f"/v1/cases/{case['id']}/milestones/{milestone}/done", {"note": value}
    )


def _feedback(field: str) -> Sender:
    async def send(rs: Resources, value: str, fresh: bool) -> httpx.Response:
        case = await rs.get("completed")
        body: dict[str, Any] = {"method": "symposium", "attendees": ["张三"], "minutes": "座谈纪要"}
        body[field] = [value] if field == "attendees" else value
        return await _scoring(rs, f"/v1/cases/{case['id']}/feedback", body)

    return send


async def _staff_rating(rs: Resources, value: str, fresh: bool) -> httpx.Response:
    case = await rs.get("completed", True)
    return await _scoring(
        rs, f"/v1/cases/{case['id']}/ratings", {"satisfaction": "basic", "comment": value}
    )


async def _platform_rating(
    rs: Resources, value: str, fresh: bool, field: str = "comment"
) -> httpx.Response:
    case = await rs.get("completed", True)
    body = {"satisfaction": "basic", "tracking_no": case["tracking_no"], field: value}
    return await _scoring(rs, "/v1/ratings/by-platform", body,
                          headers={"Authorization": f"Bearer {service_token('intake')}"})  # fmt: skip


async def _redo(rs: Resources, value: str, fresh: bool) -> httpx.Response:
    rating = await rs.get("rating", True)
    return await _scoring(rs, f"/v1/ratings/{rating['rating_id']}/redo", {"reason": value})


async def _scoring_visit(rs: Resources, value: str, fresh: bool) -> httpx.Response:
    body = {
        "visits": [{"target_kind": "merchant", "target_name": value, "visited_on": "2026-01-05"}]
    }
    return await _scoring(rs, "/v1/visits", body)


def _reason(value: str) -> dict[str, Any]:
    return {"reason": value}


def _ref_url(value: str) -> str:
    return f"https://files.example.com/{value}.jpg"


async def _supplement_url(rs: Resources, value: str, fresh: bool) -> httpx.Response:
    receipt = await rs.get("receipt", fresh)
    return await _intake(rs, "POST", f"/v1/requests/{receipt['tracking_no']}/supplements",
                         json={"text": "补充一张现场照片", "attachments": [{"url": _ref_url(value)}]},
                         headers={"X-Tracking-Secret": receipt["tracking_secret"]})  # fmt: skip


async def _webhook_url(rs: Resources, value: str, fresh: bool) -> httpx.Response:
    body = {
        "unit_code": "DEPT-JT",
        "url": f"https://hooks.example.com/{value}",
        "event_types": ["*"],
    }
    return await _routing(rs, "/v1/webhooks/subscriptions", body)


PROBES: list[Probe] = [
    # --- intake
    _submission_probe("title", 100, 2, _submit(title=lambda v: v)),
    _submission_probe("description", 5000, 5, _submit(description=lambda v: v)),
    _submission_probe(
        "submitter.name", 50, 1, _submit(submitter=lambda v: {**person(), "name": v})
    ),
    _submission_probe("location.address", 300, 1, _submit(location=lambda v: {"address": v})),
    _submission_probe("recorded_by", 200, 1, _submit(channel="hotline", recorded_by=lambda v: v)),
    Probe("intake POST /v1/requests/{no}/withdraw reason", 200, 1, _withdraw),
    Probe("intake POST /v1/requests/{no}/supplements text", 5000, 5, _supplement),
    Probe(
        "intake POST /v1/requests/{no}/rating comment",
        2000,
        0,
        _public_rating,
    ),
    Probe("intake POST /v1/cppcc/stations name", 100, 1, _station),
    Probe(
        "intake POST /v1/cppcc/stations sector",
        100,
        1,
        lambda rs, v, f: _station(rs, v, f, "sector"),
    ),
    Probe("intake POST /v1/cppcc/members name", 50, 1, _member),
    Probe("intake POST /v1/cppcc/visits target_name", 200, 1, _visit("target_name")),
    Probe("intake POST /v1/cppcc/visits findings", 5000, 5, _visit("findings")),
    Probe("intake POST /v1/cppcc/visits issues[].title", 100, 2, _visit("issue.title")),
    Probe(
        "intake POST /v1/cppcc/visits issues[].description", 5000, 5, _visit("issue.description")
    ),
    Probe(
        "intake POST /v1/cppcc/visits issues[].contact.name", 50, 1, _visit("issue.contact.name")
    ),
    Probe("intake POST /open311/v2/requests description", 4000, 5, _open311("description")),
    Probe("intake POST /open311/v2/requests address_string", 300, 1, _open311("address_string")),
    Probe("intake POST /open311/v2/requests first_name", None, 1, _open311("first_name")),
    # --- routing: org, catalogue, webhooks, sign-in
    Probe("routing POST /v1/org/units name", 100, 1, _unit),
    Probe(
        "routing POST /v1/org/units head_name", 50, 1, lambda rs, v, f: _unit(rs, v, f, "head_name")
    ),
    Probe("routing POST /v1/org/staff display_name", 50, 1, _staff),
    Probe("routing POST /v1/org/units/{code}/api-keys name", 128, 1, _api_key),
    Probe("routing POST /v1/dispatch-rules note", 500, 0, _rule),
    Probe("routing POST /v1/webhooks/subscriptions description", 200, 0, _webhook),
    Probe("routing POST /v1/auth/token username", None, 1, _token, control_checked=False),
    # --- routing: cases and cards
    Probe("routing POST /v1/cases/{id}/verify reason", 1000, 2, _verify),
    Probe(
        "routing POST /v1/cases/{id}/verify answer",
        5000,
        2,
        lambda rs, v, f: _verify(rs, v, f, "answer"),
    ),
    Probe("routing POST /v1/cases/{id}/dispatch instructions", 5000, 2, _dispatch("instructions")),
    Probe(
        "routing POST /v1/cases/{id}/dispatch milestones[].name",
        100,
        1,
        _dispatch("milestone"),
    ),  # fmt: skip
    Probe(
        "routing POST /v1/cases/{id}/transfer reason",
        1000,
        2,
        _case_action("received", "transfer", _reason),
    ),
    Probe(
        "routing POST /v1/cases/{id}/redo reason",
        1000,
        2,
        _case_action("completed", "redo", _reason),
    ),
    Probe(
        "routing POST /v1/cases/{id}/close note",
        1000,
        2,
        _case_action("completed", "close", lambda v: {"note": v}),
    ),
    Probe("routing POST /v1/cases/{id}/milestones/{m}/done note", 1000, 2, _milestone_done),
    Probe(
        "routing POST /v1/cards/{id}/return reason",
        1000,
        2,
        _card_action("dispatched", "return", _reason),
    ),
    Probe(
        "routing POST /v1/cards/{id}/contact text",
        5000,
        2,
        _card_action("signed", "contact", lambda v: {"text": v}),
    ),
    Probe(
        "routing POST /v1/cards/{id}/progress text",
        5000,
        2,
        _card_action("signed", "progress", lambda v: {"text": v}),
    ),
    Probe(
        "routing POST /v1/cards/{id}/extensions reason",
        1000,
        2,
        _card_action("signed", "extensions", lambda v: {"days": 2, "reason": v}),
    ),  # fmt: skip
    Probe(
        "routing POST /v1/cards/{id}/extensions/{e}/decide note",
        1000,
        2,
        _card_action(
            "extension", "extensions/{extension_id}/decide", lambda v: {"approve": False, "note": v}
        ),
    ),  # fmt: skip
    Probe(
        "routing POST /v1/cards/{id}/complete result",
        5000,
        2,
        _card_action("signed", "complete", lambda v: {"result": v}),
    ),
    Probe(
        "routing POST /v1/cards/{id}/review note",
        1000,
        2,
        _card_action("submitted", "review", lambda v: {"accept": False, "note": v}),
    ),  # fmt: skip
    Probe(
        "routing POST /v1/cards/{id}/suspend reason",
        1000,
        2,
        _card_action("signed", "suspend", _reason),
    ),
    # --- scoring
    Probe(
        "scoring POST /v1/cases/{id}/feedback notes",
        5000,
        1,
        _feedback("notes"),
    ),
    Probe(
        "scoring POST /v1/cases/{id}/feedback minutes",
        5000,
        1,
        _feedback("minutes"),
    ),
    Probe(
        "scoring POST /v1/cases/{id}/feedback attendees[]",
        100,
        1,
        _feedback("attendees"),
    ),
    Probe("scoring POST /v1/cases/{id}/ratings comment", 5000, 1, _staff_rating),
    Probe(
        "scoring POST /v1/ratings/by-platform comment",
        5000,
        1,
        _platform_rating,
    ),
    Probe(
        "scoring POST /v1/ratings/by-platform tracking_no",
        32,
        4,
        lambda rs, v, f: _platform_rating(rs, v, f, "tracking_no"),
        control_checked=False,
    ),  # fmt: skip
    # relayed to routing's RedoIn, which validates it
    Probe("scoring POST /v1/ratings/{id}/redo reason", 1000, 2, _redo),
    Probe("scoring POST /v1/visits target_name", 200, 1, _scoring_visit),
    # --- URLs and identifiers that are free-form strings
    _submission_probe(
        "submitter.email",
        200,
        5,
        _submit(submitter=lambda v: {**person(), "email": f"a{v}@example.com"}),
    ),
    _submission_probe(
        "attachments[].url", 2000, 1, _submit(attachments=lambda v: [{"url": _ref_url(v)}])
    ),
    Probe("intake POST /v1/requests/{no}/supplements attachments[].url", 2000, 1, _supplement_url),
    Probe(
        "intake POST /open311/v2/requests media_url",
        None,
        1,
        _open311("media_url", lambda v: _ref_url(v)),
    ),  # fmt: skip
    Probe("routing POST /v1/webhooks/subscriptions url", 2000, 1, _webhook_url),
    Probe(
        "routing POST /v1/cards/{id}/complete evidence[]",
        2000,
        1,
        _card_action(
            "signed", "complete", lambda v: {"result": "已办结", "evidence": [_ref_url(v)]}
        ),
    ),  # fmt: skip
    Probe(
        "routing POST /v1/cards/{id}/contact attachments[]",
        2000,
        1,
        _card_action(
            "signed", "contact", lambda v: {"text": "已电话联系", "attachments": [_ref_url(v)]}
        ),
    ),  # fmt: skip
    Probe(
        "routing POST /v1/cases/{id}/transfer evidence[]",
        2000,
        1,
        _case_action(
            "received", "transfer", lambda v: {"reason": "涉嫌违纪", "evidence": [_ref_url(v)]}
        ),
    ),  # fmt: skip
]
for _i, _probe in enumerate(PROBES):
    if _probe.name.endswith(("email", "url", "evidence[]", "attachments[]", "media_url")):
        # Single-line values: every control character (not only NUL) is refused by the one
        # validator (shared.schemas.text.SingleLine), before the pattern.
        PROBES[_i] = Probe(
            _probe.name, _probe.max_length, _probe.min_length, _probe.send, True, "url"
        )
