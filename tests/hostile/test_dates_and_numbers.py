"""Absurd dates, coordinates and numbers: a 4xx with a stable code, never a 5xx.

Stable codes asserted here: ``validation_error`` (with the pydantic ``type`` of the field),
``naive_datetime`` and ``date_out_of_range`` (routing's deadline calculator), ``invalid_month``,
``invalid_year``, ``invalid_date_range`` and ``date_range_too_long`` (scoring), and Open311's
400 list of errors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.hostile.conftest import Loop, assert_envelope, submission, validation_types
from tests.hostile.probes import encode, person

# --- coordinates ----------------------------------------------------------------------------

BAD_LOCATIONS: dict[str, Any] = {
    "lat_just_over_90": {"lat": 90.0000001, "lon": 114.5},
    "lat_minus_91": {"lat": -91, "lon": 114.5},
    "lon_181": {"lat": 36.5, "lon": 181},
    "lon_minus_180_000001": {"lat": 36.5, "lon": -180.000001},
    "lat_string_1e999": {"lat": "1e999", "lon": 114.5},
    "lat_string_nan": {"lat": "NaN", "lon": 114.5},
    "lat_string_inf": {"lat": "-inf", "lon": 114.5},
    "lat_words": {"lat": "north", "lon": 114.5},
    "lat_list": {"lat": [36.5], "lon": 114.5},
    "lat_object": {"lat": {"$gt": 0}, "lon": 114.5},
    "lat_without_lon": {"lat": 36.5},
    "huge_int": {"lat": 10**400, "lon": 114.5},
    "area_code_injection": {"area_code": "HS'; --"},
}


def each(cases: dict[str, Any], check: Callable[[str, Any], Any]) -> Callable[[], Any]:
    """Run ``check(name, case)`` for every case (one set-up for all); report every failure."""

    async def run() -> None:
        failures = []
        for name, case in cases.items():
            try:
                await check(name, case)
            except AssertionError as exc:
                failures.append(f"[{name}] {exc}")
        assert not failures, "\n".join(failures)

    return run


async def test_absurd_coordinates_are_422(
    intake_client: httpx.AsyncClient, channel_key: str
) -> None:
    async def check(name: str, location: dict[str, Any]) -> None:
        response = await intake_client.post(
            "/v1/requests",
            content=encode(submission(location=location)),
            headers={"X-API-Key": channel_key, "Content-Type": "application/json"},
        )
        error = assert_envelope(response, 422, "validation_error")
        assert all(item["loc"][:2] == ["body", "location"] for item in error["details"]), error

    await each(BAD_LOCATIONS, check)()


@pytest.mark.parametrize(
    "location",
    [
        {"lat": 90, "lon": 180},
        {"lat": -90, "lon": -180},
        {"lat": 0, "lon": 0},
        {"lat": "36.5", "lon": "114.5"},
    ],
    ids=["north_east_edge", "south_west_edge", "null_island", "numeric_strings"],
)
async def test_edge_coordinates_are_accepted(
    intake_client: httpx.AsyncClient, channel_key: str, location: dict[str, Any]
) -> None:
    response = await intake_client.post(
        "/v1/requests",
        json=submission(location=location, submitter=person()),
        headers={"X-API-Key": channel_key},
    )
    assert response.status_code == 201, response.text


OPEN311_BAD_COORDINATES = {
    "lat_just_over_90": ("90.0000001", "114.5"),
    "lat_minus_91": ("-91", "114.5"),
    "long_181": ("36.5", "181"),
    "nan": ("NaN", "114.5"),
    "inf": ("36.5", "inf"),
    "1e999": ("1e999", "114.5"),
    "words": ("abc", "114.5"),
    "long_empty": ("36.5", ""),
    "hex": ("0x10", "114.5"),
}


async def test_open311_absurd_coordinates_are_400(
    intake_client: httpx.AsyncClient, channel_key: str
) -> None:
    async def check(name: str, coordinates: tuple[str, str]) -> None:
        lat, long = coordinates
        response = await intake_client.post(
            "/open311/v2/requests.json",
            data={"api_key": channel_key, "service_code": "water", "lat": lat, "long": long,
                  "description": "小区停水三天无人处理", "attribute[request_type]": "complaint"},
        )  # fmt: skip
        assert response.status_code == 400, response.text
        errors = response.json()
        assert all(set(e) == {"code", "description"} and e["code"] == 400 for e in errors), errors

    await each(OPEN311_BAD_COORDINATES, check)()


async def test_open311_full_width_coordinates_are_read_as_numbers(
    intake_client: httpx.AsyncClient, channel_key: str
) -> None:
    """Documented leniency: Python's float() reads any Unicode decimal digits, so "３６.５" is 36.5."""
    response = await intake_client.post(
        "/open311/v2/requests.json",
        data={"api_key": channel_key, "service_code": "water", "lat": "３６.５", "long": "１１４.５",
              "description": "小区停水三天无人处理", "attribute[request_type]": "complaint"},
    )  # fmt: skip
    assert response.status_code == 200, response.text


