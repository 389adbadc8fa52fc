"""Assembling a run's report: the template context and the JSON the page's script draws.

Caps (so a 100k-op history still gives a small, responsive page):

* the **timeline** carries at most :data:`TIMELINE_CAP` ops with their text;
  when a history is longer it keeps a contiguous window of invocations
  centred on the first op an anomaly names (else the start), and the page
  says so — the latency and throughput plots still cover every op;
* the **latency scatter** carries at most :data:`SCATTER_CAP` points: every
  fail/info/open op and an even sample of the ok ops;
* the **named-ops table** (anchors ``#op-N`` that anomaly links point to)
  lists at most :data:`NAMED_OPS_CAP` ops.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.history import NEMESIS, Op
from reports.cx import find_counterexample, lin_labels
from reports.load import Run, jsonable
from reports.ops import (
    OUTCOMES,
    Band,
    Interval,
    availability,
    end_time_ns,
    fault_bands,
    intervals,
    op_label,
    stats_by_f,
    summarize_value,
    throughput,
)

__all__ = ["build_page", "verdict_of", "TIMELINE_CAP", "SCATTER_CAP", "NAMED_OPS_CAP"]

TIMELINE_CAP = 20_000
SCATTER_CAP = 50_000
NAMED_OPS_CAP = 2_000
NEMESIS_MARKS_CAP = 5_000
MAX_ROWS_UNFOLDED = 64
DETAILS_TEXT_MAX = 20_000
HEADER_FIELDS = (
    ("system", "System"),
    ("workload", "Workload"),
    ("nemesis", "Faults"),
    ("nodes", "Nodes"),
    ("concurrency", "Concurrency"),
    ("rate", "Rate (ops/s)"),
    ("time_limit_s", "Time limit (s)"),
    ("seed", "Seed"),
    ("backend", "Backend"),
    ("bugs", "Bugs enabled"),
    ("start_time", "Started"),
    ("git_commit", "Git commit"),
    ("faultbox_version", "faultbox"),
)


def verdict_of(v: Any) -> str:
    """valid / invalid / unknown from a JSON verdict (True, False, "unknown", or a word)."""
    if v is True or v == "valid":
        return "valid"
    if v is False or v == "invalid":
        return "invalid"
    return "unknown"


def _field_text(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return ", ".join(str(x) for x in v) if v else "none"
    if isinstance(v, Mapping):
        return summarize_value(jsonable(v), 400)
    return str(v)


def _header(run: Run, end_ns: int) -> dict[str, Any]:
    t = run.test
    fields = [(label, _field_text(t[k])) for k, label in HEADER_FIELDS if k in t]
    fields.insert(min(len(fields), 10), ("Duration", f"{end_ns / 1e9:.2f} s of history"))
    name = t.get("name") or run.run_dir.parent.name or "run"
    command = t.get("command")
    return {
        "name": str(name),
        "run_id": f"{run.run_dir.parent.name}/{run.run_dir.name}",
        "fields": fields,
        "command": command if isinstance(command, str) else None,
    }


def _anomaly(a: Any) -> dict[str, Any]:
    if not isinstance(a, Mapping):
        return {"kind": "anomaly", "explanation": str(a), "ops": [], "data": ""}
    raw_ops = a.get("ops")
    ops: list[Any] = raw_ops if isinstance(raw_ops, list) else []
    data = a.get("data")
    return {
        "kind": str(a.get("kind", "anomaly")),
        "explanation": str(a.get("explanation", "")),
        "ops": [i for i in ops if isinstance(i, int) and not isinstance(i, bool)],
        "data": _pretty(data) if data else "",
    }


def _pretty(obj: Any) -> str:
    text = json.dumps(jsonable(obj), indent=2, ensure_ascii=False, sort_keys=False)
    if len(text) > DETAILS_TEXT_MAX:
        return text[:DETAILS_TEXT_MAX] + f"\n… ({len(text) - DETAILS_TEXT_MAX} more characters)"
    return text


def _checkers(results: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    checkers = results.get("checkers") if results else None
    if not isinstance(checkers, Mapping):
        return []
    out = []
    for name, res in checkers.items():
        res = res if isinstance(res, Mapping) else {"valid": "unknown", "details": res}
        raw = res.get("anomalies")
        anomalies: list[Any] = raw if isinstance(raw, list) else []
        details = res.get("details")
        kinds: dict[str, int] = {}
        parsed = [_anomaly(a) for a in anomalies]
        for a in parsed:
            kinds[a["kind"]] = kinds.get(a["kind"], 0) + 1
        scalars = []
        if isinstance(details, Mapping):
            scalars = [
                (str(k), _field_text(v))
                for k, v in details.items()
                if isinstance(v, (str, int, float, bool)) or v is None
            ][:30]
        out.append(
            {
                "name": str(name),
                "verdict": verdict_of(res.get("valid")),
                "anomalies": parsed,
                "kinds": sorted(kinds.items()),
                "scalars": scalars,
                "tables": _detail_tables(details),
                "details": _pretty(details) if details else "",
            }
        )
    return out


TABLE_ROWS_MAX = 200


def _flat(row: Any) -> bool:
    """A record whose fields are scalars or lists of scalars."""
    scalar = (str, int, float, bool, type(None))
    return isinstance(row, Mapping) and all(
        isinstance(v, scalar) or (isinstance(v, list) and all(isinstance(x, scalar) for x in v))
        for v in row.values())


def _detail_tables(details: Any) -> list[dict[str, Any]]:
    """Detail entries that are lists of flat records (e.g. the cache checker's one
    row per membership change), as tables: ``{name, headers, rows}`` of text."""
    if not isinstance(details, Mapping):
        return []
    tables = []
    for name, rows in details.items():
        if not (isinstance(rows, list) and rows and all(_flat(r) for r in rows)):
            continue
        headers: list[str] = []
        for r in rows[:TABLE_ROWS_MAX]:
            headers += [str(k) for k in r if str(k) not in headers]
        body = [[_field_text(r.get(h)) if r.get(h) is not None else "" for h in headers]
                for r in rows[:TABLE_ROWS_MAX]]
        tables.append({"name": str(name), "headers": headers, "rows": body,
                       "more": max(0, len(rows) - TABLE_ROWS_MAX)})
    return tables


def _row_labels(
    ivs: Sequence[Interval], test: Mapping[str, Any]
) -> tuple[list[str], dict[Any, int], str]:
    procs = sorted({iv.invoke.process for iv in ivs}, key=lambda p: (str(type(p)), p))
    conc = test.get("concurrency")
    if len(procs) > MAX_ROWS_UNFOLDED and isinstance(conc, int) and conc > 0:
        slots = sorted({p % conc for p in procs if isinstance(p, int)})
        row_of_slot = {s: r for r, s in enumerate(slots)}
        labels = [f"worker {s}" for s in slots]
        row_of: dict[Any, int] = {}
        for p in procs:
            if isinstance(p, int):
                row_of[p] = row_of_slot[p % conc]
            else:
                row_of[p] = len(labels)
                labels.append(f"process {p}")
        note = (
            f"{len(procs)} processes folded into {conc} worker rows "
            "(a process retired after an info op continues as process + concurrency)."
        )
        return labels, row_of, note
    return [f"p{p}" for p in procs], {p: r for r, p in enumerate(procs)}, ""


def _window(ivs: Sequence[Interval], focus: int | None) -> tuple[int, int]:
    if len(ivs) <= TIMELINE_CAP:
        return 0, len(ivs)
    pos = 0
    if focus is not None:
        pos = next((k for k, iv in enumerate(ivs) if iv.invoke.index >= focus), 0)
    lo = max(0, min(pos - TIMELINE_CAP // 2, len(ivs) - TIMELINE_CAP))
    return lo, lo + TIMELINE_CAP


def _timeline(
    ivs: Sequence[Interval], row_of: Mapping[Any, int], fs: Mapping[str, int], focus: int | None
) -> dict[str, Any]:
    lo, hi = _window(ivs, focus)
    win = ivs[lo:hi]
    note = ""
    if len(win) < len(ivs):
        note = (
            f"This history has {len(ivs):,} client ops; the timeline shows {len(win):,} of them "
            f"(ops #{win[0].invoke.index}–#{win[-1].invoke.index}, around "
            f"{'the first op an anomaly names' if focus is not None else 'the start'}). "
            "The latency and throughput plots below cover every op; history.jsonl has them all."
        )
    return {
        "i": [iv.invoke.index for iv in win],
        "r": [row_of[iv.invoke.process] for iv in win],
        "a": [iv.invoke.time_ns // 1000 for iv in win],
        "b": [iv.end_ns // 1000 for iv in win],
        "o": [iv.code for iv in win],
        "f": [fs[iv.invoke.f] for iv in win],
        "p": [jsonable(iv.invoke.process) for iv in win],
        "n": [iv.invoke.node or (iv.complete.node if iv.complete else None) for iv in win],
        "text": [op_label(iv) for iv in win],
        "note": note,
        "total": len(ivs),
        # The time span the capped window covers: the page opens zoomed to it.
        "span": [win[0].invoke.time_ns // 1000, max(iv.end_ns for iv in win) // 1000]
        if note
        else None,
    }


def _scatter(ivs: Sequence[Interval], fs: Mapping[str, int]) -> dict[str, Any]:
    n_ok = sum(1 for iv in ivs if iv.outcome == "ok")
    n_other = len(ivs) - n_ok
    step = 1
    if len(ivs) > SCATTER_CAP:
        step = max(1, -(-n_ok // max(1, SCATTER_CAP - n_other)))
    pts: list[Interval] = []
    k = 0
    for iv in ivs:
        if iv.outcome == "ok":
            k += 1
            if k % step:
                continue
        pts.append(iv)
    note = ""
    if step > 1:
        note = f"Showing every {step}th ok op ({len(pts):,} of {len(ivs):,} points); all fail/info ops are shown."
    return {
        "a": [iv.invoke.time_ns // 1000 for iv in pts],
        "l": [iv.latency_ns // 1000 for iv in pts],
        "o": [iv.code for iv in pts],
        "f": [fs[iv.invoke.f] for iv in pts],
        "i": [iv.invoke.index for iv in pts],
        "note": note,
    }


def _band_json(b: Band) -> dict[str, Any]:
    return {
        "k": b.kind,
        "a": b.start_ns // 1000,
        "b": b.end_ns // 1000,
        "closed": b.closed,
        "i": b.start_index,
        "text": b.text,
    }


def _nemesis_marks(pairs: Iterable[tuple[Op, Op | None]]) -> list[dict[str, Any]]:
    """Every nemesis op (invocation time, what it did) for ticks in the timeline's fault strip."""
    marks = []
    for inv, comp in pairs:
        if inv.process != NEMESIS:
            continue
        done = comp if comp is not None else inv
        marks.append(
            {
                "i": inv.index,
                "t": inv.time_ns // 1000,
                "f": inv.f,
                "text": f"{inv.f} → {done.type} {summarize_value(done.value, 300)}".strip(),
            }
        )
    return marks[:NEMESIS_MARKS_CAP]


