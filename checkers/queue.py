"""Queue checker: a partitioned log (the Kafka pattern) loses, doubles or reorders nothing.

Jepsen's Kafka checker (``jepsen.tests.kafka``) is the anchor: the anomaly
classes carry its names.

History op shapes (client ops; anything else is ignored):

- ``send``: invoke value ``[key, value]`` (``value`` unique across the run);
  ``ok`` completion value ``[partition, offset]`` — where the queue put it.
  ``fail`` promises it was not appended; ``info`` may or may not have been.
- ``poll``: invoke value ``{"group": g | None, "drain": bool, ...}`` (or
  ``None``: no group, not a drain); ``ok`` completion value
  ``{partition: [[offset, value], ...], ...}`` (partition keys may be JSON
  strings of ints). ``drain: true`` marks the final polls, made after
  healing, that read every partition from offset 0.
- ``commit``: invoke value ``{"group": g, "offsets": {partition: offset}}``.
  Recorded and counted; commits are judged by what the group's later polls
  show (a commit past what was delivered shows up as a ``poll-skip``).
- ``assign`` / ``subscribe`` / ``join``: a consumer's assignment changed; its
  positions legitimately jump, so per-consumer order checks restart.

The *version order* of a partition is the sorted set of offsets that any ok
send or ok poll places a value at; a message's *rank* is its index there
(offsets are dense in our queue, so rank = offset, but gaps are tolerated).
What is judged — every kind makes the history invalid:

- ``inconsistent-offsets``: one partition/offset holds two different values
  (two polls, or a send's acknowledgement and a poll, disagree).
- ``duplicate``: one value sits at two partition/offset positions.
- ``lost-write``: an acknowledged send whose value no poll ever returned,
  although some poll returned a later offset of its partition.
- ``unseen``: an acknowledged send absent from the final drain (and not
  already a ``lost-write``).
- ``nonmonotonic-send``: one producer process's consecutive acknowledged
  sends to a partition got offsets that do not increase.
- ``partition-order``: a send invoked after another send to the same
  partition was acknowledged got a lower offset (appends are linearizable).
- ``nonmonotonic-poll`` / ``poll-skip``: a consumer's poll of a partition
  starts at or before the last rank it already polled there / beyond the next
  rank (``int-nonmonotonic-poll`` / ``int-poll-skip``: the same inside one
  poll). Per process, restarted by an assignment change; drain polls are a
  session of their own.
- ``poll-skip`` (group): a consumer group was delivered offsets of a
  partition beyond an offset some poll showed to exist, but no member of the
  group was ever delivered that offset — it skipped it, e.g. after a commit
  went past what was delivered and the partition moved to another member.
- ``malformed``: an ok send/poll whose value has the wrong shape, or (when the
  topic's partition count P is known: ``partitions=``, or the run's
  ``--opt partitions=P``) that names a partition outside ``0..P-1``.

Not anomalies: ``info`` sends that never show up; a group re-delivering
offsets after a rebalance (at-least-once).

The verdict is ``"unknown"`` when nothing is wrong but acknowledged sends
exist and no ok drain poll does, or (P known) when no ok drain poll covered
some partition: their fate was never observed.

``as_queue_ops`` translates a single-partition, single-consumer history into
the linearizability checker's ``fifo-queue`` / ``unordered-queue`` op shapes
(send -> enqueue, a non-drain poll of at most one message -> dequeue), so the
two checkers can judge the same run and cross-check each other.

Cost: two passes; per polled message a few dict operations, so a valid
history costs O(n + messages polled) (bench/queue_bench.py times 1M messages).
At most ``max_anomalies`` anomalies are kept per kind; counts are complete.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from checkers.core import UNKNOWN, Anomaly, Result
from checkers.queue_lanes import LANES_FILE, PartitionLane, render_lanes, summary_rows
from harness.history import INVOKE, NEMESIS, OK, History, Op, no_gc

__all__ = ["QueueChecker", "check_queue", "KINDS", "as_queue_ops", "run_partitions"]

KINDS = (
    "inconsistent-offsets", "duplicate", "lost-write", "unseen", "nonmonotonic-send",
    "partition-order", "nonmonotonic-poll", "poll-skip", "int-nonmonotonic-poll",
    "int-poll-skip", "malformed",
)
RESETS = frozenset({"assign", "subscribe", "join"})
LIST_CAP = 50


_PLAIN = frozenset({int, str, float, bool, type(None)})


def _key(x: Any) -> Hashable:
    """A value as a dict key: itself, lists as tuples, anything unhashable as its repr."""
    t = type(x)
    if t in _PLAIN:
        return x  # type: ignore[no-any-return]
    if t is list or t is tuple:
        return tuple(_key(y) for y in x)
    return x if isinstance(x, Hashable) else repr(x)


def _part(p: Any) -> Hashable:
    """A partition id: JSON object keys arrive as strings; ints are ints."""
    if isinstance(p, str) and p.lstrip("-").isdigit():
        return int(p)
    return _key(p)


@dataclass(frozen=True, slots=True)
class _Poll:
    inv: Op
    comp: Op
    group: Hashable
    drain: bool
    msgs: dict[Hashable, list[tuple[int, Hashable]]]

    def describe(self) -> str:
        who = "drain poll" if self.drain else "poll"
        g = f", group {self.group!r}" if self.group is not None else ""
        return f"{who} op {self.comp.index} (process {self.inv.process}{g})"


@dataclass(slots=True)  # not frozen: one per acknowledged send, and frozen __init__ is slow
class _Send:
    pos: int  # history position of the invocation
    inv: Op
    comp: Op
    part: Hashable
    offset: int
    value: Hashable

    def describe(self) -> str:
        return (f"send op {self.comp.index} (process {self.inv.process}) of {self.value!r} "
                f"at partition {self.part!r} offset {self.offset}")


@dataclass
class _Found:
    cap: int
    kept: dict[str, list[Anomaly]] = field(default_factory=dict)
    count: Counter[str] = field(default_factory=Counter)

    def add(self, kind: str, text: str, ops: list[int], **data: Any) -> None:
        self.count[kind] += 1
        kept = self.kept.setdefault(kind, [])
        if len(kept) < self.cap:
            kept.append(Anomaly(kind, text, tuple(dict.fromkeys(ops)), data))


class _Scan:
    """Pass 1: what every ok send and poll says sits where."""

    def __init__(self, found: _Found, partitions: int | None = None) -> None:
        self.found = found
        self.partitions = partitions
        self.at: dict[Hashable, dict[int, tuple[Hashable, int]]] = {}  # part -> off -> (v, op)
        self.pos_of: dict[Hashable, tuple[Hashable, int, int]] = {}  # value -> (part, off, op)
        self.conflicts: dict[tuple[Hashable, int], dict[Hashable, int]] = {}
        self.dups: dict[Hashable, dict[tuple[Hashable, int], int]] = {}
        self.sends: list[_Send] = []
        self.events: list[_Poll | Op] = []  # ok polls and assignment changes, in order
        self.polled: dict[Hashable, dict[int, int]] = {}  # part -> off -> first poll op
        self.polled_values: set[Hashable] = set()
        self.counts: Counter[tuple[str, str]] = Counter()

    def run(self, history: History) -> None:
        open_: dict[Any, tuple[int, Op]] = {}
        for pos, o in enumerate(history):
            if o.process == NEMESIS:
                continue
            if o.type == INVOKE:
                open_[o.process] = (pos, o)
                if o.f in RESETS:
                    self.events.append(o)
                continue
            began = open_.pop(o.process, None)
            if began is None:
                continue
            ipos, inv = began
            self.counts[o.f, o.type] += 1
            if o.type != OK:
                continue
            if o.f == "send":
                self._send(ipos, inv, o)
            elif o.f == "poll":
                self._poll(inv, o)

    def _place(self, part: Hashable, off: int, v: Hashable, op: int) -> None:
        at = self.at.get(part)
        if at is None:
            at = self.at[part] = {}
        prev = at.get(off)
        if prev is None:
            at[off] = (v, op)
        elif prev[0] != v:
            self.conflicts.setdefault((part, off), {prev[0]: prev[1]}).setdefault(v, op)
        where = self.pos_of.get(v)
        if where is None:
            self.pos_of[v] = (part, off, op)
        elif where[0] != part or where[1] != off:
            self.dups.setdefault(v, {(where[0], where[1]): where[2]}).setdefault((part, off), op)

    def _send(self, ipos: int, inv: Op, comp: Op) -> None:
        iv, cv = inv.value, comp.value
        if not (type(iv) in (list, tuple) and len(iv) == 2 and type(cv) in (list, tuple)
                and len(cv) == 2 and type(cv[1]) is int):
            self.found.add("malformed", f"send op {comp.index} was invoked with {iv!r:.60} and "
                           f"completed with {cv!r:.60}: expected [key, value] and "
                           "[partition, offset].", [inv.index, comp.index])
            return
        s = _Send(ipos, inv, comp, _part(cv[0]), cv[1], _key(iv[1]))
        if not self._known(s.part):
            self.found.add("malformed", f"{s.describe()}: the topic has partitions "
                           f"0..{self.partitions_top()} only.", [inv.index, comp.index],
                           partition=s.part)
            return
        self.sends.append(s)
        self._place(s.part, s.offset, s.value, comp.index)

    def _poll(self, inv: Op, comp: Op) -> None:
        iv = inv.value if isinstance(inv.value, dict) else {}
        msgs = self._messages(comp)
        if msgs is None:
            self.found.add("malformed", f"poll op {comp.index} completed with "
                           f"{comp.value!r:.80}: expected {{partition: [[offset, value], ...]}}.",
                           [inv.index, comp.index])
            return
        bad = [part for part in msgs if not self._known(part)]
        if bad:
            self.found.add("malformed", f"poll op {comp.index} returned partition {bad[0]!r}: "
                           f"the topic has partitions 0..{self.partitions_top()} only.",
                           [inv.index, comp.index], partition=bad[0])
            return
        p = _Poll(inv, comp, _key(iv.get("group")), bool(iv.get("drain")), msgs)
        self.events.append(p)
        values = self.polled_values
        for part, ms in msgs.items():
            seen = self.polled.get(part)
            if seen is None:
                seen = self.polled[part] = {}
            for off, v in ms:
                self._place(part, off, v, comp.index)
                seen.setdefault(off, comp.index)
                values.add(v)

    def _known(self, part: Hashable) -> bool:
        return self.partitions is None or (type(part) is int and 0 <= part < self.partitions)

    def partitions_top(self) -> int:
        return (self.partitions or 0) - 1

    @staticmethod
    def _messages(comp: Op) -> dict[Hashable, list[tuple[int, Hashable]]] | None:
        val = comp.value
        if val is None:
            return {}
        if not isinstance(val, dict):
            return None
        out: dict[Hashable, list[tuple[int, Hashable]]] = {}
        for k, ms in val.items():
            if not isinstance(ms, list):
                return None
            try:
                got = [(o, v if type(v) in _PLAIN else _key(v)) for o, v in ms]
            except (TypeError, ValueError):
                return None
            if not all(type(o) is int for o, _ in got):
                return None
            out[_part(k)] = got
        return out


class QueueChecker:
    """A Checker for the queue workload (rules in the module docstring)."""

    def __init__(self, max_anomalies: int = 20) -> None:
        self.max_anomalies = max_anomalies

    def check(self, test: Mapping[str, Any], history: History, out_dir: Path | None) -> Result:
        """With an ``out_dir``, also writes ``queue/lanes.html`` there (checkers.queue_lanes)."""
        with no_gc():
            result, sc = _check(history, self.max_anomalies, run_partitions(test))
        if out_dir is None or not sc.at:
            return result
        lanes = _lanes(sc)
        render_lanes(Path(out_dir) / "queue" / LANES_FILE, lanes, result.anomalies)
        return Result(result.valid, result.anomalies, {
            **result.details, "lanes": f"queue/{LANES_FILE}",
            "partition_lanes": summary_rows(lanes, result.anomalies)})


def _lanes(sc: _Scan) -> dict[Hashable, PartitionLane]:
    lanes: dict[Hashable, PartitionLane] = {}

    def lane(part: Hashable) -> PartitionLane:
        got = lanes.get(part)
        if got is None:
            got = lanes[part] = PartitionLane(part)
        return got

    for s in sc.sends:
        if s.offset >= 0:
            lane(s.part).acked.add(s.offset)
    for ev in sc.events:
        if isinstance(ev, _Poll):
            for part, ms in ev.msgs.items():
                into = lane(part).drained if ev.drain else lane(part).polled
                into.update(off for off, _ in ms if off >= 0)
    return lanes


def run_partitions(test: Mapping[str, Any]) -> int | None:
    """The run's partition count (``--opt partitions=P``), None when the run did not set it."""
    opts = test.get("system_opts")
    raw = opts.get("partitions") if isinstance(opts, Mapping) else None
    try:
        p = int(raw) if raw is not None else None
    except (TypeError, ValueError):
        return None
    return p if p is not None and p >= 1 else None


