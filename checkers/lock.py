"""Lock checker: mutual exclusion and fencing-token order for the ``lock`` workload.

The history holds, per client process, critical sections made of ``acquire``
(ok value carries ``token``), ``read`` / ``write`` of a protected key under
that token, optional ``stall`` ops, ``renew`` and ``release``; and final
``peek`` reads of the key. Times are the harness's monotonic clock. A lease
is the client's view of it: valid from its acquire's *invocation* for
``ttl_ms`` (restarted by each ok renew, from that renew's invocation). That
is the promise a lease lock makes; a correct service expires leases later,
never earlier (see systems/lock/README.md).

Anomalies (every one names its ops and makes the history invalid):

- ``lost-increment`` — two accepted writes of the same key wrote the same
  value: both read the same counter, so one increment was lost (one anomaly
  per pair).
- ``final-count`` — the last ok ``peek`` of the key is below the number of
  acknowledged writes (increments the system accepted and then lost).
- ``lease-overlap`` — two leases of one lock certainly held at the same
  instant: when Y's acquire completed (and Y's own TTL had not run out), X's
  acquire had completed, X's lease (counted from its acquire or last ok renew
  completed by then) had not run out and X had not invoked a release that
  could have freed it. A service that grants while a lease is live breaks
  mutual exclusion even when fencing saves the resource.
- ``stale-write`` — critical sections that certainly overlapped: a write
  under grant A was accepted although an op on the same key under a later
  grant B had completed before the write was invoked, so the older holder
  wrote inside the newer holder's critical section (what fencing must
  prevent). "Later" is a larger fencing token; for tokens that order nothing
  (Redlock's random values), B's acquire was invoked after A's completed.
- ``token-order`` — a grant that began after another grant of the same lock
  completed got a token that is not larger, or two grants got the same token.

Also reported in ``details``: grants, stalls (and how many outlived the
TTL), writes refused as ``fenced`` (stale holders stopped by fencing),
acknowledged increments and the final value; and ``mutex_model``: the
acquire/release history checked against Knossos' ``mutex`` model when no
lease can have expired (every grant but the last released by its holder
with an ok release, no stalls, no indeterminate acquire) — otherwise why the model does not apply (an expired
lease makes a later acquire legal that the model forbids).

With an ``out_dir`` it also writes ``lock/lanes.html`` there: who held each
lock when, stalls and faults marked (``checkers.lock_lanes``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checkers.core import UNKNOWN, Anomaly, Result, verdict_word
from checkers.lock_lanes import LANES_FILE, render_lanes
from harness.history import FAIL, INFO, NEMESIS, OK, History, Op, fault_windows

__all__ = ["LockChecker", "check_lock"]

DEFAULT_TTL_MS = 1000


def _t(ns: int) -> str:
    return f"{ns / 1e9:.3f}s"


def _v(op: Op) -> dict[str, Any]:
    return op.value if isinstance(op.value, dict) else {}


@dataclass(frozen=True, slots=True)
class _Grant:
    inv: Op
    comp: Op
    lock: str
    token: Any
    ttl_ns: int

    def what(self) -> str:
        return (f"process {self.inv.process}'s acquire (op {self.inv.index}, invoked "
                f"{_t(self.inv.time_ns)}, granted {_t(self.comp.time_ns)}, token {self.token})")


@dataclass
class _Section:
    """What a grant's holder did under its token."""

    grant: _Grant
    renews: list[tuple[int, int]]  # (ok completion ns, invocation ns)
    release_ns: int | None = None  # earliest invocation of a release that may have freed it
    released_ok: bool = False

    def valid_until(self, at_ns: int) -> int:
        """When the lease certainly ends, as known at ``at_ns``."""
        start = self.grant.inv.time_ns
        for done, inv in self.renews:
            if done <= at_ns:
                start = max(start, inv)
        end = start + self.grant.ttl_ns
        if self.release_ns is not None:
            end = min(end, self.release_ns)
        return end


class _Found:
    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.kept: list[Anomaly] = []
        self.count: dict[str, int] = defaultdict(int)
        self.first_ns: int | None = None

    def add(self, kind: str, text: str, ops: list[Op], at_ns: int, **data: Any) -> None:
        self.count[kind] += 1
        if self.first_ns is None or at_ns < self.first_ns:
            self.first_ns = at_ns
        if self.count[kind] <= self.cap:
            idx = tuple(sorted({o.index for o in ops}))
            self.kept.append(Anomaly(kind, text, idx, {"time_s": round(at_ns / 1e9, 6), **data}))


