"""``render_index(store_root)``: the run browser, ``store/index.html``.

The store is ``<store>/<name>/<timestamp>/`` with a ``test.json`` in each run
folder (DESIGN §6).  Symlinks (``store/latest``) are skipped so a run is
listed once.  Runs are sorted newest first by ``start_time`` from test.json,
falling back to the modification time of test.json.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from reports.load import RESULTS_FILE, TEST_FILE, read_json_object
from reports.page import verdict_of
from reports.render import environment, write_atomic
from reports.report import REPORT_FILE

__all__ = ["RunSummary", "scan_runs", "render_index", "INDEX_FILE"]

INDEX_FILE = "index.html"


@dataclass(frozen=True, slots=True)
class RunSummary:
    """One row of the index."""

    href: str
    name: str
    system: str
    workload: str
    faults: str
    nodes: int | None
    seed: str
    started: str
    sort_key: float
    ops: int | None
    verdict: str
    failing: tuple[str, ...]
    anomalies: int
    has_report: bool
    bugs: str


def _started(test: Mapping[str, Any], test_path: Path) -> tuple[str, float]:
    raw = test.get("start_time")
    if isinstance(raw, str):
        try:
            dt = datetime.fromisoformat(raw)
            return raw, dt.timestamp()
        except ValueError:
            pass
    try:
        mtime = test_path.stat().st_mtime
    except OSError:
        mtime = 0.0
    return (str(raw) if raw else datetime.fromtimestamp(mtime).isoformat(timespec="seconds")), mtime


def _join(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return ",".join(str(x) for x in v)
    return "" if v is None else str(v)


def _summary(run_dir: Path, store_root: Path) -> RunSummary | None:
    test, _ = read_json_object(run_dir / TEST_FILE)
    if test is None:
        return None
    results, _ = read_json_object(run_dir / RESULTS_FILE)
    checkers = results.get("checkers") if results else None
    failing: list[str] = []
    anomalies = 0
    if isinstance(checkers, Mapping):
        for name, res in checkers.items():
            if not isinstance(res, Mapping):
                continue
            if verdict_of(res.get("valid")) != "valid":
                failing.append(f"{name}: {verdict_of(res.get('valid'))}")
            if isinstance(res.get("anomalies"), list):
                anomalies += len(res["anomalies"])
    started, key = _started(test, run_dir / TEST_FILE)
    nodes = test.get("nodes")
    ops = results.get("ops") if results else None
    verdict = (
        verdict_of(results.get("verdict", results.get("valid"))) if results is not None
        else "no results"
    )
    return RunSummary(
        href=(run_dir / REPORT_FILE).relative_to(store_root).as_posix(),
        name=str(test.get("name") or run_dir.parent.name),
        system=_join(test.get("system")),
        workload=_join(test.get("workload")),
        faults=_join(test.get("nemesis")) or "none",
        nodes=len(nodes) if isinstance(nodes, list) else None,
        seed=_join(test.get("seed")),
        started=started,
        sort_key=key,
        ops=ops if isinstance(ops, int) else None,
        verdict=verdict,
        failing=tuple(failing),
        anomalies=anomalies,
        has_report=(run_dir / REPORT_FILE).is_file(),
        bugs=_join(test.get("bugs")),
    )


def _subdirs(p: Path) -> list[Path]:
    try:
        with os.scandir(p) as it:
            return [Path(e.path) for e in it if e.is_dir(follow_symlinks=False)]
    except OSError:
        return []


def scan_runs(store_root: Path) -> list[RunSummary]:
    """Every run folder under the store, newest first."""
    store_root = Path(store_root)
    runs = []
    for test_dir in _subdirs(store_root):
        for run_dir in _subdirs(test_dir):
            if (run_dir / TEST_FILE).is_file():
                s = _summary(run_dir, store_root)
                if s is not None:
                    runs.append(s)
    runs.sort(key=lambda r: (r.sort_key, r.href), reverse=True)
    return runs


def render_index(store_root: Path) -> Path:
    """Write store_root/index.html (relative links to each run's report.html)."""
    store_root = Path(store_root)
    store_root.mkdir(parents=True, exist_ok=True)
    runs = scan_runs(store_root)
    html = (
        environment()
        .get_template("index.html.j2")
        .render(
            runs=runs,
            systems=sorted({r.system for r in runs if r.system}),
            workloads=sorted({r.workload for r in runs if r.workload}),
            verdicts=sorted({r.verdict for r in runs}),
            generated=datetime.now().astimezone().isoformat(timespec="seconds"),
        )
    )
    out = store_root / INDEX_FILE
    write_atomic(out, html)
    return out
