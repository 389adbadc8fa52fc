"""List-append inference: transactions, version orders, and the anomalies a
single pass over the reads reveals (no graph needed).

Semantics (Elle's, learned from its paper and docs; the code is ours):

* A txn is an op pair with ``f == "txn"`` whose value is a list of micro-ops
  ``["append", k, v]`` and ``["r", k, list-or-None]``. Keys and elements may
  be any EDN/JSON value: vectors/lists are frozen to tuples and maps to
  :class:`FrozenMap` here, at the checker's boundary (the readers hand us
  plain lists and dicts); bools and floats become :class:`Typed`, since Python
  equates ``true`` and ``1.0`` with ``1`` (read elements are walked for this
  only when some appended element is a bool or float: a read holding one
  nobody appended still equals its int). Every append of a key uses a distinct element (a
  history that appends one element twice to a key is refused, as Elle does).
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
* ``future-read`` (Elle's): an ok txn read a list holding an element that it
  appends to that key only later in the same txn.
* ``lost-update`` (Elle's): two or more ok txns read the same version of a key
  (their first micro-op on it is a read, of the same list) and then both
  appended to it: one logical update is lost whatever the version order.
* ``dirty-update`` (Elle's): walking a key's version order, an ok txn's
  append comes right after a failed txn's append, or after one through
  indeterminate (info) appends only: committed state built on aborted state.
  Only keys some failed txn appended to are walked.

Speed: one pass builds the txns (a read's list is hashed whole, in C; only
an unhashable one is frozen element by element), one pass indexes appends
and reads; nothing here walks the elements of a read except the prefix
comparison per distinct read and the G1a scan, which runs only for keys some
failed txn appended to.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from checkers.core import Anomaly
from harness.history import FAIL, INFO, NEMESIS, OK, History

__all__ = [
    "INIT",
    "Mop",
    "Txn",
    "Analysis",
    "FrozenMap",
    "MopError",
    "freeze",
    "fmt",
    "txns_of",
    "analyse",
]


class _Init:
    """The reader-index key for "read the empty list": never equal to a real element."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<init>"


INIT: Hashable = _Init()


class MopError(ValueError):
    """A txn value that is not a list of list-append micro-ops."""


class FrozenMap:
    """A map key or element, frozen: its (key, value) pairs sorted by repr."""

    __slots__ = ("items",)

    def __init__(self, items: tuple[tuple[Hashable, Hashable], ...]) -> None:
        self.items = items

    def __hash__(self) -> int:
        return hash((FrozenMap, self.items))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FrozenMap) and other.items == self.items

    def __repr__(self) -> str:
        return "{" + ", ".join(f"{fmt(k)} {fmt(v)}" for k, v in self.items) + "}"


class Typed:
    """A bool or float key or element: EDN and JSON (and Elle) tell ``true`` and ``1.0``
    from ``1``, Python's ``==`` and ``hash`` do not, so these are wrapped at the boundary."""

    __slots__ = ("v",)

    def __init__(self, v: bool | float) -> None:
        self.v = v

    def __hash__(self) -> int:
        return hash((Typed, type(self.v), self.v))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Typed) or type(other.v) is not type(self.v):
            return False
        return other.v == self.v or (other.v != other.v and self.v != self.v)  # NaN is NaN

    def __repr__(self) -> str:
        return ("true" if self.v else "false") if type(self.v) is bool else repr(self.v)


_ODD = frozenset({bool, float})  # types Python equates with ints


def _tag(x: Any) -> Any:
    return Typed(x) if type(x) in _ODD else x


def freeze(x: Any) -> Hashable:
    """Lists/tuples -> tuples, dicts -> FrozenMap, bools/floats -> Typed, recursively;
    anything else as is."""
    if type(x) in _ODD:
        return Typed(x)
    if isinstance(x, (list, tuple)):
        return tuple(freeze(y) for y in x)
    if isinstance(x, dict):
        pairs = ((freeze(k), freeze(v)) for k, v in x.items())
        return FrozenMap(tuple(sorted(pairs, key=repr)))
    return x  # type: ignore[no-any-return]


