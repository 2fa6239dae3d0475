"""Package metadata builds with current and next setuptools: an SPDX license string (PEP 639),
not the table setuptools refuses after 2027-02-18, and a bounded build backend."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement

PYPROJECT = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text("utf-8"))


def test_license_is_an_spdx_expression() -> None:
    assert PYPROJECT["project"]["license"] == "Apache-2.0"


def test_build_backend_is_bounded_above_and_below() -> None:
    (backend,) = [Requirement(r) for r in PYPROJECT["build-system"]["requires"]]
    assert backend.name == "setuptools"
    operators = {spec.operator for spec in backend.specifier}
    assert {">=", "<"} <= operators, backend
    # PEP 639 license strings need setuptools 77.
    assert not backend.specifier.contains("76.1.0")
    assert backend.specifier.contains("77.0.3")
