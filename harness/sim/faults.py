"""Fault schedules in the simulation: the nemesis packages on the world, and scripted replays.

A run with ``--nemesis`` uses the same packages (:data:`nemesis.PACKAGES`) as
a Docker run, with the world as their backend. Two nemeses need simulated
time instead of the wall clock: the clock nemesis's strobe (the world flips
the clocks on its own schedule) and figure8 (its polls and waits run the
world's events). The nemesis generators draw from their own seeded rng, so
removing faults from a schedule (shrinking) does not reshuffle the clients'
draws as well.

Every fault the world carries out is logged as a backend call (time, call,
args): that log is the run's concrete **fault schedule**. A :class:`Script`
replays such a schedule exactly — the nemesis thread issues each call at its
simulated time — which is what shrinking and regression tests run.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from harness import generator as g
from harness.generator.context import Context, _mk
from harness.sim.world import World
from nemesis.core import NemesisOptions, Package, compose
from nemesis.faults import ClockNemesis

__all__ = ["Fault", "Script", "ScriptedNemesis", "sim_package", "script_package", "describe"]

_NS = 1_000_000_000
_KIND = {"partition": "partition", "heal": "partition", "kill": "kill", "start": "kill",
         "pause": "pause", "resume": "pause", "clock": "clock", "strobe": "clock",
         "shape": "packet"}


@dataclass(frozen=True, slots=True)
class Fault:
    """One backend call of a fault schedule, at simulated time ``t_ns``."""

    t_ns: int
    call: str  # a World fault method: partition heal kill start pause resume clock strobe shape
    args: tuple[Any, ...]

    @property
    def f(self) -> str:
        """The history op name (start-X / stop-X) so reports draw the usual fault bands."""
        kind = _KIND[self.call]
        stop = self.call in ("heal", "start", "resume") or (
            self.call == "clock" and tuple(self.args[1:]) == (0.0, 1.0)
        ) or (self.call == "shape" and not any(self.args[1:]))
        return f"{'stop' if stop else 'start'}-{kind}"

    def to_json(self) -> list[Any]:
        return [self.t_ns, self.call, list(self.args)]

    @staticmethod
    def from_json(row: Sequence[Any]) -> Fault:
        t, call, args = row
        if call not in _KIND:
            raise ValueError(f"unknown fault call {call!r}")
        return Fault(int(t), str(call), tuple(args))


Script = tuple[Fault, ...]


def describe(f: Fault) -> str:
    """``t=3.214s partition n1 n2 | n3 n4 n5`` — one line of a printed schedule."""
    t = f"t={f.t_ns / _NS:.3f}s"
    if f.call == "partition":
        grudge: Mapping[str, Any] = f.args[0]
        sides: list[str] = []
        for dst in sorted(grudge):
            sides.append(f"{dst}<-x-{','.join(sorted(grudge[dst]))}")
        return f"{t} partition {' '.join(sides)}"
    if f.call in ("heal",):
        return f"{t} heal"
    if f.call == "clock":
        return f"{t} clock {f.args[0]} offset={f.args[1]:g}s rate={f.args[2]:g}"
    if f.call == "shape":
        n, delay, loss, dup = f.args
        return f"{t} packets from {n}: delay={delay:g}ms loss={loss:g} dup={dup:g}"
    if f.call == "strobe":
        nodes, delta, period, duration = f.args
        return f"{t} strobe {','.join(nodes)} delta={delta:g}s every {period:g}s for {duration:g}s"
    return f"{t} {f.call} {' '.join(str(a) for a in f.args)}"


def apply(world: World, f: Fault) -> None:
    """Carry out one scripted call on the world (args as logged, grudges from JSON)."""
    if f.call == "partition":
        world.partition({d: frozenset(s) for d, s in dict(f.args[0]).items()})
    elif f.call == "strobe":
        nodes, delta, period, duration = f.args
        world.strobe(list(nodes), float(delta), float(period), float(duration))
    else:
        getattr(world, f.call)(*f.args)


class ScriptedNemesis:
    """Applies the faults a :class:`Script` carries; ``stop-X`` with no value heals all of X."""

    faults = frozenset({"partition", "kill", "pause", "clock", "packet"})

    def __init__(self, world: World) -> None:
        self.world = world

    def setup(self, backend: Any, test: Mapping[str, Any]) -> None:
        return None

    def invoke(self, f: str, value: Any) -> Any:
        w = self.world
        if isinstance(value, Mapping) and "call" in value:
            apply(w, Fault(w.now_ns, str(value["call"]), tuple(value["args"])))
            return value
        if f == "stop-partition":
            w.heal()
            return "healed"
        heal: dict[str, Callable[[str], None]] = {
            "stop-kill": w.start, "stop-pause": w.resume,
            "stop-clock": lambda n: w.clock(n, 0.0, 1.0),
            "stop-packet": lambda n: w.shape(n, 0, 0, 0)}
        if f not in heal:
            raise ValueError(f"the scripted nemesis cannot do {f!r}")
        for n in w.names:
            heal[f](n)
        return "healed"

    def teardown(self) -> None:
        return None


def script_package(world: World, script: Script, start_ns: int) -> Package:
    """A package replaying ``script``: each call at its time (relative to the main phase's start)."""
    ops: list[Any] = []
    t = start_ns
    for f in script:
        if f.t_ns > t:
            ops.append(g.sleep((f.t_ns - t) / _NS))
            t = f.t_ns
        ops.append({"f": f.f, "value": {"call": f.call, "args": list(f.args)}})
    kinds = sorted({_KIND[f.call] for f in script})
    return Package(
        name="script", nemesis=ScriptedNemesis(world), generator=ops,
        final_generator=[{"f": f"stop-{k}"} for k in kinds] or None,
        needs=frozenset(kinds), bands=(), interval_s=0.0,
    )


class SimClockNemesis(ClockNemesis):
    """The clock nemesis whose strobe is scheduled in simulated time (no wall-clock loop)."""

    def _strobe(self, nodes: list[str], delta_s: float) -> int:
        period_s = max(0.001, self.opts.strobe_period_ms / 1000)
        for n in nodes:
            self.offsets.setdefault(n, 0.0)
            self.rates.setdefault(n, 1.0)
        world: World = self.backend
        return world.strobe(nodes, delta_s, period_s, self.opts.strobe_duration_s)


class OwnRng(g.Gen):
    """Runs a generator on a private rng, so its draws never shift the rest of the test's."""

    __slots__ = ("gen", "rng")

    def __init__(self, gen: g.Generator, rng: random.Random) -> None:
        self.gen = gen
        self.rng = rng

    def _ctx(self, ctx: Context) -> Context:
        return _mk(ctx.time_ns, ctx.free_threads, ctx.workers, self.rng, ctx.all_threads,
                   ctx.concurrency)

    def op(self, test: Any, ctx: Context) -> Any:
        r = self.gen.op(test, self._ctx(ctx))
        if r is None:
            return None
        o, nxt = r
        return o, (self if nxt is self.gen else OwnRng(nxt, self.rng))

    def update(self, test: Any, ctx: Context, event: Any) -> g.Generator:
        nxt = self.gen.update(test, self._ctx(ctx), event)
        return self if nxt is self.gen else OwnRng(nxt, self.rng)


def sim_package(world: World, names: Sequence[str], interval_s: float, seed: int) -> Package:
    """The nemesis packages ``names`` built for the world, composed, on their own rng."""
    import nemesis
    from nemesis.figure8 import Figure8Nemesis

    opts = NemesisOptions(interval_s=interval_s)
    pkgs = []
    for name in names:
        pkg = nemesis.PACKAGES[name](opts)
        if name == "clock":
            pkg = replace(pkg, nemesis=SimClockNemesis(opts))
        elif name == "figure8":
            pkg = replace(pkg, nemesis=Figure8Nemesis(
                opts, status=world.status_of, clock=lambda: world.now_ns / _NS,
                sleep=world.run_for))
        elif name == "coordinator-crash":
            from nemesis.coordinator_crash import CoordinatorCrashNemesis

            pkg = replace(pkg, nemesis=CoordinatorCrashNemesis(
                opts, status=world.status_of, clock=lambda: world.now_ns / _NS,
                sleep=world.run_for))
        pkgs.append(pkg)
    pkg = compose(pkgs)
    rng = random.Random(f"sim-nemesis:{seed}")
    final = OwnRng(g.lift(pkg.final_generator), rng) if pkg.final_generator is not None else None
    return replace(pkg, generator=OwnRng(g.lift(pkg.generator), rng), final_generator=final)
