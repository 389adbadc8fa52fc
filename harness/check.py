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
    import workloads
    from harness.runner import check_run

    try:
        test = read_json(run_dir / "test.json")
    except RecursionError:
        raise HistoryError(f"{run_dir}/test.json: unreadable (nested too deeply)") from None
    except (OSError, ValueError) as e:  # ValueError: bad JSON, bad UTF-8, Python's int-digit limit
        raise HistoryError(f"{run_dir}/test.json: unreadable ({str(e).split(';')[0]})") from None
    if not isinstance(test, dict):
        raise HistoryError(f"{run_dir}/test.json: not a JSON object")
    name = test.get("workload")
    if not isinstance(name, str) or name not in workloads.REGISTRY:
        raise UsageError(f"{run_dir}: unknown workload {name!r} in test.json")
    wl = workloads.REGISTRY[name](
        workloads.WorkloadOptions(
            rate=float(_number(test, "rate", 100.0, run_dir)),
            concurrency=int(_number(test, "concurrency", 5, run_dir, integer=True)),
            keys=int(_number(test, "keys", 8, run_dir, integer=True)),
            check_time_budget_s=budget_s,
        )
    )
    if not (run_dir / "history.jsonl").exists():
        raise HistoryError(f"{run_dir}: no history.jsonl")
    if not (run_dir / "history.jsonl").is_file():  # a FIFO would block the reader forever
        raise HistoryError(f"{run_dir}: history.jsonl is not a regular file")
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


def _number(test: dict[str, Any], key: str, default: float, run_dir: Path, integer: bool = False) -> float:
    """``test[key]`` (``default`` if absent) if it is a number (an int when ``integer``), else a
    HistoryError naming it."""
    v = test.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int if integer else (int, float)):
        raise HistoryError(f"{run_dir}/test.json: {key} must be a number, got {str(v)[:40]!r}")
    return float(v)


def check_path(
    path: Path,
    fmt: str | None = None,
    model: str | None = None,
    init: Any = None,
    budget_s: float = 60.0,
    init_given: bool = False,
    consistency_models: str | None = None,
) -> dict[str, Any]:
    """Check one path. A list-append txn history (``jepsen-edn``, a JSONL history
    whose client ops are all append/read txns, or any file when ``consistency_models``
    or ``model="list-append"`` is given) goes to the Elle-style checker; everything
    else to the linearizability checker."""
    models = _models(consistency_models)
    p = path.resolve()
    if p.is_dir():
        if not (p / "test.json").exists():
            raise UsageError(f"{path}: a folder but not a run folder (no test.json)")
        return check_run_dir(p, budget_s)
    if not p.is_file():  # a FIFO blocks open() forever, a device may never end
        raise HistoryError(f"{path}: not a regular file")
    from checkers.linearizability import check_history
    from checkers.models import MODELS
    from harness.formats import is_list_append, load_history

    loaded = load_history(p, fmt)
    if not len(loaded.history) and p.stat().st_size > 0 and loaded.format != "jsonl":
        # A file with content but no op in the given format is the wrong format, not valid.
        if any(line.strip() for line in p.read_text(errors="replace").splitlines()):
            raise HistoryError(f"{path}: no operations found as {loaded.format} (wrong --format?)")
    if model is None and loaded.model is None and is_list_append(loaded.history):
        # A bare JSONL txn history (e.g. a list-append run's history.jsonl) names no
        # model; falling back to cas-register would only say "unknown operation 'txn'".
        model = "list-append"
    name = model or loaded.model or "cas-register"
    if models is not None or name == "list-append":
        return _check_list_append(path, loaded.history, loaded.format,
                                  models or ("strict-serializable",), budget_s)
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


def _models(spec: str | None) -> tuple[str, ...] | None:
    if spec is None:
        return None
    from checkers.elle import ModelError, parse_models

    try:
        return parse_models(spec)
    except ModelError as e:
        raise UsageError(f"--consistency-models: {e}") from None


def _check_list_append(path: Path, history: Any, fmt: str, models: tuple[str, ...],
                       budget_s: float) -> dict[str, Any]:
    from checkers.elle import check_list_append

    result = check_list_append(history, models, time_budget_s=budget_s)
    d = result.details
    if "error" in d:
        raise HistoryError(f"{path}: not a list-append history ({d['error']})")
    types = d.get("anomaly-types", [])
    summary = None
    if types:
        summary = f"anomalies: {', '.join(types)}; not {', '.join(d.get('not', [])) or '-'}"
        if result.anomalies:  # the shortest explanation reads best on a terminal
            a = min(result.anomalies, key=lambda a: len(a.explanation))
            summary += f"\n  {a.kind}: {a.explanation}"
    return {
        "path": str(path),
        "format": fmt,
        "model": "list-append",
        "consistency_models": list(models),
        "verdict": verdict_word(result.valid),
        "ops": d.get("ops", 0),
        "check_seconds": d.get("check_seconds", 0.0),
        "anomaly_types": types,
        "not": d.get("not", []),
        "also_not": d.get("also-not", []),
        "anomalies": [a.to_dict() for a in result.anomalies],
        "explanation": summary,
        "reason": (d.get("reason") or "cycle search ran out of budget")
        if result.valid == "unknown" else None,
    }
