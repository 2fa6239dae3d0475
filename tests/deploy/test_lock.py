"""The locks pin what is tested: every requirement of pyproject.toml resolves to one exact, hashed
version in requirements/*.lock; the locks are closed (every dependency of a locked package is
locked too, at a version its dependant accepts); and the virtualenv running this suite holds
exactly the locked versions, so what CI tested is what `make install` and the image install."""

from __future__ import annotations

import re
import tomllib
from collections import deque
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

ROOT = Path(__file__).parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
DEV_LOCK = ROOT / "requirements" / "dev.lock"
RUNTIME_LOCK = ROOT / "requirements" / "runtime.lock"


@dataclass(frozen=True)
class Pin:
    requirement: Requirement
    hashes: tuple[str, ...]

    @property
    def version(self) -> str:
        (spec,) = self.requirement.specifier
        return spec.version

    def applies_here(self) -> bool:
        marker = self.requirement.marker
        return marker is None or marker.evaluate()


def read_lock(path: Path) -> dict[NormalizedName, Pin]:
    """pip's requirements format as uv writes it: ``name==version ; marker \\`` then one
    ``--hash=sha256:…`` per continuation line, comments on lines of their own."""
    logical = re.sub(r"\\\n", " ", path.read_text("utf-8"))
    pins: dict[NormalizedName, Pin] = {}
    for line in logical.splitlines():
        line = line.split("#", 1)[0].strip() if line.lstrip().startswith("#") else line.strip()
        if not line:
            continue
        text, *hashes = re.split(r"\s+--hash=", line)
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name not in pins, f"{path.name}: {name} is pinned twice"
        pins[name] = Pin(requirement, tuple(hashes))
    return pins


DEV = read_lock(DEV_LOCK)
RUNTIME = read_lock(RUNTIME_LOCK)


def requirements(group: str) -> list[Requirement]:
    if group == "runtime":
        return [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
    if group == "build":
        return [Requirement(r) for r in PYPROJECT["build-system"]["requires"]]
    return [Requirement(r) for r in PYPROJECT["project"]["optional-dependencies"][group]]


@pytest.mark.parametrize("path", [DEV_LOCK, RUNTIME_LOCK], ids=lambda p: p.name)
def test_every_pin_is_exact_and_hashed(path: Path) -> None:
    for name, pin in read_lock(path).items():
        specs = list(pin.requirement.specifier)
        assert len(specs) == 1, f"{path.name}: {name} {pin.requirement.specifier}"
        assert specs[0].operator == "==", f"{path.name}: {name} is not pinned exactly"
        assert pin.hashes, f"{path.name}: {name} has no hash"
        assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in pin.hashes), name


@pytest.mark.parametrize(
    ("lock", "groups"),
    [(DEV, ("runtime", "build", "dev")), (RUNTIME, ("runtime", "build"))],
    ids=["dev.lock", "runtime.lock"],
)
def test_every_requirement_of_pyproject_is_locked_within_its_range(
    lock: dict[NormalizedName, Pin], groups: tuple[str, ...]
) -> None:
    for group in groups:
        for requirement in requirements(group):
            if requirement.marker is not None and not requirement.marker.evaluate():
                continue
            pin = lock.get(canonicalize_name(requirement.name))
            assert pin, f"{requirement} ({group}) is not in the lock: run `make lock`"
            assert requirement.specifier.contains(pin.version, prereleases=True), (
                f"{requirement} ({group}) but the lock pins {pin.version}: run `make lock`"
            )


def test_the_image_lock_agrees_with_the_lock_ci_tests() -> None:
    """The runtime lock is resolved under the dev lock's pins, so the image runs the versions the
    suite ran."""
    for name, pin in RUNTIME.items():
        assert name in DEV, f"{name} is in runtime.lock only"
        assert DEV[name].version == pin.version, f"{name}: {pin.version} vs {DEV[name].version}"
        assert set(pin.hashes) <= set(DEV[name].hashes), name
    assert set(DEV) - set(RUNTIME) >= {canonicalize_name(r.name) for r in requirements("dev")} - {
        canonicalize_name(r.name) for r in requirements("runtime")
    }, "a development-only tool would be installed in the image"


@pytest.mark.parametrize(
    ("lock", "groups"),
    [(DEV, ("runtime", "build", "dev")), (RUNTIME, ("runtime", "build"))],
    ids=["dev.lock", "runtime.lock"],
)
def test_the_lock_is_closed_under_dependencies(
    lock: dict[NormalizedName, Pin], groups: tuple[str, ...]
) -> None:
    """Installing with --no-deps leaves nothing to resolve: walking the installed metadata from
    pyproject's requirements (extras included) only ever reaches locked packages, each at a
    version its dependant accepts."""
    queue: deque[tuple[Requirement, str]] = deque(
        (r, "pyproject.toml") for group in groups for r in requirements(group)
    )
    seen: set[tuple[NormalizedName, frozenset[str]]] = set()
    while queue:
        requirement, dependant = queue.popleft()
        name = canonicalize_name(requirement.name)
        pin = lock.get(name)
        assert pin, f"{dependant} needs {requirement}, which is not locked"
        assert requirement.specifier.contains(pin.version, prereleases=True), (
            f"{dependant} needs {requirement}, the lock pins {pin.version}"
        )
        key = (name, frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        for text in metadata.requires(name) or []:
            dependency = Requirement(text)
            extras = {"", *requirement.extras}
            marker = dependency.marker
            if marker is None or any(marker.evaluate({"extra": extra}) for extra in extras):
                queue.append((dependency, f"{name}{sorted(requirement.extras) or ''}"))


def test_the_running_environment_is_the_lock() -> None:
    """What this suite runs on is what the lock says, package for package."""
    wrong = {
        name: (pin.version, installed)
        for name, pin in DEV.items()
        if pin.applies_here() and (installed := metadata.version(name)) != pin.version
    }
    assert not wrong, f"installed versions differ from dev.lock (locked, installed): {wrong}"
    project = {canonicalize_name("yingshang")}
    installed = {canonicalize_name(d.metadata["Name"]) for d in metadata.distributions()}
    # pip belongs to the virtualenv, not to the project.
    unlocked = installed - set(DEV) - project - {canonicalize_name("pip")}
    assert not unlocked, f"installed but not locked: {sorted(unlocked)}"


def test_every_install_path_uses_the_lock_with_hashes() -> None:
    makefile = (ROOT / "Makefile").read_text("utf-8")
    assert re.search(r"pip install .*--require-hashes --no-deps -r \$\(DEV_LOCK\)", makefile)
    assert "DEV_LOCK := requirements/dev.lock" in makefile
    assert "--no-build-isolation -e ." in makefile
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text("utf-8")
    assert "pip install --require-hashes --no-deps -r requirements/runtime.lock" in dockerfile
    assert "--no-build-isolation" in dockerfile
    assert "make test" in (ROOT / ".ci" / "run").read_text("utf-8")
