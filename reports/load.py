"""Reading one stored run from disk, tolerating whatever is missing (DESIGN §6).

A run folder may be incomplete: the harness can be killed mid-run, checking
can crash before ``results.json`` exists, node logs may never have been
collected.  :func:`load_run` never raises for a missing or malformed file; it
records a one-line problem in :attr:`Run.problems` instead, so the report can
show what exists and say what does not.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.history import History, HistoryError, read_jsonl

__all__ = ["LogFile", "Run", "load_run", "read_json_object", "jsonable"]

TEST_FILE = "test.json"
HISTORY_FILE = "history.jsonl"
RESULTS_FILE = "results.json"
NEMESIS_LOG = "nemesis.log"
NODES_DIR = "nodes"


@dataclass(frozen=True, slots=True)
class LogFile:
    """A log file of the run, as a link relative to the run folder."""

    label: str
    href: str
    size_bytes: int


@dataclass(frozen=True, slots=True)
class Run:
    """Everything the report needs from one run folder."""

    run_dir: Path
    test: Mapping[str, Any]
    history: History | None
    results: Mapping[str, Any] | None
    logs: tuple[LogFile, ...] = ()
    problems: tuple[str, ...] = field(default=())


def jsonable(obj: Any) -> Any:
    """A copy of ``obj`` that strict JSON (and ``JSON.parse``) accepts.

    Non-finite floats become strings, tuples/sets become lists, non-string
    keys become strings and unknown objects their ``repr``.
    """
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else str(obj)
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in obj]
    return repr(obj)


def read_json_object(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """(object, None) or (None, problem sentence). Missing files are a problem too."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return None, f"{path.name} is missing"
    except OSError as e:
        return None, f"{path.name} cannot be read ({e.strerror})"
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        return None, f"{path.name} is not valid JSON (line {e.lineno})"
    if not isinstance(obj, dict):
        return None, f"{path.name} is not a JSON object"
    return obj, None


def _list_logs(run_dir: Path) -> tuple[LogFile, ...]:
    logs: list[LogFile] = []
    nodes = run_dir / NODES_DIR
    if nodes.is_dir():
        for node_dir in sorted(p for p in nodes.iterdir() if p.is_dir()):
            for f in sorted(node_dir.glob("*.log")):
                rel = f.relative_to(run_dir).as_posix()
                logs.append(LogFile(f"{node_dir.name}/{f.name}", rel, _size(f)))
    nem = run_dir / NEMESIS_LOG
    if nem.is_file():
        logs.append(LogFile(NEMESIS_LOG, NEMESIS_LOG, _size(nem)))
    return tuple(logs)


def _size(p: Path) -> int:
    try:
        return p.stat().st_size
    except OSError:
        return 0


def load_run(run_dir: Path) -> Run:
    """Load test.json, history.jsonl, results.json and the log list of a run folder."""
    problems: list[str] = []
    test, problem = read_json_object(run_dir / TEST_FILE)
    if problem:
        problems.append(problem)
    results, problem = read_json_object(run_dir / RESULTS_FILE)
    if problem:
        problems.append(problem + " (checking may have crashed)")
    history: History | None = None
    hist_path = run_dir / HISTORY_FILE
    if hist_path.exists():
        try:
            history = read_jsonl(hist_path)
        except HistoryError as e:
            problems.append(str(e).replace(str(run_dir) + "/", ""))
    else:
        problems.append(f"{HISTORY_FILE} is missing")
    return Run(
        run_dir=run_dir,
        test=test or {},
        history=history,
        results=results,
        logs=_list_logs(run_dir),
        problems=tuple(problems),
    )
