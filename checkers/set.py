"""Set checker: every acknowledged element stays, nothing appears twice or from nowhere.

A simplified form of Jepsen's ``set-full``. The history holds ``add`` ops whose
value is one element (an int; the set workload adds each element at most
once) and ``read`` ops whose ``ok`` completion value is the whole set as a list
(``None`` reads as empty). A set, unlike a register, shows a duplicated or a
lost write directly: it is the checker for "a retried write was applied twice".

"Before" and "after" are history order (the harness's monotonic clock; ties
keep the order the events were recorded in). What is judged — every kind is
an anomaly, and all but ``stale`` on a non-linearizable set make the history
invalid:

- ``duplicated``: an element appears more than once in one ok read (one
  anomaly per element, at the first read that shows it twice).
- ``unexpected``: a read holds an element no ``add`` was ever invoked with
  (such an element is not required to stay).
- ``premature``: a read that completed before the element's add was even
  invoked holds it.
- ``failed-add-seen``: a read holds an element whose every add *failed*:
  ``fail`` promises the add did not happen.
- ``lost`` / ``stale``: an element becomes *known* at the earlier of its add's
  ok completion and the completion of the first ok read that showed it. Every
  ok read that *began* after that must hold it. An element absent from such
  a read is ``stale`` if a read that completed after the last read lacking it
  holds it again, else ``lost``. Both break linearizability; with
  ``linearizable=False`` (a set that promises only eventual visibility) a
  stale element is counted and listed, not judged.
- ``malformed-read``: an ok read whose value is not a list (it is then not
  used as an observation).

Not anomalies: adds that are ``info`` (or never completed) and never show up
(they may not have happened); such adds that do show up count as
``recovered``.

The verdict is ``"unknown"`` when nothing is wrong but the history cannot
vouch for the acknowledged adds: no ok read at all, or none began after the
last add completed, so the end state of the set was never observed
(``never_read`` counts acknowledged elements no read began after).

Cost: one pass over the history; per ok read a few C-level set operations
over the read's elements (build the read's set, check that it holds every
element known when the read began, take the elements it shows for the first
time). Elements become known in a fixed order, so "known when the read
began" is a prefix of one insertion-ordered dict, remembered as its length. Per-element Python
work happens only for elements seen for the first time and for absences, so a
valid history costs O(n + total size of all reads) at C speed. (A set
workload's reads grow with the run: their total size, not the op count, is
what a long run pays for; bench/set_checker.py measures it.)

Reports stay readable on a broken run: at most ``max_anomalies`` anomalies per
kind are listed (``details["truncated"]`` says how many more there were); the
counts in ``details`` are complete. ``details["first_evidence_s"]`` is when
(seconds into the run) the first invalidating op completed: how quickly the
run caught the bug.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from checkers.core import UNKNOWN, Anomaly, Result
from harness.history import FAIL, INVOKE, NEMESIS, OK, History, Op

__all__ = ["SetChecker", "check_set"]

LIST_CAP = 100  # elements listed per kind in details


def _key(x: Any) -> Hashable:
    """An element as a set member: itself, or its repr when unhashable."""
    return x if isinstance(x, Hashable) else repr(x)


def _as_set(value: list[Any]) -> tuple[set[Hashable], list[Hashable]]:
    """The read's elements as a set (C speed), and as a list of keys."""
    try:
        return set(value), value
    except TypeError:  # an unhashable element: not from this workload, but judge it anyway
        keys = [_key(x) for x in value]
        return set(keys), keys


def _order(k: Hashable) -> tuple[bool, int, str]:
    """Ints in numeric order first, then anything else by repr."""
    return (not isinstance(k, int), k if isinstance(k, int) else 0, repr(k))


def _t(ns: int) -> str:
    return f"{ns / 1e9:.3f}s"


@dataclass
class _Element:
    """What the history says about one element's adds."""

    adds: list[tuple[Op, Op | None]] = field(default_factory=list)

    @property
    def first(self) -> tuple[Op, Op | None]:
        return self.adds[0]

    def ok_add(self) -> tuple[Op, Op] | None:
        oks = [(inv, c) for inv, c in self.adds if c is not None and c.type == OK]
        return min(oks, key=lambda p: p[1].time_ns) if oks else None

    def all_failed(self) -> bool:
        return all(c is not None and c.type == FAIL for _, c in self.adds)

    def describe(self) -> str:
        inv, comp = self.first
        outcome = "never completed" if comp is None else f"{comp.type} at {_t(comp.time_ns)}"
        return f"add op {inv.index} (invoked {_t(inv.time_ns)}, {outcome})"

    def op_indices(self) -> list[int]:
        inv, comp = self.first
        return [inv.index] + ([comp.index] if comp is not None else [])


