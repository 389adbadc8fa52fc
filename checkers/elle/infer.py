"""List-append inference: transactions, version orders, and the anomalies a
single pass over the reads reveals (no graph needed).

Semantics (Elle's, learned from its paper and docs; the code is ours):

* A txn is an op pair with ``f == "txn"`` whose value is a list of micro-ops
  ``["append", k, v]`` and ``["r", k, list-or-None]``. Keys and elements are
  JSON scalars; every append of a key uses a distinct element (a history that
  appends one element twice to a key is refused, as Elle does).
* ``ok`` txns happened; ``fail`` txns did not; ``info`` txns (and invocations
  that never completed) may have. A read of ``None`` in an ``ok`` txn is a read
  of the empty list; in an ``info`` txn it is "not known" and is ignored.
* The **version order** of a key is the longest list any ok/info txn read
  (elements de-duplicated); every other read must be a prefix of it, else the
  key has an ``incompatible-order``. A key never read non-empty but appended
  exactly once has the order ``[v]``. An append nobody read sits, for the
  graph, after the last observed element (it must have happened after every
  observed one - Elle does the same).
* ``duplicate-elements``: an element appears twice in one read.
* ``internal``: a txn's read of k disagrees with its own earlier micro-ops on
  k (after it appended v, its reads must end with v; after a read L then
  appends, the read must be exactly L plus those appends).
* ``G1a``: an ok txn read an element appended by a failed txn.
* ``G1b``: an ok txn read a list whose last element was a non-final append of
  another txn to that key (an intermediate state).

Not done (on purpose): ``dirty-update``, ``lost-update`` and ``future-read``
(Elle has them); ``G1a`` covers the dirty reads that matter to our workloads.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from checkers.core import Anomaly
from harness.history import FAIL, INFO, NEMESIS, OK, History

__all__ = ["INIT", "Mop", "Txn", "Analysis", "MopError", "txns_of", "analyse"]



class _Init:
    """The reader-index key for "read the empty list": never equal to a real element."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<init>"


INIT: Hashable = _Init()


class MopError(ValueError):
    """A txn value that is not a list of list-append micro-ops."""


Mop = tuple[str, Hashable, Any]  # (f, key, element | tuple of elements | None)


@dataclass(slots=True)
class Txn:
    id: int  # index of the completion (of the invocation if it never completed)
    invoke: int  # index of the invocation
    type: str  # ok | info | fail
    process: Any
    mops: list[Mop]


def _elem(x: Any, where: str) -> Hashable:
    if isinstance(x, (list, dict)):
        raise MopError(f"{where}: keys and elements must be JSON scalars, got {x!r}")
    return x  # type: ignore[no-any-return]


def _mops(value: Any, where: str) -> list[Mop]:
    if not isinstance(value, list):
        raise MopError(f"{where}: a txn value must be a list of micro-ops, got {value!r}")
    out: list[Mop] = []
    for m in value:
        if not isinstance(m, (list, tuple)) or len(m) != 3 or m[0] not in ("append", "r"):
            raise MopError(f"{where}: micro-op must be [append k v] or [r k list], got {m!r}")
        f, k, v = m
        k = _elem(k, where)
        if f == "append":
            out.append((f, k, _elem(v, where)))
        elif v is None:
            out.append((f, k, None))
        elif isinstance(v, list):
            out.append((f, k, tuple(_elem(x, where) for x in v)))
        else:
            raise MopError(f"{where}: a read must return a list or nil, got {v!r}")
    return out


def txns_of(history: History) -> list[Txn]:
    """Every client txn of the history, in invocation order.

    MopError when the history is not a list-append one: client ops but no txn
    (judging zero txns would call any register history valid), or one element
    appended twice to a key (every edge is inferred from "who appended this
    element": with two writers the graph would be silently wrong; Elle refuses
    such histories too).
    """
    out: list[Txn] = []
    clients = 0
    appended: dict[tuple[Hashable, Hashable], int] = {}
    for inv, comp in history.pairs():
        if inv.process == NEMESIS:
            continue
        clients += 1
        if inv.f != "txn":
            continue
        t = comp.type if comp is not None else INFO
        # An ok completion carries what the reads returned; info/fail ones may carry nothing.
        src = comp if comp is not None and (t == OK or comp.value is not None) else inv
        where = f"op {src.index}"
        out.append(
            Txn(
                id=comp.index if comp is not None else inv.index,
                invoke=inv.index,
                type=t,
                process=inv.process,
                mops=_mops(src.value, where),
            )
        )
        for f, k, v in out[-1].mops:
            if f != "append":
                continue
            if (k, v) in appended:
                raise MopError(f"{where}: appends {v!r} to key {k!r}, which op "
                               f"{appended[k, v]} already appended; list-append needs "
                               "every element unique")
            appended[k, v] = inv.index
    if clients and not out:
        raise MopError(f"no txn op (f = txn) among {clients} client ops")
    return out


@dataclass
class Analysis:
    """Everything the graph needs, plus the anomalies found on the way."""

    txns: dict[int, Txn]  # ok and info txns by id
    order: dict[Hashable, tuple[Hashable, ...]]  # version order per key
    pos: dict[Hashable, dict[Hashable, int]]  # element -> position in the order
    writer: dict[Hashable, dict[Hashable, int]]  # element -> id of the ok/info txn appending it
    readers: dict[Hashable, dict[Hashable, list[int]]]  # last element read (or INIT) -> reader ids
    anomalies: dict[str, list[Anomaly]] = field(default_factory=dict)

    def add(self, a: Anomaly) -> None:
        self.anomalies.setdefault(a.kind, []).append(a)


