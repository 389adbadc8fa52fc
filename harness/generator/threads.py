"""Combinators that decide which threads a generator may use, and synchronisation.

A thread filter restricts the context a generator sees (its free threads,
its workers) and routes to it only the events of its own threads.  The
restricted thread set and workers view are memoised by the identity of the
parent's ``all_threads`` and ``workers`` (which change only when a process is
retired), so the hot path costs one frozenset intersection per op.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Collection, Mapping
from typing import Any

from harness.generator.combinators import Any_
from harness.generator.context import (
    Context,
    Process,
    Thread,
    _mk,
    _RestrictedWorkers,
    _thread_key,
)
from harness.generator.core import (
    EMPTY,
    PENDING,
    Event,
    Gen,
    Generator,
    GeneratorError,
    OpDict,
    OpResult,
    Seq,
    event_get,
    lift,
    needs_update,
)
from harness.history import NEMESIS

__all__ = [
    "on_threads",
    "clients",
    "nemesis",
    "each_thread",
    "reserve",
    "synchronize",
    "phases",
]

ThreadPred = Callable[[Thread], bool]


class ThreadFilter:
    """A thread predicate plus a memo of the restriction it last computed (pure in effect)."""

    __slots__ = ("pred", "_all_key", "_allowed", "_others", "_workers_key", "_view")

    def __init__(self, pred: ThreadPred) -> None:
        self.pred = pred
        self._all_key: frozenset[Thread] | None = None
        self._allowed: frozenset[Thread] = frozenset()
        self._others: frozenset[Thread] = frozenset()  # all threads minus ours
        self._workers_key: Mapping[Thread, Process] | None = None
        self._view: Mapping[Thread, Process] = {}

    def allowed(self, ctx: Context) -> frozenset[Thread]:
        a = ctx.all_threads
        if a is not self._all_key:
            self._allowed = frozenset(t for t in a if self.pred(t))
            self._others = a - self._allowed
            self._all_key = a
            self._workers_key = None
        return self._allowed

    def free(self, ctx: Context) -> frozenset[Thread]:
        """Our free threads (call allowed(ctx) first); cheap when few threads are not ours."""
        free = ctx.free_threads
        others = self._others
        if len(others) < len(self._allowed):
            # e.g. clients(): only the nemesis is not ours, and it is often busy.
            return free if others.isdisjoint(free) else free - others
        return free & self._allowed

    def view(self, ctx: Context) -> Mapping[Thread, Process]:
        """The workers view of the restriction (call allowed(ctx) first)."""
        w = ctx.workers
        if w is not self._workers_key:
            self._view = _RestrictedWorkers(w, self._allowed)
            self._workers_key = w
        return self._view

    def restrict(self, ctx: Context) -> Context:
        allowed = self.allowed(ctx)
        return ctx._restricted(allowed, self.view(ctx))

    def owns(self, ctx: Context, event: Event) -> bool:
        """Does the event's process run on one of our threads?"""
        t = ctx.process_to_thread(event_get(event, "process"))
        return t is not None and t in self.allowed(ctx)


class OnThreads(Gen):
    __slots__ = ("filt", "gen", "needs_update")

    def __init__(self, filt: ThreadFilter, gen: Generator) -> None:
        self.filt = filt
        self.gen = gen
        self.needs_update = getattr(gen, "needs_update", True)

    def op(self, test: Any, ctx: Context) -> OpResult:
        filt = self.filt
        allowed = filt._allowed if ctx.all_threads is filt._all_key else filt.allowed(ctx)
        free = filt.free(ctx)
        if not free:
            if not allowed:
                return None  # no thread of the test is ours: we can never emit
            # None of our threads is free: nothing to emit now (exhaustion, if
            # any, is noticed once one is free again).
            return (PENDING, self)
        view = filt._view if ctx.workers is filt._workers_key else filt.view(ctx)
        r = self.gen.op(test, _mk(ctx.time_ns, free, view, ctx.rng, allowed, ctx.concurrency))
        if r is None:
            return None
        o, g = r
        return (o, self if g is self.gen else OnThreads(self.filt, g))

    def update(self, test: Any, ctx: Context, event: Event) -> Generator:
        if not self.needs_update or not self.filt.owns(ctx, event):
            return self
        g = self.gen.update(test, self.filt.restrict(ctx), event)
        return self if g is self.gen else OnThreads(self.filt, g)