def _hashable(x: Any, where: str) -> Hashable:
    try:
        hash(x)
        return x  # type: ignore[no-any-return]
    except TypeError:
        pass
    y = freeze(x)
    try:
        hash(y)
    except TypeError as e:
        raise MopError(f"{where}: a key or element that cannot be compared: {x!r}") from e
    return y


Mop = tuple[str, Hashable, Any]  # (f, key, element | tuple of elements | None)


@dataclass(slots=True)
class Txn:
    id: int  # index of the completion (of the invocation if it never completed)
    invoke: int  # index of the invocation
    type: str  # ok | info | fail
    process: Any
    mops: list[Mop]
    n: int = -1  # dense index among the ok/info txns (a graph node), -1 for failed


def _mops(value: Any, where: str, odd: list[bool]) -> list[Mop]:
    """The micro-ops of a txn value; ``odd[0]`` set when an appended element is a bool or float."""
    if not isinstance(value, list):
        raise MopError(f"{where}: a txn value must be a list of micro-ops, got {value!r}")
    out: list[Mop] = []
    for m in value:
        if not isinstance(m, (list, tuple)) or len(m) != 3:
            raise MopError(f"{where}: micro-op must be [append k v] or [r k list], got {m!r}")
        f, k, v = m
        tk = type(k)
        if tk is bool or tk is float:
            k = Typed(k)
        elif tk is not int and tk is not str:
            try:
                hash(k)
            except TypeError:
                k = _hashable(k, where)
        if f == "append":
            tv = type(v)
            if tv is bool or tv is float:
                v = Typed(v)
                odd[0] = True
            elif tv is not int and tv is not str:
                try:
                    hash(v)
                except TypeError:
                    v = _hashable(v, where)
            out.append(("append", k, v))
        elif f != "r":
            raise MopError(f"{where}: micro-op must be [append k v] or [r k list], got {m!r}")
        elif v is None:
            out.append(("r", k, None))
        elif isinstance(v, (list, tuple)):
            t = tuple(v)
            try:
                hash(t)
            except TypeError:
                t = tuple(_hashable(x, where) for x in v)
            out.append(("r", k, t))
        else:
            raise MopError(f"{where}: a read must return a list or nil, got {v!r}")
    return out


def txns_of(history: History) -> list[Txn]:
    """Every client txn of the history, in invocation order.

    MopError when the history is not a list-append one: client ops but no txn
    (judging zero txns would call any register history valid). Elements
    appended twice to a key are refused by :func:`analyse`.
    """
    out: list[Txn] = []
    clients = 0
    odd = [False]
    for inv, comp in history.pairs():
        if inv.process == NEMESIS:
            continue
        clients += 1
        if inv.f != "txn":
            continue
        t = comp.type if comp is not None else INFO
        # An ok completion carries what the reads returned; info/fail ones may carry nothing.
        src = comp if comp is not None and (t == OK or comp.value is not None) else inv
        out.append(Txn(comp.index if comp is not None else inv.index, inv.index, t,
                       inv.process, _mops(src.value, f"op {src.index}", odd)))
    if clients and not out:
        raise MopError(f"no txn op (f = txn) among {clients} client ops")
    if odd[0]:  # some element is a bool or float: tag the reads' elements alike (rare: a walk)
        for txn in out:
            txn.mops = [(f, k, tuple(map(_tag, v)) if f == "r" and v else v) for f, k, v in txn.mops]
    return out