def _named_ops(
    run: Run,
    checkers: Sequence[Mapping[str, Any]],
    cx: Mapping[str, Any] | None,
    by_index: Mapping[int, Interval],
) -> list[dict[str, Any]]:
    h = run.history
    if h is None:
        return []
    wanted: list[int] = [i for c in checkers for a in c["anomalies"] for i in a["ops"]]
    if cx is not None:
        wanted += [o["i"] for o in cx["ops"]]
    seen: set[int] = set()
    rows: list[dict[str, Any]] = []
    for i in wanted:
        if not 0 <= i < len(h) or len(rows) >= NAMED_OPS_CAP:
            continue
        op = h[i]
        inv = op if op.type == "invoke" else (h.invocation(i) or op)
        if inv.index in seen:
            continue
        seen.add(inv.index)
        iv = by_index.get(inv.index)
        comp = iv.complete if iv else None
        rows.append(
            {
                "i": inv.index,
                "c": comp.index if comp is not None else None,
                "process": str(inv.process),
                "f": inv.f,
                "type": iv.outcome if iv else op.type,
                "value": summarize_value(inv.value, 400),
                "result": summarize_value(comp.value, 400) if comp is not None else "",
                "error": summarize_value(comp.error, 400) if comp is not None else "",
                "node": str(inv.node or (comp.node if comp is not None else "") or ""),
                "t_s": f"{inv.time_ns / 1e9:.6f}",
                "latency_ms": f"{iv.latency_ns / 1e6:.3f}" if iv else "",
            }
        )
    rows.sort(key=lambda r: int(r["i"]))  # keys are ints by construction
    return rows


