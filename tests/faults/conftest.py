"""Fault tests run on their own throwaway PostgreSQL and Redis (see ``harness.FaultStack``), so
they skip the shared database and Redis that every other test starts clean."""

from __future__ import annotations

import pytest


@pytest.fixture
def clean_state() -> None:
    """Nothing to clean: each fault test initialises its own cluster and Redis server."""
