"""Fuzz /open311/v2 against the corrected OpenAPI description of GeoReport v2.

For every operation the description documents, Schemathesis generates valid (positive) and
invalid (negative) requests; ours must never answer 5xx, and answers must match the documented
status codes, content types and (JSON) schemas. The intake app runs under uvicorn in a thread
(lifespan on, the test database and Redis from ``tests/conftest.py``), because Schemathesis calls
are synchronous.

Where the description and the spec text disagree we follow the spec text, and switch off the
check the disagreement would trip, for that operation only (``SPEC_TEXT_WINS``).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import CheckFunction
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from intake_service.models import ApiKey
from services.db import AsyncSessionMaker
from tests.fixtures.clients import make_key

SCHEMA = schemathesis.openapi.from_path(Path(__file__).parent / "data" / "fms_open311_patched.json")
OPERATIONS = sorted((op.path, op.method.upper()) for op in (r.ok() for r in SCHEMA.get_all_operations()))

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

HYPOTHESIS = settings(
    max_examples=25,
    deadline=None,
    database=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def open311_server(test_database: str) -> Iterator[str]:
    """The intake app on a free loopback port; yields the Open311 base URL."""
    from intake_service.app import create_app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(),
        lifespan="on",
        log_level="warning",
        access_log=False,
        ws="none",
        http="h11",
        loop="asyncio",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}/open311/v2"
    server.should_exit = True
    thread.join(timeout=15)
    sock.close()


@pytest.fixture
async def open311_key(intake_sessionmaker: AsyncSessionMaker) -> str:
    return await make_key(intake_sessionmaker, ApiKey, "open311")


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=[f"{m} {p}" for p, m in OPERATIONS])
def test_conforms_to_the_description(
    path: str, method: str, mode: GenerationMode, open311_server: str, open311_key: str
) -> None:
    operation = SCHEMA[path][method]
    excluded = [*SPEC_TEXT_WINS.get((path, method), []), negative_data_rejection]
    statuses: list[int] = []

    with requests.Session() as session:

        @given(case=operation.as_strategy(generation_mode=mode))
        @HYPOTHESIS
        def run(case: Any) -> None:
            params = None
            if method == "POST" and mode is GenerationMode.POSITIVE and isinstance(case.body, dict):
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
                additional_checks=[negative_data_rejection_but_empty_is_absent],
            )
            statuses.append(response.status_code)

        run()

    assert statuses
    import collections, sys; print(path, method, mode, collections.Counter(statuses), file=sys.stderr)
    assert all(status < 500 for status in statuses)
