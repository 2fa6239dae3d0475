"""Figures, their targets and same-run baselines, and the two result files.

A figure is one measured value. Its *target* comes from DESIGN.md §8 / issue 6 and is either
absolute (``p99 <= 100 ms``) or relative to the baseline (``>= 0.5 x pgbench``); its *baseline*
is measured in the same run, on the same machine, so the ratio survives a noisy or slower box.
Figures without a target are informational (configurations tried, growth, diagnostics).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass
class Target:
    op: str  # "<=" or ">="
    value: float
    relative: bool = False  # compare value/baseline instead of value
    text: str = ""

    def met(self, value: float, baseline: float | None) -> bool | None:
        subject = value
        if self.relative:
            if not baseline:
                return None
            subject = value / baseline
        if math.isnan(subject):
            return None
        return subject <= self.value if self.op == "<=" else subject >= self.value

    def distance(self, value: float, baseline: float | None) -> str:
        """How far the figure is from its target, in words."""
        subject = value / baseline if self.relative and baseline else value
        if math.isnan(subject) or self.value == 0:
            return ""
        factor = subject / self.value
        if self.op == "<=":
            return (
                f"{factor:.2f}x the limit"
                if factor > 1
                else f"{(1 - factor) * 100:.0f}% under the limit"
            )
        return (
            f"{factor:.2f}x the target"
            if factor >= 1
            else f"{(1 - factor) * 100:.0f}% short of the target"
        )


@dataclass
class Figure:
    id: str
    section: str
    label: str
    value: float
    unit: str
    target: Target | None = None
    baseline: float | None = None
    baseline_label: str | None = None
    notes: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.baseline in (None, 0) or self.value is None or math.isnan(self.value):
            return None
        return self.value / self.baseline  # type: ignore[operator]

    @property
    def status(self) -> str:
        if self.target is None:
            return "info"
        met = self.target.met(self.value, self.baseline)
        return "n/a" if met is None else ("pass" if met else "FAIL")

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ratio"] = None if self.ratio is None else round(self.ratio, 3)
        out["status"] = self.status
        if self.target is not None:
            out["target"]["distance"] = self.target.distance(self.value, self.baseline)
        return out


@dataclass
class Results:
    mode: str
    started_at: float = field(default_factory=time.time)
    machine: dict[str, Any] = field(default_factory=dict)
    figures: list[Figure] = field(default_factory=list)
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        self._print(figure)
        return figure

    def section(self, name: str) -> dict[str, Any]:
        return self.sections.setdefault(name, {})

    @staticmethod
    def _print(figure: Figure) -> None:
        value = fmt(figure.value, figure.unit)
        parts = [f"  {figure.label}: {value}"]
        if figure.baseline is not None:
            parts.append(f"baseline {fmt(figure.baseline, figure.unit)} ({figure.baseline_label})")
            if figure.ratio is not None:
                parts.append(f"ratio {figure.ratio:.2f}")
        if figure.target is not None:
            parts.append(f"target {figure.target.text} -> {figure.status}")
            distance = figure.target.distance(figure.value, figure.baseline)
            if distance:
                parts.append(distance)
        print(" | ".join(parts), flush=True)

    def write(self, directory: Path = RESULTS_DIR, name: str = "latest") -> tuple[Path, Path]:
        directory.mkdir(parents=True, exist_ok=True)
        payload = {
            "mode": self.mode,
            "file": name,
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started_at)),
            "duration_s": round(time.time() - self.started_at, 1),
            "machine": self.machine,
            "figures": [f.as_dict() for f in self.figures],
            "sections": self.sections,
            "problems": self.problems,
        }
        json_path = directory / f"{name}.json"
        md_path = directory / f"{name}.md"
        tmp = json_path.with_suffix(".json.tmp")
        tmp.write_bytes(
            orjson.dumps(payload, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS, default=str)
        )
        tmp.replace(json_path)
        tmp = md_path.with_suffix(".md.tmp")
        tmp.write_text(render_markdown(payload))
        tmp.replace(md_path)
        return json_path, md_path


def merge_into(results: Results, sizes: list[int], only: list[str],
               directory: Path = RESULTS_DIR, name: str = "latest") -> Path:  # fmt: skip
    """Add a partial run's figures to the committed full report (``--merge``): for the sizes
    a full run leaves out (10M takes long). A figure of the same id is replaced; the notes
    saying those sizes were not run go; the report lists the merged runs."""
    json_path = directory / f"{name}.json"
    payload = orjson.loads(json_path.read_bytes())
    fresh = {f.id for f in results.figures}
    payload["figures"] = [f for f in payload["figures"] if f["id"] not in fresh]
    payload["figures"] += [f.as_dict() for f in results.figures]
    skipped = tuple(f"{size:,} " for size in sizes)
    for section_name, section in results.sections.items():
        into = payload["sections"].setdefault(section_name, {})
        kept = [
            note
            for note in into.get("notes", [])
            if not (note.startswith(skipped) and "not run" in note)
        ]
        into["notes"] = kept + [f"(merged run) {note}" for note in section.get("notes", [])]
        for key, value in section.items():
            if key != "notes":
                into[f"merged_{key}"] = value
    payload.setdefault("merged", []).append(
        {
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(results.started_at)),
            "duration_s": round(time.time() - results.started_at, 1),
            "only": only,
            "sizes": sizes,
            "git_commit": results.machine.get("git_commit"),
            "loadavg": [results.machine.get("loadavg_at_start"),
                        results.machine.get("loadavg_at_end")],
        }
    )  # fmt: skip
    payload["problems"] += [f"(merged run) {p}" for p in results.problems]
    json_path.write_bytes(
        orjson.dumps(payload, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS, default=str)
    )
    md_path = directory / f"{name}.md"
    md_path.write_text(render_markdown(payload))
    return md_path


def fmt(value: float | None, unit: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if unit == "s" and value < 1:
        return f"{value * 1000:.1f} ms"
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "ms":
        return f"{value:.1f} ms"
    if unit in ("/s", "tps"):
        return f"{value:,.0f} {unit}"
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "":
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"
    return f"{value:,.2f} {unit}"


def render_markdown(payload: dict[str, Any]) -> str:
    machine = payload["machine"]
    lines = [
        "# Benchmark results",
        "",
        f"Run {payload['started_at']} ({payload['mode']}, {payload['duration_s']} s) of `python -m bench` "
        f"(`make bench`); `{payload.get('file', 'latest')}.json` next to this file has every figure "
        "with its details. See `bench/README.md` for what each figure measures.",
        "",
        "## Machine",
        "",
        f"- CPU: {machine.get('cpu_model')} × {machine.get('cores')} cores, RAM {machine.get('ram_gib')} GiB,"
        f" kernel {machine.get('kernel')}",
        f"- Python {machine.get('python')}, PostgreSQL {machine.get('postgresql')}, Redis {machine.get('redis')},"
        f" pgbench {machine.get('pgbench')}",
        f"- PostgreSQL settings: {machine.get('postgresql_settings')}",
        f"- Load average at start {machine.get('loadavg_at_start')}, at end {machine.get('loadavg_at_end')}"
        " (other work on the machine shares its 2 cores; see *machine busy* in the details)",
        f"- Code: {machine.get('git_commit')}; packages {machine.get('packages')}",
        "",
        "## Figures",
        "",
        "Status: **pass**/**FAIL** against the target; *info* has no target. Ratio = value / same-run baseline.",
        "",
        "| figure | value | target | baseline (same run) | ratio | status |",
        "|---|---|---|---|---|---|",
    ]
    for f in payload["figures"]:
        target = f["target"]["text"] if f["target"] else ""
        if f["target"] and f["target"].get("distance"):
            target += f" ({f['target']['distance']})"
        baseline = ""
        if f["baseline"] is not None:
            baseline = f"{fmt(f['baseline'], f['unit'])} — {f['baseline_label']}"
        ratio = "" if f["ratio"] is None else f"{f['ratio']:.2f}"
        status = f["status"] if f["status"] in ("info", "n/a") else f"**{f['status']}**"
        label = f["label"] + (f" — {f['notes']}" if f["notes"] else "")
        lines.append(
            f"| {label} | {fmt(f['value'], f['unit'])} | {target} | {baseline} | {ratio} | {status} |"
        )
    for name, section in payload["sections"].items():
        notes = section.get("notes")
        if not notes:
            continue
        lines += ["", f"## {name}", ""]
        lines += [f"- {note}" for note in notes]
    for run in payload.get("merged", []):
        lines += ["", "## Merged runs", ""] if run is payload["merged"][0] else []
        lines.append(
            f"- {run['started_at']} ({run['duration_s']} s), `python -m bench --only "
            f"{','.join(run['only'])} --sizes {','.join(str(n) for n in run['sizes'])} --merge` "
            f"at {run['git_commit']}, load average {run['loadavg']}: its figures are in the table"
        )
    if payload["problems"]:
        lines += ["", "## Problems during the run", ""]
        lines += [f"- {p}" for p in payload["problems"]]
    lines.append("")
    return "\n".join(lines)
