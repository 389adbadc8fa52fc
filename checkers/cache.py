"""Cache consistency checker for the ``cache`` workload (a look-aside cache over a store).

Op shapes (``value`` is a dict; times are the harness's monotonic clock):

- ``write`` — invoke ``{"key": k, "value": v}``; the client writes the store,
  then invalidates the cache. ``ok`` = the store write happened, ``fail`` = it
  did not, ``info`` = unknown. Values are unique per key (the workload makes
  them so); ``None`` is reserved for "absent".
- ``read`` — invoke ``{"key": k}``; ok ``{"key": k, "value": v | None, ...}``
  read through the cache (a miss fills from the store). Optional fields:
  ``"hit": bool`` and ``"node": name`` (the cache node that answered) feed the
  load figures only.
- ``final-read`` — like ``read``, issued after the nemesis healed and a quiet
  period; ``store-read`` — ``{"key": k}`` → ``{"key": k, "value": v | None}``
  read from the source-of-truth store directly, also after healing.

Anomalies (each names its ops and makes the history invalid):

- ``never-written`` — a read (of any kind) returned a value no ``ok`` or
  ``info`` write of that key could have written: no write of it was invoked,
  only ``fail``-ed writes carried it, or its first write was invoked after
  the read completed.
- ``stale-read`` — bounded staleness Δ (``delta_ms``): a read returned ``v``
  although a write ``w'`` that certainly followed ``v``'s write in the store
  (``w'`` invoked after ``v``'s write completed; for ``None``, any write) had
  completed ``ok`` more than Δ before the read was invoked. Reported: the
  read, the earliest-completing such ``w'``, and the staleness (read
  invocation minus ``w'`` completion). A value written only by ``info``
  writes has no known completion and is never called stale (conservative).
- ``not-converged`` — after healing, the last ``ok`` ``final-read`` of a key
  through the cache differs from the last ``ok`` ``store-read`` of that key.

The verdict is ``unknown`` (when nothing above was found) if
``require_final`` and some key has a cache final read but no store read, or
there are no final reads at all. ``details`` carry counts, the staleness
distribution of all reads (even those within Δ), hits/misses and requests per
cache node with max/mean, and ``membership``: one row per membership change
the ``membership`` nemesis recorded (its completion's ``change``: the
registry epoch and members after it, the share of keys that changed owner
against the ideal — ``1/(N+1)`` for a join, ``1/N`` for a leave — and the new
ring's max/mean load), with the largest moved/ideal ratio.
"""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checkers.core import UNKNOWN, Anomaly, Result, Verdict
from harness.history import FAIL, INFO, NEMESIS, OK, History, Op

__all__ = ["CacheChecker", "check_cache", "membership_changes", "DEFAULT_DELTA_MS"]

DEFAULT_DELTA_MS = 1000
READS = ("read", "final-read", "store-read")


def _t(ns: int) -> str:
    return f"{ns / 1e9:.3f}s"


def _v(op: Op | None) -> dict[str, Any]:
    return op.value if op is not None and isinstance(op.value, dict) else {}


def _h(x: Any) -> Any:
    """A hashable stand-in for a JSON value."""
    if isinstance(x, (dict, list)):
        return repr(x)
    return x


@dataclass(frozen=True, slots=True)
class _Write:
    inv: Op
    comp: Op | None  # None: never completed (info by omission)

    @property
    def ok(self) -> bool:
        return self.comp is not None and self.comp.type == OK

    @property
    def done_ns(self) -> int | None:
        return self.comp.time_ns if self.ok and self.comp is not None else None


class _KeyWrites:
    """One key's writes, indexed for 'earliest completion among writes invoked after t'."""

    def __init__(self, writes: list[_Write]) -> None:
        self.by_value: dict[Any, list[_Write]] = defaultdict(list)
        for w in writes:
            self.by_value[_h(_v(w.inv).get("value"))].append(w)
        oks = sorted((w for w in writes if w.ok), key=lambda w: w.inv.time_ns)
        self.inv_ns = [w.inv.time_ns for w in oks]
        # suffix argmin of completion time over writes sorted by invocation
        self.suffix: list[_Write | None] = [None] * (len(oks) + 1)
        for i in range(len(oks) - 1, -1, -1):
            nxt = self.suffix[i + 1]
            cur = oks[i]
            better = nxt is None or (cur.done_ns or 0) <= (nxt.done_ns or 0)
            self.suffix[i] = cur if better else nxt

    def first_overwrite(self, after_ns: int | None) -> _Write | None:
        """The earliest-completing ok write invoked after ``after_ns`` (None: any)."""
        i = 0 if after_ns is None else bisect.bisect_right(self.inv_ns, after_ns)
        return self.suffix[i]


@dataclass(frozen=True)
class CacheChecker:
    """A Checker for the cache workload (rules in the module docstring)."""

    delta_ms: int = DEFAULT_DELTA_MS
    require_final: bool = True
    max_anomalies: int = 20

    def check(self, test: Mapping[str, Any], history: History, out_dir: Path | None) -> Result:
        return check_cache(history, self.delta_ms, self.require_final, self.max_anomalies)


