"""Fuzz the department endpoints from their own OpenAPI description: whatever the input, the
answer is never a 5xx. Schemathesis calls are synchronous, so the routing app runs under uvicorn
in a thread (lifespan on, the test database from ``tests/conftest.py``)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.fixtures.org import Org

TAGS = {"auth", "org", "dispatch"}


def _schema() -> Any:
    from routing_service.app import create_app

    return schemathesis.openapi.from_dict(create_app().openapi())


SCHEMA = _schema()
OPERATIONS = sorted(
    (path, method.upper())
    for path, item in SCHEMA.raw_schema["paths"].items()
    for method, operation in item.items()
    if method in {"get", "post", "patch", "delete"} and TAGS & set(operation.get("tags", []))
)
CODES = ["HS", "HS-GM", "HS-GM-C1", "DEPT-JT", "JW"]

HYPOTHESIS = settings(
    max_examples=15,
    deadline=None,
    database=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def routing_server(test_database: str) -> Iterator[str]:
    from routing_service.app import create_app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
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
        assert thread.is_alive(), "uvicorn did not start"
        assert time.monotonic() < deadline, "uvicorn did not start in time"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=15)
    sock.close()


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=[f"{m} {p}" for p, m in OPERATIONS])
def test_never_a_server_error(
    path: str, method: str, mode: GenerationMode, routing_server: str, org: Org
) -> None:
    operation = SCHEMA[path][method]
    statuses: list[int] = []

    with requests.Session() as session:

        @given(
            case=operation.as_strategy(generation_mode=mode), aim=st.sampled_from([None, *CODES])
        )
        @HYPOTHESIS
        def run(case: Any, aim: str | None) -> None:
            if aim is not None and case.path_parameters and "code" in case.path_parameters:
                case.path_parameters["code"] = aim
            response = case.call(
                base_url=routing_server, session=session, headers=org.auth("admin")
            )
            statuses.append(response.status_code)
            assert response.status_code < 500, (case.as_curl_command(), response.text[:500])

        try:
            run()
        except Unsatisfiable:
            if mode is GenerationMode.NEGATIVE:
                pytest.skip("the operation has no input to make invalid")
            raise

    assert statuses
