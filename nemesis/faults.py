"""The five fault nemeses. Each works through the Backend protocol only.

Every ``invoke`` blocks until the fault is in place and returns a JSON value
saying exactly what was done; ``teardown`` heals everything and never raises.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from typing import Any

from nemesis import grudge as gr
from nemesis.core import NemesisBase, NemesisError, NemesisOptions
from nemesis.leader import StatusLeader, find_leader

__all__ = [
    "PARTITION_KINDS",
    "ClockNemesis",
    "KillNemesis",
    "LeaderChaseNemesis",
    "PacketNemesis",
    "PartitionNemesis",
    "PauseNemesis",
    "undo_all",
    "undo_quietly",
]

PARTITION_KINDS = (
    "halves", "one", "leader", "majorities-ring", "bridge", "one-way", "leader-minority",
)
# How long a new-leader kill or pause waits for the next leader, and how often it asks.
CHASE_S = 3.0
CHASE_POLL_S = 0.02


def _value_spec(value: Any, key: str, default: Any) -> Any:
    if isinstance(value, Mapping):
        return value.get(key, default)
    return value if value is not None else default


def undo_all(down: set[str], undo: Callable[[str], None]) -> list[str]:
    """Undo a fault on every node of ``down`` (sorted); the nodes it was undone on leave
    ``down``. Tries them all, then raises one NemesisError naming those that failed."""
    nodes = sorted(down)
    errors = []
    for n in nodes:
        try:
            undo(n)
            down.discard(n)
        except Exception as e:  # noqa: BLE001 - bring back the others first
            errors.append(f"{n}: {e}")
    if errors:
        raise NemesisError("; ".join(errors))
    return nodes


def undo_quietly(down: set[str], undo: Callable[[str], None]) -> None:
    """Teardown's :func:`undo_all`: never raises, and forgets every node."""
    for n in sorted(down):
        with contextlib.suppress(Exception):
            undo(n)
    down.clear()


