"""The intake API with field encryption switched off, for the benchmark's back-to-back "before"
figure only (bench/b_intake.py). Nothing outside bench/ imports this: the services have no
switch that writes plaintext."""

from __future__ import annotations

from typing import Any

import services.crypto
from intake_service.app import app


def _stored_as_given(value: str, label: str, ring: str = "personal", **_: Any) -> str:
    return value


services.crypto.seal = _stored_as_given  # type: ignore[assignment]

__all__ = ["app"]
