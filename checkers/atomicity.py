"""Atomicity of list-append transactions: the partial commits that Elle does not name.

Elle judges isolation (cycles, aborted reads); a 2PC store can also break
*atomicity*: a txn committed at some participants and aborted (or lost) at
others. Its appends are then visible on some keys and missing on the others,
forever. This checker looks for exactly that, using the final reads:

* An element ``v`` that txn T appended to key ``k`` is **visible** when some
  ``ok`` txn read a list of ``k`` containing ``v``.
* The **final read** of a key is the ``ok`` read of it with the latest
  invocation. It *judges* T when it was invoked after T completed (an ``ok``
  or ``info`` completion; an invocation that never completed is judged by
  nothing): by then a committed T is applied at every shard, or its locks
  would still block the read.
* **partial-commit**: an ``ok`` or ``info`` T with a visible append on some
  key and, on another key, a judging final read that lacks its append. The
  anomaly names T, the keys where it is visible (with a txn that saw it) and
  the keys where it is missing (with the final read).
* **lost-commit**: an ``ok`` T none of whose appends is visible anywhere,
  while judging final reads exist for all its keys and lack them all.

Failed txns are Elle's business (G1a); keys without a judging final read are
skipped and counted in ``details["unjudged-txns"]``. A history that is not
list-append gives ``unknown``. Linear in the history's size.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checkers.core import UNKNOWN, Anomaly, Result
from harness.history import FAIL, NEMESIS, OK, History

__all__ = ["Atomicity", "check_atomicity"]


@dataclass(frozen=True, slots=True)
class _T:
    index: int  # completion index (invocation index if it never completed)
    type: str
    invoke_ns: int
    complete_ns: int | None
    mops: tuple[tuple[str, Hashable, Any], ...]


def _txns(history: History) -> list[_T] | str:
    out = []
    for inv, comp in history.pairs():
        if inv.process == NEMESIS or inv.f != "txn":
            continue
        value = comp.value if comp is not None and comp.type == OK else inv.value
        if not isinstance(value, list):
            return f"op {inv.index}: a txn value must be a list of micro-ops"
        mops = []
        for m in value:
            if not (isinstance(m, list) and len(m) == 3 and m[0] in ("r", "append")):
                return f"op {inv.index}: not a list-append micro-op: {m!r}"
            if isinstance(m[1], (list, dict)):
                return f"op {inv.index}: keys must be JSON scalars: {m[1]!r}"
            mops.append((m[0], m[1], m[2]))
        out.append(_T(comp.index if comp is not None else inv.index,
                      comp.type if comp is not None else "info", inv.time_ns,
                      comp.time_ns if comp is not None else None, tuple(mops)))
    return out


def check_atomicity(history: History, max_reported: int = 16) -> Result:
    txns = _txns(history)
    if isinstance(txns, str):
        return Result(UNKNOWN, details={"error": txns})
    seen_by: dict[tuple[Hashable, Any], int] = {}  # (key, element) -> a txn that read it
    final: dict[Hashable, tuple[int, int, frozenset[Any], list[Any]]] = {}  # key -> latest read
    for t in txns:
        if t.type != OK:
            continue
        for f, k, v in t.mops:
            if f != "r" or not isinstance(v, list):
                continue
            for e in v:
                if isinstance(e, (list, dict)):
                    continue
                seen_by.setdefault((k, e), t.index)
            if k not in final or t.invoke_ns > final[k][0]:
                final[k] = (t.invoke_ns, t.index, frozenset(e for e in v if not isinstance(e, (list, dict))), v)
    anomalies: list[Anomaly] = []
    unjudged = 0
    for t in txns:
        if t.type == FAIL or t.complete_ns is None:
            continue
        appends = [(k, v) for f, k, v in t.mops if f == "append"]
        if not appends:
            continue
        visible = {k: seen_by[(k, v)] for k, v in appends if (k, v) in seen_by}
        missing = {}
        for k, v in appends:
            fr = final.get(k)
            if k not in visible and fr is not None and fr[0] > t.complete_ns and v not in fr[2]:
                missing[k] = fr
        if visible and missing:
            anomalies.append(_partial(t, appends, visible, missing))
        elif not visible and t.type == OK and len(missing) == len({k for k, _ in appends}):
            anomalies.append(_lost(t, appends, missing))
        elif len(visible) + len(missing) < len({k for k, _ in appends}):
            unjudged += 1
    kinds = sorted({a.kind for a in anomalies})
    return Result(not anomalies, tuple(anomalies[:max_reported]), {
        "anomaly-types": kinds,
        "counts": {k: sum(a.kind == k for a in anomalies) for k in kinds},
        "txns": len(txns),
        "unjudged-txns": unjudged,
    })


def _partial(t: _T, appends: list[tuple[Hashable, Any]], visible: Mapping[Hashable, int],
             missing: Mapping[Hashable, tuple[int, int, frozenset[Any], list[Any]]]) -> Anomaly:
    vis = ", ".join(f"key {k!r} (read by T{i})" for k, i in sorted(visible.items(), key=repr))
    mis = ", ".join(f"key {k!r} (final read T{fr[1]} = {_brief(fr[3])})"
                    for k, fr in sorted(missing.items(), key=repr))
    ops = tuple(sorted({t.index, *visible.values(), *(fr[1] for fr in missing.values())}))
    return Anomaly(
        "partial-commit",
        f"T{t.index} ({t.type}) appended {appends!r}: its appends are visible on {vis} but "
        f"missing from {mis}; a txn must commit on every shard or on none",
        ops,
        {"txn": t.index, "visible": sorted(map(repr, visible)),
         "missing": sorted(map(repr, missing))},
    )


def _brief(xs: list[Any], head: int = 2, tail: int = 4) -> str:
    """A final read for a sentence: a long one shows its first and last elements and its
    length (the whole read is the named op's value in the history)."""
    if len(xs) <= head + tail + 1:
        return repr(xs)
    inner = [*map(repr, xs[:head]), f"... {len(xs) - head - tail} more ...", *map(repr, xs[-tail:])]
    return f"[{', '.join(inner)}] ({len(xs)} elements)"


def _lost(t: _T, appends: list[tuple[Hashable, Any]],
          missing: Mapping[Hashable, tuple[int, int, frozenset[Any], list[Any]]]) -> Anomaly:
    mis = ", ".join(f"key {k!r} (T{fr[1]})" for k, fr in sorted(missing.items(), key=repr))
    return Anomaly(
        "lost-commit",
        f"T{t.index} was acknowledged ok but none of its appends {appends!r} is in any read, "
        f"and the final reads after it lack them: {mis}",
        tuple(sorted({t.index, *(fr[1] for fr in missing.values())})),
        {"txn": t.index, "missing": sorted(map(repr, missing))},
    )


@dataclass(frozen=True)
class Atomicity:
    """:class:`checkers.core.Checker` for partial and lost commits (see the module docstring)."""

    max_reported: int = 16

    def check(self, test: Mapping[str, Any], history: History, out_dir: Path | None) -> Result:
        return check_atomicity(history, self.max_reported)
