"""Nemesis contracts: the Nemesis protocol, packages, bands, and composition.

Op naming (the report draws fault bands from it): an interval fault ``X``
is ``start-X`` (invocation value: what to do, e.g. a target spec; completion
value: what was done, e.g. the nodes killed) then ``stop-X`` (heal).
"""

from __future__ import annotations

import contextlib
import random
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from harness import generator as g
from harness.backends.base import Backend
from nemesis.leader import HasLeader, StatusLeader
from nemesis.targets import TARGETS, select

__all__ = [
    "Band",
    "ComposedNemesis",
    "FAULTS",
    "Nemesis",
    "NemesisBase",
    "NemesisError",
    "NemesisOptions",
    "Package",
    "compose",
    "fault_of",
]

FAULTS = ("partition", "kill", "pause", "clock", "packet", "membership")


class NemesisError(RuntimeError):
    """A fault op could not be done; recorded as the op's error, the run goes on."""


class Nemesis(Protocol):
    def setup(self, backend: Any, test: Mapping[str, Any]) -> None: ...

    def invoke(self, f: str, value: Any) -> Any: ...

    def teardown(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Band:
    """A shaded band on perf plots from each ``start_f`` op to the next ``stop_f`` op."""

    name: str
    start_f: str
    stop_f: str
    color: str


@dataclass(frozen=True, slots=True)
class NemesisOptions:
    interval_s: float = 10.0
    targets: tuple[str, ...] = TARGETS
    # clock: largest offset a bump applies, strobe shape, rates to pick from
    clock_max_offset_s: float = 30.0
    strobe_period_ms: float = 50.0
    strobe_duration_s: float = 2.0
    clock_rates: tuple[float, ...] = (0.5, 2.0)
    # deposed-leader: the isolated leader's clock rate (its timers run this much slower)
    deposed_rate: float = 0.2
    # packet: probabilities and delay picked for a start-packet
    packet_loss: float = 0.3
    packet_dup: float = 0.3
    packet_delay_ms: float = 100.0
    # membership: at most this many added nodes live at once; how long a change may
    # take to show in the registry (a crash or a flap shows once its TTL ran out)
    membership_max_added: int = 3
    membership_settle_s: float = 8.0


@dataclass(frozen=True, slots=True)
class Package:
    """A nemesis with its schedule (``generator``), its heal (``final_generator``),
    the backend capabilities it needs and the bands it draws.

    ``ops`` is the package's untimed start/stop cycle, which :func:`compose`
    mixes under one interval; ``generator`` is ``ops`` staggered at
    ``interval_s``.
    """

    name: str
    nemesis: Nemesis
    generator: Any
    final_generator: Any
    needs: frozenset[str]
    bands: tuple[Band, ...]
    ops: Any = None
    interval_s: float = 10.0


def fault_of(f: str) -> str:
    """``"start-kill"`` -> ``"kill"``."""
    return f.split("-", 1)[1] if "-" in f else f


class NemesisBase:
    """Shared state: the backend, node names, a seeded rng, and leader lookup."""

    faults: frozenset[str] = frozenset()
    # True: targets are drawn from the backend's cluster as it is now (nodes the membership
    # nemesis added included, retired ones gone), not only the nodes the test started with
    live_targets = False

    def __init__(self, opts: NemesisOptions) -> None:
        self.opts = opts
        self.backend: Any = None
        self.nodes: list[str] = []
        self.rng = random.Random(0)
        self.leaders: HasLeader | None = None
        self.sleep: Callable[[float], None] = time.sleep  # the sim lets simulated time pass

    def setup(self, backend: Any, test: Mapping[str, Any]) -> None:
        self.backend = backend
        self.nodes = list(test.get("nodes") or backend.cluster())
        salt = zlib.crc32(type(self).__name__.encode())
        self.rng = random.Random((int(test.get("seed", 0) or 0) << 32) ^ salt)
        self.leaders = backend if isinstance(backend, HasLeader) else StatusLeader(backend.cluster())

    def leader(self) -> str | None:
        return self.leaders.leader() if self.leaders is not None else None

    def target_nodes(self) -> list[str]:
        """The nodes a fault may hit: the test's, then (``live_targets``) those added since,
        less those retired — as the backend's cluster has them now."""
        if not self.live_targets or self.backend is None:
            return list(self.nodes)
        try:
            live = list(self.backend.cluster())
        except Exception:  # noqa: BLE001 - a backend that cannot say: the test's nodes
            return list(self.nodes)
        return [n for n in self.nodes if n in live] + sorted(
            (n for n in live if n not in self.nodes), key=lambda n: (len(n), n))

    def targets(self, spec: Any) -> list[str]:
        nodes = self.target_nodes()
        if isinstance(spec, list):  # explicit node list
            return sorted(str(n) for n in spec if n in nodes)
        spec = str(spec or "one")
        leader = self.leader() if spec in ("leader", "primaries") else None
        return select(spec, nodes, self.rng, leader)

    def _need_backend(self) -> Backend:
        if self.backend is None:
            raise NemesisError("nemesis used before setup()")
        b: Backend = self.backend
        return b


class ComposedNemesis:
    """Dispatches each op to the member nemesis that owns its fault."""

    def __init__(self, members: Sequence[Nemesis]) -> None:
        self.members = list(members)
        self.by_fault: dict[str, Nemesis] = {}
        for m in self.members:
            for fault in getattr(m, "faults", frozenset()):
                self.by_fault[fault] = m

    def setup(self, backend: Any, test: Mapping[str, Any]) -> None:
        for m in self.members:
            m.setup(backend, test)

    def invoke(self, f: str, value: Any) -> Any:
        m = self.by_fault.get(fault_of(f))
        if m is None:
            raise NemesisError(f"no nemesis here handles {f!r}")
        return m.invoke(f, value)

    def teardown(self) -> None:
        for m in reversed(self.members):
            with contextlib.suppress(Exception):
                m.teardown()


def compose(packages: list[Package]) -> Package:
    """One package doing all of ``packages``' faults, mixed at the first one's interval.

    The packages' untimed op cycles are mixed (each keeps its own start/stop
    alternation, so faults of different kinds overlap); the final generator
    heals every fault in turn.
    """
    if not packages:
        raise ValueError("compose() needs at least one package")
    if len(packages) == 1:
        return packages[0]
    interval_s = packages[0].interval_s
    if all(p.ops is not None for p in packages):
        ops = g.mix([p.ops for p in packages])
        gen = g.stagger(interval_s, ops)
    else:
        ops = None
        gen = g.mix([p.generator for p in packages])
    finals = [p.final_generator for p in packages if p.final_generator is not None]
    return Package(
        name=",".join(p.name for p in packages),
        nemesis=ComposedNemesis([p.nemesis for p in packages]),
        generator=gen,
        final_generator=g.concat(*finals) if finals else None,
        needs=frozenset().union(*(p.needs for p in packages)),
        bands=tuple(b for p in packages for b in p.bands),
        ops=ops,
        interval_s=interval_s,
    )