# --- routing: working-day deadlines -----------------------------------------------------------

DEADLINE_CASES: dict[str, tuple[dict[str, Any], str, str | None]] = {
    # name: (query, code, pydantic type)
    "naive": ({"start": "2026-05-06T09:00:00"}, "naive_datetime", None),
    "date_only": ({"start": "2026-05-06"}, "naive_datetime", None),
    "year_1": ({"start": "0001-01-01T00:00:00Z"}, "date_out_of_range", None),
    "year_9999": ({"start": "9999-12-31T23:59:59Z"}, "date_out_of_range", None),
    "year_9999_max_offset": ({"start": "9999-12-31T23:59:59-23:59"}, "date_out_of_range", None),
    "feb_30": (
        {"start": "2026-02-30T09:00:00+08:00"},
        "validation_error",
        "datetime_from_date_parsing",
    ),
    "month_13": ({"start": "2026-13-01T09:00:00+08:00"}, "validation_error", None),
    "hour_25": ({"start": "2026-05-06T25:00:00+08:00"}, "validation_error", None),
    "offset_24h": ({"start": "2026-05-06T09:00:00+24:00"}, "validation_error", None),
    "year_0": ({"start": "0000-01-01T00:00:00Z"}, "validation_error", None),
    "year_10000": ({"start": "10000-01-01T00:00:00Z"}, "validation_error", None),
    "words": ({"start": "tomorrow"}, "validation_error", None),
    "huge_timestamp": ({"start": "1e300"}, "validation_error", None),
    "days_0": ({"start": "2026-05-06T09:00:00+08:00", "working_days": 0}, "validation_error", None),
    "days_251": (
        {"start": "2026-05-06T09:00:00+08:00", "working_days": 251},
        "validation_error",
        None,
    ),
    "days_huge": (
        {"start": "2026-05-06T09:00:00+08:00", "working_days": "9" * 400},
        "validation_error",
        None,
    ),
    "days_float": (
        {"start": "2026-05-06T09:00:00+08:00", "working_days": "5.5"},
        "validation_error",
        None,
    ),
}


async def test_absurd_deadline_starts_are_422(routing_client: httpx.AsyncClient, org: Any) -> None:
    async def check(name: str, case: tuple[dict[str, Any], str, str | None]) -> None:
        query, code, kind = case
        response = await routing_client.get(
            "/v1/calendar/deadline", params=query, headers=org.auth("hs_operator")
        )
        error = assert_envelope(response, 422, code)
        if kind is not None:
            assert kind in validation_types(error), error

    await each(DEADLINE_CASES, check)()