@dataclass(frozen=True)
class _Read:
    inv: Op
    comp: Op

    @property
    def ops(self) -> list[int]:
        return [self.inv.index, self.comp.index]

    def describe(self) -> str:
        return (f"read op {self.inv.index} (process {self.inv.process}, invoked "
                f"{_t(self.inv.time_ns)}, completed {_t(self.comp.time_ns)})")


class _Findings:
    """Anomalies by kind, capped per kind, with the earliest invalidating time."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.kept: dict[str, list[Anomaly]] = {}
        self.count: dict[str, int] = {}
        self.first_ns: int | None = None

    def add(self, kind: str, explanation: str, ops: list[int], at_ns: int, invalid: bool,
            **data: Any) -> None:
        self.count[kind] = self.count.get(kind, 0) + 1
        if invalid and (self.first_ns is None or at_ns < self.first_ns):
            self.first_ns = at_ns
        kept = self.kept.setdefault(kind, [])
        if len(kept) < self.cap:
            kept.append(Anomaly(kind, explanation, tuple(sorted(set(ops))),
                                {"time_s": round(at_ns / 1e9, 6), **data}))


@dataclass(frozen=True)
class SetChecker:
    """A Checker for the set workload (see the module docstring for the rules)."""

    linearizable: bool = True
    max_anomalies: int = 20

    def check(self, test: Mapping[str, Any], history: History, out_dir: Path | None) -> Result:
        return check_set(history, linearizable=self.linearizable,
                         max_anomalies=self.max_anomalies)


def _adds(history: History) -> tuple[dict[Hashable, _Element], dict[str, int]]:
    elements: dict[Hashable, _Element] = {}
    counts = {"add_invocations": 0, "acknowledged": 0, "failed": 0, "indeterminate": 0}
    for inv, comp in history.pairs():
        if inv.process == NEMESIS or inv.f != "add":
            continue
        counts["add_invocations"] += 1
        elements.setdefault(_key(inv.value), _Element()).adds.append((inv, comp))
        kind = comp.type if comp is not None else "info"
        counts[{"ok": "acknowledged", "fail": "failed"}.get(kind, "indeterminate")] += 1
    return elements, counts


class _Sweep:
    """The state of one pass over the history (see the module docstring)."""

    def __init__(self, elements: dict[Hashable, _Element], found: _Findings) -> None:
        self.elements = elements
        self.found = found
        self.failed = {k for k, el in elements.items() if el.all_failed()}
        self.invoked: set[Hashable] = set()
        # element -> its rank in the order elements became known (dicts keep that order)
        self.known: dict[Hashable, int] = {}
        self.via_read: dict[Hashable, int] = {}  # element -> read that made it known
        self.reads: list[_Read] = []  # ok, well-formed reads in completion order
        self.open: dict[Any, tuple[int, Op]] = {}  # process -> (known count at invoke, op)
        self.first_gap: dict[Hashable, int] = {}
        self.last_gap: dict[Hashable, int] = {}
        self.missing: Counter[Hashable] = Counter()
        self.gapped: set[Hashable] = set()
        self.last_held: dict[Hashable, int] = {}
        self.unexpected: dict[Hashable, list[int]] = {}
        self.dup_first: dict[Hashable, tuple[int, int]] = {}  # element -> (read, copies)
        self.dup_reads: Counter[Hashable] = Counter()  # element -> reads holding it twice+
        self.reads_with_dups = 0
        self.reads_total = 0
        self.max_size = 0
        self.last_add_done: Op | None = None
        self.last_read_began: tuple[int, int] | None = None  # (history index, known count)

    def run(self, history: History) -> None:
        for pos, o in enumerate(history):
            if o.process == NEMESIS:
                continue
            if o.f == "add":
                if o.type == INVOKE:
                    self.invoked.add(_key(o.value))
                    continue
                self.last_add_done = o
                inv = history.invocation(pos)
                if o.type == OK and inv is not None:
                    self._know(_key(inv.value))
            elif o.f == "read":
                if o.type == INVOKE:
                    self.reads_total += 1
                    self.open[o.process] = (len(self.known), o)
                    continue
                began = self.open.pop(o.process, None)
                if began is not None and o.type == OK:
                    self._read(began[0], began[1], o)

    def _know(self, k: Hashable) -> None:
        if k not in self.known:
            self.known[k] = len(self.known)

    def _read(self, n_known: int, inv: Op, comp: Op) -> None:
        value = [] if comp.value is None else comp.value
        r = _Read(inv, comp)
        if not isinstance(value, list):
            self.found.add("malformed-read", f"{r.describe()} returned {value!r:.80}, not a list "
                           "of elements.", r.ops, comp.time_ns, True)
            return
        i = len(self.reads)
        self.reads.append(r)
        if self.last_read_began is None or inv.index > self.last_read_began[0]:
            self.last_read_began = (inv.index, n_known)
        held, keys = _as_set(value)
        self.max_size = max(self.max_size, len(keys))
        if len(held) < len(keys):
            self.reads_with_dups += 1
            for k, n in Counter(keys).items():
                if n > 1:
                    self.dup_reads[k] += 1
                    self.dup_first.setdefault(k, (i, n))
        if n_known and not held.issuperset(islice(self.known, n_known)):
            rank = self.known
            gone = {k for k in rank.keys() - held if rank[k] < n_known}
            self.missing.update(gone)
            self.last_gap.update(dict.fromkeys(gone, i))
            for k in gone.difference(self.gapped):
                self.first_gap[k] = i
            self.gapped |= gone
        if self.gapped:
            self.last_held.update(dict.fromkeys(self.gapped.intersection(held), i))
        for k in held.difference(self.known):
            self._first_sight(k, i, r)

    def _first_sight(self, k: Hashable, i: int, r: _Read) -> None:
        el = self.elements.get(k)
        if el is None:  # never added: reported once, with every read that shows it
            self.unexpected.setdefault(k, []).append(i)
            return
        self._know(k)
        self.via_read[k] = i
        if k not in self.invoked:
            self.found.add("premature", f"{r.describe()} returned element {k!r} before its "
                           f"{el.describe()} was invoked.", r.ops + el.op_indices(),
                           r.comp.time_ns, True, element=k)
        if k in self.failed:
            self.found.add("failed-add-seen", f"Element {k!r} took effect although its "
                           f"{el.describe()} failed: {r.describe()} returned it.",
                           r.ops + el.op_indices(), r.comp.time_ns, True, element=k)

    def judge_duplicates(self) -> None:
        """One anomaly per element some read held more than once, at its first such read."""
        for k, (i, n) in sorted(self.dup_first.items(), key=lambda kv: (kv[1][0], _order(kv[0]))):
            r = self.reads[i]
            el = self.elements.get(k)
            add = f"its {el.describe()}" if el is not None else "it was never added"
            more = self.dup_reads[k] - 1
            later = f" (and {more} later read(s) hold it more than once too)" if more else ""
            self.found.add("duplicated", f"Element {k!r} was applied more than once: "
                           f"{r.describe()} holds it {n} times{later}; {add}.",
                           r.ops + (el.op_indices() if el is not None else []), r.comp.time_ns,
                           True, element=k, copies=n, reads=more + 1)

    def judge_gaps(self, linearizable: bool) -> dict[str, list[Hashable]]:
        """One lost or stale anomaly per element that some read lacked after it was known."""
        out: dict[str, list[Hashable]] = {"lost": [], "stale": []}
        for k in sorted(self.gapped, key=lambda e: (self.first_gap[e], _order(e))):
            again = self.last_held.get(k, -1)
            back = again > self.last_gap[k]
            kind = "stale" if back else "lost"
            out[kind].append(k)
            gap, last = self.reads[self.first_gap[k]], self.reads[self.last_gap[k]]
            how, known_ns, via = self._known_how(k)
            n = self.missing[k]
            el = self.elements[k]
            others = f" and {n - 1} other read(s) beginning after it" if n > 1 else ""
            lack = "lack" if n > 1 else "lacks"
            ops = el.op_indices() + via + gap.ops + last.ops
            if back:
                text = (f"Element {k!r} went missing and came back: {how}, yet "
                        f"{gap.describe()}{others} {lack} it, while "
                        f"{self.reads[again].describe()} holds it again.")
                ops += self.reads[again].ops
            else:
                text = (f"Element {k!r} was lost: {how}, yet {gap.describe()}{others} "
                        f"{lack} it, and no later read shows it again.")
            self.found.add(kind, text, ops, gap.comp.time_ns, kind == "lost" or linearizable,
                           element=k, known_s=round(known_ns / 1e9, 6), missing_reads=n)
        return out

    def _known_how(self, k: Hashable) -> tuple[str, int, list[int]]:
        i = self.via_read.get(k)
        if i is not None:
            r = self.reads[i]
            return f"{r.describe()} showed it", r.comp.time_ns, r.ops
        el = self.elements[k]
        acked = el.ok_add()
        assert acked is not None  # known, not through a read: acknowledged
        return f"its {el.describe()} was acknowledged", acked[1].time_ns, [
            acked[0].index, acked[1].index]

    def never_read(self) -> int:
        """Acknowledged elements that became known after the last ok read began."""
        start = len(self.known) if self.last_read_began is None else self.last_read_began[1]
        return sum(1 for k in islice(self.known, start, None) if k not in self.via_read)


def check_set(history: History, linearizable: bool = True, max_anomalies: int = 20) -> Result:
    """Judge a set history: see the module docstring."""
    elements, counts = _adds(history)
    found = _Findings(max_anomalies)
    sw = _Sweep(elements, found)
    sw.run(history)
    for k, where in sw.unexpected.items():
        first = sw.reads[where[0]]
        found.add("unexpected", f"Element {k!r} was never added, yet {first.describe()} "
                  f"returned it ({len(where)} read(s) in all).", first.ops, first.comp.time_ns,
                  True, element=k, reads=len(where))
    sw.judge_duplicates()
    gaps = sw.judge_gaps(linearizable)
    recovered = sum(1 for k in sw.via_read
                    if elements[k].ok_add() is None and k not in sw.failed)
    never_read = sw.never_read()
    details: dict[str, Any] = {
        "attempted": len(elements),
        **counts,
        "reads": sw.reads_total,
        "ok_reads": len(sw.reads),
        "recovered": recovered,
        "never_read": never_read,
        "lost": len(gaps["lost"]),
        "stale": len(gaps["stale"]),
        "premature": found.count.get("premature", 0),
        "failed_seen": found.count.get("failed-add-seen", 0),
        "duplicated": len(sw.dup_first),
        "duplicated_reads": sw.reads_with_dups,
        "unexpected": len(sw.unexpected),
        "malformed_reads": found.count.get("malformed-read", 0),
        "max_read_size": sw.max_size,
        "lost_elements": _listed(gaps["lost"]),
        "stale_elements": _listed(gaps["stale"]),
        "duplicated_elements": _listed(sw.dup_first),
        "unexpected_elements": _listed(sw.unexpected),
        "first_evidence_s": None if found.first_ns is None else round(found.first_ns / 1e9, 6),
    }
    truncated = {kind: n - len(found.kept.get(kind, [])) for kind, n in found.count.items()
                 if n > len(found.kept.get(kind, []))}
    if truncated:
        details["truncated"] = truncated
    anomalies = tuple(a for kept in found.kept.values() for a in kept)
    if found.first_ns is not None:
        return Result(False, anomalies, details)
    reason = _unknown_reason(sw, never_read)
    if reason:
        details["reason"] = reason
        return Result(UNKNOWN, anomalies, details)
    return Result(True, anomalies, details)


def _listed(keys: Iterable[Hashable]) -> list[Hashable]:
    return sorted(keys, key=_order)[:LIST_CAP]


def _unknown_reason(sw: _Sweep, never_read: int) -> str:
    if not sw.reads:
        return "no read succeeded, so no element was ever observed"
    done = sw.last_add_done
    assert sw.last_read_began is not None
    if done is not None and sw.last_read_began[0] < done.index:
        return (f"no ok read began after the last add completed (at {_t(done.time_ns)}), so "
                "the final state of the set was never observed")
    if never_read:
        return f"{never_read} acknowledged element(s) were never read afterwards"
    return ""