class PartitionNemesis(NemesisBase):
    """``start-partition`` (value: a kind of :data:`PARTITION_KINDS`) / ``stop-partition``."""

    faults = frozenset({"partition"})
    live_targets = True

    def grudge(self, kind: str) -> gr.Grudge:
        nodes = sorted(self.target_nodes())
        shuffled = list(nodes)
        self.rng.shuffle(shuffled)
        if kind == "halves":
            return gr.bisect(shuffled)
        if kind == "one":
            return gr.isolate_one(nodes, self.rng)
        if kind == "leader":
            leader = self.leader()
            return gr.isolate(nodes, leader) if leader in nodes else gr.isolate_one(nodes, self.rng)
        if kind == "leader-minority":
            leader = self.leader()
            if leader not in nodes:
                leader = self.rng.choice(nodes)
            return gr.leader_minority(nodes, leader, self.rng)
        if kind == "majorities-ring":
            return gr.majorities_ring(nodes, self.rng)
        if kind == "bridge":
            return gr.bridge(shuffled)
        if kind == "one-way":
            src = shuffled[: max(1, (len(nodes) - 1) // 2)]
            return gr.one_way(src, [n for n in nodes if n not in src])
        raise NemesisError(f"unknown partition kind {kind!r} (one of {', '.join(PARTITION_KINDS)})")

    def invoke(self, f: str, value: Any) -> Any:
        backend = self._need_backend()
        if f == "start-partition":
            kind = str(_value_spec(value, "kind", "halves"))
            grudge = self.grudge(kind)
            backend.partition(grudge)
            return {"kind": kind, "grudge": gr.grudge_to_json(grudge)}
        if f == "stop-partition":
            backend.heal()
            return "healed"
        raise NemesisError(f"partition nemesis cannot do {f!r}")

    def teardown(self) -> None:
        if self.backend is not None:
            with contextlib.suppress(Exception):
                self.backend.heal()


class _DownUp(NemesisBase):
    """Shared shape of kill/start and pause/resume: remember who is down, bring back."""

    fault = ""
    live_targets = True

    def __init__(self, opts: NemesisOptions) -> None:
        super().__init__(opts)
        self.down: set[str] = set()

    def _do(self, node: str) -> None:
        raise NotImplementedError

    def _undo(self, node: str) -> None:
        raise NotImplementedError

    def _hit(self, nodes: list[str]) -> None:
        for n in nodes:
            # Recorded first: if the fault half-happened (signal sent, then a
            # timeout), the stop and the teardown must still undo it.
            self.down.add(n)
            self._do(n)

    def _next_leader(self, gone: set[str]) -> str | None:
        """The first leader among the nodes not in ``gone``, asked every CHASE_POLL_S
        for at most CHASE_S (through ``self.sleep``: simulated time in the sim)."""
        waited = 0.0
        while waited < CHASE_S:
            if isinstance(self.leaders, StatusLeader):  # ask only the nodes still up
                up = {n: a for n, a in self.leaders.cluster.items() if n not in gone}
                leader = find_leader(up, timeout_s=0.2)
            else:
                leader = self.leader()
            if leader is not None and leader not in gone and leader in self.nodes:
                return leader
            self.sleep(CHASE_POLL_S)
            waited += CHASE_POLL_S
        return None

    def invoke(self, f: str, value: Any) -> Any:
        self._need_backend()
        if f == f"start-{self.fault}":
            spec = _value_spec(value, "targets", "one")
            if spec != "new-leader":
                nodes = self.targets(spec)
                self._hit(nodes)
                return nodes
            # At a role change: the leader, then its successor the moment it is elected
            # (before it has committed its first entry or served a read). With no leader
            # known (a leaderless system, or mid-election) one random node, no chase.
            leader = self.leader()
            first = [leader] if leader in self.nodes else self.targets("one")
            self._hit(first)
            if leader not in self.nodes:
                return first
            nxt = self._next_leader(set(first))
            if nxt is not None:
                self._hit([nxt])
            return first + ([nxt] if nxt is not None else [])
        if f == f"stop-{self.fault}":
            self.down.intersection_update(self.target_nodes())  # a node retired since is gone
            return undo_all(self.down, self._undo)
        raise NemesisError(f"{self.fault} nemesis cannot do {f!r}")

    def teardown(self) -> None:
        undo_quietly(self.down, self._undo)


class KillNemesis(_DownUp):
    """``start-kill`` (value: target spec; result: nodes killed) / ``stop-kill`` (restart)."""

    faults = frozenset({"kill"})
    fault = "kill"

    def _do(self, node: str) -> None:
        self._need_backend().kill(node)

    def _undo(self, node: str) -> None:
        self._need_backend().start(node)


class LeaderChaseNemesis(_DownUp):
    """``start-leader-chase`` (value ``{"mode": kill|pause}``; result: mode and the nodes
    hit — the leader, then its successor once elected) / ``stop-leader-chase`` (restart
    or resume each as it was hit)."""

    faults = frozenset({"leader-chase"})
    fault = "leader-chase"
    MODES = ("kill", "pause")

    def __init__(self, opts: NemesisOptions) -> None:
        super().__init__(opts)
        self.mode = "kill"
        self.how: dict[str, str] = {}

    def _do(self, node: str) -> None:
        self.how[node] = self.mode
        if self.mode == "kill":
            self._need_backend().kill(node)
        else:
            self._need_backend().pause(node)

    def _undo(self, node: str) -> None:
        if self.how.get(node, "kill") == "kill":
            self._need_backend().start(node)
        else:
            self._need_backend().resume(node)
        self.how.pop(node, None)

    def invoke(self, f: str, value: Any) -> Any:
        if f == "start-leader-chase":
            mode = str(_value_spec(value, "mode", "kill"))
            if mode not in self.MODES:
                raise NemesisError(f"unknown leader-chase mode {mode!r} (kill or pause)")
            self.mode = mode
            return {"mode": mode, "nodes": super().invoke(f, {"targets": "new-leader"})}
        return super().invoke(f, value)


class PauseNemesis(_DownUp):
    """``start-pause`` (value: target spec; result: nodes paused) / ``stop-pause``."""

    faults = frozenset({"pause"})
    fault = "pause"

    def _do(self, node: str) -> None:
        self._need_backend().pause(node)

    def _undo(self, node: str) -> None:
        self._need_backend().resume(node)


CLOCK_MODES = ("bump", "strobe", "rate")


class ClockNemesis(NemesisBase):
    """``start-clock`` (value ``{"mode": bump|strobe|rate, "targets": spec}``) / ``stop-clock``.

    bump: each target's wall clock jumps by a random ±[0.1, max] s (offsets add up);
    strobe: targets flip between their offset and offset+delta every period for a
    while, then settle back; rate: targets' clocks run at a rate from
    ``clock_rates``. ``stop-clock`` sets every touched clock back to real time.
    """

    faults = frozenset({"clock"})

    def __init__(self, opts: NemesisOptions, sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(opts)
        self.offsets: dict[str, float] = {}
        self.rates: dict[str, float] = {}
        self._sleep = sleep

    def _delta_s(self) -> float:
        mag = self.rng.uniform(0.1, max(0.1, self.opts.clock_max_offset_s))
        return round(mag if self.rng.random() < 0.5 else -mag, 3)

    def _set(self, node: str, offset_s: float, rate: float) -> None:
        self.offsets.setdefault(node, 0.0)  # known skewed even if the call below fails
        self.rates.setdefault(node, 1.0)
        self._need_backend().clock(node, offset_s, rate)
        self.offsets[node] = offset_s
        self.rates[node] = rate

    def _strobe(self, nodes: list[str], delta_s: float) -> int:
        period_s = max(0.001, self.opts.strobe_period_ms / 1000)
        deadline = time.monotonic() + self.opts.strobe_duration_s
        flips = 0
        while time.monotonic() < deadline:
            for n in nodes:
                self.offsets.setdefault(n, 0.0)  # so stop-clock and teardown reset it
                self.rates.setdefault(n, 1.0)
                base = self.offsets[n]
                self._need_backend().clock(n, base + (delta_s if flips % 2 == 0 else 0.0),
                                           self.rates.get(n, 1.0))
            flips += 1
            self._sleep(period_s)
        for n in nodes:
            self._set(n, self.offsets.get(n, 0.0), self.rates.get(n, 1.0))
        return flips

    def invoke(self, f: str, value: Any) -> Any:
        self._need_backend()
        if f == "start-clock":
            mode = str(_value_spec(value, "mode", "bump"))
            nodes = self.targets(value.get("targets", "one") if isinstance(value, Mapping) else "one")
            if mode == "bump":
                for n in nodes:
                    self._set(n, round(self.offsets.get(n, 0.0) + self._delta_s(), 3),
                              self.rates.get(n, 1.0))
            elif mode == "strobe":
                delta_s = self._delta_s()
                flips = self._strobe(nodes, delta_s)
                return {"mode": mode, "nodes": nodes, "delta_s": delta_s, "flips": flips}
            elif mode == "rate":
                for n in nodes:
                    self._set(n, self.offsets.get(n, 0.0), self.rng.choice(self.opts.clock_rates))
            else:
                raise NemesisError(f"unknown clock mode {mode!r} (one of {', '.join(CLOCK_MODES)})")
            return {
                "mode": mode,
                "offsets_s": {n: self.offsets[n] for n in nodes},
                "rates": {n: self.rates[n] for n in nodes},
            }
        if f == "stop-clock":
            touched = sorted(self.offsets)
            for n in touched:
                self._need_backend().clock(n, 0.0, 1.0)
            self.offsets.clear()
            self.rates.clear()
            return touched
        raise NemesisError(f"clock nemesis cannot do {f!r}")

    def teardown(self) -> None:
        for n in sorted(self.offsets):
            with contextlib.suppress(Exception):
                self._need_backend().clock(n, 0.0, 1.0)
        self.offsets.clear()
        self.rates.clear()


PACKET_MODES = ("loss", "dup", "delay")


class PacketNemesis(NemesisBase):
    """``start-packet`` (value ``{"mode": loss|dup|delay, "targets": spec}``) / ``stop-packet``.

    Shapes what the target nodes send to their peers. At setup the backend
    says which mechanism it has (``packet_mechanism()``); modes it cannot do
    are left out of :attr:`modes`, which the generator draws from.
    """

    faults = frozenset({"packet"})

    def __init__(self, opts: NemesisOptions) -> None:
        super().__init__(opts)
        self.shaped: set[str] = set()
        self.mechanism: dict[str, str] = {}
        self.modes: tuple[str, ...] = PACKET_MODES

    def setup(self, backend: Any, test: Mapping[str, Any]) -> None:
        super().setup(backend, test)
        probe = getattr(backend, "packet_mechanism", None)
        self.mechanism = dict(probe()) if callable(probe) else {}
        self.modes = tuple(
            m for m in PACKET_MODES if "unsupported" not in self.mechanism.get(m, "")
        )

    def invoke(self, f: str, value: Any) -> Any:
        backend = self._need_backend()
        if f == "start-packet":
            mode = str(_value_spec(value, "mode", "loss"))
            if mode not in self.modes:
                why = self.mechanism.get(mode, "unknown mode")
                raise NemesisError(f"packet {mode} is not available here: {why}")
            nodes = self.targets(value.get("targets", "one") if isinstance(value, Mapping) else "one")
            shape = {
                "delay_ms": self.opts.packet_delay_ms if mode == "delay" else 0.0,
                "loss": self.opts.packet_loss if mode == "loss" else 0.0,
                "dup": self.opts.packet_dup if mode == "dup" else 0.0,
            }
            for n in nodes:
                self.shaped.add(n)  # first: a half-applied shape is still healed
                backend.shape(n, **shape)
            return {"mode": mode, "nodes": nodes, **shape,
                    "mechanism": self.mechanism.get(mode, "backend")}
        if f == "stop-packet":
            nodes = sorted(self.shaped)
            for n in nodes:
                backend.shape(n, 0, 0, 0)
            self.shaped.clear()
            return nodes
        raise NemesisError(f"packet nemesis cannot do {f!r}")

    def teardown(self) -> None:
        for n in sorted(self.shaped):
            with contextlib.suppress(Exception):
                self._need_backend().shape(n, 0, 0, 0)
        self.shaped.clear()
