"""A campaign's results: one record per run, ``campaign.json``, and merging shards.

A record's ``status`` is one of

* ``passed`` — the verdict met the expectation;
* ``failed`` — it did not: a correct system judged invalid, or a planted bug
  not detected (the run was judged valid);
* ``error`` — no verdict to compare: unknown, the run crashed, hung past its
  time limit plus a margin, or a node never came up;
* ``interrupted`` — stopped by Ctrl-C or ``--max-time`` (a later ``--resume``
  runs it again);
* ``not-run`` — never started (``--fail-fast``, ``--max-time``, an interrupt).

``merge`` counts the runs found in none of the shards (``missing_runs``).

The first three are *finished*: ``--resume`` skips them.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.campaign.spec import CaseRun
from harness.errors import UsageError
from harness.store import read_json, write_json

__all__ = [
    "CAMPAIGN_FILE", "FINISHED", "STATUSES", "record_for", "outcome_record", "error_record",
    "detection", "write_campaign", "read_campaign", "merge", "counts", "exit_code",
]

CAMPAIGN_FILE = "campaign.json"
STATUSES = ("passed", "failed", "error", "interrupted", "not-run")
FINISHED = frozenset({"passed", "failed", "error"})
FORMAT = 1


def record_for(run: CaseRun) -> dict[str, Any]:
    """A record with everything known before the run starts (status ``not-run``)."""
    o = run.options
    return {
        "index": run.index, "id": run.id, "case": run.case, "label": run.label,
        "system": o.system, "workload": o.workload, "nemesis": list(o.nemesis),
        "bugs": list(o.bugs), "nodes": o.nodes, "seed": o.seed, "backend": o.backend,
        "time_limit_s": o.time_limit_s, "expect": run.expect, "verdict": None,
        "status": "not-run", "met": False, "detected_s": None, "caught_by": None,
        "explanation": None, "run_dir": None, "report": None, "wall_s": None, "command": o.command(),
    }


def detection(run_dir: Path, results: Mapping[str, Any]) -> tuple[float | None, str | None, str | None]:
    """(seconds into the run when the first anomaly became observable, its checker, its explanation).

    An anomaly names the ops it involves; it is observable once the latest of
    them happened (a stale read names the earlier write it missed, but shows
    only when the read returns).  The first anomaly is the one observable
    earliest, over every checker that judged the run invalid.
    """
    evidence: list[tuple[list[int], str, str]] = []
    for name, res in (results.get("checkers") or {}).items():
        if not isinstance(res, Mapping) or res.get("valid") is not False:
            continue
        anomalies = [a for a in res.get("anomalies") or [] if isinstance(a, Mapping)]
        expl = str(anomalies[0].get("explanation")) if anomalies else f"{name} judged the history invalid"
        evidence.append(([], name, expl))  # the checker's verdict, even if it names no op
        failed: Any = (res.get("details") or {}).get("failed_op")
        evidence.append(([failed] if _is_index(failed) else [], name, expl))
        for a in anomalies:
            evidence.append(([i for i in a.get("ops") or [] if _is_index(i)], name,
                             str(a.get("explanation"))))
    if not evidence:
        return None, None, None
    times = _op_times(run_dir / "history.jsonl", {i for ops, _, _ in evidence for i in ops})
    timed = [(max(times[i] for i in ops), k) for k, (ops, _, _) in enumerate(evidence)
             if ops and all(i in times for i in ops)]
    if not timed:
        return None, evidence[0][1], evidence[0][2]
    t, k = min(timed)
    return t, evidence[k][1], evidence[k][2]


def _is_index(i: Any) -> bool:
    return isinstance(i, int) and not isinstance(i, bool)


def _op_times(history: Path, wanted: set[int]) -> dict[int, float]:
    """Seconds into the run of the ops with these indices (one pass over the history)."""
    found: dict[int, float] = {}
    if not wanted:
        return found
    try:
        with open(history, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                try:
                    op = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(op, dict) and op.get("index") in wanted:
                    found[int(op["index"])] = round(float(op.get("time_ns", 0)) / 1e9, 3)
                    if len(found) == len(wanted):
                        break
    except (OSError, ValueError, TypeError):
        pass
    return found


def outcome_record(
    base: Mapping[str, Any], run_dir: Path, campaign_dir: Path, wall_s: float, stopped: bool
) -> dict[str, Any]:
    """The record of a run that produced a run folder (results.json may be missing)."""
    rec = dict(base)
    rec["wall_s"] = round(wall_s, 3)
    rec["run_dir"] = os.path.relpath(run_dir, campaign_dir)
    if (run_dir / "report.html").exists():
        rec["report"] = os.path.relpath(run_dir / "report.html", campaign_dir)
    try:
        test = read_json(run_dir / "test.json")
        results = read_json(run_dir / "results.json")
    except (OSError, ValueError) as e:
        return error_record(rec, f"the run left no results ({e})", wall_s)
    if isinstance(test.get("backend"), str):
        rec["backend"] = test["backend"]  # the one used: docker falls back to local without an engine
    if test.get("interrupted") and stopped:
        rec["status"] = "interrupted"
        rec["verdict"] = results.get("verdict")
        return rec
    verdict = str(results.get("verdict", "unknown"))
    rec["verdict"] = verdict
    detected, checker, expl = detection(run_dir, results)
    rec["detected_s"], rec["caught_by"], rec["explanation"] = detected, checker, expl
    if verdict == rec["expect"]:
        rec["status"], rec["met"] = "passed", True
    elif verdict in ("valid", "invalid"):
        rec["status"] = "failed"
        if verdict == "valid":
            what = f"bug {'+'.join(rec['bugs'])}" if rec["bugs"] else "the expected anomaly"
            rec["explanation"] = f"{what} not detected in {rec['time_limit_s']:g} s"
    else:
        rec["status"] = "error"
        rec["explanation"] = _unknown_reason(results)
    return rec


def _unknown_reason(results: Mapping[str, Any]) -> str:
    for name, res in (results.get("checkers") or {}).items():
        if isinstance(res, Mapping) and res.get("valid") not in (True, False):
            reason = (res.get("details") or {}).get("reason")
            return f"{name}: unknown" + (f" ({reason})" if reason else "")
    return "the verdict is unknown"


def error_record(base: Mapping[str, Any], message: str, wall_s: float | None) -> dict[str, Any]:
    rec = dict(base)
    rec.update(status="error", verdict=rec.get("verdict") or "error", met=False,
               explanation=message, wall_s=None if wall_s is None else round(wall_s, 3))
    return rec


def counts(records: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    out = dict.fromkeys(STATUSES, 0)
    for r in records:
        out[str(r.get("status"))] = out.get(str(r.get("status")), 0) + 1
    out["total"] = sum(out[s] for s in STATUSES)
    return out


def exit_code(records: Sequence[Mapping[str, Any]]) -> int:
    """0 when every run met its expectation; 1 when one did not; 2 for errors or runs not finished."""
    c = counts(records)
    if c["failed"]:
        return 1
    if c["passed"] == c["total"] and c["total"] > 0:
        return 0
    return 2


def write_campaign(directory: Path, head: Mapping[str, Any], records: Sequence[Mapping[str, Any]]) -> Path:
    doc = {
        "format": FORMAT, **head, "counts": counts(records),
        "runs": sorted(records, key=lambda r: int(r["index"])),
    }
    path = directory / CAMPAIGN_FILE
    write_json(path, doc)
    return path


def read_campaign(path: Path) -> dict[str, Any]:
    """A campaign.json (or a folder holding one), checked enough to merge and render."""
    path = Path(path)
    if path.is_dir():
        path = path / CAMPAIGN_FILE
    try:
        doc = read_json(path)
    except OSError as e:
        raise UsageError(f"{path}: cannot read: {e.strerror or e}") from e
    except ValueError as e:
        raise UsageError(f"{path}: not valid JSON: {e}") from e
    if not isinstance(doc, dict) or not isinstance(doc.get("runs"), list) or "campaign" not in doc:
        raise UsageError(f"{path}: not a campaign.json (no 'campaign' and 'runs')")
    for r in doc["runs"]:
        if not isinstance(r, dict) or not isinstance(r.get("index"), int) or "id" not in r:
            raise UsageError(f"{path}: a run record lacks 'index' or 'id'")
    return doc


def find_campaign_files(paths: Sequence[Path]) -> list[Path]:
    """campaign.json files in the given files or folders (searched recursively: CI artifacts nest)."""
    found: list[Path] = []
    for p in paths:
        if p.is_file():
            found.append(p)
        elif p.is_dir():
            hits = sorted(p.rglob(CAMPAIGN_FILE))
            if not hits:
                raise UsageError(f"{p}: no {CAMPAIGN_FILE} in this folder")
            found += hits
        else:
            raise UsageError(f"{p}: no such file or directory")
    return found


def merge(paths: Sequence[Path], out_dir: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Combine shard results into one run list; run folders are re-linked relative to ``out_dir``."""
    files = find_campaign_files(paths)
    docs = [(f, read_campaign(f)) for f in files]
    names = {d["campaign"] for _, d in docs}
    if len(names) > 1:
        raise UsageError(f"merge: the results are of different campaigns: {', '.join(sorted(names))}")
    total = max(int(d.get("total_runs", 0)) for _, d in docs)
    by_index: dict[int, dict[str, Any]] = {}
    for f, d in docs:
        for r in d["runs"]:
            rec = dict(r)
            for key in ("run_dir", "report"):
                if rec.get(key):
                    rec[key] = os.path.relpath(f.parent / rec[key], out_dir)
            prev = by_index.get(rec["index"])
            if prev is not None and prev["id"] != rec["id"]:
                raise UsageError(f"merge: run {rec['index']} is {prev['id']!r} in one file and "
                                 f"{rec['id']!r} in {f}: results of different campaign files")
            # a finished record wins over a not-run placeholder of another shard
            if prev is None or (rec["status"] in FINISHED and prev["status"] not in FINISHED):
                by_index[rec["index"]] = rec
    records = [by_index[i] for i in sorted(by_index)]
    first = docs[0][1]
    head = {
        "campaign": first["campaign"], "description": first.get("description", ""),
        "source": first.get("source"), "shard": None, "total_runs": max(total, len(records)),
        "merged_from": [str(f) for f, _ in docs], "started": min(str(d.get("started")) for _, d in docs),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "wall_s": round(sum(float(d.get("wall_s") or 0) for _, d in docs), 3), "interrupted": False,
        "missing_runs": max(total - len(records), 0),
    }
    return head, records