def _pred(threads: ThreadPred | Collection[Thread]) -> ThreadPred:
    if callable(threads):
        return threads
    allowed = frozenset(threads)
    return allowed.__contains__


def on_threads(threads: ThreadPred | Collection[Thread], gen: Any) -> Generator:
    """``gen`` restricted to the threads in a set (or for which a predicate is true)."""
    return OnThreads(ThreadFilter(_pred(threads)), lift(gen))


def _is_client(t: Thread) -> bool:
    return type(t) is int


def _is_nemesis(t: Thread) -> bool:
    return t == NEMESIS


def clients(gen: Any) -> Generator:
    """``gen`` on client threads only."""
    return OnThreads(ThreadFilter(_is_client), lift(gen))


def nemesis(gen: Any, client_gen: Any = None) -> Generator:
    """``gen`` on the nemesis thread only; with two args, also ``client_gen`` on the clients."""
    ng = OnThreads(ThreadFilter(_is_nemesis), lift(gen))
    if client_gen is None:
        return ng
    return Any_((ng, clients(client_gen)))


def _soonest(
    rng_random: Callable[[], float], cands: list[tuple[OpDict, Generator, Any]]
) -> tuple[OpDict, Generator, Any]:
    """The candidate with the lowest time; ties broken uniformly."""
    best = cands[0]
    best_t = best[0]["time_ns"]
    ties = 1
    for c in cands[1:]:
        t = c[0]["time_ns"]
        if t < best_t:
            best, best_t, ties = c, t, 1
        elif t == best_t:
            ties += 1
            if rng_random() * ties < 1.0:
                best = c
    return best


class EachThread(Gen):
    """An independent copy of ``fresh`` per thread, each seeing only its thread."""

    __slots__ = ("fresh", "gens", "filters")

    def __init__(
        self, fresh: Generator, gens: dict[Thread, Generator], filters: dict[Thread, ThreadFilter]
    ) -> None:
        self.fresh = fresh
        self.gens = gens
        self.filters = filters  # memo shared by successors

    def _filter(self, t: Thread) -> ThreadFilter:
        f = self.filters.get(t)
        if f is None:
            f = self.filters[t] = ThreadFilter(frozenset((t,)).__contains__)
        return f

    def op(self, test: Any, ctx: Context) -> OpResult:
        cands: list[tuple[OpDict, Generator, Any]] = []
        pending = False
        for t in sorted(ctx.free_threads, key=_thread_key):
            r = self.gens.get(t, self.fresh).op(test, self._filter(t).restrict(ctx))
            if r is None:
                continue
            if r[0] is PENDING:
                pending = True
                continue
            cands.append((r[0], r[1], t))  # type: ignore[arg-type]
        if cands:
            o, g, t = _soonest(ctx.rng.random, cands)
            gens = dict(self.gens)
            gens[t] = g
            return (o, EachThread(self.fresh, gens, self.filters))
        if pending or len(ctx.free_threads) != len(ctx.all_threads):
            return (PENDING, self)
        return None

    def update(self, test: Any, ctx: Context, event: Event) -> Generator:
        t = ctx.process_to_thread(event_get(event, "process"))
        if t is None or t not in ctx.all_threads:
            return self
        old = self.gens.get(t, self.fresh)
        g = old.update(test, self._filter(t).restrict(ctx), event)
        if g is old:
            return self
        gens = dict(self.gens)
        gens[t] = g
        return EachThread(self.fresh, gens, self.filters)


def each_thread(gen: Any) -> Generator:
    """Every thread runs its own copy of ``gen`` (e.g. one final read per client)."""
    return EachThread(lift(gen), {}, {})


