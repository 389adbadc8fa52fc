"""``render_index(store_root)``: the run browser, ``store/index.html``.

The store is ``<store>/<name>/<timestamp>/`` with a ``test.json`` in each run
folder (DESIGN §6).  Symlinks (``store/latest``) are skipped so a run is
listed once.  Run files are read with :func:`reports.load.load_json_object`,
so one hostile run (a symlinked, huge, deeply nested or non-UTF-8 file) is a
row marked ``unreadable`` with the reason, never an index that fails.  Runs
are sorted newest first by ``start_time`` from test.json, falling back to the
modification time of test.json.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from reports.campaign import scan_campaigns
from reports.load import RESULTS_FILE, TEST_FILE, RunFileError, load_json_object
from reports.page import verdict_of
from reports.render import environment, write_atomic
from reports.report import REPORT_FILE

__all__ = ["RunSummary", "scan_runs", "render_index", "INDEX_FILE"]

INDEX_FILE = "index.html"
UNREADABLE = "unreadable"


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
    problem: str = ""  # why the run is unreadable, else empty


_TEXT_LIMIT = 200  # characters of any one field shown in the index


def _started(test: Mapping[str, Any], test_path: Path) -> tuple[str, float]:
    raw = test.get("start_time")
    if isinstance(raw, str):
        try:
            return raw[:_TEXT_LIMIT], datetime.fromisoformat(raw).timestamp()
        except (ValueError, OverflowError, OSError):
            pass
    mtime = _mtime(test_path)
    shown = _join(raw) if raw else datetime.fromtimestamp(mtime).isoformat(timespec="seconds")
    return shown, mtime


def _mtime(path: Path) -> float:
    try:
        return path.lstat().st_mtime
    except OSError:
        return 0.0


def _join(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        text = ",".join(str(x) for x in v[:_TEXT_LIMIT])
    else:
        text = "" if v is None else str(v)
    return text[:_TEXT_LIMIT]


def _is_regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


def _unreadable(run_dir: Path, store_root: Path, problem: str) -> RunSummary:
    """The row of a run whose test.json cannot be used: listed, with the reason."""
    return RunSummary(
        href=(run_dir / REPORT_FILE).relative_to(store_root).as_posix(),
        name=f"{run_dir.parent.name}/{run_dir.name}",
        system="", workload="", faults="", nodes=None, seed="",
        started="", sort_key=_mtime(run_dir / TEST_FILE), ops=None,
        verdict=UNREADABLE, failing=(), anomalies=0,
        has_report=_is_regular(run_dir / REPORT_FILE), bugs="", problem=problem,
    )


def _checker_summary(results: Mapping[str, Any] | None) -> tuple[list[str], int]:
    checkers = results.get("checkers") if results else None
    failing: list[str] = []
    anomalies = 0
    if isinstance(checkers, Mapping):
        for name, res in checkers.items():
            if not isinstance(res, Mapping):
                continue
            if verdict_of(res.get("valid")) != "valid":
                failing.append(f"{name[:_TEXT_LIMIT]}: {verdict_of(res.get('valid'))}")
            if isinstance(res.get("anomalies"), list):
                anomalies += len(res["anomalies"])
    return failing, anomalies


def _summary(run_dir: Path, store_root: Path) -> RunSummary:
    try:
        test = load_json_object(run_dir / TEST_FILE)
    except RunFileError as e:
        return _unreadable(run_dir, store_root, str(e))
    problem = ""
    results: dict[str, Any] | None = None
    try:
        results = load_json_object(run_dir / RESULTS_FILE)
        verdict = verdict_of(results.get("verdict", results.get("valid")))
    except RunFileError as e:
        verdict = "no results" if not os.path.lexists(run_dir / RESULTS_FILE) else UNREADABLE
        problem = "" if verdict == "no results" else str(e)
    failing, anomalies = _checker_summary(results)
    started, key = _started(test, run_dir / TEST_FILE)
    nodes = test.get("nodes")
    ops = results.get("ops") if results else None
    return RunSummary(
        href=(run_dir / REPORT_FILE).relative_to(store_root).as_posix(),
        name=_join(test.get("name")) or run_dir.parent.name,
        system=_join(test.get("system")),
        workload=_join(test.get("workload")),
        faults=_join(test.get("nemesis")) or "none",
        nodes=len(nodes) if isinstance(nodes, list) else None,
        seed=_join(test.get("seed")),
        started=started,
        sort_key=key,
        ops=ops if isinstance(ops, int) and not isinstance(ops, bool) else None,
        verdict=verdict,
        failing=tuple(failing),
        anomalies=anomalies,
        has_report=_is_regular(run_dir / REPORT_FILE),
        bugs=_join(test.get("bugs")),
        problem=problem,
    )


def _subdirs(p: Path) -> list[Path]:
    try:
        with os.scandir(p) as it:
            return [Path(e.path) for e in it if e.is_dir(follow_symlinks=False)]
    except OSError:
        return []


def scan_runs(store_root: Path) -> list[RunSummary]:
    """Every run folder under the store, newest first; unusable runs are rows saying why."""
    store_root = Path(store_root)
    runs = []
    for test_dir in _subdirs(store_root):
        for run_dir in _subdirs(test_dir):
            if os.path.lexists(run_dir / TEST_FILE):
                runs.append(_summary(run_dir, store_root))
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
            campaigns=scan_campaigns(store_root),
            systems=sorted({r.system for r in runs if r.system}),
            workloads=sorted({r.workload for r in runs if r.workload}),
            verdicts=sorted({r.verdict for r in runs}),
            generated=datetime.now().astimezone().isoformat(timespec="seconds"),
        )
    )
    out = store_root / INDEX_FILE
    write_atomic(out, html)
    return out
