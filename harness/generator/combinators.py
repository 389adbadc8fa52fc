"""Combinators over time, counts and choice (jepsen.generator semantics).

Every combinator is a small immutable object; ``op`` returns a successor and
never mutates ``self``.  Successors are shared where nothing changed, so a
stateless leaf (a callable) under a stack of wrappers allocates little per op.
All randomness comes from ``ctx.rng``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.generator.context import Context
from harness.generator.core import (
    EMPTY,
    PENDING,
    Event,
    Gen,
    Generator,
    GeneratorError,
    OnceOp,
    OpDict,
    OpResult,
    event_get,
    lift,
    needs_update,
)

__all__ = [
    "limit",
    "once",
    "repeat",
    "cycle",
    "time_limit",
    "stagger",
    "delay",
    "mix",
    "any",
    "flip_flop",
    "until_ok",
    "filter",
    "map",
    "concat",
    "sleep",
    "log",
    "seconds_to_ns",
]


def seconds_to_ns(dt_s: float) -> int:
    if dt_s < 0:
        raise GeneratorError(f"a duration must be >= 0 seconds, got {dt_s}")
    return int(round(dt_s * 1_000_000_000))


class Limit(Gen):
    __slots__ = ("n", "gen", "needs_update")

    def __init__(self, n: int, gen: Generator) -> None:
        self.n = n
        self.gen = gen
        self.needs_update = getattr(gen, "needs_update", True)

    def op(self, test: Any, ctx: Context) -> OpResult:
        if self.n <= 0:
            return None
        r = self.gen.op(test, ctx)
        if r is None:
            return None
        o, g = r
        if o is PENDING:
            return (PENDING, self)
        return (o, Limit(self.n - 1, g))

    def update(self, test: Any, ctx: Context, event: Event) -> Generator:
        if not self.needs_update:
            return self
        g = self.gen.update(test, ctx, event)
        return self if g is self.gen else Limit(self.n, g)


def limit(n: int, gen: Any) -> Generator:
    """At most ``n`` ops of ``gen``."""
    return Limit(n, lift(gen))


def once(gen: Any) -> Generator:
    """Only the first op of ``gen``."""
    return Limit(1, lift(gen))


class Repeat(Gen):
    """Re-asks the same (un-advanced) generator: the same op again and again."""

    __slots__ = ("n", "gen", "needs_update")

    def __init__(self, n: int | None, gen: Generator) -> None:
        self.n = n
        self.gen = gen
        self.needs_update = getattr(gen, "needs_update", True)

    def op(self, test: Any, ctx: Context) -> OpResult:
        n = self.n
        if n is not None and n <= 0:
            return None
        r = self.gen.op(test, ctx)
        if r is None:
            return None
        o = r[0]
        if o is PENDING or n is None:
            return (o, self)
        return (o, Repeat(n - 1, self.gen))

    def update(self, test: Any, ctx: Context, event: Event) -> Generator:
        if not self.needs_update:
            return self
        g = self.gen.update(test, ctx, event)
        return self if g is self.gen else Repeat(self.n, g)


def repeat(gen: Any, n: int | None = None) -> Generator:
    """Emit ``gen``'s first op forever (or ``n`` times) without advancing ``gen``."""
    return Repeat(n, lift(gen))


class Cycle(Gen):
    """Runs ``gen``; when exhausted starts ``original`` again (``remaining`` runs left)."""

    __slots__ = ("original", "gen", "remaining", "needs_update")

    def __init__(self, original: Generator, gen: Generator, remaining: int | None) -> None:
        self.original = original
        self.gen = gen
        self.remaining = remaining
        self.needs_update = getattr(gen, "needs_update", True) or needs_update(original)

    def op(self, test: Any, ctx: Context) -> OpResult:
        rem = self.remaining
        if rem is not None and rem <= 0:
            return None
        r = self.gen.op(test, ctx)
        if r is None:
            if rem is not None:
                rem -= 1
                if rem <= 0:
                    return None
            # A fresh run that is exhausted at once would loop forever: stop.
            r = self.original.op(test, ctx)
            if r is None:
                return None
        o, g = r
        if g is self.gen and rem == self.remaining:
            return (o, self)
        return (o, Cycle(self.original, g, rem))

    def update(self, test: Any, ctx: Context, event: Event) -> Generator:
        if not self.needs_update:
            return self
        g = self.gen.update(test, ctx, event)
        return self if g is self.gen else Cycle(self.original, g, self.remaining)


