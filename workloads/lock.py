"""Lock workload: clients take a lease lock, increment a protected counter with their
fencing token, and release — sometimes stalling inside the critical section for longer
than the lease's TTL (the GC pause of Kleppmann's lease analysis).

Each client thread loops over one critical section at a time::

    acquire {lock, ttl_ms}            -> ok {token}  (fail ``held``: try again later)
    read    {lock, key, token}        -> ok {value}  (fenced: the resource saw a later token)
    [stall  {lock, token, seconds}]   with probability ``stall_p``: sleeps 1.3-2 TTLs
    write   {lock, key, token, value: read + 1}
    release {lock, token}

A failed step ends the section with a release; an ``info`` step retires the
process (its lease is left to expire, as a crashed client's would). The
stall is a client op, so the history shows exactly when a holder was asleep.
The final generator reads the counter once per thread with ``peek`` (an
unfenced linearizable read).

The generator is pure: where each thread is in its loop lives in the
generator's (immutable) state and changes only on completions.

Checker: :class:`checkers.lock.LockChecker` — mutual exclusion (lost
increments, certainly-overlapping leases, stale writes accepted after a newer
holder's read) and fencing-token monotonicity, plus Knossos' ``mutex`` model on
acquire/release where no lease can have expired.

Any system whose client answers these ops serves the workload (``lock``,
``redlock``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from checkers.lock import LockChecker
from harness import generator as gen
from harness.generator.context import Context, Thread
from harness.generator.core import PENDING, Event, Gen, OpResult, event_get
from workloads.base import Workload, WorkloadOptions, judged_by

__all__ = ["lock_workload", "LockOps", "LOCK", "KEY", "TTL_MS", "STALL_P"]

LOCK = "L0"
KEY = "counter"
TTL_MS = 1000
STALL_P = 0.15
STALL_TTLS = (1.3, 2.0)  # a stall sleeps this many TTLs (below the default 3 s op timeout)

# Per-thread state: (step, token, value read)
_IDLE: tuple[str, Any, Any] = ("idle", None, None)


class LockOps(Gen):
    """One critical section after another on every client thread (see the module docstring)."""

    __slots__ = ("state", "ttl_ms", "stall_p")

    def __init__(
        self,
        state: Mapping[Thread, tuple[str, Any, Any]] | None = None,
        ttl_ms: int = TTL_MS,
        stall_p: float = STALL_P,
    ) -> None:
        self.state: Mapping[Thread, tuple[str, Any, Any]] = state or {}
        self.ttl_ms = ttl_ms
        self.stall_p = stall_p

    def op(self, test: Any, ctx: Context) -> OpResult:
        p = ctx.some_free_process()
        if p is None:
            return (PENDING, self)
        t = ctx.process_to_thread(p)
        step, token, read = self.state.get(t, _IDLE) if t is not None else _IDLE
        base = {"type": "invoke", "process": p, "time_ns": ctx.time_ns}
        if step == "idle":
            return ({**base, "f": "acquire", "value": {"lock": LOCK, "ttl_ms": self.ttl_ms}}, self)
        if step == "held":
            return ({**base, "f": "read", "value": {"lock": LOCK, "key": KEY, "token": token}}, self)
        if step == "got" and ctx.rng.random() < self.stall_p:
            lo, hi = STALL_TTLS
            secs = round(ctx.rng.uniform(lo, hi) * self.ttl_ms / 1000, 3)
            value = {"lock": LOCK, "token": token, "seconds": secs}
            return ({**base, "f": "stall", "value": value}, self)
        if step in ("got", "stalled"):
            nxt = (read if isinstance(read, int) else 0) + 1
            value = {"lock": LOCK, "key": KEY, "token": token, "value": nxt}
            return ({**base, "f": "write", "value": value}, self)
        return ({**base, "f": "release", "value": {"lock": LOCK, "token": token}}, self)

    def update(self, test: Any, ctx: Context, event: Event) -> Gen:
        typ = event_get(event, "type")
        p = event_get(event, "process")
        if typ == "invoke" or type(p) is not int:
            return self
        t = ctx.process_to_thread(p)
        if t is None:
            return self
        f = event_get(event, "f")
        value = event_get(event, "value")
        v = value if isinstance(value, dict) else {}
        step, token, read = self.state.get(t, _IDLE)
        if typ == "info":
            nxt = _IDLE  # the process is retired; its lease is left to expire
        elif f == "acquire":
            nxt = ("held", v.get("token"), None) if typ == "ok" else _IDLE
        elif f == "read":
            nxt = ("got", token, v.get("value")) if typ == "ok" else ("release", token, None)
        elif f == "stall":
            nxt = ("stalled", token, read)
        elif f == "write":
            nxt = ("release", token, None)
        else:
            nxt = _IDLE
        state = dict(self.state)
        state[t] = nxt
        return LockOps(state, self.ttl_ms, self.stall_p)

    def __repr__(self) -> str:
        return f"LockOps({len(self.state)} threads)"


def lock_workload(opts: WorkloadOptions) -> Workload:
    return Workload(
        name="lock",
        generator=gen.stagger(1.0 / opts.rate, LockOps()),
        final_generator=gen.each_thread({"f": "peek", "value": {"key": KEY}}),
        checker=judged_by("lock", LockChecker(ttl_ms=TTL_MS)),
        description="acquire a lease lock, read-increment-write a counter with the fencing "
        "token, release; some clients stall past the TTL; mutual exclusion and token order",
    )
