"""Access is decided in ``services/policy.py`` only: no module of the three services compares a
principal's role or kind itself, or reaches for the policy from inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("intake_service", "routing_service", "scoring_service")
DECIDING = {"role", "kind"}


def _modules() -> list[Path]:
    return sorted(
        path
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    )


def _is_principal_attribute(node: ast.expr) -> bool:
    # principal.role, self.principal.kind, request.state.principal.role ...
    return (
        isinstance(node, ast.Attribute)
        and node.attr in DECIDING
        and "principal" in ast.unparse(node.value).lower()
    )


def _violations(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and any(
            _is_principal_attribute(side) for side in (node.left, *node.comparators)
        ):
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for inner in ast.walk(node):
                if isinstance(inner, ast.ImportFrom) and inner.module == "services.policy":
                    found.append(f"line {inner.lineno}: policy imported inside {node.name}()")
    return found


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_access_decision_outside_the_policy(path: Path) -> None:
    assert not _violations(ast.parse(path.read_text(encoding="utf-8"))), path


def test_the_guard_sees_what_it_forbids() -> None:
    inline = ast.parse(
        "async def list_cases(principal):\n"
        "    if principal.role in DEPARTMENT_ROLES or principal.kind == 'unit_key':\n"
        "        from services.policy import in_scope\n"
    )
    assert len(_violations(inline)) == 3
    assert not _violations(ast.parse("def f(principal):\n    return can(principal, 'x')\n"))