def _ranks(at: dict[Hashable, dict[int, tuple[Hashable, int]]]) -> dict[Hashable, dict[int, int]
                                                                        | None]:
    """Per partition, offset -> rank in the version order; None when rank == offset."""
    out: dict[Hashable, dict[int, int] | None] = {}
    for part, offs in at.items():
        if min(offs) == 0 and max(offs) == len(offs) - 1:
            out[part] = None
        else:
            out[part] = {o: i for i, o in enumerate(sorted(offs))}
    return out


def _judge_positions(sc: _Scan, found: _Found) -> None:
    for (part, off), vals in sc.conflicts.items():
        shown = ", ".join(f"{v!r} (op {op})" for v, op in vals.items())
        found.add("inconsistent-offsets", f"Partition {part!r} offset {off} holds "
                  f"{len(vals)} different values: {shown}.", list(vals.values()),
                  partition=part, offset=off, values=list(vals)[:LIST_CAP])
    for v, where in sc.dups.items():
        shown = ", ".join(f"partition {p!r} offset {o} (op {op})" for (p, o), op in where.items())
        found.add("duplicate", f"Value {v!r} sits at {len(where)} positions: {shown}.",
                  list(where.values()), value=v,
                  positions=[[p, o] for p, o in where][:LIST_CAP])


