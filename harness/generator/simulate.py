"""A deterministic in-memory interpreter for testing generators (no cluster, fake clock).

It follows the same loop a real interpreter must:

1. Ask the generator for an op with the current context.
2. If a completion is due strictly before that op's time (or the generator
   is exhausted or pending), deliver the earliest completion instead: move the
   clock, free the thread, ``update`` the generator, and on ``info`` retire the
   thread's process (after the update).  The op and successor are discarded;
   the old generator is asked again.
3. Otherwise invoke the op at its time: mark its thread busy, ``update`` the
   successor with the invocation, and schedule its completion.

``sleep`` ops keep their thread busy for their value in seconds and complete
with type ``sleep``; ``log`` ops complete at once.  Neither is part of the
returned history unless ``include_meta``.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from typing import Any

from harness.generator.context import Context, Thread, _mk
from harness.generator.core import (
    PENDING,
    Event,
    Gen,
    Generator,
    GeneratorError,
    OpDict,
    OpResult,
    lift,
)
from harness.history import INFO, OK

__all__ = ["simulate", "validate", "SimulationError", "META_TYPES"]

META_TYPES = frozenset({"sleep", "log"})


class SimulationError(GeneratorError):
    """The generator misbehaved under simulation (e.g. pending with nothing in flight)."""


def _check(o: OpDict, ctx: Context) -> Thread:
    """Validate an op from the generator; returns the thread it runs on."""
    if "f" not in o and o.get("type") not in META_TYPES:
        raise SimulationError(f"op has no 'f': {o!r:.200}")
    t = o.get("time_ns")
    if not isinstance(t, int) or t < ctx.time_ns:
        raise SimulationError(f"op time_ns {t!r} is before now ({ctx.time_ns}): {o!r:.200}")
    p = o.get("process")
    thread = ctx.process_to_thread(p) if isinstance(p, (int, str)) else None
    if thread is None or thread not in ctx.free_threads or ctx.workers[thread] != o["process"]:
        raise SimulationError(f"op's process is not a free process: {o!r:.200}")
    return thread


class Validate(Gen):
    """Checks every op its generator emits (see :func:`validate`)."""

    __slots__ = ("gen", "needs_update")

    def __init__(self, gen: Generator) -> None:
        self.gen = gen
        self.needs_update = getattr(gen, "needs_update", True)

    def op(self, test: Any, ctx: Context) -> OpResult:
        r = self.gen.op(test, ctx)
        if r is None:
            return None
        if type(r) is not tuple or len(r) != 2:
            raise GeneratorError(f"op() must return None or a pair, got {r!r:.200}")
        o, g = r
        if o is not PENDING:
            if type(o) is not dict:
                raise SimulationError(f"generator returned {o!r:.80} instead of an op dict")
            _check(o, ctx)
        return (o, Validate(g))

    def update(self, test: Any, ctx: Context, event: Event) -> Generator:
        if not self.needs_update:
            return self
        g = self.gen.update(test, ctx, event)
        return self if g is self.gen else Validate(g)


def validate(gen: Any) -> Generator:
    """``gen``, raising :class:`SimulationError` (a GeneratorError) on any malformed op:
    not a dict, no ``f``, ``time_ns`` before now, or a process that is not free.
    For debugging an interpreter or a custom generator; costs ~2 µs per op."""
    return Validate(lift(gen))


def _completion(o: OpDict, latency_ns: int, complete: Callable[[OpDict], OpDict] | None) -> OpDict:
    t0: int = o["time_ns"]
    kind = o.get("type")
    if kind == "sleep":
        return {**o, "time_ns": t0 + int(round(float(o["value"]) * 1e9))}
    if kind == "log":
        return dict(o)
    c: OpDict = {**o, "type": OK, "time_ns": t0 + latency_ns}
    if complete is not None:
        got = complete(dict(c))
        if not isinstance(got, dict):
            raise SimulationError(f"complete() must return a dict, got {got!r:.200}")
        c = {**c, **got}  # a partial dict ({"type": "info"}) overrides the default
        if c["type"] not in ("ok", "fail", "info"):
            raise SimulationError(f"complete() must return an ok/fail/info op, got {c!r:.200}")
        if c.get("process") != o["process"] or c.get("f") != o.get("f"):
            raise SimulationError(f"complete() changed the op's process or f: {c!r:.200}")
        if c.get("time_ns", t0) < t0:
            c = {**c, "time_ns": t0}
    return c


def simulate(
    gen: Any,
    seed: int = 0,
    concurrency: int = 3,
    latency_ns: int = 1_000_000,
    test: Any = None,
    limit: int = 10_000,
    complete: Callable[[OpDict], OpDict] | None = None,
    *,
    nemesis: bool = True,
    include_meta: bool = False,
) -> list[OpDict]:
    """Run ``gen`` against a perfect fake system; the invocations and completions in order.

    Every op completes ``latency_ns`` after its invocation with type ``ok``;
    ``complete(default_completion) -> dict`` may change that: the keys it
    returns (e.g. ``{"type": "info"}``, a value, a later time_ns) override the
    default completion.  At most ``limit`` ops (meta ops included) are
    invoked; the ones in flight then still complete.  The same seed gives the
    same list.
    """
    g = lift(gen)
    ctx = Context.initial(concurrency, rng=random.Random(seed), nemesis=nemesis)
    in_flight: list[tuple[int, int, Thread, OpDict]] = []
    out: list[OpDict] = []
    invoked = 0
    while True:
        r = g.op(test, ctx) if invoked < limit else None
        if r is not None and r[0] is not PENDING:
            o, nxt = r
            if type(o) is not dict:
                raise SimulationError(f"generator returned {o!r:.80} instead of an op dict")
            t = o.get("time_ns", -1)
            if not in_flight or t <= in_flight[0][0]:
                thread = _check(o, ctx)
                ctx = _mk(
                    t,
                    ctx.free_threads - {thread},
                    ctx.workers,
                    ctx.rng,
                    ctx.all_threads,
                    ctx.concurrency,
                )
                g = nxt.update(test, ctx, o)
                invoked += 1
                c = _completion(o, latency_ns, complete)
                heapq.heappush(in_flight, (c["time_ns"], invoked, thread, c))
                if include_meta or o["type"] not in META_TYPES:
                    out.append(o)
                continue
        if not in_flight:
            if r is None:
                return out
            raise SimulationError(f"generator is pending with nothing in flight: {g!r:.200}")
        tc, _, thread, c = heapq.heappop(in_flight)
        ctx = _mk(
            tc,
            ctx.free_threads | {thread},
            ctx.workers,
            ctx.rng,
            ctx.all_threads,
            ctx.concurrency,
        )
        g = g.update(test, ctx, c)
        if c.get("type") == INFO:
            ctx = ctx.retire(thread)
        if include_meta or c.get("type") not in META_TYPES:
            out.append(c)
