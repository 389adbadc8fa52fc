"""Pure functions from a History to the data the report draws (no I/O, no HTML).

Decisions (documented here because the page depends on them):

* **Intervals.** Every client invocation becomes an interval from its
  invocation to its completion.  An invocation that never completes is
  indeterminate until the end of the history; it is drawn with outcome
  ``open`` (coloured like ``info``, hatched on the page).
* **Fault bands.** Nemesis ops named ``start-<fault>`` open a band and the
  next ``stop-<fault>`` closes it.  A band starts at the start op's
  completion (its invocation if it never completed) and ends at the stop op's
  completion (or invocation); an unclosed band runs to the end of the
  history.  A second ``start-X`` while one is open closes the first.
* **Times** are sent to the page as integer microseconds since the start of
  the test: small, exact enough, and cheap to parse.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from harness.history import INVOKE, NEMESIS, History, Op, fault_windows

__all__ = [
    "OUTCOMES",
    "Interval",
    "Band",
    "intervals",
    "fault_bands",
    "end_time_ns",
    "summarize_value",
    "txn_text",
    "op_label",
    "stats_by_f",
    "availability",
    "throughput",
]

# Outcome codes used in the page's compact arrays.
OUTCOMES: tuple[str, ...] = ("ok", "fail", "info", "open")
_OUTCOME_CODE = {name: i for i, name in enumerate(OUTCOMES)}
VALUE_TEXT_MAX = 200
MOP_FS = frozenset({"r", "append", "w", "rx"})  # micro-op names of transactional workloads
LIST_HEAD, LIST_TAIL = 2, 4  # a long read shows its first and its last elements


@dataclass(frozen=True, slots=True)
class Interval:
    """One client operation: its invocation and (maybe) completion.

    ``outcome``, ``code`` and ``latency_ns`` are computed once here (the page
    reads them for every op of a 100k-op history, several times)."""

    invoke: Op
    complete: Op | None
    end_ns: int
    outcome: str = ""
    code: int = 2
    latency_ns: int = 0

    @staticmethod
    def of(invoke: Op, complete: Op | None, end_ns: int) -> Interval:
        outcome = complete.type if complete is not None else "open"
        return Interval(
            invoke,
            complete,
            end_ns,
            outcome,
            _OUTCOME_CODE.get(outcome, 2),
            max(0, end_ns - invoke.time_ns),
        )


@dataclass(frozen=True, slots=True)
class Band:
    """A fault interval: kind (partition, kill, …), times and what the nemesis said."""

    kind: str
    start_ns: int
    end_ns: int
    closed: bool
    start_index: int
    text: str


def end_time_ns(history: History) -> int:
    return max((o.time_ns for o in history), default=0)


def intervals(
    history: History, pairs: Iterable[tuple[Op, Op | None]] | None = None
) -> list[Interval]:
    """Client invocations paired with their completions, in invocation order
    (``pairs``: ``history.pairs()`` when the caller has it already)."""
    end = end_time_ns(history)
    of = Interval.of
    return [
        of(inv, comp, comp.time_ns if comp is not None else end)
        for inv, comp in (history.pairs() if pairs is None else pairs)
        if inv.process != NEMESIS
    ]


def fault_bands(history: History) -> list[Band]:
    """Fault intervals from the nemesis ops, sorted by start time."""
    return [
        Band(w.fault, w.start_ns, w.end_ns, w.closed, w.start_index, summarize_value(w.value))
        for w in fault_windows(history)
    ]


def _is_txn(value: Any) -> bool:
    return (isinstance(value, list) and bool(value)
            and all(isinstance(m, list) and len(m) == 3 and m[0] in MOP_FS for m in value))


def _atom(v: Any) -> str:
    if v is None:
        return "nil"
    if type(v) is int:
        return str(v)
    try:
        return json.dumps(v, separators=(",", ":"), ensure_ascii=False, default=repr)
    except ValueError:
        return repr(v)


def _mop_value(v: Any) -> str:
    if not isinstance(v, list):
        return _atom(v)
    if len(v) <= LIST_HEAD + LIST_TAIL + 1:
        return "[" + " ".join(map(_atom, v)) + "]"
    hidden = len(v) - LIST_HEAD - LIST_TAIL
    head, tail = v[:LIST_HEAD], v[-LIST_TAIL:]
    return "[" + " ".join([*map(_atom, head), f"…{hidden} more…", *map(_atom, tail)]) + "]"


def txn_text(value: Any) -> str | None:
    """A txn's micro-ops the way Elle writes them, ``r 3 [1 2 …40 more… 9]; append 5 7``:
    a long read shows its first and last elements (the last is what orders it). None when
    ``value`` is not a list of ``[f, key, value]`` micro-ops."""
    if not _is_txn(value):
        return None
    return "; ".join(f"{f} {_atom(k)} {_mop_value(v)}" for f, k, v in value)


def summarize_value(value: Any, limit: int = VALUE_TEXT_MAX) -> str:
    """Compact text of a value (a txn as :func:`txn_text`, anything else as JSON), cut to
    ``limit`` characters with an ellipsis."""
    if value is None:
        return ""
    txn = txn_text(value)
    if txn is not None:
        return txn if len(txn) <= limit else txn[: limit - 1] + "…"
    if type(value) is int:  # the common case, and what json.dumps gives for it
        text = str(value)
        return text if len(text) <= limit else text[: limit - 1] + "…"
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    else:
        try:
            text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=repr)
        except ValueError:
            text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def op_label(iv: Interval) -> str:
    """One line saying what an op did: ``read nil → ok 3`` (plain text; escaped later)."""
    inv, comp = iv.invoke, iv.complete
    parts = [inv.f]
    v = summarize_value(inv.value)
    if v:
        parts.append(v)
    parts.append("→")
    parts.append(iv.outcome)
    if comp is not None:
        cv = summarize_value(comp.value)
        if cv and cv != v:
            parts.append(cv)
        if comp.error is not None:
            parts.append(f"({summarize_value(comp.error, 120)})")
    return " ".join(parts)


def _quantile(sorted_vals: Sequence[int], q: float) -> int:
    if not sorted_vals:
        return 0
    i = min(len(sorted_vals) - 1, max(0, int(round(q * (len(sorted_vals) - 1)))))
    return sorted_vals[i]


def stats_by_f(ivs: Iterable[Interval]) -> list[dict[str, Any]]:
    """Per f: counts by outcome and ok-latency quantiles in milliseconds."""
    counts: dict[str, dict[str, int]] = {}
    lat: dict[str, list[int]] = {}
    for iv in ivs:
        f = iv.invoke.f
        c = counts.get(f)
        if c is None:
            c = counts[f] = {"ok": 0, "fail": 0, "info": 0, "open": 0}
            lat[f] = []
        outcome = iv.outcome
        if outcome == "ok":
            c["ok"] += 1
            lat[f].append(iv.latency_ns)
        else:
            c[outcome if outcome in c else "info"] += 1
    rows = []
    for f in sorted(counts):
        c = counts[f]
        ls = sorted(lat.get(f, []))
        total = sum(c.values())
        rows.append(
            {
                "f": f,
                "total": total,
                **c,
                "ok_fraction": c["ok"] / total if total else 0.0,
                "p50_ms": _quantile(ls, 0.5) / 1e6,
                "p95_ms": _quantile(ls, 0.95) / 1e6,
                "p99_ms": _quantile(ls, 0.99) / 1e6,
                "max_ms": (ls[-1] / 1e6) if ls else 0.0,
            }
        )
    return rows


def _segments(bands: Sequence[Band]) -> tuple[list[int], list[frozenset[str]]]:
    """Elementary time segments and the fault kinds active in each (for bisecting)."""
    edges = sorted({b.start_ns for b in bands} | {b.end_ns for b in bands})
    active: list[frozenset[str]] = []
    for i, t in enumerate(edges):
        nxt = edges[i + 1] if i + 1 < len(edges) else t + 1
        active.append(frozenset(b.kind for b in bands if b.start_ns <= t and nxt <= b.end_ns))
    return edges, active


def availability(ivs: Sequence[Interval], bands: Sequence[Band]) -> list[dict[str, Any]]:
    """Fraction of client ops that completed ok, invoked inside vs outside fault bands."""
    edges, active = _segments(bands)
    groups: dict[str, list[int]] = {"no fault": [0, 0], "any fault": [0, 0]}
    for k in sorted({b.kind for b in bands}):
        groups[k] = [0, 0]
    keys = [(*kinds, "any fault") if kinds else ("no fault",) for kinds in active]
    counted = [[0, 0] for _ in keys]  # per segment: ok ops, ops
    before = [0, 0]  # ops invoked before the first edge
    right = bisect.bisect_right
    for iv in ivs:
        i = right(edges, iv.invoke.time_ns) - 1
        cell = counted[i] if i >= 0 else before
        cell[1] += 1
        if iv.outcome == "ok":
            cell[0] += 1
    for ks, (ok, n) in zip([("no fault",), *keys], [before, *counted], strict=True):
        for key in ks:
            groups[key][0] += ok
            groups[key][1] += n
    return [
        {"during": name, "ops": n, "ok": ok, "availability": (ok / n) if n else None}
        for name, (ok, n) in groups.items()
    ]


def throughput(ivs: Sequence[Interval], end_ns: int) -> dict[str, Any]:
    """Completions per second by outcome, in bins of 1/100 of the run but at least
    1/20 of it or a second, whichever is smaller (so 100 ops/s is not all noise)."""
    span_ns = max(end_ns, 1)
    width_ns = max(1, span_ns // 100, min(1_000_000_000, span_ns // 20))
    bins = max(1, -(-span_ns // width_ns))
    series = {name: [0] * bins for name in OUTCOMES[:3]}
    last = bins - 1
    info = series["info"]
    get = series.get
    for iv in ivs:
        comp = iv.complete
        if comp is None or comp.type == INVOKE:
            continue
        b = iv.end_ns // width_ns if iv.end_ns > 0 else 0
        get(iv.outcome, info)[b if b < last else last] += 1
    # The last bin may be partial: divide by the time it really covers.
    widths = [width_ns] * (bins - 1) + [max(1, span_ns - (bins - 1) * width_ns)]
    return {
        "bin_us": width_ns / 1e3,
        "series": {
            k: [round(c * 1e9 / w, 3) for c, w in zip(v, widths, strict=True)]
            for k, v in series.items()
        },
    }