def _judge_sends(sc: _Scan, found: _Found) -> None:
    last: dict[tuple[Any, Hashable], _Send] = {}
    by_part: dict[Hashable, list[_Send]] = {}
    for s in sc.sends:  # history order of completion
        k = (s.inv.process, s.part)
        prev = last.get(k)
        if prev is not None and s.offset <= prev.offset:
            found.add("nonmonotonic-send", f"Process {s.inv.process}'s {s.describe()} came "
                      f"after its {prev.describe()}, yet the offset did not increase.",
                      [prev.comp.index, s.inv.index, s.comp.index], partition=s.part,
                      offsets=[prev.offset, s.offset])
        last[k] = s
        by_part.setdefault(s.part, []).append(s)
    for sends in by_part.values():
        done = [s.comp.index for s in sends]  # completion op indices rise in history order
        best: list[_Send] = []
        for s in sends:
            best.append(s if not best or s.offset > best[-1].offset else best[-1])
        for s in sends:
            n = bisect_left(done, s.inv.index)
            if n and best[n - 1].offset > s.offset:
                a = best[n - 1]
                found.add("partition-order", f"{s.describe()} was invoked after {a.describe()} "
                          "was acknowledged, yet got a lower offset.",
                          [a.inv.index, a.comp.index, s.inv.index, s.comp.index],
                          partition=s.part, offsets=[a.offset, s.offset])


