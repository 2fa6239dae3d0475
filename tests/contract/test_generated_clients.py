"""TypeScript clients generated from each service's OpenAPI document compile under ``tsc
--strict``, with three generators nobody here wrote: openapi-typescript and @hey-api/openapi-ts
(from npm, versions locked in clients/package-lock.json) and openapi-generator's typescript-fetch
(its jar comes with the ``openapi-generator-cli`` dev dependency and needs a Java runtime).

Slow, and skipped cleanly where node/npm (or Java, for openapi-generator) is missing or the npm
registry cannot be reached. The npm packages are installed once per lock into ~/.cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.contract.test_openapi import SERVICES, _app

pytestmark = pytest.mark.slow

CLIENTS = Path(__file__).parent / "clients"
Generator = Callable[[Path, Path, Path], list[str]]


def _run(command: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def node_modules() -> Path:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are not installed")
    lock = (CLIENTS / "package-lock.json").read_bytes()
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    home = cache / "yingshang" / "openapi-clients" / hashlib.sha256(lock).hexdigest()[:16]
    if not (home / "node_modules" / ".bin" / "tsc").exists():
        home.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy(CLIENTS / name, home / name)
        installed = _run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], home)
        if installed.returncode != 0:
            pytest.skip(f"npm ci failed (registry unreachable?): {installed.stderr[-500:]}")
    return home / "node_modules"


def _openapi_typescript(bin_dir: Path, document: Path, out: Path) -> list[str]:
    return [str(bin_dir / "openapi-typescript"), str(document), "-o", str(out / "schema.d.ts")]


def _hey_api(bin_dir: Path, document: Path, out: Path) -> list[str]:
    return [str(bin_dir / "openapi-ts"), "-i", str(document), "-o", str(out)]


def _typescript_fetch(bin_dir: Path, document: Path, out: Path) -> list[str]:
    jar_cli = Path(sys.executable).with_name("openapi-generator-cli")
    return [str(jar_cli), "generate", "-g", "typescript-fetch", "-i", str(document), "-o", str(out)]


GENERATORS: dict[str, Generator] = {
    "openapi-typescript": _openapi_typescript,
    "hey-api": _hey_api,
    "openapi-generator typescript-fetch": _typescript_fetch,
}


@pytest.mark.parametrize("generator", list(GENERATORS))
def test_generated_client_compiles_with_tsc(
    generator: str, node_modules: Path, tmp_path: Path
) -> None:
    if generator.startswith("openapi-generator") and shutil.which("java") is None:
        pytest.skip("openapi-generator needs a Java runtime")
    bin_dir = node_modules / ".bin"
    for service in SERVICES:
        schema = dict(_app(service).openapi())
        if generator.startswith("openapi-generator"):
            # A client generator, and its OpenAPI 3.1 support is beta: for the `webhooks`
            # section (what we send, not what a client calls) it writes imports without names.
            # The other two generators read the section and compile it.
            schema.pop("webhooks", None)
        document = tmp_path / f"{service}.json"
        document.write_text(json.dumps(schema, ensure_ascii=False))
        out = tmp_path / "generated" / service
        out.mkdir(parents=True)
        generated = _run(GENERATORS[generator](bin_dir, document, out), tmp_path)
        assert generated.returncode == 0, (
            f"{generator} failed on {service}:\n{generated.stdout[-2000:]}{generated.stderr[-2000:]}"
        )
        assert any(out.rglob("*.ts")), f"{generator} wrote nothing for {service}"
    shutil.copy(CLIENTS / "tsconfig.json", tmp_path / "tsconfig.json")
    compiled = _run([str(bin_dir / "tsc"), "-p", str(tmp_path / "tsconfig.json")], tmp_path)
    assert compiled.returncode == 0, f"tsc on {generator}'s clients:\n{compiled.stdout[-4000:]}"
