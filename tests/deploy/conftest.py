"""The deployment checks read files and import modules; they need no database or Redis."""

from __future__ import annotations

import pytest


@pytest.fixture
def clean_state() -> None:
    """Overrides tests/fixtures/database.py's fixture (which tests/conftest.py adds to every test
    outside tests/shared): nothing to clean here."""