def _judge_polls(sc: _Scan, found: _Found,
                 ranks: dict[Hashable, dict[int, int] | None]) -> dict[tuple[Hashable, Hashable],
                                                                       dict[int, int]]:
    """Per-consumer order; returns per (group, partition) the offsets delivered -> first op."""
    last: dict[tuple[Any, bool, Hashable], tuple[int, int, _Poll]] = {}  # -> (rank, off, poll)
    delivered: dict[tuple[Hashable, Hashable], dict[int, int]] = {}
    for ev in sc.events:
        if isinstance(ev, Op):
            for k in [k for k in last if k[0] == ev.process]:
                del last[k]
            continue
        for part, ms in ev.msgs.items():
            if not ms:
                continue
            rk = ranks[part]
            prev_r = -2
            prev_o = 0
            for off, _ in ms:
                r = off if rk is None else rk[off]
                if prev_r != -2 and r <= prev_r:
                    found.add("int-nonmonotonic-poll", f"{ev.describe()} returned partition "
                              f"{part!r} offset {off} after offset {prev_o}.",
                              [ev.inv.index, ev.comp.index], partition=part,
                              offsets=[prev_o, off])
                elif prev_r != -2 and r > prev_r + 1:
                    found.add("int-poll-skip", f"{ev.describe()} jumped from partition {part!r} "
                              f"offset {prev_o} to {off}, over {r - prev_r - 1} offset(s).",
                              [ev.inv.index, ev.comp.index], partition=part,
                              offsets=[prev_o, off])
                prev_r, prev_o = r, off
            _session(found, last, ev, part, ms, rk)
            if ev.group is not None and not ev.drain:
                d = delivered.setdefault((ev.group, part), {})
                for off, _ in ms:
                    d.setdefault(off, ev.comp.index)
    return delivered