@dataclass(frozen=True)
class LockChecker:
    """A Checker for the lock workload (rules in the module docstring)."""

    ttl_ms: int = DEFAULT_TTL_MS  # for acquires whose value does not say
    max_anomalies: int = 20
    mutex_budget_s: float = 30.0

    def check(self, test: Mapping[str, Any], history: History, out_dir: Path | None) -> Result:
        return check_lock(history, self.ttl_ms, self.max_anomalies, self.mutex_budget_s, out_dir)


def check_lock(history: History, ttl_ms: int = DEFAULT_TTL_MS, max_anomalies: int = 20,
               mutex_budget_s: float = 30.0, out_dir: Path | None = None) -> Result:
    pairs = [(i, c) for i, c in history.pairs() if i.process != NEMESIS]
    found = _Found(max_anomalies)
    sections = _sections(pairs, ttl_ms)
    _lease_overlaps(sections, found)
    _token_order([s.grant for s in sections.values()], found)
    grants = {(s.grant.inv.process, _hashable(s.grant.token)): s.grant for s in sections.values()}
    writes = _resource(pairs, grants, found)
    final = _final_count(pairs, writes, found)
    stalls = [(i, c) for i, c in pairs if i.f == "stall"]
    long_stalls = sum(1 for i, _ in stalls
                      if float(_v(i).get("seconds", 0)) * 1000 > _ttl(i, ttl_ms) / 1e6)
    fenced = sum(1 for i, c in pairs if c is not None and c.type == FAIL and c.error == "fenced"
                 and i.f in ("read", "write"))
    mutex_note, mutex = _mutex(history, pairs, sections, stalls, mutex_budget_s)
    details: dict[str, Any] = {
        "grants": len(sections),
        "stalls": len(stalls),
        "stalls_longer_than_ttl": long_stalls,
        "fenced": fenced,
        "acknowledged_increments": writes,
        "final": final,
        "counts": dict(found.count),
        "mutex_model": mutex_note,
    }
    if found.first_ns is not None:
        details["first_evidence_s"] = round(found.first_ns / 1e9, 6)
    if out_dir is not None and sections:
        end_ns = max((o.time_ns for o in history), default=0)
        render_lanes(Path(out_dir) / "lock" / LANES_FILE, sections.values(), stalls,
                     fault_windows(history), found.kept, end_ns)
        details["lanes"] = f"lock/{LANES_FILE}"
    if found.count:
        return Result(False, tuple(found.kept), details)
    if not sections:
        details["why_unknown"] = "no lock was ever granted"
        return Result(UNKNOWN, (), details)
    if mutex is not None and mutex.valid is False:
        return Result(False, mutex.anomalies, details)
    return Result(True, (), details)


def _ttl(inv: Op, default_ms: int) -> int:
    try:
        return int(_v(inv).get("ttl_ms", default_ms)) * 1_000_000
    except (TypeError, ValueError):
        return default_ms * 1_000_000


def _sections(pairs: list[tuple[Op, Op | None]], ttl_ms: int) -> dict[Any, _Section]:
    out: dict[Any, _Section] = {}
    for inv, comp in pairs:
        if inv.f == "acquire" and comp is not None and comp.type == OK:
            v = _v(comp)
            g = _Grant(inv, comp, str(v.get("lock", _v(inv).get("lock"))), v.get("token"),
                       _ttl(inv, ttl_ms))
            out[(g.lock, inv.process, inv.index)] = _Section(g, [])
    by_holder: dict[tuple[str, Any, Any], _Section] = {}
    for s in out.values():
        by_holder[(s.grant.lock, s.grant.inv.process, _hashable(s.grant.token))] = s
    for inv, comp in pairs:
        if inv.f not in ("renew", "release"):
            continue
        v = _v(inv)
        sec = by_holder.get((str(v.get("lock")), inv.process, _hashable(v.get("token"))))
        if sec is None:
            continue
        if inv.f == "renew" and comp is not None and comp.type == OK:
            sec.renews.append((comp.time_ns, inv.time_ns))
        elif inv.f == "release" and (comp is None or comp.type != FAIL):
            if sec.release_ns is None or inv.time_ns < sec.release_ns:
                sec.release_ns = inv.time_ns
            sec.released_ok = sec.released_ok or (comp is not None and comp.type == OK)
    return out


