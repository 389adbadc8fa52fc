"""The simulation adapter contract: what a system ships to run under ``--backend sim``.

A system with a pure core plugs into the deterministic simulation through one
module, ``systems/<name>/simadapter.py``, exporting ``ADAPTER``: an object with
the shape of :class:`SimAdapter` below. The system never imports the harness
(systems/ is stdlib-only); these Protocols are structural, so the adapter only
has to have the right attributes. docs/sim.md explains the contract with the
raftkv adapter as the worked example.

Three parts:

* **cores** — ``node(name, peers, disk, rng, bugs, boot)`` builds one node's
  pure state machine on a simulated disk. The world drives it with ``tick()``,
  ``step(msg)`` (a peer message), ``request(token, msg)`` (a client request
  dict, as the real server's wire protocol has it) and ``process()``, which
  runs one Ready cycle and returns ``(messages, replies)``: ``[(dst, msg)]``
  to send to peers and ``[(token, reply dict)]`` to answer clients. A core
  that reads wall time may also have ``skew(offset_s, rate)``: the world
  calls it whenever the clock nemesis moves that node's clock (and at boot
  if it is skewed). An
  ``AssertionError`` (or any exception) from these calls is a node crash the
  harness records, as a broken invariant kills a real node.
* **storage model** — ``disk(name)`` returns a node's simulated disk, kept
  across that node's crashes. ``crash(keep)`` loses every write not yet
  synced except the first ``keep`` of them (a torn tail: ``keep`` > 0 only
  when torn writes are on); ``pending()`` says how many there are.
* **sim clients** — ``client(workload, io, nodes, home, timeout_s,
  client_id)`` returns an object with the harness client shape
  (``async invoke(f, value) -> (type, value, error)``, ``async close()``)
  that talks to the cluster only through ``io`` (:class:`SimIO`): it must
  follow the same routing, retry and error table as the system's real client
  so the simulation is not kinder than reality.
* **membership** (optional) — ``join_node(name, peers, rng, bugs, boot)``
  builds a node added mid-run (``peers``: the run's first nodes and itself;
  no disk, it keeps nothing across a crash); the world then has the
  ``membership`` capability (``add_node``, ``retire_node``, ``control``) the
  membership nemesis drives. Nodes answer its control requests
  (``registration``, ``leave``, ``registry``) as the real server does.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, Protocol

from harness.errors import UsageError

__all__ = ["SimAdapter", "SimDisk", "SimIO", "SimNode", "load_adapter", "configured_adapter",
           "CallResult"]

# ("ok", reply) | ("unsent", why) — refused before sending | ("lost", why) — sent, no answer
CallResult = tuple[str, Any]


class SimIO(Protocol):
    """The network and clock a sim client sees."""

    def now(self) -> float:
        """Simulated seconds since the test started."""

    def call(self, node: str, msg: dict[str, Any], timeout_s: float) -> Awaitable[CallResult]:
        """Send one request to ``node`` and wait for its answer (at most ``timeout_s``)."""

    def sleep(self, seconds: float) -> Awaitable[None]: ...


class SimNode(Protocol):
    def tick(self) -> None: ...

    def step(self, msg: Any) -> None: ...

    def request(self, token: Any, msg: dict[str, Any]) -> None: ...

    def process(self) -> tuple[Sequence[tuple[str, Any]], Sequence[tuple[Any, dict[str, Any]]]]: ...

    def status(self) -> dict[str, Any]: ...


class SimDisk(Protocol):
    def crash(self, keep: int = 0) -> None: ...

    def pending(self) -> int: ...


class SimAdapter(Protocol):
    name: str
    tick_s: float  # simulated seconds between two ticks of a node's timer
    workloads: frozenset[str]  # workloads it has sim clients for

    def disk(self, node: str) -> SimDisk: ...

    def node(
        self, name: str, peers: list[str], disk: Any, rng: Any, bugs: tuple[str, ...], boot: int
    ) -> SimNode: ...

    def client(
        self, workload: str, io: SimIO, nodes: list[str], home: str, timeout_s: float,
        client_id: str,
    ) -> Any: ...


def load_adapter(system: str) -> SimAdapter:
    """The ``ADAPTER`` of ``systems/<system>/simadapter.py``, or a one-line UsageError."""
    from systems import SYSTEMS

    module = SYSTEMS.get(system)
    if module is None:
        raise UsageError(f"unknown system {system!r}")
    try:
        mod = importlib.import_module(f"{module}.simadapter")
    except ModuleNotFoundError:
        raise UsageError(
            f"system {system} has no simulation adapter ({module}.simadapter); "
            "it cannot run with --backend sim"
        ) from None
    adapter: SimAdapter = mod.ADAPTER
    return adapter


def configured_adapter(adapter: SimAdapter, settings: Mapping[str, str]) -> SimAdapter:
    """The adapter for a run's ``--opt`` values, parsed by the system's spec.

    An adapter that takes options has ``configure(settings) -> adapter`` (settings: the
    parsed values, by option name); one without it refuses any ``--opt`` (one line).
    """
    if not settings:
        return adapter
    from systems import get_system

    try:
        parsed = get_system(adapter.name).configured(settings).settings
    except ValueError as e:
        raise UsageError(f"--opt: {e}") from None
    configure = getattr(adapter, "configure", None)
    if configure is None:
        raise UsageError(f"the {adapter.name} simulation adapter takes no --opt "
                         f"(got {', '.join(sorted(settings))})")
    out: SimAdapter = configure(parsed)
    return out