@dataclass
class Analysis:
    """Everything the graph needs, plus the anomalies found on the way."""

    txns: list[Txn]  # ok and info txns; txns[t.n] is t
    order: dict[Hashable, tuple[Hashable, ...]]  # version order per key
    pos: dict[Hashable, dict[Hashable, int]]  # element -> position in the order
    appender: dict[Hashable, dict[Hashable, Txn]]  # element -> the txn appending it (any type)
    readers: dict[Hashable, dict[Hashable, list[int]]]  # last element read (or INIT) -> reader n's
    anomalies: dict[str, list[Anomaly]] = field(default_factory=dict)

    def add(self, a: Anomaly) -> None:
        self.anomalies.setdefault(a.kind, []).append(a)

    def writer(self, k: Hashable, v: Hashable) -> Txn | None:
        """The ok/info txn that appended v to k, if any."""
        t = self.appender.get(k, {}).get(v)
        return t if t is not None and t.type != FAIL else None

    def previous(self, k: Hashable, v: Hashable) -> Hashable:
        """The element appended to k just before v (INIT if v was first).

        An element never observed comes after every observed one."""
        i = self.pos.get(k, {}).get(v)
        order = self.order.get(k, ())
        if i is None:
            return order[-1] if order else INIT
        return order[i - 1] if i > 0 else INIT


def fmt(v: Any) -> str:
    """A key, element or read, printed readably (vectors in brackets)."""
    if isinstance(v, tuple):
        return "[" + " ".join(fmt(x) for x in v) + "]"
    return repr(v) if isinstance(v, str) else str(v)


def _index_appends(an: Analysis, txns: list[Txn]
                   ) -> tuple[dict[Hashable, dict[Hashable, Txn]], set[Hashable]]:
    """Fill ``an.appender``; return the intermediate appends (k -> element -> txn) and
    the keys some failed txn appended to."""
    intermediate: dict[Hashable, dict[Hashable, Txn]] = {}
    failed_keys: set[Hashable] = set()
    appender = an.appender
    for t in txns:
        last: dict[Hashable, Hashable] = {}
        for f, k, v in t.mops:
            if f != "append":
                continue
            d = appender.get(k)
            if d is None:
                d = appender[k] = {}
            elif v in d:
                raise MopError(f"op {t.id}: appends {v!r} to key {k!r}, which op "
                               f"{d[v].invoke} already appended; list-append needs "
                               "every element unique")
            d[v] = t
            if t.type == FAIL:
                failed_keys.add(k)
                continue
            if k in last:
                intermediate.setdefault(k, {})[last[k]] = t
            last[k] = v
    return intermediate, failed_keys


def analyse(txns: list[Txn], max_per_kind: int = 32) -> Analysis:
    possible = [t for t in txns if t.type != FAIL]
    for i, t in enumerate(possible):
        t.n = i
    an = Analysis(possible, {}, {}, {}, {})

    def report(a: Anomaly) -> None:
        if len(an.anomalies.get(a.kind, ())) < max_per_kind:
            an.add(a)

    intermediate, failed_keys = _index_appends(an, txns)
    _index_reads(an, report)
    for k, d in an.appender.items():
        if k not in an.order:
            vs = [v for v, t in d.items() if t.type != FAIL]
            if len(vs) == 1:
                an.order[k] = (vs[0],)
    an.pos = {k: {x: i for i, x in enumerate(o)} for k, o in an.order.items()}
    lost: dict[tuple[Hashable, tuple[Hashable, ...]], list[Txn]] = {}
    for t in possible:
        if t.type != OK:
            continue
        mops = t.mops
        if len(mops) > 1 and len({k for _, k, _ in mops}) < len(mops):
            _within(t, report, lost)  # only a key met twice can contradict itself
        for f, k, v in t.mops:
            if f != "r" or not v:
                continue
            if k in failed_keys:
                _g1a(t, k, v, an.appender[k], report)
            im = intermediate.get(k)
            w = im.get(v[-1]) if im else None
            if w is not None and w is not t:
                report(Anomaly(
                    "G1b",
                    f"T{t.id} read key {fmt(k)} as {fmt(v)}, ending in {fmt(v[-1])}, but T{w.id} "
                    f"appended more to key {fmt(k)} after {fmt(v[-1])}: T{t.id} saw an intermediate state",
                    (t.id, w.id),
                    {"key": k, "element": v[-1], "writer": w.id},
                ))
    for (k, v), ts in lost.items():
        if len(ts) > 1:
            _lost_update(k, v, ts, report)
    for k in failed_keys:
        if k in an.order:
            _dirty_updates(k, an.order[k], an.appender[k], report)
    return an


