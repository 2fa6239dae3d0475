"""Fault tests run on their own throwaway PostgreSQL and Redis (see ``harness.FaultStack``), so
they skip the shared database and Redis that every other test starts clean."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.harness import LIVE


@pytest.fixture
def clean_state() -> None:
    """Nothing to clean: each fault test initialises its own cluster and Redis server."""


@pytest.fixture(autouse=True)
def no_stack_left_behind() -> Iterator[None]:
    """A test stopped by pytest-timeout may not get through its own cleanup: kill whatever
    processes and clusters it left."""
    yield
    for stack in list(LIVE):
        stack.kill_everything()