@pytest.mark.parametrize(
    "start",
    [
        "1990-01-01T00:00:00+14:00",
        "2200-01-01T23:59:59-12:00",
        "2026-02-17T08:30:00+08:00",
        "2026-05-06T09:00:00.999999Z",
    ],
    ids=["earliest_far_east", "latest_far_west", "spring_festival", "microseconds"],
)
async def test_edge_deadline_starts_are_computed(
    routing_client: httpx.AsyncClient, org: Any, start: str
) -> None:
    response = await routing_client.get(
        "/v1/calendar/deadline",
        params={"start": start, "working_days": 250},
        headers=org.auth("hs_operator"),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["due_at"] > body["start"][:4]


BAD_SCHEDULES: dict[str, dict[str, Any]] = {
    "year_0": {"year": 0},
    "year_10000": {"year": 10000},
    "negative": {"year": -2026},
    "outside_year": {"year": 2027, "holidays": ["2026-10-01"]},
    "feb_30": {"year": 2027, "holidays": ["2027-02-30"]},
    "both": {"year": 2027, "holidays": ["2027-02-11"], "workdays": ["2027-02-11"]},
    "words": {"year": 2027, "holidays": ["not a date"]},
    "not_a_list": {"year": 2027, "holidays": "2027-02-11"},
    "fullwidth_year": {"year": "２０２７"},
}


async def test_absurd_calendar_years_are_422(routing_client: httpx.AsyncClient, org: Any) -> None:
    async def check(name: str, schedule: dict[str, Any]) -> None:
        response = await routing_client.post(
            "/v1/calendar/years", json=schedule, headers=org.auth("admin")
        )
        assert_envelope(response, 422, "validation_error")

    await each(BAD_SCHEDULES, check)()


@pytest.mark.parametrize("year", [1, 9999], ids=["year_1", "year_9999"])
async def test_extreme_calendar_years_are_not_a_5xx(
    routing_client: httpx.AsyncClient, org: Any, year: int
) -> None:
    """The schema allows any year from 1 to 9999 (date.min/max): loading one must work or be
    refused, and deadlines computed afterwards must still work."""
    response = await routing_client.post(
        "/v1/calendar/years",
        json={"year": year, "holidays": [f"{year:04d}-01-01"]},
        headers=org.auth("admin"),
    )
    assert response.status_code < 500, response.text
    deadline = await routing_client.get(
        "/v1/calendar/deadline",
        params={"start": "2026-05-06T09:00:00+08:00"},
        headers=org.auth("admin"),
    )
    assert deadline.status_code == 200, deadline.text


@pytest.mark.parametrize("source", ["国务院办公厅" * 40, "admin\x00"], ids=["long", "nul"])
async def test_calendar_source_is_validated(
    routing_client: httpx.AsyncClient, org: Any, source: str
) -> None:
    response = await routing_client.post(
        "/v1/calendar/years",
        json={"year": 2031, "holidays": ["2031-01-01"], "source": source},
        headers=org.auth("admin"),
    )
    assert response.status_code in (200, 422), response.text


JT = [{"unit_code": "DEPT-JT"}]
BAD_DISPATCHES: dict[str, dict[str, Any]] = {
    "limit_0": {"units": JT, "limit_days": 0},
    "limit_61": {"units": JT, "limit_days": 61},
    "limit_huge": {"units": JT, "limit_days": 10**30},
    "limit_float": {"units": JT, "limit_days": 5.5},
    "milestone_0": {"units": JT, "milestones": [{"name": "a", "days": 0}]},
    "milestone_251": {"units": JT, "milestones": [{"name": "a", "days": 251}]},
    "eleven_units": {"units": [{"unit_code": f"DEPT-{i}"} for i in range(11)]},
    "no_units": {"units": []},
}


async def test_absurd_dispatch_numbers_are_422(loop: Loop) -> None:
    receipt = await loop.submit(submission(submitter=person()))
    case = await loop.case_for(receipt["tracking_no"])
    await loop.call(
        "POST",
        f"/v1/cases/{case['id']}/verify",
        json={"decision": "accept", "classification": "general"},
    )
    signed = await loop.dispatched(submission(submitter=person()))
    card = f"/v1/cards/{signed['card_id']}"
    await loop.call("POST", f"{card}/sign", who="jt_key")

    async def check(name: str, body: dict[str, Any]) -> None:
        response = await loop.routing.post(
            f"/v1/cases/{case['id']}/dispatch", json=body, headers=loop.org.auth("admin")
        )
        assert_envelope(response, 422, "validation_error")

    await each(BAD_DISPATCHES, check)()

    async def extension(name: str, days: Any) -> None:
        response = await loop.routing.post(
            f"{card}/extensions",
            json={"days": days, "reason": "需要协调"},
            headers={"X-API-Key": loop.jt_key},
        )
        assert_envelope(response, 422, "validation_error")

    await each(
        {"0": 0, "61": 61, "huge": 10**30, "negative": -1, "float": 2.5, "string": "two"}, extension
    )()


# --- huge paging numbers ----------------------------------------------------------------------

PAGED = [
    ("intake", "/v1/cppcc/members", "key"),
    ("intake", "/v1/cppcc/visits", "key"),
    ("routing", "/v1/cases", "admin"),
    ("routing", "/v1/cards", "admin"),
    ("routing", "/v1/webhooks/subscriptions", "admin"),
    ("routing", "/v1/webhooks/deliveries", "admin"),
    ("routing", "/v1/supervision/events", "admin"),
    ("routing", "/v1/supervision/overdue", "admin"),
    ("routing", "/v1/transfers", "admin"),
    ("routing", "/v1/org/staff", "admin"),
    ("routing", "/v1/audit/verify", "admin"),
    ("scoring", "/v1/revisits", "admin"),
]


async def test_huge_paging_numbers_are_not_a_5xx(
    loop: Loop, reset_rate_limits: Callable[[], None]
) -> None:
    failures = []
    for service, path, auth in PAGED:
        await _paging(loop, reset_rate_limits, service, path, auth, failures)
    assert not failures, "\n".join(failures)


async def _paging(
    loop: Loop,
    reset_rate_limits: Callable[[], None],
    service: str,
    path: str,
    auth: str,
    failures: list[str],
) -> None:
    client = {"intake": loop.intake, "routing": loop.routing, "scoring": loop.scoring}[service]
    headers = {"X-API-Key": loop.channel_key} if auth == "key" else loop.org.auth("admin")
    for params in [
        {"offset": 10**6},
        {"offset": 2**63},
        {"offset": 10**30},
        {"limit": 2**63},
        {"limit": -1},
        {"offset": -1},
        {"limit": "1e3"},
        {"page": 10**30, "page_size": 10**30},
    ]:
        reset_rate_limits()
        response = await client.get(path, params=params, headers=headers)
        if response.status_code >= 500 or (
            response.status_code >= 400 and "error" not in response.json()
        ):
            failures.append(
                f"{service} {path} {params}: {response.status_code} {response.text[:200]}"
            )


async def test_audit_verify_huge_limit_or_cursor_is_a_4xx(loop: Loop) -> None:
    for params in ({"limit": 2**63}, {"cursor": "x" * 2000}, {"cursor": "a.b"}):
        response = await loop.routing.get(
            "/v1/audit/verify", params=params, headers=loop.org.auth("admin")
        )
        assert 400 <= response.status_code < 500, response.text


# --- scoring: months, years, date ranges ------------------------------------------------------

BAD_MONTHS = [
    "2026-13",
    "2026-00",
    "2026-1",
    "0000-01",
    "10000-01",
    "1969-12",
    "3000-01",
    "２０２６-０５",
    "2026/05",
    "May 2026",
    "2026-05-01",
    "-2026-05",
]


async def test_absurd_months_are_422(scoring_client: httpx.AsyncClient, org: Any) -> None:
    await each({m: m for m in BAD_MONTHS}, lambda name, month: _month(scoring_client, org, month))()


async def _month(scoring_client: httpx.AsyncClient, org: Any, month: str) -> None:
    headers = org.auth("admin")
    for url, kwargs in [
        ("/v1/evaluation/policy", {"params": {"month": month}}),
        ("/v1/evaluation/scorecards", {"params": {"month": month}}),
        ("/v1/evaluation/scorecards/export", {"params": {"month": month}}),
        ("/v1/evaluation/scorecards/DEPT-JT", {"params": {"month": month}}),
    ]:
        response = await scoring_client.get(url, headers=headers, **kwargs)
        assert_envelope(response, 422, "invalid_month")
    response = await scoring_client.put(
        f"/v1/evaluation/policy/{month.replace('/', '%2F')}", json={}, headers=headers
    )
    assert_envelope(response, (404, 422))


BAD_YEARS = ["0", "0000", "10000", "-2026", "1969", "3000", "２０２６", "2026.0", "1e3", "twenty"]


async def test_absurd_years_are_422(scoring_client: httpx.AsyncClient, org: Any) -> None:
    async def check(name: str, year: str) -> None:
        for url in (
            "/v1/evaluation/annual",
            "/v1/evaluation/annual/export",
            "/v1/evaluation/annual/DEPT-JT",
        ):
            response = await scoring_client.get(
                url, params={"year": year}, headers=org.auth("admin")
            )
            assert_envelope(response, 422, "invalid_year")

    await each({y: y for y in BAD_YEARS}, check)()


async def test_year_with_a_trailing_newline_is_refused_as_a_control_character(
    scoring_client: httpx.AsyncClient, org: Any
) -> None:
    """``^[0-9]{4}$`` would match before a final newline; a query parameter is a single-line
    value, so the one validator refuses ``2026\\n`` before any pattern sees it."""
    response = await scoring_client.get(
        "/v1/evaluation/annual", params={"year": "2026\n"}, headers=org.auth("admin")
    )
    assert response.status_code == 422, response.text
    (item,) = response.json()["error"]["details"]
    assert (item["type"], item["loc"]) == ("control_characters", ["query", "year"])


RANGES_422: dict[str, tuple[dict[str, str], str]] = {
    "feb_30": ({"start": "2026-02-30", "end": "2026-03-01"}, "validation_error"),
    "month_13": ({"start": "2026-13-01"}, "validation_error"),
    "year_0": ({"start": "0000-01-01"}, "validation_error"),
    "year_10000": ({"end": "10000-01-01"}, "validation_error"),
    "reversed": ({"start": "2026-05-02", "end": "2026-05-01"}, "invalid_date_range"),
    "too_long": ({"start": "2020-01-01", "end": "2026-01-01"}, "date_range_too_long"),
    "datetime": ({"start": "2026-05-01T10:30:00Z"}, "validation_error"),
    "year_1": ({"start": "0001-01-01", "end": "0001-01-31"}, "invalid_date_range"),
    "year_9999": ({"start": "9999-12-01", "end": "9999-12-31"}, "invalid_date_range"),
    "words": ({"start": "yesterday"}, "validation_error"),
}


@pytest.mark.parametrize("path", ["/v1/statistics", "/v1/public/statistics"])
async def test_absurd_statistics_ranges_are_422(
    scoring_client: httpx.AsyncClient, org: Any, path: str
) -> None:
    """Dates outside 1970-2999 (the edges of the date type included) are ``invalid_date_range``."""

    async def check(name: str, case: tuple[dict[str, str], str]) -> None:
        params, code = case
        response = await scoring_client.get(path, params=params, headers=org.auth("admin"))
        assert_envelope(response, 422, code)

    await each(RANGES_422, check)()


BAD_VISIT_DATES = [
    "0001-01-01",
    "1999-12-31",
    "9999-12-31",
    "2026-02-30",
    "2026-13-01",
    "20260105x",
    "2026-1-5",
]


async def test_absurd_visit_dates_are_422(loop: Loop) -> None:
    station = (await loop.intake.post("/v1/cppcc/stations", json={"name": "联络站", "sector": "经济界"},
                                      headers={"X-API-Key": loop.channel_key})).json()  # fmt: skip
    member = (await loop.intake.post("/v1/cppcc/members", json={"name": "李委员", "station_id": station["id"]},
                                     headers={"X-API-Key": loop.channel_key})).json()  # fmt: skip
    await each({d: d for d in BAD_VISIT_DATES}, lambda name, day: _visit_date(loop, member, day))()


async def _visit_date(loop: Loop, member: dict[str, Any], visited_on: str) -> None:
    scoring = await loop.scoring.post(
        "/v1/visits",
        json={
            "visits": [
                {"target_kind": "merchant", "target_name": "老王面馆", "visited_on": visited_on}
            ]
        },
        headers=loop.org.auth("admin"),
    )
    error = assert_envelope(scoring, 422)
    assert error["code"] in ("validation_error", "invalid_visit_date"), error
    cppcc = await loop.intake.post(
        "/v1/cppcc/visits",
        json={
            "member_id": member["id"],
            "target_kind": "merchant",
            "target_name": "老王面馆",
            "visited_on": visited_on,
        },
        headers={"X-API-Key": loop.channel_key},
    )
    assert_envelope(cppcc, 422, "validation_error")


OPEN311_SEARCHES: dict[str, dict[str, str]] = {
    "start_year_1": {"start_date": "0001-01-01T00:00:00Z"},
    "end_year_9999": {"end_date": "9999-12-31T23:59:59Z"},
    "year_1_range": {"start_date": "0001-01-01T00:00:00+14:00", "end_date": "0001-01-02T00:00:00Z"},
    "year_9999_range": {
        "start_date": "9999-12-30T00:00:00Z",
        "end_date": "9999-12-31T23:59:59-12:00",
    },
    "feb_30": {"start_date": "2026-02-30T00:00:00Z"},
    "date_only": {"start_date": "2026-05-01"},
    "naive": {"start_date": "2026-05-01T00:00:00"},
    "number": {"start_date": "1e300"},
    "huge_page": {"page": "99999999999999999999999", "page_size": "1000"},
    "negative_page": {"page": "-1"},
    "zero_page_size": {"page_size": "0"},
}


async def test_open311_absurd_search_dates_are_not_a_5xx(intake_client: httpx.AsyncClient) -> None:
    async def check(name: str, params: dict[str, str]) -> None:
        response = await intake_client.get("/open311/v2/requests.json", params=params)
        assert response.status_code in (200, 400), response.text
        if response.status_code == 400:
            errors = response.json()
            assert all(set(e) == {"code", "description"} and e["code"] == 400 for e in errors), (
                errors
            )

    await each(OPEN311_SEARCHES, check)()
