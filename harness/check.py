"""`faultbox check`: judge a stored run folder or a bare history file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from checkers.core import verdict_word
from harness.errors import UsageError
from harness.history import HistoryError
from harness.store import read_json

__all__ = ["check_path", "check_run_dir"]


def check_run_dir(run_dir: Path, budget_s: float) -> dict[str, Any]:
    """Re-check a run folder with its workload's current checkers; rewrites results.json."""
    import json

    import workloads
    from harness.runner import check_run

    try:
        test = read_json(run_dir / "test.json")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise HistoryError(f"{run_dir}/test.json: unreadable ({e})") from None
    if not isinstance(test, dict):
        raise HistoryError(f"{run_dir}/test.json: not a JSON object")
    name = test.get("workload")
    if name not in workloads.REGISTRY:
        raise UsageError(f"{run_dir}: unknown workload {name!r} in test.json")
    wl = workloads.REGISTRY[name](
        workloads.WorkloadOptions(
            rate=float(test.get("rate", 100.0)),
            concurrency=int(test.get("concurrency", 5)),
            check_time_budget_s=budget_s,
        )
    )
    if not (run_dir / "history.jsonl").exists():
        raise HistoryError(f"{run_dir}: no history.jsonl")
    outcome = check_run(run_dir, wl.checker, test)
    lin = outcome.results.get("checkers", {}).get("linearizable", {})
    details = lin.get("details", {})
    return {
        "path": str(run_dir),
        "verdict": verdict_word(outcome.valid),
        "ops": outcome.results.get("ops", 0),
        "check_seconds": outcome.results.get("check_seconds", 0.0),
        "states_explored": details.get("states_explored"),
        "explanation": details.get("explanation"),
        "reason": details.get("reason"),
        "results": str(run_dir / "results.json"),
    }


def check_path(
    path: Path,
    fmt: str | None = None,
    model: str | None = None,
    init: Any = None,
    budget_s: float = 60.0,
    init_given: bool = False,
) -> dict[str, Any]:
    p = path.resolve()
    if p.is_dir():
        if not (p / "test.json").exists():
            raise UsageError(f"{path}: a folder but not a run folder (no test.json)")
        return check_run_dir(p, budget_s)
    from checkers.linearizability import check_history
    from checkers.models import MODELS
    from harness.formats import load_history

    loaded = load_history(p, fmt)
    if not len(loaded.history) and p.stat().st_size > 0 and loaded.format != "jsonl":
        # A file with content but no op in the given format is the wrong format, not valid.
        if any(line.strip() for line in p.read_text(errors="replace").splitlines()):
            raise HistoryError(f"{path}: no operations found as {loaded.format} (wrong --format?)")
    name = model or loaded.model or "cas-register"
    if name not in MODELS:
        raise UsageError(f"unknown model {name!r} (known: {', '.join(sorted(MODELS))})")
    start = init if init_given else loaded.init
    result = check_history(loaded.history, name, start, time_budget_s=budget_s)
    d = result.details
    return {
        "path": str(path),
        "format": loaded.format,
        "model": name,
        "verdict": verdict_word(result.valid),
        "ops": d.get("ops", 0),
        "check_seconds": d.get("check_seconds", 0.0),
        "states_explored": d.get("states_explored"),
        "explanation": d.get("explanation"),
        "reason": d.get("reason"),
    }
