"""The Prometheus alert rules and the Grafana dashboard: they parse, they query metrics the code
really exports (with labels it really sets), and every alert has a runbook entry."""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

import pytest
import yaml

from tests.deploy.crosscheck import DEPLOY, code_metrics, metric_problems

ALERTS = DEPLOY / "observability" / "alerts.yaml"
DASHBOARD = DEPLOY / "observability" / "grafana-dashboard.json"
README = DEPLOY / "README.md"

# The metrics the services export (README "Operations"); each needs a panel.
EXPECTED_METRICS = {
    "yingshang_http_requests_total",
    "yingshang_http_request_duration_seconds_bucket",
    "yingshang_outbox_unconfirmed",
    "yingshang_outbox_oldest_unconfirmed_seconds",
    "yingshang_queue_depth",
    "yingshang_events_handled_total",
    "yingshang_webhook_deliveries_total",
    "yingshang_cards_overdue",
    "yingshang_dependency_up",
}
SEVERITIES = {"critical", "warning", "info"}
# Grafana variables in dashboard queries, replaced by representative values before parsing.
GRAFANA_VARIABLES = {
    "$__rate_interval": "5m",
    "$__interval": "1m",
    "$__range": "6h",
    "$service": "intake",
}


@cache
def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    assert set(document) == {"groups"}
    found: list[dict[str, Any]] = []
    for group in document["groups"]:
        assert set(group) <= {"name", "rules", "interval"}, group.get("name")
        assert group["name"].startswith("yingshang.")
        found.extend(group["rules"])
    return found


@cache
def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return data


def dashboard_targets() -> list[tuple[str, str]]:
    return [
        (panel["title"], target["expr"])
        for panel in dashboard()["panels"]
        for target in panel.get("targets", [])
    ]


def github_anchor(heading: str) -> str:
    anchor = heading.strip().lower()
    anchor = re.sub(r"[^\w\- ]", "", anchor)
    return anchor.replace(" ", "-")


def test_the_code_exports_the_expected_metrics() -> None:
    assert EXPECTED_METRICS <= set(code_metrics())


def test_alert_rules_are_well_formed() -> None:
    names = [rule["alert"] for rule in rules()]
    assert len(names) == len(set(names)), "alert names must be unique"
    for rule in rules():
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert rule["labels"]["severity"] in SEVERITIES, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        if "for" in rule:
            assert re.fullmatch(r"\d+[smhd]", rule["for"]), rule["alert"]


@pytest.mark.parametrize("rule", rules(), ids=lambda r: r["alert"])
def test_alert_expression_parses_and_uses_real_metrics(rule: dict[str, Any]) -> None:
    _, problems = metric_problems(rule["expr"], rule["alert"])
    assert problems == []


def test_alerts_cover_the_operational_risks() -> None:
    by_metric: dict[str, set[str]] = {}
    for rule in rules():
        used, _ = metric_problems(rule["expr"], rule["alert"])
        for metric in used:
            by_metric.setdefault(metric, set()).add(rule["alert"])
    exprs = {rule["alert"]: rule["expr"] for rule in rules()}
    # Outbox backlog growing and its oldest event too old (> 5 min).
    assert "yingshang_outbox_unconfirmed" in by_metric
    assert any(
        "yingshang_outbox_oldest_unconfirmed_seconds" in e and "> 300" in e for e in exprs.values()
    )
    # Dead-lettered webhooks, overdue spikes, readiness, 5xx and p99 latency.
    assert any('outcome="dead"' in e for e in exprs.values())
    assert "yingshang_cards_overdue" in by_metric
    assert any('route="/readyz"' in e and 'status="503"' in e for e in exprs.values())
    assert any('status=~"5.."' in e for e in exprs.values())
    assert any("histogram_quantile(0.99" in e for e in exprs.values())


def test_every_alert_has_a_runbook_entry() -> None:
    headings = re.findall(r"^#{2,4} (.+)$", README.read_text(encoding="utf-8"), re.MULTILINE)
    anchors = {github_anchor(h) for h in headings}
    for rule in rules():
        runbook = rule["annotations"].get("runbook", "")
        assert runbook.startswith("deploy/README.md#"), rule["alert"]
        assert runbook.split("#", 1)[1] in anchors, f"{rule['alert']}: no heading for {runbook}"
    # Every alert is named in the runbook, so an operator can search for it.
    text = README.read_text(encoding="utf-8")
    for rule in rules():
        assert rule["alert"] in text, rule["alert"]


def test_dashboard_is_a_grafana_dashboard() -> None:
    board = dashboard()
    assert board["uid"]
    assert board["title"]
    assert isinstance(board["schemaVersion"], int)
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    panels = board["panels"]
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert 0 <= grid["x"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps another panel"
                cells.add((x, y))
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
            assert panel["targets"], panel["title"]
            ref_ids = [t["refId"] for t in panel["targets"]]
            assert len(ref_ids) == len(set(ref_ids)), panel["title"]


def test_dashboard_queries_parse_and_cover_every_metric() -> None:
    covered: set[str] = set()
    problems: list[str] = []
    for title, expr in dashboard_targets():
        for variable, value in sorted(GRAFANA_VARIABLES.items(), key=lambda kv: -len(kv[0])):
            expr = expr.replace(variable, value)
        assert "$" not in expr, f"{title}: unknown Grafana variable in {expr}"
        used, found = metric_problems(expr, title)
        covered |= used
        problems += found
    assert problems == []
    assert covered >= EXPECTED_METRICS, f"no panel for {EXPECTED_METRICS - covered}"