class _Found:
    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.kept: list[Anomaly] = []
        self.count: Counter[str] = Counter()

    def add(self, kind: str, text: str, ops: list[Op], **data: Any) -> None:
        self.count[kind] += 1
        if self.count[kind] <= self.cap:
            self.kept.append(Anomaly(kind, text, tuple(sorted({o.index for o in ops})), data))


def check_cache(history: History, delta_ms: int = DEFAULT_DELTA_MS, require_final: bool = True,
                max_anomalies: int = 20) -> Result:
    if delta_ms < 0:
        raise ValueError(f"delta_ms must be >= 0, got {delta_ms}")
    pairs = [(i, c) for i, c in history.pairs() if i.process != NEMESIS]
    writes: dict[Any, list[_Write]] = defaultdict(list)
    reads: list[tuple[Op, Op]] = []
    for inv, comp in pairs:
        if inv.f == "write":
            writes[_h(_v(inv).get("key"))].append(_Write(inv, comp))
        elif inv.f in READS and comp is not None and comp.type == OK:
            reads.append((inv, comp))
    index = {k: _KeyWrites(ws) for k, ws in writes.items()}
    found = _Found(max_anomalies)
    staleness_ms: list[float] = []
    for inv, comp in reads:
        s = _judge_read(inv, comp, index, delta_ms, found)
        if s is not None:
            staleness_ms.append(s)
    conv = _convergence(reads, found)
    valid: Verdict = True
    if found.count:
        valid = False
    elif require_final and conv["unknown"]:
        valid = UNKNOWN
    details: dict[str, Any] = {
        "delta_ms": delta_ms,
        "writes": sum(len(w) for w in writes.values()),
        "ok_writes": sum(1 for ws in writes.values() for w in ws if w.ok),
        "reads": sum(1 for i, _ in reads if i.f == "read"),
        "anomaly_counts": dict(found.count),
        "staleness_ms": _dist(staleness_ms),
        "convergence": conv,
        "load": _load([c for i, c in reads if i.f == "read"]),
    }
    changes = membership_changes(history)
    if changes:
        ratios = [r["moved_over_ideal"] for r in changes if r.get("moved_over_ideal") is not None]
        details["membership_changes"] = len(changes)
        if ratios:
            details["moved_over_ideal_max"] = max(ratios)
        details["membership"] = changes
    if history and any(c is not None and c.type == FAIL for _, c in pairs):
        details["failed_ops"] = sum(1 for _, c in pairs if c is not None and c.type == FAIL)
    details["indeterminate_ops"] = sum(1 for _, c in pairs if c is None or c.type == INFO)
    return Result(valid, tuple(found.kept), details)


def _judge_read(inv: Op, comp: Op, index: dict[Any, _KeyWrites], delta_ms: int,
                found: _Found) -> float | None:
    """Checks one read; returns its staleness in ms (0 when fresh), None if never-written."""
    key = _v(inv).get("key")
    value = _v(comp).get("value")
    kw = index.get(_h(key))
    what = f"{inv.f} of {key!r} by process {inv.process} (op {inv.index}, {_t(inv.time_ns)}" \
           f"..{_t(comp.time_ns)}) returned {value!r}"
    if value is None:
        source_done: int | None = None  # "absent" was overwritten by any write
    else:
        cands = kw.by_value.get(_h(value), []) if kw else []
        live = [w for w in cands if w.comp is None or w.comp.type != FAIL]
        if not live:
            why = "only failed writes carried it" if cands else "no write of it was invoked"
            found.add("never-written", f"{what}: {why}.", [inv, comp, *[w.inv for w in cands]],
                      key=key, value=value)
            return None
        early = [w for w in live if w.inv.time_ns < comp.time_ns]
        if not early:
            w = min(live, key=lambda w: w.inv.time_ns)
            found.add("never-written", f"{what}, but its write (op {w.inv.index}) was invoked "
                      f"only at {_t(w.inv.time_ns)}, after the read completed.",
                      [inv, comp, w.inv], key=key, value=value)
            return None
        if any(not w.ok for w in early):
            return 0.0  # an info write of the value may have taken effect at any time
        source_done = max(w.done_ns or 0 for w in early)
    over = kw.first_overwrite(source_done) if kw else None
    if over is None or over.done_ns is None or over.done_ns >= inv.time_ns:
        return 0.0
    if _h(_v(over.inv).get("value")) == _h(value):
        return 0.0  # the same value written again is not newer (values should be unique)
    stale_ns = inv.time_ns - over.done_ns
    if stale_ns > delta_ms * 1_000_000:
        assert over.comp is not None
        new = _v(over.inv).get("value")
        found.add("stale-read", f"{what}, but write of {new!r} (op {over.inv.index}) had "
                  f"completed at {_t(over.done_ns)}, {stale_ns / 1e6:.0f} ms before the read "
                  f"began (bound {delta_ms} ms), and it certainly followed "
                  f"{'the key being absent' if value is None else 'the write of the value read'}.",
                  [inv, comp, over.inv, over.comp], key=key, value=value, newer=new,
                  staleness_ms=round(stale_ns / 1e6, 3))
    return stale_ns / 1e6


