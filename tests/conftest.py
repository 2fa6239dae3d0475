from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.environment import configure_environment

configure_environment()

pytest_plugins = [
    "tests.fixtures.database",
    "tests.fixtures.clients",
    "tests.fixtures.org",
    "tests.fixtures.loop",
]

_PURE = Path(__file__).parent / "shared"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Pure-code tests (tests/shared) need no database; everything else starts clean.
    for item in items:
        fixturenames = getattr(item, "fixturenames", None)
        if _PURE not in Path(str(item.fspath)).parents and fixturenames is not None:
            fixturenames.insert(0, "clean_state")