def _hashable(x: Any) -> Any:
    return x if isinstance(x, (int, str, type(None))) else repr(x)


def _lease_overlaps(sections: dict[Any, _Section], found: _Found) -> None:
    by_lock: dict[str, list[_Section]] = defaultdict(list)
    for s in sections.values():
        by_lock[s.grant.lock].append(s)
    for lock, group in by_lock.items():
        group.sort(key=lambda s: s.grant.comp.time_ns)
        live: list[_Section] = []
        for y in group:
            at = y.grant.comp.time_ns
            live = [x for x in live if x.valid_until(at) > at]
            if at < y.grant.inv.time_ns + y.grant.ttl_ns:
                for x in live:
                    found.add(
                        "lease-overlap",
                        f"Lock {lock}: {y.grant.what()} while {x.grant.what()} still held it: "
                        f"the earlier lease ran until at least {_t(x.valid_until(at))} and its "
                        f"holder had not released it, so both leases were live at {_t(at)}.",
                        [x.grant.inv, x.grant.comp, y.grant.inv, y.grant.comp], at,
                        lock=lock, holders=[x.grant.inv.process, y.grant.inv.process],
                        tokens=[x.grant.token, y.grant.token],
                    )
            live.append(y)


def _token_order(grants: list[_Grant], found: _Found) -> None:
    by_lock: dict[str, list[_Grant]] = defaultdict(list)
    for g in grants:
        if isinstance(g.token, int):
            by_lock[g.lock].append(g)
    for lock, gs in by_lock.items():
        seen: dict[int, _Grant] = {}
        for g in gs:
            first = seen.setdefault(g.token, g)
            if first is not g:
                found.add("token-order", f"Lock {lock}: {first.what()} and {g.what()} got the "
                          "same token.", [first.inv, first.comp, g.inv, g.comp],
                          max(first.comp.time_ns, g.comp.time_ns), lock=lock, tokens=[g.token])
        done = sorted(gs, key=lambda g: g.comp.time_ns)
        k = 0
        best: _Grant | None = None
        for g in sorted(gs, key=lambda g: g.inv.time_ns):
            while k < len(done) and done[k].comp.time_ns < g.inv.time_ns:
                if best is None or done[k].token > best.token:
                    best = done[k]
                k += 1
            if best is not None and g.token < best.token:
                found.add("token-order", f"Lock {lock}: {g.what()} began after {best.what()} "
                          f"completed but got a smaller token ({g.token} < {best.token}).",
                          [best.inv, best.comp, g.inv, g.comp], g.comp.time_ns, lock=lock,
                          tokens=[best.token, g.token])


def _resource(pairs: list[tuple[Op, Op | None]], grants: Mapping[tuple[Any, Any], _Grant],
              found: _Found) -> dict[str, int]:
    """Lost increments and stale writes; returns acknowledged writes per key."""
    ok: dict[str, list[tuple[Op, Op]]] = defaultdict(list)
    for inv, comp in pairs:
        if inv.f in ("read", "write") and comp is not None and comp.type == OK:
            ok[str(_v(inv).get("key"))].append((inv, comp))
    acked: dict[str, int] = {}
    for key, ops in ok.items():
        writes = [(i, c) for i, c in ops if i.f == "write"]
        acked[key] = len(writes)
        by_value: dict[Any, tuple[Op, Op]] = {}
        for i, c in writes:
            val = _hashable(_v(i).get("value"))
            first = by_value.setdefault(val, (i, c))
            if first[0] is not i:
                found.add("lost-increment", f"Key {key}: writes op {first[0].index} (process "
                          f"{first[0].process}, token {_v(first[0]).get('token')}) and op "
                          f"{i.index} (process {i.process}, token {_v(i).get('token')}) were "
                          f"both accepted with value {val!r}: both read the same counter, so "
                          "one increment was lost.", [first[0], first[1], i, c],
                          max(first[1].time_ns, c.time_ns), key=key, value=val)
        _stale_writes(key, ops, writes, grants, found)
    return acked


def _later(b: _Grant, a: _Grant) -> bool:
    """Grant ``b`` certainly came after grant ``a``: a larger fencing token, or (tokens that
    order nothing, as Redlock's) ``b`` was invoked after ``a`` completed."""
    if isinstance(a.token, int) and isinstance(b.token, int):
        return b.token > a.token
    return b.inv.time_ns > a.comp.time_ns


