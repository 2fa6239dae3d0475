"""What the deployment files may name, derived from the code: settings (environment variables),
service ports and routes, the commands the image can run, and the Prometheus metrics."""

from __future__ import annotations

import contextlib
import importlib
import io
import re
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import click
from fastapi import FastAPI

from services.settings import BaseServiceSettings, CommonSettings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SERVICES = ("intake", "routing", "scoring")

# Variables the image or platform reads that are not Yingshang settings.
PLATFORM_ENV = {
    "PATH",
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONUNBUFFERED",
    "PIP_NO_CACHE_DIR",
    "PIP_DISABLE_PIP_VERSION_CHECK",
}
# OpenTelemetry SDK variables (services/tracing.py): accepted anywhere.
OTEL_ENV = re.compile(r"^OTEL_[A-Z0-9_]+$")


def service_settings_classes() -> dict[str, type[BaseServiceSettings]]:
    classes: dict[str, type[BaseServiceSettings]] = {}
    for name in SERVICES:
        module = importlib.import_module(f"{name}_service.config")
        found = [
            value
            for value in vars(module).values()
            if isinstance(value, type)
            and issubclass(value, BaseServiceSettings)
            and value is not BaseServiceSettings
        ]
        assert len(found) == 1, f"{name}_service.config should define one settings class"
        classes[name] = found[0]
    return classes


@cache
def setting_env_names() -> frozenset[str]:
    """Every environment variable a setting reads: CommonSettings' fields without a prefix, each
    service's fields with its env_prefix (pydantic-settings matches them case-insensitively)."""
    names = {field.upper() for field in CommonSettings.model_fields}
    for cls in service_settings_classes().values():
        prefix = str(cls.model_config.get("env_prefix", ""))
        assert prefix, f"{cls.__name__} has no env_prefix"
        names |= {(prefix + field).upper() for field in cls.model_fields}
    return frozenset(names)


def unknown_env_names(names: Sequence[str], *, extra: frozenset[str] = frozenset()) -> list[str]:
    known = setting_env_names() | PLATFORM_ENV | extra
    return sorted(n for n in names if n not in known and not OTEL_ENV.match(n))


@cache
def service_port(name: str) -> int:
    return int(importlib.import_module(f"{name}_service.spec").spec.port)


@cache
def service_paths(name: str) -> frozenset[str]:
    app = importlib.import_module(f"{name}_service.app").app
    assert isinstance(app, FastAPI)
    return frozenset(app.openapi()["paths"])


def _click_options(command: click.Command) -> set[str]:
    options: set[str] = set()
    for param in command.params:
        options.update(param.opts)
        options.update(getattr(param, "secondary_opts", []))
    return options


def _check_options(argv: Sequence[str], options: set[str], where: str) -> list[str]:
    problems = []
    for arg in argv:
        if arg.startswith("--") and arg.split("=", 1)[0] not in options:
            problems.append(f"{where}: unknown option {arg}")
    return problems


def _option_value(argv: Sequence[str], option: str) -> str | None:
    for index, arg in enumerate(argv):
        if arg == option and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith(option + "="):
            return arg.split("=", 1)[1]
    return None


def check_command(argv: Sequence[str]) -> tuple[str, str | None, list[str]]:
    """Check one container command against the code.

    Returns (role, service, problems): role is api, worker, worker-check, migrate or cli.
    """
    argv = list(argv)
    where = " ".join(argv)
    if argv[:2] != ["python", "-m"] or len(argv) < 3:
        return "unknown", None, [f"{where}: expected `python -m <module> ...`"]
    module, args = argv[2], argv[3:]
    if module == "uvicorn":
        return _check_uvicorn(args, where)
    if module == "services.run_worker":
        problems = []
        runner = importlib.import_module("services.run_worker")
        if not callable(getattr(runner, "main", None)):
            problems.append(f"{where}: services.run_worker has no main()")
        if len(args) != 1 or args[0] not in SERVICES:
            return "worker", None, [*problems, f"{where}: expected one of {SERVICES}"]
        worker = importlib.import_module(f"{args[0]}_service.worker")
        if not isinstance(getattr(worker, "WorkerSettings", None), type):
            problems.append(f"{where}: {args[0]}_service.worker has no WorkerSettings class")
        return "worker", args[0], problems
    if module == "arq":
        return _check_arq(args, where)
    if module == "services.cli":
        return _check_cli(args, where)
    return "unknown", None, [f"{where}: unknown module {module}"]