def _lost_update(k: Hashable, v: tuple[Hashable, ...], ts: list[Txn],
                 report: Callable[[Anomaly], None]) -> None:
    names = [f"T{t.id}" for t in ts]
    appended = [next(x for f, kk, x in t.mops if f == "append" and kk == k) for t in ts]
    both = " and ".join(names) if len(ts) == 2 else f"{', '.join(names[:-1])} and {names[-1]}"
    what = ", ".join(f"{n} {fmt(x)}" for n, x in zip(names, appended, strict=True))
    report(Anomaly(
        "lost-update",
        f"{both} {'both' if len(ts) == 2 else 'all'} read key {fmt(k)} as {fmt(v)} and then "
        f"appended to it ({what}): each updated the same version, so "
        f"{'one of the two updates' if len(ts) == 2 else 'all but one of these updates'} "
        "is lost (lost update)",
        tuple(t.id for t in ts),
        {"key": k, "value": list(v), "txns": [t.id for t in ts]},
    ))


def _dirty_updates(k: Hashable, order: tuple[Hashable, ...], appender: dict[Hashable, Txn],
                   report: Callable[[Anomaly], None]) -> None:
    """Elle's walk: committed state right after aborted state (through info appends)."""
    base: Txn | None = None  # the latest append that was not info-only; None = initial (committed)
    via: list[tuple[Txn, Hashable]] = []
    prev: Hashable = None
    for v in order:
        t = appender.get(v)
        if t is None:
            continue
        if t.type == INFO:
            via.append((t, v))
            continue
        if t.type == OK and base is not None and base.type == FAIL:
            through = "".join(f", then T{i.id}'s indeterminate append of {fmt(x)}" for i, x in via)
            report(Anomaly(
                "dirty-update",
                f"T{t.id} appended {fmt(v)} to key {fmt(k)} on top of {fmt(prev)}, appended by "
                f"T{base.id}, a txn that failed{through}; reads of key {fmt(k)} show this order "
                f"({fmt(order)}): a committed update built on an aborted one (dirty update)",
                (t.id, base.id, *(i.id for i, _ in via)),
                {"key": k, "element": v, "aborted": base.id, "aborted-element": prev,
                 "via": [i.id for i, _ in via]},
            ))
        base, prev, via = t, v, []


def _g1a(t: Txn, k: Hashable, v: tuple[Hashable, ...], appender: dict[Hashable, Txn],
         report: Callable[[Anomaly], None]) -> None:
    for x in v:
        w = appender.get(x)
        if w is not None and w.type == FAIL:
            report(Anomaly(
                "G1a",
                f"T{t.id} read key {fmt(k)} as {fmt(v)}, which includes {fmt(x)}, "
                f"appended by T{w.id}, a txn that failed (aborted read)",
                (t.id, w.id),
                {"key": k, "element": x, "writer": w.id},
            ))


def _index_reads(an: Analysis, report: Callable[[Anomaly], None]) -> None:
    """Reader index, duplicates, version orders and incompatible orders."""
    longest: dict[Hashable, tuple[Hashable, ...]] = {}
    distinct: dict[Hashable, dict[tuple[Hashable, ...], int]] = {}
    readers = an.readers
    for t in an.txns:
        info = t.type == INFO
        for f, k, v in t.mops:
            if f != "r":
                continue
            if v is None:
                if info:
                    continue
                v = ()
            last = v[-1] if v else INIT
            rk = readers.get(k)
            if rk is None:
                rk = readers[k] = {}
            lst = rk.get(last)
            if lst is None:
                rk[last] = [t.n]
            else:
                lst.append(t.n)
            if not v:
                continue
            dk = distinct.get(k)
            if dk is None:
                dk = distinct[k] = {}
            if v in dk:
                continue
            dk[v] = t.id
            if len(v) > len(longest.get(k, ())):
                longest[k] = v
            if len(set(v)) != len(v):
                _duplicates(t, k, v, report)
    for k, lv in longest.items():
        an.order[k] = tuple(dict.fromkeys(lv))
        for v, tid in distinct[k].items():
            if lv[: len(v)] != v:
                other = distinct[k][lv]
                report(Anomaly(
                    "incompatible-order",
                    f"T{tid} read key {fmt(k)} as {fmt(v)} but T{other} read it as {fmt(lv)}: "
                    "neither is a prefix of the other, so no single order of appends explains both",
                    (tid, other),
                    {"key": k, "values": [list(v), list(lv)]},
                ))