def _stale_writes(key: str, ops: list[tuple[Op, Op]], writes: list[tuple[Op, Op]],
                  grants: Mapping[tuple[Any, Any], _Grant], found: _Found) -> None:
    """A write accepted although an op of a later grant had completed before it was invoked.

    Two sweeps in invocation order over the ops completed so far: the largest token
    seen, and the latest-invoked grant seen (for tokens that order nothing)."""
    owned = [(i, c, g) for i, c in ops
             if (g := grants.get((i.process, _hashable(_v(i).get("token"))))) is not None]
    done = sorted(owned, key=lambda p: p[1].time_ns)
    k = 0
    by_token: tuple[Op, Op, _Grant] | None = None
    by_time: tuple[Op, Op, _Grant] | None = None
    for i, c in sorted(writes, key=lambda p: p[0].time_ns):
        mine = grants.get((i.process, _hashable(_v(i).get("token"))))
        if mine is None:
            continue
        while k < len(done) and done[k][1].time_ns < i.time_ns:
            g = done[k][2]
            if isinstance(g.token, int) and (by_token is None or g.token > by_token[2].token):
                by_token = done[k]
            if by_time is None or g.inv.time_ns > by_time[2].inv.time_ns:
                by_time = done[k]
            k += 1
        other = next((x for x in (by_token, by_time) if x is not None and _later(x[2], mine)),
                     None)
        if other is None:
            continue
        b, bc, bg = other
        found.add("stale-write", f"Key {key}: process {i.process}'s write (op {i.index}, under "
                  f"the grant of op {mine.inv.index}, token {mine.token}, invoked "
                  f"{_t(i.time_ns)}) was accepted after process {b.process}'s {b.f} (op "
                  f"{b.index}) under the later grant of op {bg.inv.index} (token {bg.token}) "
                  f"had completed at {_t(bc.time_ns)}: the two critical sections overlapped "
                  "and the old holder wrote inside the new holder's.",
                  [b, bc, i, c], c.time_ns, key=key, tokens=[mine.token, bg.token],
                  holders=[i.process, b.process])


def _final_count(pairs: list[tuple[Op, Op | None]], acked: dict[str, int],
                 found: _Found) -> dict[str, Any]:
    last: dict[str, tuple[Op, Op]] = {}
    for inv, comp in pairs:
        if inv.f == "peek" and comp is not None and comp.type == OK:
            key = str(_v(inv).get("key"))
            if key not in last or comp.time_ns > last[key][1].time_ns:
                last[key] = (inv, comp)
    out: dict[str, Any] = {}
    for key, (inv, comp) in last.items():
        value = _v(comp).get("value")
        n = value if isinstance(value, int) else 0
        out[key] = value
        if n < acked.get(key, 0):
            found.add("final-count", f"Key {key}: the final read (op {inv.index}) saw {value!r} "
                      f"but {acked[key]} increments were acknowledged: "
                      f"{acked[key] - n} acknowledged increments are missing.",
                      [inv, comp], comp.time_ns, key=key, final=value, acknowledged=acked[key])
    return out


def _mutex(history: History, pairs: list[tuple[Op, Op | None]], sections: dict[Any, _Section],
           stalls: list[tuple[Op, Op | None]], budget_s: float) -> tuple[str, Result | None]:
    """Knossos' mutex model on acquire/release, where it applies: (note, its result)."""
    grants = sorted(sections.values(), key=lambda s: s.grant.comp.time_ns)
    # A grant never released by its holder matters only if another grant follows it.
    unreleased = sum(1 for s in grants[:-1] if not s.released_ok)
    ambiguous = sum(1 for i, c in pairs if i.f == "acquire" and (c is None or c.type == INFO))
    if stalls or unreleased or ambiguous:
        return (f"not applied: {len(stalls)} stalls, {unreleased} grants not released by "
                f"their holder and {ambiguous} indeterminate acquires: a lease may have "
                "expired, which makes a later acquire legal that the mutex model forbids"), None
    locks = {s.grant.lock for s in sections.values()}
    if len(locks) != 1:
        return f"not applied: the mutex model is one lock, this history has {len(locks)}", None
    from checkers.linearizability import check_history  # the WGL search, only when it applies

    sub = History([o for o in history if o.process != NEMESIS and o.f in ("acquire", "release")],
                  reindex=False)
    res = check_history(sub, "mutex", None, time_budget_s=budget_s)
    return f"applied: {verdict_word(res.valid)}", res