def _session(found: _Found, last: dict[tuple[Any, bool, Hashable], tuple[int, int, _Poll]],
             ev: _Poll, part: Hashable, ms: list[tuple[int, Hashable]],
             rk: dict[int, int] | None) -> None:
    key = (ev.inv.process, ev.drain, part)
    first, end = ms[0][0], ms[-1][0]
    r0 = first if rk is None else rk[first]
    prev = last.get(key)
    if prev is not None:
        pr, po, pp = prev
        if r0 <= pr:
            found.add("nonmonotonic-poll", f"{ev.describe()} started partition {part!r} at "
                      f"offset {first}, not after offset {po} which {pp.describe()} of the "
                      "same consumer already returned.",
                      [pp.comp.index, ev.inv.index, ev.comp.index], partition=part,
                      offsets=[po, first])
        elif r0 > pr + 1:
            found.add("poll-skip", f"{ev.describe()} started partition {part!r} at offset "
                      f"{first}, skipping {r0 - pr - 1} offset(s) after offset {po} which "
                      f"{pp.describe()} of the same consumer returned last.",
                      [pp.comp.index, ev.inv.index, ev.comp.index], partition=part,
                      offsets=[po, first])
    last[key] = (end if rk is None else rk[end], end, ev)


def _judge_groups(sc: _Scan, found: _Found,
                  delivered: dict[tuple[Hashable, Hashable], dict[int, int]]) -> None:
    for (group, part), d in delivered.items():
        top = max(d)
        gap: list[int] = []
        for off in sorted(o for o in sc.polled.get(part, {}) if o < top):
            if off in d:
                if gap:
                    _group_skip(sc, found, group, part, gap, d, off)
                    gap = []
            else:
                gap.append(off)
        if gap:
            _group_skip(sc, found, group, part, gap, d, top)


def _group_skip(sc: _Scan, found: _Found, group: Hashable, part: Hashable, gap: list[int],
                d: dict[int, int], after: int) -> None:
    shown = sc.at[part][gap[0]][1]  # the first op (ok send or poll) placing it there
    found.add("poll-skip", f"Consumer group {group!r} skipped partition {part!r} offsets "
              f"{gap[0]}..{gap[-1]} ({len(gap)} offset(s) that op {shown} showed exist): no "
              f"member was delivered them, yet op {d[after]} delivered offset {after}.",
              [shown, d[after]], group=group, partition=part, offsets=[gap[0], gap[-1]],
              skipped=len(gap))


def _judge_losses(sc: _Scan, found: _Found) -> tuple[int, int, bool]:
    drains = [ev for ev in sc.events if isinstance(ev, _Poll) and ev.drain]
    drained: set[Hashable] = set()
    for ev in drains:
        for ms in ev.msgs.values():
            drained.update(v for _, v in ms)
    top = {part: max(offs) for part, offs in sc.polled.items() if offs}
    lost = unseen = 0
    for s in sc.sends:
        if s.value in sc.polled_values:
            if drains and s.value not in drained:
                unseen += 1
                found.add("unseen", f"{s.describe()} was acknowledged and polled, but the "
                          "final drain does not hold it.", [s.inv.index, s.comp.index],
                          partition=s.part, offset=s.offset, value=s.value)
            continue
        hi = top.get(s.part, -1)
        if hi > s.offset:
            lost += 1
            found.add("lost-write", f"{s.describe()} was acknowledged but never polled, "
                      f"although polls returned partition {s.part!r} up to offset {hi} "
                      f"(op {sc.polled[s.part][hi]}).",
                      [s.inv.index, s.comp.index, sc.polled[s.part][hi]],
                      partition=s.part, offset=s.offset, value=s.value)
        elif drains:
            unseen += 1
            found.add("unseen", f"{s.describe()} was acknowledged but the final drain does "
                      "not hold it.", [s.inv.index, s.comp.index], partition=s.part,
                      offset=s.offset, value=s.value)
    return lost, unseen, bool(drains)


