"""Fuzz /open311/v2 against the corrected OpenAPI description of GeoReport v2.

For every operation the description documents, Schemathesis generates valid (positive) and
invalid (negative) requests; ours must never answer 5xx, and answers must match the documented
status codes, content types and (JSON) schemas. The intake app runs under uvicorn in a thread
(``tests/fixtures/schemathesis_harness.py``; lifespan on, the test database and Redis from
``tests/conftest.py``), because Schemathesis calls are synchronous.

Where the description and the spec text disagree we follow the spec text, and switch off the
check the disagreement would trip, for that operation only (``SPEC_TEXT_WINS``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import CheckFunction
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from intake_service.models import ApiKey
from services.db import AsyncSessionMaker
from services.openapi import SINGLE_LINE_PATTERN
from shared.enums import Topic
from tests.fixtures.clients import make_key
from tests.fixtures.schemathesis_harness import METHODS, fuzz, fuzz_settings, serve


def _single_line_parameters(raw: dict[str, Any]) -> dict[str, Any]:
    """Path and query strings are one line of text here (control characters are refused with
    Open311's 400, see services.app.refuse_control_characters_in_url), as our own OpenAPI
    descriptions say; FixMyStreet's description does not, so say it before generating."""
    parameters = list(raw.get("components", {}).get("parameters", {}).values())
    for item in raw["paths"].values():
        for operation in item.values():
            if isinstance(operation, dict):
                parameters.extend(operation.get("parameters", []))
    for parameter in parameters:
        schema = parameter.get("schema", {})
        if schema.get("type") == "string" and not schema.keys() & {"pattern", "enum"}:
            schema["pattern"] = SINGLE_LINE_PATTERN
    return raw


SCHEMA = schemathesis.openapi.from_dict(
    _single_line_parameters(
        json.loads((Path(__file__).parent / "data" / "fms_open311_patched.json").read_text())
    )
)
OPERATIONS = sorted(
    (path, method.upper())
    for path, item in SCHEMA.raw_schema["paths"].items()
    for method in item
    if method in METHODS
)

SPEC_TEXT_WINS: dict[tuple[str, str], list[CheckFunction]] = {
    # A request needs a location (lat & long, address_string or address_id) and the service
    # definition's required attributes (attribute[request_type]); a phone or email must be
    # valid. The form schema cannot say so, so schema-valid bodies legitimately get 400.
    ("/requests.{response_format}", "POST"): [positive_data_acceptance],
    # The description lists FixMyStreet's extra statuses (fixed, investigating, ...) where the
    # spec has "Options: open, closed", and cannot say that "a range may not span more than
    # 90 days": both are 400 here, as the spec says.
    ("/requests.{response_format}", "GET"): [positive_data_acceptance],
}


def negative_data_rejection_but_empty_is_absent(ctx: Any, response: Any, case: Any) -> bool | None:
    """GeoReport v2: "Optional means that the response should be the same whether a parameter
    is passed and is empty or not passed at all". An empty ``start_date`` violates the
    description's ``format: date-time`` but must be answered like a missing one."""
    if any(value == "" for value in (case.query or {}).values()):
        return None
    return negative_data_rejection(ctx, response, case)


# Not in GeoReport v2 (FixMyStreet extensions): /servicerequestupdates and /update_tokens.
# They are fuzzed too; we answer the documented, spec-shaped 404.

HYPOTHESIS = fuzz_settings(25)


@pytest.fixture(scope="module")
def open311_server(test_database: str) -> Iterator[str]:
    """The intake app on a free loopback port; yields the Open311 base URL."""
    from intake_service.app import create_app

    with serve(create_app()) as url:
        yield f"{url}/open311/v2"


@pytest.fixture
async def open311_key(intake_sessionmaker: AsyncSessionMaker) -> str:
    return await make_key(intake_sessionmaker, ApiKey, "open311")


TOPICS = [topic.value for topic in Topic]
CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Operations whose random ids or codes would only ever hit 404: positive examples are steered to
# real resources part of the time, so that successful answers get validated too.
STEERED = {
    ("/services/{service_code}.{response_format}", "GET"),
    ("/requests/{service_request_id}.{response_format}", "GET"),
    ("/tokens/{token_id}.{response_format}", "GET"),
    ("/requests.{response_format}", "GET"),
    ("/requests.{response_format}", "POST"),
}


def steer(case: Any, aim: int, known_id: str) -> None:
    """``aim`` 0 leaves the case alone; 1-3 point it at existing resources, and for POST make
    more of the body acceptable each step (code, then location, then no contact fields)."""
    if aim == 0:
        return
    params = case.path_parameters or {}
    if "service_code" in params:
        params["service_code"] = TOPICS[aim % len(TOPICS)]
    for name in ("service_request_id", "token_id"):
        if name in params:
            params[name] = known_id
    if (
        case.method.upper() == "GET"
        and case.query is not None
        and "service_request_id" in case.query
    ):
        case.query["service_request_id"] = known_id
        if aim >= 2:
            for name in ("start_date", "end_date", "status"):
                case.query.pop(name, None)
    if case.method.upper() == "POST" and isinstance(case.body, dict):
        case.body["service_code"] = TOPICS[aim % len(TOPICS)]
        if aim >= 2:
            case.body.update({"lat": 36.6, "long": 114.5})
            case.body.pop("address_id", None)
        if aim >= 3:
            for name in ("phone", "email", "media_url", "first_name", "last_name"):
                case.body.pop(name, None)
            if isinstance(case.body.get("description"), str):
                case.body["description"] = CONTROL_CHARACTERS.sub("", case.body["description"])


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=[f"{m} {p}" for p, m in OPERATIONS])
def test_conforms_to_the_description(
    path: str, method: str, mode: GenerationMode, open311_server: str, open311_key: str
) -> None:
    operation = SCHEMA[path][method]
    excluded = [*SPEC_TEXT_WINS.get((path, method), []), negative_data_rejection]
    positive = mode is GenerationMode.POSITIVE
    steered = positive and (path, method) in STEERED
    statuses: list[int] = []

    with requests.Session() as session:
        seed = session.post(
            f"{open311_server}/requests.json",
            data={
                "api_key": open311_key,
                "service_code": "water",
                "address_string": "邯山区光明大街",
                "description": "小区停水三天无人处理,请尽快恢复供水。",
                "attribute[request_type]": "complaint",
            },
        )
        assert seed.status_code == 200, seed.text
        known_id = seed.json()[0]["service_request_id"]

        def check(case: Any, aim: int) -> None:
            steer(case, aim, known_id)
            params = None
            if method == "POST" and positive and isinstance(case.body, dict):
                # A real key, in the description's security scheme (api_key in the query), so
                # that valid cases get past authentication; Schemathesis then checks that the
                # same request without it, or with a wrong one, is refused (ignored_auth).
                case.body.pop("api_key", None)
                case.body.setdefault("attribute[request_type]", "complaint")
                params = {"api_key": open311_key}
            response = case.call_and_validate(
                base_url=open311_server,
                session=session,
                params=params,
                excluded_checks=excluded,
                additional_checks=[] if positive else [negative_data_rejection_but_empty_is_absent],
            )
            statuses.append(response.status_code)

        fuzz(
            operation,
            mode,
            HYPOTHESIS,
            check,
            aim=st.sampled_from([0, 1, 2, 3, 3, 3]) if steered else st.just(0),
        )

    assert statuses
    assert all(status < 500 for status in statuses)
    if steered:
        assert 200 in statuses, statuses