def _checker_pages(run: Run, checkers: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(checker name, relative href) of the pages a checker wrote into its own folder of the
    run (e.g. ``lock/lanes.html``); only regular files in a real folder named after a checker
    of this run, so nothing planted through a symlink is linked."""
    pages = []
    for c in checkers:
        folder = run.run_dir / c["name"]
        if "/" in c["name"] or c["name"] in ("", ".", "..") or not _is(folder, stat.S_ISDIR):
            continue
        for f in sorted(folder.iterdir()):
            if f.suffix == ".html" and _is(f, stat.S_ISREG):
                pages.append((c["name"], f"{c['name']}/{f.name}"))
    return pages


def _partition_lanes(results: Mapping[str, Any] | None,
                     pages: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """The "Partitions" section: per checker whose details carry ``partition_lanes`` (the
    queue checker's per-partition summary rows), its rows as text and the link to its lanes
    page when that page is one of the checker pages found in the run."""
    checkers = results.get("checkers") if results else None
    if not isinstance(checkers, Mapping):
        return []
    hrefs = {href for _, href in pages}
    out = []
    for name, res in checkers.items():
        details = res.get("details") if isinstance(res, Mapping) else None
        raw = details.get("partition_lanes") if isinstance(details, Mapping) else None
        if not isinstance(raw, list):
            continue
        rows = []
        for r in raw[:64]:
            if not isinstance(r, Mapping):
                continue
            kinds = r.get("anomalies")
            marks = ", ".join(f"{k} {n}" for k, n in kinds.items()) if isinstance(
                kinds, Mapping) else ""
            rows.append({k: _field_text(r.get(k)) for k in ("partition", "offsets", "acked",
                                                              "polled", "drained")}
                        | {"anomalies": marks})
        href = details.get("lanes") if isinstance(details, Mapping) else None
        out.append({"name": str(name), "rows": rows,
                    "href": href if isinstance(href, str) and href in hrefs else None})
    return out


def _is(p: Path, test: Callable[[int], bool]) -> bool:
    try:
        return test(p.lstat().st_mode)
    except OSError:
        return False


def build_page(run: Run) -> tuple[dict[str, Any], dict[str, Any]]:
    """(template context, data for the page's script) for one run."""
    h = run.history
    pairs = list(h.pairs()) if h is not None else []
    ivs = intervals(h, pairs) if h is not None else []
    bands = fault_bands(h) if h is not None else []
    end_ns = end_time_ns(h) if h is not None else 0
    by_index = {iv.invoke.index: iv for iv in ivs}
    checkers = _checkers(run.results)
    cx = find_counterexample(run.results, by_index)
    named = {i for c in checkers for a in c["anomalies"] for i in a["ops"]}
    if cx is not None and cx["failed"] is not None:
        named.add(cx["failed"])
    labels, row_of, fold_note = _row_labels(ivs, run.test)
    fs = {f: k for k, f in enumerate(sorted({iv.invoke.f for iv in ivs}))}
    data = {
        "end_us": end_ns // 1000,
        "rows": labels,
        "fold_note": fold_note,
        "fs": list(fs),
        "outcomes": list(OUTCOMES),
        "timeline": _timeline(ivs, row_of, fs, min(named) if named else None),
        "scatter": _scatter(ivs, fs),
        "throughput": throughput(ivs, end_ns),
        "bands": [_band_json(b) for b in bands],
        "nemesis": _nemesis_marks(pairs),
        "cx": cx,
    }
    results = run.results or {}
    named_ops = _named_ops(run, checkers, cx, by_index)
    pages = _checker_pages(run, checkers)
    context = {
        "header": _header(run, end_ns),
        "verdict": verdict_of(results.get("verdict", results.get("valid")))
        if run.results is not None
        else "unknown",
        "has_results": run.results is not None,
        "ops_count": len(h) if h is not None else None,
        "client_ops": len(ivs),
        "check_seconds": results.get("check_seconds"),
        "checkers": checkers,
        "checker_pages": pages,
        "partition_lanes": _partition_lanes(run.results, pages),
        "cx": cx,
        "cx_lins": lin_labels(cx) if cx else [],
        "named_ops": named_ops,
        "anchors": {r["i"] for r in named_ops} | {r["c"] for r in named_ops if r["c"] is not None},
        "stats": stats_by_f(ivs),
        "availability": availability(ivs, bands),
        "bands": bands,
        "logs": run.logs,
        "problems": run.problems,
        "has_history": h is not None,
    }
    return context, data
