"""Fault schedules in the simulation: the nemesis packages on the world, and scripted replays.

A run with ``--nemesis`` uses the same packages (:data:`nemesis.PACKAGES`) as
a Docker run, with the world as their backend. Two nemeses need simulated
time instead of the wall clock: the clock nemesis's strobe (the world flips
the clocks on its own schedule) and figure8 (its polls read the world, its
waits let simulated time pass while the clients go on: see
:class:`harness.sim.interp.SimInterpreter`). The nemesis generators draw from their own seeded rng, so
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
from nemesis.core import NemesisBase, NemesisOptions, Package, compose, fault_of
from nemesis.faults import ClockNemesis

__all__ = ["Fault", "Script", "ScriptedNemesis", "sim_package", "script_package", "describe"]

_NS = 1_000_000_000
_KIND = {"partition": "partition", "heal": "partition", "kill": "kill", "start": "kill",
         "pause": "pause", "resume": "pause", "clock": "clock", "strobe": "clock",
         "shape": "packet", "add_node": "membership", "retire_node": "membership",
         "control": "membership"}


@dataclass(frozen=True, slots=True)
class Fault:
    """One backend call of a fault schedule, at simulated time ``t_ns``."""

    t_ns: int
    call: str  # a World fault method: partition heal kill start pause resume clock strobe shape
    # add_node retire_node control
    args: tuple[Any, ...]
    until_ns: int = 0  # > 0: made by a nemesis op that held the nemesis until then (figure8)

    @property
    def f(self) -> str:
        """The history op name (start-X / stop-X) so reports draw the usual fault bands."""
        kind = _KIND[self.call]
        stop = self.call in ("heal", "start", "resume") or (
            self.call == "clock" and tuple(self.args[1:]) == (0.0, 1.0)
        ) or (self.call == "shape" and not any(self.args[1:])) or (
            self.call == "control" and _registration_on(self.args[1]))
        return f"{'stop' if stop else 'start'}-{kind}"

    def to_json(self) -> list[Any]:
        row = [self.t_ns, self.call, list(self.args)]
        return row + [self.until_ns] if self.until_ns else row

    @staticmethod
    def from_json(row: Sequence[Any]) -> Fault:
        t, call, args = row[:3]
        if call not in _KIND:
            raise ValueError(f"unknown fault call {call!r}")
        return Fault(int(t), str(call), tuple(args), int(row[3]) if len(row) > 3 else 0)


Script = tuple[Fault, ...]


def _registration_on(msg: Any) -> bool:
    return isinstance(msg, Mapping) and msg.get("op") == "registration" and bool(msg.get("on"))


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
    if f.call == "control":
        node, msg, _ = f.args
        what = " ".join(f"{k}={v}" for k, v in sorted(dict(msg).items()) if k != "op")
        return f"{t} control {node}: {msg.get('op')}{' ' + what if what else ''}"
    return f"{t} {f.call} {' '.join(str(a) for a in f.args)}"


def apply(world: World, f: Fault) -> None:
    """Carry out one scripted call on the world (args as logged, grudges from JSON)."""
    if f.call == "partition":
        world.partition({d: frozenset(s) for d, s in dict(f.args[0]).items()})
    elif f.call == "add_node":  # the world names it (the same name again on a replay)
        world.add_node()
    elif f.call == "strobe":
        nodes, delta, period, duration = f.args
        world.strobe(list(nodes), float(delta), float(period), float(duration))
    else:
        getattr(world, f.call)(*f.args)


class ScriptedNemesis:
    """Applies the faults a :class:`Script` carries; ``stop-X`` with no value heals what the
    script did of X (as the real nemeses heal only what they did: a node that crashed on
    its own stays down)."""

    faults = frozenset({"partition", "kill", "pause", "clock", "packet", "membership"})

    def __init__(self, world: World) -> None:
        self.world = world
        self.touched: dict[str, set[str]] = {"kill": set(), "pause": set(), "clock": set(),
                                             "packet": set(), "membership": set()}

    def _apply(self, f: Fault) -> None:
        apply(self.world, f)
        kind = _KIND[f.call]
        if f.call == "control":  # membership: the nodes whose registration it turned off
            node, msg = f.args[0], dict(f.args[1])
            if msg.get("op") == "registration":
                (self.touched[kind].discard if msg.get("on") else self.touched[kind].add)(node)
        elif kind == "membership":
            pass
        elif kind in self.touched and f.args and isinstance(f.args[0], str):
            if f.f.startswith("start-"):
                self.touched[kind].add(f.args[0])
            else:
                self.touched[kind].discard(f.args[0])
        elif f.call == "strobe":
            self.touched["clock"].update(f.args[0])

    def setup(self, backend: Any, test: Mapping[str, Any]) -> None:
        return None

    def invoke(self, f: str, value: Any) -> Any:
        w = self.world
        if isinstance(value, Mapping) and "call" in value:
            self._apply(Fault(w.now_ns, str(value["call"]), tuple(value["args"])))
            return value
        if isinstance(value, Mapping) and "calls" in value:  # one op that held the nemesis
            for t, call, args in value["calls"]:
                w.nemesis_sleep(max(0, int(t) - w.now_ns) / _NS)
                self._apply(Fault(w.now_ns, str(call), tuple(args)))
            w.nemesis_sleep(max(0, int(value["until"]) - w.now_ns) / _NS)
            return value
        if f == "stop-partition":
            w.heal()
            return "healed"
        heal: dict[str, Callable[[str], None]] = {
            "stop-kill": w.start, "stop-pause": w.resume,
            "stop-membership": lambda n: self._apply(Fault(
                w.now_ns, "control", (n, {"op": "registration", "on": True}, 2.5))),
            "stop-clock": lambda n: w.clock(n, 0.0, 1.0),
            "stop-packet": lambda n: w.shape(n, 0, 0, 0)}
        if f not in heal:
            raise ValueError(f"the scripted nemesis cannot do {f!r}")
        done = self.touched[fault_of(f)]
        for n in sorted(done):
            heal[f](n)
        healed = sorted(done)
        done.clear()
        return healed

    def teardown(self) -> None:
        return None


class AtTimes(g.Gen):
    """Ops at fixed absolute times (ns), as a staggered nemesis generator emits them.

    No sleep ops in between: a replayed schedule must look to the other
    generators (``any``'s tie-breaks draw from ctx.rng) exactly as the
    original nemesis did, or the clients' op stream would drift."""

    __slots__ = ("ops", "i")
    needs_update = False

    def __init__(self, ops: tuple[tuple[int, dict[str, Any]], ...], i: int = 0) -> None:
        self.ops = ops
        self.i = i

    def op(self, test: Any, ctx: Context) -> Any:
        if self.i >= len(self.ops):
            return None
        p = ctx.some_free_process()
        if p is None:
            return (g.PENDING, self)
        t, o = self.ops[self.i]
        return ({**o, "type": "invoke", "process": p, "time_ns": max(t, ctx.time_ns)},
                AtTimes(self.ops, self.i + 1))

    def update(self, test: Any, ctx: Context, event: Any) -> g.Generator:
        return self


def _same_op(first: Fault, x: Fault) -> bool:
    """Whether ``x`` came from the same nemesis op as ``first`` (same instant, or same hold)."""
    if first.until_ns:
        return x.until_ns == first.until_ns
    return x.t_ns == first.t_ns and not x.until_ns


def script_package(world: World, script: Script, names: Sequence[str] = ()) -> Package:
    """A package replaying ``script``: each call at its recorded simulated time.

    Its final heal has one stop op per package the run named (``names``, as the
    composed package's final generator), else one per fault kind in the script."""
    ops: list[tuple[int, dict[str, Any]]] = []
    i = 0
    while i < len(script):
        # One op per original nemesis op: the calls it made at one instant (kill a
        # majority), or over time when it blocked (figure8, which replays as blocking).
        f = script[i]
        j = i + 1
        while j < len(script) and _same_op(f, script[j]):
            j += 1
        if j == i + 1 and not f.until_ns:
            ops.append((f.t_ns, {"f": f.f, "value": {"call": f.call, "args": list(f.args)}}))
        else:
            calls = [[x.t_ns, x.call, list(x.args)] for x in script[i:j]]
            until = f.until_ns or f.t_ns
            ops.append((f.t_ns, {"f": f.f, "value": {"calls": calls, "until": until}}))
        i = j
    kinds = sorted({_KIND[f.call] for f in script})
    stops = [{"f": f"stop-{'partition' if n == 'figure8' else n}"} for n in names]
    return Package(
        name="script", nemesis=ScriptedNemesis(world), generator=AtTimes(tuple(ops)),
        final_generator=stops or [{"f": f"stop-{k}"} for k in kinds] or None,
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
    from nemesis.membership import MembershipNemesis
    from nemesis.status import StatusNemesis

    opts = NemesisOptions(interval_s=interval_s)
    pkgs = []
    for name in names:
        pkg = nemesis.PACKAGES[name](opts)
        if isinstance(pkg.nemesis, NemesisBase):  # a new-leader chase waits on simulated time
            pkg.nemesis.sleep = world.nemesis_sleep
        if name == "clock":
            pkg = replace(pkg, nemesis=SimClockNemesis(opts))
        elif isinstance(pkg.nemesis, StatusNemesis):  # targeted: watches on simulated time
            pkg.nemesis.attach(world.status_of, lambda: world.now_ns / _NS, world.nemesis_sleep)
        elif isinstance(pkg.nemesis, MembershipNemesis):  # settles and asks on simulated time
            pkg.nemesis.on_clock(world.nemesis_sleep, lambda: world.now_ns / _NS)
        pkgs.append(pkg)
    pkg = compose(pkgs)
    rng = random.Random(f"sim-nemesis:{seed}")
    final = OwnRng(g.lift(pkg.final_generator), rng) if pkg.final_generator is not None else None
    return replace(pkg, generator=OwnRng(g.lift(pkg.generator), rng), final_generator=final)