def _convergence(reads: list[tuple[Op, Op]], found: _Found) -> dict[str, Any]:
    cache: dict[Any, tuple[Op, Op]] = {}
    store: dict[Any, tuple[Op, Op]] = {}
    for inv, comp in reads:  # in invocation order: the last one wins
        key = _h(_v(inv).get("key"))
        if inv.f == "final-read":
            cache[key] = (inv, comp)
        elif inv.f == "store-read":
            store[key] = (inv, comp)
    missing = sorted((k for k in cache if k not in store), key=repr)
    diverged = 0
    for key, (ci, cc) in cache.items():
        if key not in store:
            continue
        si, sc = store[key]
        cv, sv = _v(cc).get("value"), _v(sc).get("value")
        if _h(cv) != _h(sv):
            diverged += 1
            found.add("not-converged", f"after healing, the cache's final read of {key!r} (op "
                      f"{ci.index}) returned {cv!r} but the store has {sv!r} (op {si.index}).",
                      [ci, cc, si, sc], key=key, cache=cv, store=sv)
    return {"keys": len(cache), "diverged": diverged, "without_store_read": len(missing),
            "unknown": not cache or bool(missing)}


def _dist(xs: list[float]) -> dict[str, float]:
    if not xs:
        return {"n": 0}
    s = sorted(xs)

    def q(p: float) -> float:
        return round(s[min(len(s) - 1, int(p * len(s)))], 3)

    return {"n": len(s), "stale_n": sum(1 for x in s if x > 0), "p50": q(0.5), "p99": q(0.99),
            "max": round(s[-1], 3)}


def _load(comps: list[Op]) -> dict[str, Any]:
    per: Counter[str] = Counter()
    hits = misses = 0
    for c in comps:
        v = _v(c)
        node = v.get("node") or c.node
        if node is not None:
            per[str(node)] += 1
        if v.get("hit") is True:
            hits += 1
        elif v.get("hit") is False:
            misses += 1
    out: dict[str, Any] = {"requests_per_node": dict(sorted(per.items())), "hits": hits,
                           "misses": misses}
    if per:
        out["max_over_mean"] = round(max(per.values()) / (sum(per.values()) / len(per)), 3)
    if hits + misses:
        out["hit_ratio"] = round(hits / (hits + misses), 4)
    inflight = _inflight(comps)
    if inflight:
        out["inflight"] = inflight
    return out


def _inflight(comps: list[Op]) -> dict[str, Any]:
    """The in-flight load each read's client saw right after choosing its node (``load``:
    ``here`` = that node's reads in flight including this one, ``inflight`` = all, ``nodes``):
    the peak excess of ``here`` over the mean ``inflight / nodes`` (bounded loads with c keep
    ``here <= ceil(c * mean)``, so ``here - c * mean < 1``) and the peak ratio over reads
    with at least one read per node in flight (below that the ratio is all rounding)."""
    n = 0
    excess = 0.0
    ratio = 0.0
    worst: dict[str, Any] = {}
    for c in comps:
        load = _v(c).get("load")
        if not isinstance(load, dict):
            continue
        here, total, nodes = load.get("here"), load.get("inflight"), load.get("nodes")
        if not all(isinstance(x, int) and x > 0 for x in (here, total, nodes)):
            continue
        assert isinstance(here, int) and isinstance(total, int) and isinstance(nodes, int)
        n += 1
        mean = total / nodes
        if here - mean > excess or not worst:
            excess, worst = here - mean, {"op": c.index, "here": here, "inflight": total,
                                          "nodes": nodes}
        if total >= nodes:
            ratio = max(ratio, here / mean)
    if not n:
        return {}
    return {"reads": n, "max_excess_over_mean": round(excess, 3),
            "max_over_mean": round(ratio, 3), "worst": worst}


_CHANGE_FIELDS = ("joined", "left", "moved", "ideal", "moved_over_ideal", "load_max_over_mean")


def membership_changes(history: History) -> list[dict[str, Any]]:
    """One row per membership change recorded by the ``membership`` nemesis, in order.

    A completion of ``start-membership``/``stop-membership`` whose value has a
    ``change`` (the registry's members differed before and after the op), or
    each of its ``changes`` that has one, gives
    ``{op, time_s, action, node, epoch, members, joined, left, moved, ideal,
    moved_over_ideal, load_max_over_mean}``.
    """
    rows: list[dict[str, Any]] = []
    for op in history:
        if op.process != NEMESIS or op.type == "invoke" or op.f not in (
                "start-membership", "stop-membership"):
            continue
        v = _v(op)
        steps = v.get("changes")  # one op that made several changes (a replace)
        for step in steps if isinstance(steps, list) else [v]:
            change = step.get("change") if isinstance(step, dict) else None
            if not isinstance(change, dict):
                continue
            row: dict[str, Any] = {
                "op": op.index, "time_s": round(op.time_ns / 1e9, 3),
                "action": step.get("action"), "node": step.get("node") or step.get("nodes"),
                "epoch": step.get("epoch"), "members": step.get("members")}
            row.update({k: change.get(k) for k in _CHANGE_FIELDS})
            rows.append(row)
    return rows