def cycle(gen: Any, n: int | None = None) -> Generator:
    """Run ``gen`` to exhaustion, then from its start again; forever or ``n`` runs in all."""
    g = lift(gen)
    return Cycle(g, g, n)


class TimeLimit(Gen):
    __slots__ = ("dt_ns", "cutoff_ns", "gen", "needs_update")

    def __init__(self, dt_ns: int, cutoff_ns: int | None, gen: Generator) -> None:
        self.dt_ns = dt_ns
        self.cutoff_ns = cutoff_ns
        self.gen = gen
        self.needs_update = getattr(gen, "needs_update", True)

    def op(self, test: Any, ctx: Context) -> OpResult:
        cutoff = self.cutoff_ns
        if cutoff is not None and ctx.time_ns >= cutoff:
            return None
        r = self.gen.op(test, ctx)
        if r is None:
            return None
        o, g = r
        if o is PENDING:
            return (PENDING, self)
        t: int = o["time_ns"]  # type: ignore[index]
        if cutoff is None:
            cutoff = t + self.dt_ns
        if t >= cutoff:
            return None
        if g is self.gen and cutoff == self.cutoff_ns:
            return (o, self)
        return (o, TimeLimit(self.dt_ns, cutoff, g))

    def update(self, test: Any, ctx: Context, event: Event) -> Generator:
        if not self.needs_update:
            return self
        g = self.gen.update(test, ctx, event)
        return self if g is self.gen else TimeLimit(self.dt_ns, self.cutoff_ns, g)


def time_limit(dt_s: float, gen: Any) -> Generator:
    """Ops of ``gen`` until ``dt_s`` seconds after its first op; none at or after that."""
    return TimeLimit(seconds_to_ns(dt_s), None, lift(gen))


class Spaced(Gen):
    """Ops no earlier than ``next_ns``; the gap after each op is fixed or uniform random."""

    __slots__ = ("dt_ns", "randomized", "next_ns", "gen", "needs_update")

    def __init__(self, dt_ns: int, randomized: bool, next_ns: int | None, gen: Generator) -> None:
        self.dt_ns = dt_ns
        self.randomized = randomized
        self.next_ns = next_ns
        self.gen = gen
        self.needs_update = getattr(gen, "needs_update", True)

    def op(self, test: Any, ctx: Context) -> OpResult:
        r = self.gen.op(test, ctx)
        if r is None:
            return None
        o, g = r
        if o is PENDING:
            return (PENDING, self)
        t: int = o["time_ns"]  # type: ignore[index]
        nxt = self.next_ns
        if nxt is not None and t < nxt:
            o["time_ns"] = t = nxt  # type: ignore[index]
        gap = int(ctx.rng.random() * self.dt_ns) if self.randomized else self.dt_ns
        return (o, Spaced(self.dt_ns, self.randomized, t + gap, g))

    def update(self, test: Any, ctx: Context, event: Event) -> Generator:
        if not self.needs_update:
            return self
        g = self.gen.update(test, ctx, event)
        return self if g is self.gen else Spaced(self.dt_ns, self.randomized, self.next_ns, g)


def stagger(dt_s: float, gen: Any) -> Generator:
    """Ops at random intervals uniform in [0, 2·dt_s): a total rate of 1/dt_s over all threads."""
    return Spaced(2 * seconds_to_ns(dt_s), True, None, lift(gen))


def delay(dt_s: float, gen: Any) -> Generator:
    """Ops at least ``dt_s`` seconds apart (the first one at once)."""
    return Spaced(seconds_to_ns(dt_s), False, None, lift(gen))


def _replace(gens: tuple[Generator, ...], i: int, g: Generator) -> tuple[Generator, ...]:
    return gens if gens[i] is g else gens[:i] + (g,) + gens[i + 1 :]


def _any_nu(gens: tuple[Generator, ...]) -> bool:
    for g in gens:
        if needs_update(g):
            return True
    return False


def _update_all(
    gens: tuple[Generator, ...], test: Any, ctx: Context, event: Event
) -> tuple[Generator, ...]:
    out = tuple(g.update(test, ctx, event) for g in gens)
    for a, b in zip(out, gens, strict=True):
        if a is not b:
            return out
    return gens