def _check_uvicorn(args: list[str], where: str) -> tuple[str, str | None, list[str]]:
    # `uvicorn.main` the attribute is the function; the click command lives in the module.
    uvicorn_cli = importlib.import_module("uvicorn.main").main
    problems = _check_options(args, _click_options(uvicorn_cli), where)
    target = next((a for a in args if not a.startswith("-") and ":" in a), None)
    if target is None:
        return "api", None, [*problems, f"{where}: no module:attribute to serve"]
    module_name, attr = target.split(":", 1)
    match = re.fullmatch(r"(intake|routing|scoring)_service\.app", module_name)
    service = match.group(1) if match else None
    try:
        app = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        return "api", service, [*problems, f"{where}: cannot load {target}: {exc}"]
    if not isinstance(app, FastAPI):
        problems.append(f"{where}: {target} is not a FastAPI app")
    port = _option_value(args, "--port")
    if service is None:
        problems.append(f"{where}: {target} is not one of the services' apps")
    elif port != str(service_port(service)):
        problems.append(f"{where}: --port {port}, but {service} listens on {service_port(service)}")
    if _option_value(args, "--host") != "0.0.0.0":
        problems.append(f"{where}: a container API must listen on 0.0.0.0")
    problems += _forwarded_header_problems(args, where)
    return "api", service, problems


def _forwarded_header_problems(args: Sequence[str], where: str) -> list[str]:
    # uvicorn's proxy headers are on by default (trusting $FORWARDED_ALLOW_IPS or 127.0.0.1) and
    # rewrite the client before the app sees it; `--forwarded-allow-ips=*` let any client lift a
    # lockout with X-Forwarded-For. Only services/ratelimit.py client_ip decides (TRUSTED_PROXIES).
    problems = []
    if "--no-proxy-headers" not in args or "--proxy-headers" in args:
        problems.append(f"{where}: uvicorn must run with --no-proxy-headers")
    if any(a.split("=", 1)[0] == "--forwarded-allow-ips" for a in args):
        problems.append(f"{where}: --forwarded-allow-ips: forwarded headers are TRUSTED_PROXIES'")
    return problems


def _check_arq(args: list[str], where: str) -> tuple[str, str | None, list[str]]:
    arq_cli = importlib.import_module("arq.cli").cli
    problems = _check_options(args, _click_options(arq_cli), where)
    targets = [a for a in args if not a.startswith("-")]
    if len(targets) != 1:
        return "worker-check", None, [*problems, f"{where}: expected one settings path"]
    module_name, _, attr = targets[0].rpartition(".")
    match = re.fullmatch(r"(intake|routing|scoring)_service\.worker", module_name)
    service = match.group(1) if match else None
    try:
        getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        problems.append(f"{where}: cannot load {targets[0]}: {exc}")
    if "--check" not in args:
        problems.append(f"{where}: a probe must use --check")
    return "worker-check", service, problems


def _check_cli(args: list[str], where: str) -> tuple[str, str | None, list[str]]:
    """Let the CLI's own parser judge the arguments, asking for --help so nothing runs."""
    from services import cli

    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            cli.main([*args, "--help"])
    except SystemExit as exc:
        if exc.code not in (0, None):
            return "cli", None, [f"{where}: rejected by services.cli: {out.getvalue().strip()}"]
    else:
        return "cli", None, [f"{where}: services.cli did not parse --help"]
    return ("migrate" if args[:1] == ["migrate"] else "cli"), None, []


# --- Prometheus -----------------------------------------------------------------------------

# Metrics the dashboard and alerts may use that are not Yingshang's own (kube-state-metrics).
EXTERNAL_METRICS = {"kube_pod_status_ready"}


@cache
def code_metrics() -> dict[str, frozenset[str]]:
    """Every sample name the services export, with its label names."""
    from prometheus_client import REGISTRY

    for name in SERVICES:
        importlib.import_module(f"{name}_service.app")
        importlib.import_module(f"{name}_service.worker")
    samples: dict[str, frozenset[str]] = {}
    for collector in list(REGISTRY._collector_to_names):  # every registered collector
        describe = getattr(collector, "describe", None)
        families: list[Any] = describe() if describe is not None else []
        for family in families:
            if not family.name.startswith("yingshang_"):
                continue
            labels = frozenset(getattr(collector, "_labelnames", ()))
            suffixes = {
                "counter": ["_total", "_created"],
                "histogram": ["_bucket", "_count", "_sum", "_created"],
                "summary": ["_count", "_sum", "_created", ""],
                "gauge": [""],
            }.get(family.type, [""])
            for suffix in suffixes:
                extra = {"le"} if suffix == "_bucket" else set()
                samples[family.name + suffix] = labels | extra
    return samples


def metric_problems(expr: str, where: str) -> tuple[set[str], list[str]]:
    """Parse a PromQL expression; report unknown metrics and label names."""
    import promql_parser

    try:
        ast = promql_parser.parse(expr)
    except ValueError as exc:
        return set(), [f"{where}: PromQL does not parse: {exc}"]
    selectors: list[Any] = []

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            selectors.append(node)

    promql_parser.walk(ast, visit)
    known = code_metrics()
    used: set[str] = set()
    problems = []
    for selector in selectors:
        name = selector.name
        if name is None:
            problems.append(f"{where}: selector without a metric name")
            continue
        used.add(name)
        if name in EXTERNAL_METRICS:
            continue
        labels = known.get(name)
        if labels is None:
            problems.append(f"{where}: metric {name} is not exported by the code")
            continue
        for matcher in selector.matchers.matchers:
            if matcher.name not in labels and matcher.name != "__name__":
                problems.append(f"{where}: {name} has no label {matcher.name}")
    return used, problems
