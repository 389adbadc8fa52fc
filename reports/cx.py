"""The linearizability counterexample view's data (the view Porcupine users rely on).

A linearizability checker that finds a history invalid reports, in its
result details: ``failing_key``, ``part_ops`` (invocation indices of the ops
on that key), ``partial_linearizations`` (lists of invocation indices in
linearization order, longest first) and ``failed_op`` (the invocation that
could not be linearized after the longest prefix).  Any checker whose details
carry these fields gets the view; every field may be missing.

On the page each op of the failing key is an interval on its process's row;
the chosen partial linearization is numbered in order and joined by a line
through plausible linearization points (the earliest instant inside each
interval that is not before the previous point), and the failed op is drawn
in red.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reports.load import jsonable
from reports.ops import Interval, op_label, summarize_value

__all__ = ["find_counterexample", "MAX_CX_OPS", "MAX_LINEARIZATIONS"]

MAX_CX_OPS = 3000
MAX_LINEARIZATIONS = 8
_MARKERS = ("partial_linearizations", "failed_op", "part_ops", "failing_key")


def _int_list(v: Any) -> list[int]:
    if not isinstance(v, (list, tuple)):
        return []
    return [x for x in v if isinstance(x, int) and not isinstance(x, bool)]


def _checker_with_cx(results: Mapping[str, Any] | None) -> tuple[str, Mapping[str, Any]] | None:
    checkers = results.get("checkers") if isinstance(results, Mapping) else None
    if not isinstance(checkers, Mapping):
        return None
    for name, res in checkers.items():
        details = res.get("details") if isinstance(res, Mapping) else None
        if isinstance(details, Mapping) and any(m in details for m in _MARKERS):
            if res.get("valid") is not True:
                return str(name), details
    return None


def _key_text(key: Any) -> str:
    return key if isinstance(key, str) else summarize_value(jsonable(key), 300)


def _rows(ops: Sequence[Interval]) -> list[Any]:
    procs = {iv.invoke.process for iv in ops}
    return sorted(procs, key=lambda p: (isinstance(p, str), p if isinstance(p, int) else 0, str(p)))


def find_counterexample(
    results: Mapping[str, Any] | None, by_index: Mapping[int, Interval]
) -> dict[str, Any] | None:
    """The counterexample data for the page, or None if no checker reported one."""
    found = _checker_with_cx(results)
    if found is None:
        return None
    name, d = found
    lins = (
        [_int_list(lin) for lin in (d.get("partial_linearizations") or [])][:MAX_LINEARIZATIONS]
        if isinstance(d.get("partial_linearizations"), list)
        else []
    )
    if any(lins):
        lins = [lin for lin in lins if lin]
    failed = d.get("failed_op")
    failed_i = failed if isinstance(failed, int) and not isinstance(failed, bool) else None
    wanted = list(dict.fromkeys(_int_list(d.get("part_ops")) + [i for lin in lins for i in lin]))
    if failed_i is not None and failed_i not in wanted:
        wanted.append(failed_i)
    ivs = [by_index[i] for i in wanted if i in by_index]
    truncated = len(ivs) > MAX_CX_OPS
    if truncated:
        keep = {i for lin in lins[:1] for i in lin} | (
            {failed_i} if failed_i is not None else set()
        )
        ivs = [iv for iv in ivs if iv.invoke.index in keep] + [
            iv for iv in ivs if iv.invoke.index not in keep
        ][: max(0, MAX_CX_OPS - len(keep))]
    ivs.sort(key=lambda iv: iv.invoke.time_ns)
    rows = _rows(ivs)
    row_of = {p: r for r, p in enumerate(rows)}
    failed_iv = by_index.get(failed_i) if failed_i is not None else None
    return {
        "checker": name,
        "key": jsonable(d.get("failing_key")),
        "has_key": d.get("failing_key") is not None,
        "key_text": _key_text(d.get("failing_key")),
        "model": jsonable(d.get("model")),
        "explanation": str(d.get("explanation") or ""),
        "failed": failed_i,
        "failed_label": op_label(failed_iv) if failed_iv is not None else None,
        "failed_process": jsonable(failed_iv.invoke.process) if failed_iv else None,
        "lins": lins,
        "rows": [f"process {p}" for p in rows],
        "ops": [
            {
                "i": iv.invoke.index,
                "c": iv.complete.index if iv.complete is not None else None,
                "r": row_of[iv.invoke.process],
                "a": iv.invoke.time_ns // 1000,
                "b": iv.end_ns // 1000,
                "o": iv.outcome,
                "label": op_label(iv),
            }
            for iv in ivs
        ],
        "missing": [i for i in wanted if i not in by_index][:50],
        "truncated": truncated,
    }


def lin_labels(cx: Mapping[str, Any], limit: int = 200) -> list[list[dict[str, Any]]]:
    """For the no-JS text view: each partial linearization as (index, label) items."""
    labels = {o["i"]: o["label"] for o in cx.get("ops", [])}
    return [
        [{"i": i, "label": labels.get(i, "?")} for i in lin[:limit]] for lin in cx.get("lins", [])
    ]