def _duplicates(t: Txn, k: Hashable, v: tuple[Hashable, ...],
                report: Callable[[Anomaly], None]) -> None:
    seen: set[Hashable] = set()
    dups = sorted({x for x in v if x in seen or seen.add(x)}, key=repr)  # type: ignore[func-returns-value]
    report(Anomaly(
        "duplicate-elements",
        f"T{t.id} read key {fmt(k)} as {fmt(v)}, which holds "
        f"{', '.join(fmt(d) for d in dups)} more than once, yet every element is appended once",
        (t.id,),
        {"key": k, "value": list(v), "duplicates": dups},
    ))


def _within(t: Txn, report: Callable[[Anomaly], None],
            lost: dict[tuple[Hashable, tuple[Hashable, ...]], list[Txn]]) -> None:
    """internal and future-read for an ok txn; its lost-update candidates into ``lost``."""
    # k -> (prefix known?, state/suffix): the tuple a read returned, or a list this txn's
    # appends extend in place (a new tuple per append was quadratic in a long txn)
    known: dict[Hashable, tuple[bool, tuple[Hashable, ...] | list[Hashable]]] = {}
    first_read: dict[Hashable, tuple[Hashable, ...]] = {}  # k -> value, when k's first mop is a read
    appends: dict[Hashable, set[Hashable]] = {}  # k -> what this txn appends to k
    for f, k, v in t.mops:
        if f == "append":
            appends.setdefault(k, set()).add(v)
    # k -> element -> the first read (mop index, value) holding an element this txn appends
    # to k: one C-level intersection per read, not a scan of every read per append.
    future: dict[Hashable, dict[Hashable, tuple[int, tuple[Hashable, ...]]]] = {}
    for i, (f, k, v) in enumerate(t.mops):
        if f == "append":
            full, state = known.get(k, (False, ()))
            if type(state) is list:
                state.append(v)
            else:
                known[k] = (full, [*state, v])
            if k in first_read:
                lost.setdefault((k, first_read.pop(k)), []).append(t)
            hit = future.get(k, {}).get(v)
            if hit is not None:
                j, earlier = hit
                report(Anomaly(
                    "future-read",
                    f"T{t.id}'s micro-op {j} read key {fmt(k)} as {fmt(earlier)}, which holds "
                    f"{fmt(v)}, yet T{t.id} appends {fmt(v)} to {fmt(k)} only later (micro-op "
                    f"{i}): it read its own future write",
                    (t.id,),
                    {"key": k, "mop": j, "element": v},
                ))
            continue
        got: tuple[Hashable, ...] = () if v is None else v
        if k in known:
            full, state = known[k]
            n = len(state)  # lengths first: each comparison costs at most len(got)
            if full:
                ok = len(got) == n and got == tuple(state)
            else:
                ok = len(got) >= n and got[len(got) - n:] == tuple(state)
            if not ok:
                s = tuple(state)
                want = fmt(s) if full else "[... " + " ".join(fmt(x) for x in s) + "]"
                report(Anomaly(
                    "internal",
                    f"T{t.id}'s micro-op {i} read key {fmt(k)} as {fmt(got)}, but its own earlier "
                    f"micro-ops on {fmt(k)} mean it must read {want}",
                    (t.id,),
                    {"key": k, "mop": i, "read": list(got), "expected": want},
                ))
        else:
            first_read[k] = got
        ahead = appends.get(k)
        if got and ahead:
            hits = ahead.intersection(got)
            if hits:
                fk = future.setdefault(k, {})
                for x in hits:
                    fk.setdefault(x, (i, got))
        known[k] = (True, got)