def check_queue(history: History, max_anomalies: int = 20,
                partitions: int | None = None) -> Result:
    """Judge a queue history: see the module docstring. ``partitions``: the topic's P, when
    known (every partition must be drained, none outside 0..P-1 may appear)."""
    with no_gc():  # millions of acyclic records: the cyclic GC would rescan them repeatedly
        return _check(history, max_anomalies, partitions)[0]


def _check(history: History, max_anomalies: int, partitions: int | None
           ) -> tuple[Result, _Scan]:
    found = _Found(max_anomalies)
    sc = _Scan(found, partitions)
    sc.run(history)
    ranks = _ranks(sc.at)
    _judge_positions(sc, found)
    _judge_sends(sc, found)
    delivered = _judge_polls(sc, found, ranks)
    _judge_groups(sc, found, delivered)
    lost, unseen, drained = _judge_losses(sc, found)
    c = sc.counts
    details: dict[str, Any] = {
        "sends_ok": c["send", OK], "sends_fail": c["send", "fail"],
        "sends_info": c["send", "info"], "polls_ok": c["poll", OK], "commits_ok": c["commit", OK],
        "assignments": sum(1 for ev in sc.events if isinstance(ev, Op)),
        "partitions": len(sc.at),
        "messages_polled": sum(len(ms) for ev in sc.events if isinstance(ev, _Poll)
                               for ms in ev.msgs.values()),
        "distinct_values_polled": len(sc.polled_values),
        "drained": drained,
        "counts": {k: found.count.get(k, 0) for k in KINDS},
        "lost": lost, "unseen": unseen,
    }
    truncated = {k: n - len(found.kept.get(k, [])) for k, n in found.count.items()
                 if n > len(found.kept.get(k, []))}
    if truncated:
        details["truncated"] = truncated
    anomalies = tuple(a for k in KINDS for a in found.kept.get(k, []))
    if anomalies:
        return Result(False, anomalies, details), sc
    if sc.sends and not drained:
        details["reason"] = "acknowledged sends exist but no final drain poll succeeded"
        return Result(UNKNOWN, anomalies, details), sc
    if partitions is not None:
        details["partitions_expected"] = partitions
        covered = {part for ev in sc.events if isinstance(ev, _Poll) and ev.drain
                   for part in ev.msgs}
        missing = [p for p in range(partitions) if p not in covered]
        if missing and sc.sends:
            details["undrained_partitions"] = missing[:LIST_CAP]
            details["reason"] = (f"no final drain poll read partition(s) "
                                 f"{', '.join(map(str, missing[:10]))} of {partitions}")
            return Result(UNKNOWN, anomalies, details), sc
    return Result(True, anomalies, details), sc


def as_queue_ops(history: History) -> History:
    """The history as ``enqueue``/``dequeue`` ops for the fifo-queue models.

    Valid only for one partition read by one consumer (whose position is the
    queue's head) with polls of at most one message; drain polls and every
    other op are left out. Raises ``ValueError`` on a poll of several messages.
    """
    out: list[Op] = []
    opened: dict[Any, Op] = {}
    for o in history:
        if o.process == NEMESIS or o.f not in ("send", "poll"):
            continue
        if o.type == INVOKE:
            if o.f == "poll" and isinstance(o.value, dict) and o.value.get("drain"):
                continue
            opened[o.process] = o
            if o.f == "send":
                v = o.value[1] if isinstance(o.value, list | tuple) and len(o.value) == 2 else None
                out.append(o.with_(f="enqueue", value=_key(v)))
            else:
                out.append(o.with_(f="dequeue", value=None))
            continue
        inv = opened.pop(o.process, None)
        if inv is None:
            continue
        if inv.f == "send":
            out.append(o.with_(f="enqueue", value=_sent_value(inv)))
            continue
        value = None
        if o.type == OK:
            msgs = [m for ms in (o.value or {}).values() for m in ms]
            if len(msgs) > 1:
                raise ValueError(f"poll op {o.index} returned {len(msgs)} messages: the "
                                 "fifo-queue translation needs polls of at most one")
            value = _key(msgs[0][1]) if msgs else None
        out.append(o.with_(f="dequeue", value=value))
    return History(out, reindex=True)


def _sent_value(inv: Op) -> Hashable:
    v = inv.value
    return _key(v[1]) if isinstance(v, list | tuple) and len(v) == 2 else None