class Reserve(Gen):
    """Generators on disjoint thread sets; the soonest op wins; events go to their owner."""

    __slots__ = ("filters", "gens", "needs_update")

    def __init__(
        self, filters: tuple[ThreadFilter, ...], gens: tuple[Generator, ...], nu: bool | None = None
    ) -> None:
        self.filters = filters
        self.gens = gens
        self.needs_update = builtins.any(needs_update(g) for g in gens) if nu is None else nu

    def op(self, test: Any, ctx: Context) -> OpResult:
        best_o: OpDict | None = None
        best_g: Generator = self
        best_i = best_t = ties = 0
        pending = False
        gens = self.gens
        i = -1
        for f in self.filters:
            i += 1
            allowed = f._allowed if ctx.all_threads is f._all_key else f.allowed(ctx)
            if not allowed:
                continue
            free = f.free(ctx)
            if not free:
                pending = True
                continue
            c = _mk(ctx.time_ns, free, f.view(ctx), ctx.rng, allowed, ctx.concurrency)
            r = gens[i].op(test, c)
            if r is None:
                continue
            o = r[0]
            if o is PENDING:
                pending = True
                continue
            t: int = o["time_ns"]  # type: ignore[index]
            # Ties go to a range with probability proportional to its thread count.
            weight = len(allowed)
            if best_o is None or t < best_t:
                best_o, best_g, best_i, best_t, ties = o, r[1], i, t, weight  # type: ignore[assignment]
            elif t == best_t:
                ties += weight
                if ctx.rng.random() * ties < weight:
                    best_o, best_g, best_i = o, r[1], i  # type: ignore[assignment]
        if best_o is None:
            return (PENDING, self) if pending else None
        if best_g is gens[best_i]:
            return (best_o, self)
        nu = self.needs_update or getattr(best_g, "needs_update", True)
        return (best_o, Reserve(self.filters, gens[:best_i] + (best_g,) + gens[best_i + 1 :], nu))

    def update(self, test: Any, ctx: Context, event: Event) -> Generator:
        if not self.needs_update:
            return self
        for i, f in enumerate(self.filters):
            if f.owns(ctx, event):
                g = self.gens[i].update(test, f.restrict(ctx), event)
                if g is self.gens[i]:
                    return self
                return Reserve(self.filters, self.gens[:i] + (g,) + self.gens[i + 1 :])
        return self


def _in_range(lo: int, hi: int) -> ThreadPred:
    return lambda t: type(t) is int and lo <= t < hi


def reserve(*args: Any) -> Generator:
    """``reserve(n, gen_a, m, gen_b, ..., default)``: threads 0..n-1 run gen_a, the next m
    run gen_b, ...; every other thread of the context runs ``default`` (None for nothing).

    As in Jepsen the default includes the nemesis thread unless wrapped in clients(),
    and when several ranges have an op ready at the same time, one is chosen with
    probability proportional to its number of threads.
    """
    if len(args) % 2 != 1:
        raise GeneratorError("reserve takes pairs of (thread count, generator) then a default")
    filters: list[ThreadFilter] = []
    gens: list[Generator] = []
    lo = 0
    for k in range(0, len(args) - 1, 2):
        n, g = args[k], args[k + 1]
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise GeneratorError(f"reserve: thread count must be an int >= 0, got {n!r}")
        filters.append(ThreadFilter(_in_range(lo, lo + n)))
        gens.append(lift(g))
        lo += n
    hi = lo
    filters.append(ThreadFilter(lambda t: not (type(t) is int and 0 <= t < hi)))
    gens.append(lift(args[-1]))
    return Reserve(tuple(filters), tuple(gens))


class Synchronize(Gen):
    """Waits until every thread of the context is free, then is just ``gen``."""

    __slots__ = ("gen", "needs_update")

    def __init__(self, gen: Generator) -> None:
        self.gen = gen
        self.needs_update = getattr(gen, "needs_update", True)

    def op(self, test: Any, ctx: Context) -> OpResult:
        if len(ctx.free_threads) != len(ctx.all_threads):
            return (PENDING, self)
        return self.gen.op(test, ctx)

    def update(self, test: Any, ctx: Context, event: Event) -> Generator:
        if not self.needs_update:
            return self
        g = self.gen.update(test, ctx, event)
        return self if g is self.gen else Synchronize(g)


def synchronize(gen: Any) -> Generator:
    """``gen``, started only once all threads (of this context) are idle."""
    return Synchronize(lift(gen))


def phases(*gens: Any) -> Generator:
    """Each generator in turn; each starts only after every op of the previous completed."""
    gs = tuple(Synchronize(lift(g)) for g in gens)
    if not gs:
        return EMPTY
    return Seq(gs[0], gs, 1, True)