class Mix(Gen):
    """Each op from a random live generator; the choice for the next op is made now."""

    __slots__ = ("gens", "i", "needs_update")

    def __init__(self, gens: tuple[Generator, ...], i: int, nu: bool | None = None) -> None:
        self.gens = gens
        self.i = i
        self.needs_update = _any_nu(gens) if nu is None else nu

    def op(self, test: Any, ctx: Context) -> OpResult:
        gens = self.gens
        rand = ctx.rng.random
        i = self.i if self.i >= 0 else int(rand() * len(gens))
        while gens:
            r = gens[i].op(test, ctx)
            if r is None:
                gens = gens[:i] + gens[i + 1 :]
                i = int(rand() * len(gens))
                continue
            o, g = r
            if o is PENDING:
                return (PENDING, self if gens is self.gens else Mix(gens, i))
            nu = self.needs_update or getattr(g, "needs_update", True)
            gens = _replace(gens, i, g)
            return (o, Mix(gens, int(rand() * len(gens)), nu))
        return None

    def update(self, test: Any, ctx: Context, event: Event) -> Generator:
        if not self.needs_update:
            return self
        gens = _update_all(self.gens, test, ctx, event)
        return self if gens is self.gens else Mix(gens, self.i)


def mix(gens: Any) -> Generator:
    """A random choice (ctx.rng, uniform) among the live generators, per op."""
    gs = tuple(lift(g) for g in gens)
    return Mix(gs, -1) if gs else EMPTY


class Any_(Gen):
    """The soonest op of several generators; ties are broken uniformly with ctx.rng."""

    __slots__ = ("gens", "needs_update")

    def __init__(self, gens: tuple[Generator, ...], nu: bool | None = None) -> None:
        self.gens = gens
        self.needs_update = _any_nu(gens) if nu is None else nu

    def op(self, test: Any, ctx: Context) -> OpResult:
        gens = self.gens
        best_o: OpDict | None = None
        best_g: Generator = self
        best_i = -1
        best_t = 0
        ties = 0
        pending = False
        dead: list[int] | None = None
        i = -1
        for g in gens:
            i += 1
            r = g.op(test, ctx)
            if r is None:
                if dead is None:
                    dead = []
                dead.append(i)
                continue
            o = r[0]
            if o is PENDING:
                pending = True
                continue
            t: int = o["time_ns"]  # type: ignore[index]
            if best_o is None or t < best_t:
                best_o, best_g, best_i, best_t, ties = o, r[1], i, t, 1  # type: ignore[assignment]
            elif t == best_t:
                ties += 1
                if ctx.rng.random() * ties < 1.0:
                    best_o, best_g, best_i = o, r[1], i  # type: ignore[assignment]
        if best_o is None:
            return (PENDING, self) if pending else None
        if dead is None:
            if best_g is gens[best_i]:
                return (best_o, self)
            nu = self.needs_update or getattr(best_g, "needs_update", True)
            return (best_o, Any_(_replace(gens, best_i, best_g), nu))
        out = _replace(gens, best_i, best_g)
        return (best_o, Any_(tuple(g for j, g in enumerate(out) if j not in dead)))

    def update(self, test: Any, ctx: Context, event: Event) -> Generator:
        if not self.needs_update:
            return self
        gens = _update_all(self.gens, test, ctx, event)
        return self if gens is self.gens else Any_(gens, True)


def any(*gens: Any) -> Generator:  # noqa: A001 - the Jepsen name
    """The soonest op among ``gens``; all of them see every update."""
    gs = tuple(lift(g) for g in gens)
    if not gs:
        return EMPTY
    return gs[0] if len(gs) == 1 else Any_(gs)


class FlipFlop(Gen):
    """An op from gens[i], then from gens[i+1], ...; exhausted when the one asked is."""

    __slots__ = ("gens", "i", "needs_update")

    def __init__(self, gens: tuple[Generator, ...], i: int) -> None:
        self.gens = gens
        self.i = i
        self.needs_update = _any_nu(gens)

    def op(self, test: Any, ctx: Context) -> OpResult:
        r = self.gens[self.i].op(test, ctx)
        if r is None:
            return None
        o, g = r
        if o is PENDING:
            return (PENDING, self)
        return (o, FlipFlop(_replace(self.gens, self.i, g), (self.i + 1) % len(self.gens)))

    def update(self, test: Any, ctx: Context, event: Event) -> Generator:
        if not self.needs_update:
            return self
        gens = _update_all(self.gens, test, ctx, event)
        return self if gens is self.gens else FlipFlop(gens, self.i)


