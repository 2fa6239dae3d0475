"""Fuzz the department endpoints from their own OpenAPI description: whatever the input, the
answer is never a 5xx. The routing app runs under uvicorn in a thread
(``tests/fixtures/schemathesis_harness.py``; lifespan on, the test database from
``tests/conftest.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import strategies as st
from schemathesis import GenerationMode

from tests.fixtures.org import Org
from tests.fixtures.schemathesis_harness import METHODS, fuzz, fuzz_settings, serve

TAGS = {"auth", "org", "dispatch"}


def _schema() -> Any:
    from routing_service.app import create_app

    return schemathesis.openapi.from_dict(create_app().openapi())


SCHEMA = _schema()
OPERATIONS = sorted(
    (path, method.upper())
    for path, item in SCHEMA.raw_schema["paths"].items()
    for method, operation in item.items()
    if method in METHODS and TAGS & set(operation.get("tags", []))
)
CODES = ["HS", "HS-GM", "HS-GM-C1", "DEPT-JT", "JW"]

HYPOTHESIS = fuzz_settings(15)


@pytest.fixture(scope="module")
def routing_server(test_database: str) -> Iterator[str]:
    from routing_service.app import create_app

    with serve(create_app()) as url:
        yield url


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=[f"{m} {p}" for p, m in OPERATIONS])
def test_never_a_server_error(
    path: str, method: str, mode: GenerationMode, routing_server: str, org: Org
) -> None:
    operation = SCHEMA[path][method]
    statuses: list[int] = []

    with requests.Session() as session:

        def check(case: Any, aim: str | None) -> None:
            if aim is not None and case.path_parameters and "code" in case.path_parameters:
                case.path_parameters["code"] = aim
            response = case.call(
                base_url=routing_server, session=session, headers=org.auth("admin")
            )
            statuses.append(response.status_code)
            assert response.status_code < 500, (case.as_curl_command(), response.text[:500])

        fuzz(operation, mode, HYPOTHESIS, check, aim=st.sampled_from([None, *CODES]))

    assert statuses
