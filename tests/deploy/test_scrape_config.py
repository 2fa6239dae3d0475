"""Where Prometheus finds the workers' metrics, checked against where the workers serve them:
the compose scrape config against compose.yaml, the launcher's config against the launcher, the
Kubernetes annotations against the worker containers, and the alerts on worker-only series
against the targets that export them. (tests/services/test_worker_metrics.py scrapes a real
worker started the launcher's way.)"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.settings import CommonSettings
from tests.deploy.crosscheck import DEPLOY, ROOT, SERVICES, metric_problems, service_port
from tests.deploy.test_manifests import KUSTOMIZATIONS, compose, objects, pod_spec, role_of
from tests.deploy.test_observability import rules

OBSERVABILITY = DEPLOY / "observability"
COMPOSE_CONFIG = OBSERVABILITY / "prometheus.yaml"
LOCAL_CONFIG = OBSERVABILITY / "prometheus-local.yaml"
# Series only the workers export: the APIs never handle events or deliver webhooks.
WORKER_METRICS = {"yingshang_events_handled_total", "yingshang_webhook_deliveries_total"}
WORKER_ROLES = {f"{name}-worker" for name in SERVICES}
API_ROLES = {f"{name}-api" for name in SERVICES}


@cache
def config(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data


def dns_targets(scrape: dict[str, Any]) -> set[tuple[str, int]]:
    """(compose service, port) of every name a job's DNS discovery resolves."""
    found: set[tuple[str, int]] = set()
    for sd in scrape.get("dns_sd_configs", []):
        assert sd["type"] == "A", scrape["job_name"]  # A records need the port given here
        found |= {(name, int(sd["port"])) for name in sd["names"]}
    return found


def compose_scrape_targets() -> dict[str, set[tuple[str, int]]]:
    return {
        scrape["job_name"]: dns_targets(scrape)
        for scrape in config(COMPOSE_CONFIG)["scrape_configs"]
    }


def compose_metric_endpoints() -> set[tuple[str, int]]:
    """(service, port) where compose.yaml says a process serves /metrics."""
    endpoints: set[tuple[str, int]] = set()
    for name, service in compose()["services"].items():
        role, _, kind = name.rpartition("-")
        if kind == "api":
            endpoints.add((name, service_port(role)))
        elif kind == "worker":
            port = service.get("environment", {}).get(f"{role.upper()}_WORKER_METRICS_PORT")
            assert port is not None, f"{name}: no {role.upper()}_WORKER_METRICS_PORT"
            assert int(port) > 0, name
            # Reachable on the compose network (not published on the host).
            assert str(port) in [str(p) for p in service.get("expose", [])], name
            assert "ports" not in service, f"{name}: worker metrics must not be published"
            endpoints.add((name, int(port)))
    return endpoints


def test_every_compose_metrics_endpoint_is_scraped_and_nothing_else() -> None:
    endpoints = compose_metric_endpoints()
    assert {name for name, _ in endpoints} == API_ROLES | WORKER_ROLES
    scraped = set().union(*compose_scrape_targets().values())
    assert scraped == endpoints


def test_compose_scrape_jobs_label_targets_by_compose_service() -> None:
    for scrape in config(COMPOSE_CONFIG)["scrape_configs"]:
        assert scrape.get("metrics_path", "/metrics") == "/metrics", scrape["job_name"]
        relabel = scrape["relabel_configs"]
        assert {"source_labels": ["__meta_dns_name"], "target_label": "component"} in relabel
        # The metrics' own `service` label must survive (alerts group by it).
        assert all(r.get("target_label") != "service" for r in relabel), scrape["job_name"]


def test_compose_runs_prometheus_on_this_config_with_the_alerts() -> None:
    prometheus = compose()["services"]["prometheus"]
    mount = next(v for v in prometheus["volumes"] if v.endswith(":/etc/prometheus:ro"))
    assert (DEPLOY / mount.split(":", 1)[0]).resolve() == OBSERVABILITY
    assert "--config.file=/etc/prometheus/prometheus.yaml" in prometheus["command"]
    for path in (COMPOSE_CONFIG, LOCAL_CONFIG):
        assert config(path)["rule_files"] == ["alerts.yaml"], path.name
        assert (path.parent / "alerts.yaml").is_file()
    assert prometheus["ports"] == ["127.0.0.1:9090:9090"]


def test_local_config_reads_the_targets_file_the_launcher_writes() -> None:
    (scrape,) = config(LOCAL_CONFIG)["scrape_configs"]
    (sd,) = scrape["file_sd_configs"]
    (relative,) = sd["files"]
    # The launcher writes <VAR_DIR>/prometheus/targets.json; VAR_DIR defaults to var/ at the root.
    var_dir = Path(str(CommonSettings.model_fields["var_dir"].default))
    assert (
        LOCAL_CONFIG.parent / relative
    ).resolve() == ROOT / var_dir / "prometheus" / "targets.json"


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=lambda p: p.name)
def test_kubernetes_workers_serve_metrics_where_their_annotations_point(directory: Path) -> None:
    workers = 0
    for name, deployment in objects(directory, "Deployment").items():
        role = role_of(deployment)
        if role not in WORKER_ROLES:
            continue
        workers += 1
        service = role.removesuffix("-worker")
        container = pod_spec(deployment)["containers"][0]
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        port = env.get(f"{service.upper()}_WORKER_METRICS_PORT")
        assert port is not None, name
        assert int(port) > 0, name
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports["metrics"] == int(port), name
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true", name
        assert annotations["prometheus.io/port"] == port, name
        assert annotations["prometheus.io/path"] == "/metrics", name
    assert workers == len(WORKER_ROLES)


def test_alerts_on_worker_series_have_worker_targets() -> None:
    """An alert on a series only workers export can fire only if every worker is scraped."""
    worker_alerts = []
    for rule in rules():
        used, problems = metric_problems(rule["expr"], rule["alert"])
        assert problems == []
        if used & WORKER_METRICS:
            worker_alerts.append(rule["alert"])
    assert {"YingshangEventsIgnored", "YingshangWebhookDeadLetters"} <= set(worker_alerts)
    scraped = {name for targets in compose_scrape_targets().values() for name, _ in targets}
    assert WORKER_ROLES <= scraped
    # And one alert says so when a service's workers are not scraped at all.
    absent = [r for r in rules() if "absent(yingshang_events_handled_total" in r["expr"]]
    assert len(absent) == 1
    for service in SERVICES:
        assert f'absent(yingshang_events_handled_total{{service="{service}"}})' in absent[0]["expr"]