def flip_flop(a: Any, b: Any) -> Generator:
    """Alternate between ``a`` and ``b``, starting with ``a``; stops when either runs out."""
    return FlipFlop((lift(a), lift(b)), 0)


class UntilOk(Gen):
    """Passes ops through until one of them completes ``ok``."""

    __slots__ = ("gen", "done", "active")

    def __init__(self, gen: Generator, done: bool, active: frozenset[Any]) -> None:
        self.gen = gen
        self.done = done
        self.active = active

    def op(self, test: Any, ctx: Context) -> OpResult:
        if self.done:
            return None
        r = self.gen.op(test, ctx)
        if r is None:
            return None
        o, g = r
        if o is PENDING:
            return (PENDING, self)
        return (o, UntilOk(g, False, self.active | {o["process"]}))  # type: ignore[index]

    def update(self, test: Any, ctx: Context, event: Event) -> Generator:
        g = self.gen.update(test, ctx, event)
        p = event_get(event, "process")
        done, active = self.done, self.active
        if p in active:
            t = event_get(event, "type")
            if t == "ok":
                done, active = True, active - {p}
            elif t in ("fail", "info"):
                active = active - {p}
        if g is self.gen and done == self.done and active is self.active:
            return self
        return UntilOk(g, done, active)


def until_ok(gen: Any) -> Generator:
    """``gen``'s ops until the first of them completes ok; then exhausted."""
    return UntilOk(lift(gen), False, frozenset())


class Filter(Gen):
    __slots__ = ("pred", "gen", "needs_update")

    def __init__(self, pred: Callable[[OpDict], bool], gen: Generator) -> None:
        self.pred = pred
        self.gen = gen
        self.needs_update = getattr(gen, "needs_update", True)

    def op(self, test: Any, ctx: Context) -> OpResult:
        gen = self.gen
        while True:
            r = gen.op(test, ctx)
            if r is None:
                return None
            o, g = r
            if o is PENDING:
                return (PENDING, self if gen is self.gen else Filter(self.pred, gen))
            if self.pred(o):  # type: ignore[arg-type]
                return (o, self if g is self.gen else Filter(self.pred, g))
            gen = g

    def update(self, test: Any, ctx: Context, event: Event) -> Generator:
        if not self.needs_update:
            return self
        g = self.gen.update(test, ctx, event)
        return self if g is self.gen else Filter(self.pred, g)


def filter(pred: Callable[[OpDict], bool], gen: Any) -> Generator:  # noqa: A001
    """Only the ops of ``gen`` for which ``pred(op)`` is true (the others are skipped)."""
    return Filter(pred, lift(gen))


class Map(Gen):
    __slots__ = ("fn", "gen", "needs_update")

    def __init__(self, fn: Callable[[OpDict], OpDict], gen: Generator) -> None:
        self.fn = fn
        self.gen = gen
        self.needs_update = getattr(gen, "needs_update", True)

    def op(self, test: Any, ctx: Context) -> OpResult:
        r = self.gen.op(test, ctx)
        if r is None:
            return None
        o, g = r
        if o is PENDING:
            return (PENDING, self)
        return (self.fn(o), self if g is self.gen else Map(self.fn, g))  # type: ignore[arg-type]

    def update(self, test: Any, ctx: Context, event: Event) -> Generator:
        if not self.needs_update:
            return self
        g = self.gen.update(test, ctx, event)
        return self if g is self.gen else Map(self.fn, g)


def map(fn: Callable[[OpDict], OpDict], gen: Any) -> Generator:  # noqa: A001
    """``gen``'s ops transformed by ``fn(op) -> op`` (fn may change op in place and return it)."""
    return Map(fn, lift(gen))


def concat(*gens: Any) -> Generator:
    """Each generator to exhaustion, in order (no waiting in between; see phases)."""
    return lift(list(gens))


def sleep(dt_s: float) -> Generator:
    """One ``{"type": "sleep", "value": dt_s}`` op: its thread is busy for dt_s, then free."""
    seconds_to_ns(dt_s)
    return OnceOp({"type": "sleep", "f": "sleep", "value": dt_s})


def log(msg: str) -> Generator:
    """One ``{"type": "log", "value": msg}`` op: the interpreter records msg in the run log."""
    return OnceOp({"type": "log", "f": "log", "value": msg})