def _reads(t: Txn) -> list[tuple[Hashable, tuple[Hashable, ...]]]:
    """The reads of a txn that tell something (info reads of nil are unknown)."""
    out = []
    for f, k, v in t.mops:
        if f != "r":
            continue
        if v is None:
            if t.type == INFO:
                continue
            v = ()
        out.append((k, v))
    return out


def _fmt(v: Any) -> str:
    if isinstance(v, tuple):
        return "[" + " ".join(_fmt(x) for x in v) + "]"
    return repr(v) if isinstance(v, str) else str(v)


def analyse(txns: list[Txn], max_per_kind: int = 32) -> Analysis:
    possible = [t for t in txns if t.type in (OK, INFO)]
    an = Analysis({t.id: t for t in possible}, {}, {}, {}, {})

    def report(a: Anomaly) -> None:
        if len(an.anomalies.get(a.kind, ())) < max_per_kind:
            an.add(a)

    # Appends: writers (ok/info), failed writers, intermediate appends.
    failed: dict[Hashable, dict[Hashable, int]] = {}
    intermediate: dict[Hashable, dict[Hashable, int]] = {}
    appends: dict[Hashable, list[Hashable]] = {}
    for t in txns:
        last: dict[Hashable, Hashable] = {}
        for f, k, v in t.mops:
            if f != "append":
                continue
            if t.type == FAIL:
                failed.setdefault(k, {})[v] = t.id
                continue
            an.writer.setdefault(k, {})[v] = t.id
            appends.setdefault(k, []).append(v)
            if k in last:
                intermediate.setdefault(k, {})[last[k]] = t.id
            last[k] = v

    # Reads: duplicates, the longest read per key, reader index.
    longest: dict[Hashable, tuple[Hashable, ...]] = {}
    distinct_reads: dict[Hashable, dict[tuple[Hashable, ...], int]] = {}
    for t in possible:
        for k, v in _reads(t):
            an.readers.setdefault(k, {}).setdefault(v[-1] if v else INIT, []).append(t.id)
            if not v:
                continue
            distinct_reads.setdefault(k, {}).setdefault(v, t.id)
            if len(v) > len(longest.get(k, ())):
                longest[k] = v
            if len(set(v)) != len(v):
                seen: set[Hashable] = set()
                dups = sorted({x for x in v if x in seen or seen.add(x)}, key=repr)  # type: ignore[func-returns-value]
                report(Anomaly(
                    "duplicate-elements",
                    f"T{t.id} read key {_fmt(k)} as {_fmt(v)}, which holds "
                    f"{', '.join(_fmt(d) for d in dups)} more than once, yet every element is appended once",
                    (t.id,),
                    {"key": k, "value": list(v), "duplicates": dups},
                ))

    # Version orders and incompatible reads.
    for k, lv in longest.items():
        order = tuple(dict.fromkeys(lv))
        an.order[k] = order
        for v, tid in distinct_reads[k].items():
            if lv[: len(v)] != v:
                other = distinct_reads[k][lv]
                report(Anomaly(
                    "incompatible-order",
                    f"T{tid} read key {_fmt(k)} as {_fmt(v)} but T{other} read it as {_fmt(lv)}: "
                    "neither is a prefix of the other, so no single order of appends explains both",
                    (tid, other),
                    {"key": k, "values": [list(v), list(lv)]},
                ))
    for k, vs in appends.items():
        if k not in an.order and len(vs) == 1:
            an.order[k] = (vs[0],)
    an.pos = {k: {x: i for i, x in enumerate(o)} for k, o in an.order.items()}

    for t in txns:
        if t.type != OK:
            continue
        _internal(t, report)
        for k, v in _reads(t):
            bad = failed.get(k, {})
            for x in v:
                if x in bad:
                    report(Anomaly(
                        "G1a",
                        f"T{t.id} read key {_fmt(k)} as {_fmt(v)}, which includes {_fmt(x)}, "
                        f"appended by T{bad[x]}, a txn that failed (aborted read)",
                        (t.id, bad[x]),
                        {"key": k, "element": x, "writer": bad[x]},
                    ))
            w = intermediate.get(k, {}).get(v[-1]) if v else None
            if w is not None and w != t.id:
                report(Anomaly(
                    "G1b",
                    f"T{t.id} read key {_fmt(k)} as {_fmt(v)}, ending in {_fmt(v[-1])}, but T{w} "
                    f"appended more to key {_fmt(k)} after {_fmt(v[-1])}: T{t.id} saw an intermediate state",
                    (t.id, w),
                    {"key": k, "element": v[-1], "writer": w},
                ))
    return an


def _internal(t: Txn, report: Any) -> None:
    """Reads that contradict the txn's own earlier micro-ops on the key."""
    known: dict[Hashable, tuple[bool, tuple[Hashable, ...]]] = {}  # k -> (prefix known?, state/suffix)
    for i, (f, k, v) in enumerate(t.mops):
        if f == "append":
            full, s = known.get(k, (False, ()))
            known[k] = (full, s + (v,))
            continue
        got: tuple[Hashable, ...] = () if v is None else v
        if k in known:
            full, s = known[k]
            ok = got == s if full else (len(got) >= len(s) and got[len(got) - len(s):] == s)
            if not ok:
                want = _fmt(s) if full else "[... " + " ".join(_fmt(x) for x in s) + "]"
                report(Anomaly(
                    "internal",
                    f"T{t.id}'s micro-op {i} read key {_fmt(k)} as {_fmt(got)}, but its own earlier "
                    f"micro-ops on {_fmt(k)} mean it must read {want}",
                    (t.id,),
                    {"key": k, "mop": i, "read": list(got), "expected": want},
                ))
        known[k] = (True, got)
