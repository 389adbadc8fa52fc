"""The simulated world: time, network, disks and clocks for a system's pure cores.

One event heap ordered by (simulated ns, sequence number); every random choice
comes from one ``random.Random`` seeded from the test seed, and nothing
iterates over a hash-ordered set, so the same seed and options replay the same
run byte for byte, in any process.

It is also the nemesis's backend (the :class:`harness.backends.base.Backend`
shape, ``name == "sim"``): the same nemesis classes that drive Docker call
``partition(grudge)``, ``kill``, ``pause``, ``clock``, ``shape`` here.

* **network** — every message gets a delay drawn from ``delay_ms`` (so
  messages reorder), plus the sender's shaped delay; it is lost with the
  base ``loss`` or the sender's shaped loss, and duplicated likewise. A
  grudge is checked on delivery (``dst`` drops what comes from the nodes in
  ``grudge[dst]``, as iptables INPUT does). Client traffic is not cut by
  partitions (as in Docker runs) unless the grudge names ``"clients"``
  (figure8 does: their connections to those nodes are reset, as netctl's
  REJECT does), but does pay the delays.
* **pause** — a paused node neither ticks nor handles anything; what arrives
  meanwhile waits in its socket buffer and is handled on resume.
* **kill** — the node's memory is gone, its disk loses unsynced writes
  (keeping a random prefix of them when ``torn`` is on), clients connected
  to it see the connection drop; ``start`` boots it again from its disk.
* **clocks** — each node's timer ticks every ``tick_s / rate`` simulated
  seconds; a paused node misses ticks (the shells never catch up). A core
  that reads wall time gets its offset and rate through an optional
  ``skew(offset_s, rate)`` method, called on every change and at boot;
  raftkv's cores only count ticks.
* **membership** — with an adapter that has ``join_node``, the world can add
  a node mid-run (``add_node``: the next free name ``n<k>``, booted by
  ``join_node`` with the nodes the run started with as its peers; a joiner
  keeps nothing across a crash, it has no simulated disk) and retire one it
  added (``retire_node``: down for good, its clients see the connection drop,
  gone from ``cluster()``); ``control(node, msg, timeout_s)`` is a request the
  nemesis sends a node (a wire request in Docker), answered in simulated time.
  The membership nemesis drives all three, as it drives Docker's backend.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.backends.base import BackendError, next_node_name
from harness.errors import UsageError
from harness.sim.adapter import CallResult, SimAdapter, SimNode
from nemesis.leader import leader_from_statuses
from systems.common.spec import Addr, SystemSpec

__all__ = ["World", "SimOptions", "SimAborted", "CRASH_EXIT", "STORM_EVENTS", "storm_events"]

CRASH_EXIT = 70  # what a real node exits with on a broken invariant
CLIENTS = "clients"  # the harness's clients as a grudge member (a fault that cuts them too)
# More events than this in one simulated second is a message storm (a livelocked
# core ping-ponging at network speed): the run is cut short there. A healthy
# 5-node raftkv run at 100 ops/s takes about 2,000 events per simulated second;
# runs pass storm_events(nodes, rate), about 15 times what they need.
STORM_EVENTS = 100_000
CONTROL_POLL_S = 0.01  # how often a nemesis waiting on a control request looks (simulated)


def storm_events(nodes: int, rate: float) -> int:
    return int(2000 * nodes + 40 * rate * nodes)
_NS = 1_000_000_000


class SimAborted(RuntimeError):
    """The world stopped the run (a message storm); the history so far is still judged."""


@dataclass(frozen=True, slots=True)
class SimOptions:
    """Knobs of the simulated network and disks (``--sim key=value,...``)."""

    delay_ms: tuple[float, float] = (0.1, 1.0)  # uniform one-way delay range
    loss: float = 0.0  # base probability a message is lost
    dup: float = 0.0  # base probability a message is delivered twice
    torn: bool = False  # a crash keeps a random prefix of unsynced writes

    def spec(self) -> str:
        lo, hi = self.delay_ms
        return f"delay={lo:g}-{hi:g},loss={self.loss:g},dup={self.dup:g},torn={int(self.torn)}"

    @staticmethod
    def parse(text: str) -> SimOptions:
        """Parse ``delay=LO-HI,loss=P,dup=P,torn=0|1`` (any subset); UsageError names what is wrong."""
        fields: dict[str, Any] = {}
        for item in (x.strip() for x in text.split(",")):
            if not item:
                continue
            key, eq, val = item.partition("=")
            try:
                if not eq:
                    raise ValueError
                if key == "delay":
                    lo, _, hi = val.partition("-")
                    d = (float(lo), float(hi or lo))
                    if not all(math.isfinite(x) and x >= 0 for x in d) or d[0] > d[1]:
                        raise ValueError
                    fields["delay_ms"] = d
                elif key in ("loss", "dup"):
                    p = float(val)
                    if not 0 <= p < 1:
                        raise ValueError
                    fields[key] = p
                elif key == "torn":
                    if val not in ("0", "1"):
                        raise ValueError
                    fields["torn"] = val == "1"
                else:
                    raise UsageError(f"--sim: unknown key {key!r} (known: delay, loss, dup, torn)")
            except ValueError:
                raise UsageError(
                    f"--sim: bad item {item!r} (want delay=LO-HI ms, loss/dup=P in [0,1), torn=0|1)"
                ) from None
        return SimOptions(**fields)


class _Node:
    """One node's slot: its core (None while down), generation, and fault state."""

    __slots__ = ("core", "gen", "boots", "paused", "held", "offset_s", "rate", "shape")

    def __init__(self) -> None:
        self.core: SimNode | None = None
        self.gen = 0  # bumped on every crash: events of an older generation are void
        self.boots = 0
        self.paused = False
        self.held: list[Callable[[], None]] = []  # work that waits for resume
        self.offset_s = 0.0
        self.rate = 1.0
        self.shape = (0.0, 0.0, 0.0)  # delay_ms, loss, dup of what it sends


class World:
    """The event loop of simulated time plus the backend the nemesis drives."""

    name = "sim"

    def __init__(
        self, adapter: SimAdapter, nodes: list[str], seed: int, bugs: tuple[str, ...] = (),
        options: SimOptions | None = None,
        on_crash: Callable[[dict[str, Any]], None] | None = None,
        storm: int = STORM_EVENTS,
    ) -> None:
        self.storm = storm
        self.sleeper: Callable[[float], None] | None = None  # set while a nemesis op runs
        self.adapter = adapter
        self.names = list(nodes)  # every node ever up, the run's first, then those added
        self.initial = tuple(nodes)  # the nodes the run started with (a joiner's peers)
        self.joined: set[str] = set()  # added mid-run (booted by the adapter's join_node)
        self.retired: set[str] = set()  # added, then retired for good
        self.seed = seed
        self.bugs = tuple(bugs)
        self.opts = options or SimOptions()
        self.on_crash = on_crash
        self.rng = random.Random(f"sim-world:{seed}")
        self.now_ns = 0
        self._heap: list[tuple[int, int, Callable[..., None], tuple[Any, ...]]] = []
        self._seq = 0
        self.tick_ns = int(round(adapter.tick_s * _NS))
        self.nodes = {n: _Node() for n in self.names}
        self.disks: dict[str, Any] = {n: adapter.disk(n) for n in self.names}
        self.grudge: dict[str, frozenset[str]] = {}
        # node -> since when its grudge names the clients (a stamp: calls and cuts in order)
        self.clients_cut: dict[str, int] = {}
        self._stamp = 0
        self._calls: dict[int, tuple[str, Callable[[CallResult], None]]] = {}  # token -> waiter
        self._next_token = 0
        self.stats = {"messages": 0, "delivered": 0, "dropped": 0, "ticks": 0, "events": 0}
        self._second = 0  # the simulated second being counted, and its events
        self._second_events = 0
        # every fault call: (ns, call, args, until_ns); until_ns is the end of the nemesis op
        # that made it when that op let simulated time pass (figure8), else 0
        self.fault_log: list[tuple[int, str, tuple[Any, ...], int]] = []

    # -- the event loop -----------------------------------------------------------
    def at(self, t_ns: int, fn: Callable[..., None], *args: Any) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (max(t_ns, self.now_ns), self._seq, fn, args))

    def next_time(self) -> int | None:
        return self._heap[0][0] if self._heap else None

    def step(self) -> bool:
        """Run the earliest event; False when there is none."""
        if not self._heap:
            return False
        t, _, fn, args = heapq.heappop(self._heap)
        self.now_ns = t
        self.stats["events"] += 1
        second = t // _NS
        if second != self._second:
            self._second, self._second_events = second, 0
        self._second_events += 1
        if self._second_events > self.storm:
            raise SimAborted(f"message storm: over {self.storm} events in simulated second "
                             f"{second} ({self.stats['messages']} messages so far)")
        fn(*args)
        return True

    def _delay_ns(self, extra_ms: float = 0.0) -> int:
        lo, hi = self.opts.delay_ms
        return int((lo + (hi - lo) * self.rng.random() + extra_ms) * 1_000_000)

    # -- backend: lifecycle -----------------------------------------------------------
    def capabilities(self) -> frozenset[str]:
        caps = {"kill", "pause", "partition", "clock", "packet"}
        if getattr(self.adapter, "join_node", None) is not None:
            caps.add("membership")
        return frozenset(caps)

    def up(self, system: SystemSpec | None = None, nodes: list[str] | None = None,
           run_dir: Path | None = None, bugs: tuple[str, ...] = (), seed: int = 0) -> None:
        for n in self.names:
            self._boot(n)

    def down(self) -> None:
        return None

    def cluster(self) -> Mapping[str, Addr]:
        return {n: ("sim", i) for i, n in enumerate(self.names) if n not in self.retired}

    def crashes(self) -> list[dict[str, Any]]:
        return []

    def collect_logs(self, dest: Path) -> None:
        return None

    def packet_mechanism(self) -> dict[str, str]:
        return {"loss": "simulated", "dup": "simulated", "delay": "simulated"}

    def leader(self) -> str | None:
        statuses = {n: self._status(n) for n in self.cluster()}
        return leader_from_statuses({n: s for n, s in statuses.items() if s is not None})

    def nemesis_sleep(self, seconds: float) -> None:
        """What a nemesis that waits calls: hands the time back to the interpreter while one
        runs the nemesis op (``sleeper``), else runs the world's events itself."""
        if seconds <= 0:
            return
        if self.sleeper is not None:
            self.sleeper(seconds)
        else:
            self.run_for(seconds)

    def run_for(self, seconds: float) -> None:
        """Let simulated time pass inside a blocking call (a nemesis that polls and waits)."""
        until = self.now_ns + int(seconds * _NS)
        while self._heap and self._heap[0][0] <= until:
            self.step()
        self.now_ns = max(self.now_ns, until)

    def status_of(self, n: str) -> dict[str, Any] | None:
        """A node's status reply, or None when it is down or paused (it would not answer)."""
        return self._status(n)

    def _status(self, n: str) -> dict[str, Any] | None:
        node = self.nodes[n]
        if node.core is None or node.paused:
            return None
        return node.core.status()

    def _boot(self, n: str) -> None:
        node = self.nodes[n]
        node.boots += 1
        rng = random.Random(f"{self.seed}:{n}:{node.boots}")
        if n in self.joined:
            join: Any = self.adapter.join_node  # type: ignore[attr-defined]
            node.core = self._guard(n, lambda: join(
                n, [*self.initial, n], rng, self.bugs, node.boots))
        else:
            node.core = self._guard(n, lambda: self.adapter.node(
                n, list(self.initial), self.disks[n], rng, self.bugs, node.boots))
        if node.core is None:
            return
        if node.offset_s or node.rate != 1.0:
            self._skew(n)
        gen = node.gen
        # Timers start at a random phase: real nodes never tick in lockstep.
        self.at(self.now_ns + int(self.rng.random() * self._tick_interval(node)), self._tick, n, gen)
        self._process(n)

    # -- faults ---------------------------------------------------------------------------
    def _log(self, call: str, *args: Any) -> None:
        self.fault_log.append((self.now_ns, call, args, 0))

    def kill(self, n: str) -> None:
        self._log("kill", n)
        if self.nodes[n].core is not None:
            self._down(n)

    def _down(self, n: str) -> None:
        node = self.nodes[n]
        node.core = None
        node.gen += 1
        node.held = []
        node.paused = False  # a restarted process is a fresh, running one
        disk = self.disks.get(n)  # None: a joiner (memory only)
        if disk is not None:
            pending = disk.pending()
            keep = self.rng.randint(0, pending) if self.opts.torn and pending else 0
            disk.crash(keep)
        for token, (dst, waiter) in sorted(self._calls.items()):
            if dst == n:
                del self._calls[token]
                self.at(self.now_ns + self._delay_ns(), waiter, ("lost", "connection-lost"))

    def start(self, n: str) -> None:
        self._log("start", n)
        if self.nodes[n].core is None and n not in self.retired:
            self._boot(n)

    # -- membership (base.ChangesMembership) -------------------------------------------
    def add_node(self) -> dict[str, Any]:
        """Boot one more node with the adapter's ``join_node`` (the next free ``n<k>``)."""
        if "membership" not in self.capabilities():
            raise BackendError(f"the {self.adapter.name} simulation adapter cannot add nodes "
                               "(it has no join_node)")
        name = next_node_name(set(self.names))
        self._log("add_node", name)
        self.names.append(name)
        self.joined.add(name)
        self.nodes[name] = _Node()
        self._boot(name)
        return {"node": name, "addr": f"sim:{name}", "mechanism": "a node booted in the simulation"}

    def retire_node(self, node: str, graceful: bool) -> dict[str, Any]:
        """Take a node added mid-run down for good (it is then gone from ``cluster()``)."""
        if node not in self.joined or node in self.retired:
            raise BackendError(f"cannot retire {node}: not a live node added in this run")
        self._log("retire_node", node, bool(graceful))
        if self.nodes[node].core is not None:
            self._down(node)
        self.retired.add(node)
        self.grudge.pop(node, None)
        how = "stopped" if graceful else "crashed"
        return {"node": node, "mechanism": f"{how} and removed from the simulation"}

    def control(self, node: str, msg: dict[str, Any], timeout_s: float) -> Any:
        """A control request to ``node`` (the nemesis's wire request), waited for in simulated
        time: the reply, or None when it did not answer within ``timeout_s``."""
        self._log("control", node, dict(msg), float(timeout_s))
        box: list[CallResult] = []
        if node not in self.nodes or node in self.retired:
            return None
        token = self.call(node, msg, box.append)
        deadline = self.now_ns + int(timeout_s * _NS)
        while not box and self.now_ns < deadline:
            self.nemesis_sleep(min(CONTROL_POLL_S, (deadline - self.now_ns) / _NS))
        if not box:
            self.cancel(token)
            return None
        kind, reply = box[0]
        return reply if kind == "ok" else None

    def pause(self, n: str) -> None:
        self._log("pause", n)
        if self.nodes[n].core is not None:
            self.nodes[n].paused = True

    def resume(self, n: str) -> None:
        self._log("resume", n)
        node = self.nodes[n]
        if not node.paused:
            return
        node.paused = False
        held, node.held = node.held, []
        for work in held:
            work()

    def partition(self, grudge: Mapping[str, frozenset[str]]) -> None:
        self.grudge = {d: frozenset(s) for d, s in grudge.items() if s}
        self._log("partition", {d: sorted(s) for d, s in sorted(self.grudge.items())})
        self._stamp += 1
        self.clients_cut = {n: self.clients_cut.get(n, self._stamp) for n in self.names
                            if CLIENTS in self.grudge.get(n, ())}
        for token, (dst, waiter) in sorted(self._calls.items()):
            if CLIENTS in self.grudge.get(dst, ()):
                del self._calls[token]
                self.at(self.now_ns + self._delay_ns(), waiter, ("lost", "connection-lost"))

    def heal(self) -> None:
        self._log("heal")
        self.grudge = {}
        self.clients_cut = {}

    def clock(self, n: str, offset_s: float, rate: float = 1.0) -> None:
        self._log("clock", n, float(offset_s), float(rate))
        node = self.nodes[n]
        node.offset_s = offset_s
        node.rate = rate if rate > 0 else 1.0
        self._skew(n)

    def shape(self, n: str, delay_ms: float = 0, loss: float = 0, dup: float = 0) -> None:
        self._log("shape", n, float(delay_ms), float(loss), float(dup))
        self.nodes[n].shape = (float(delay_ms), float(loss), float(dup))

    def strobe(self, nodes: list[str], delta_s: float, period_s: float, duration_s: float) -> int:
        """Flip the nodes' clocks between offset and offset+delta every period for a while."""
        self._log("strobe", sorted(nodes), float(delta_s), float(period_s), float(duration_s))
        flips = max(1, round(duration_s / period_s))
        base = {n: self.nodes[n].offset_s for n in nodes}
        for i in range(flips + 1):
            t = self.now_ns + int(i * period_s * _NS)
            for n in nodes:
                off = base[n] + (delta_s if i % 2 == 0 and i < flips else 0.0)
                self.at(t, self._set_offset, n, off)
        return flips

    def _set_offset(self, n: str, offset_s: float) -> None:
        self.nodes[n].offset_s = offset_s
        self._skew(n)

    def _skew(self, n: str) -> None:
        """Tell a core that reads wall time its clock's offset and rate (optional ``skew`` hook)."""
        node = self.nodes[n]
        hook = getattr(node.core, "skew", None)
        if hook is not None:
            self._guard(n, lambda: hook(node.offset_s, node.rate))

    # -- time -------------------------------------------------------------------------------
    def _tick_interval(self, node: _Node) -> int:
        return max(1, int(self.tick_ns / node.rate))

    def _tick(self, n: str, gen: int) -> None:
        node = self.nodes[n]
        if node.gen != gen or node.core is None:
            return
        self.at(self.now_ns + self._tick_interval(node), self._tick, n, gen)
        if node.paused:
            return  # a stopped process misses its ticks; it never catches up
        self.stats["ticks"] += 1
        try:
            node.core.tick()
        except Exception as e:  # noqa: BLE001 - a broken invariant kills the node
            self._crashed(n, e)
            return
        self._process(n)

    # -- messages ------------------------------------------------------------------------
    def _process(self, n: str) -> None:
        node = self.nodes[n]
        core = node.core
        if core is None:
            return
        try:
            messages, replies = core.process()
        except Exception as e:  # noqa: BLE001 - a broken invariant kills the node
            self._crashed(n, e)
            return
        delay_ms, loss, dup = node.shape
        base = self.opts
        for dst, msg in messages:
            self.stats["messages"] += 1
            if self.rng.random() < max(base.loss, loss):
                self.stats["dropped"] += 1
                continue
            copies = 2 if self.rng.random() < max(base.dup, dup) else 1
            for _ in range(copies):
                self.at(self.now_ns + self._delay_ns(delay_ms), self._deliver, n, dst, msg)
        for token, reply in replies:
            waiter = self._calls.pop(token, None)
            if waiter is not None:
                self.at(self.now_ns + self._delay_ns(), waiter[1], ("ok", reply))

    def _deliver(self, src: str, dst: str, msg: Any) -> None:
        if src in self.grudge.get(dst, ()):
            self.stats["dropped"] += 1
            return
        node = self.nodes[dst]
        if node.core is None:
            self.stats["dropped"] += 1
            return
        if node.paused:
            gen = node.gen
            node.held.append(lambda: self._deliver_now(dst, gen, msg))
            return
        self._deliver_now(dst, node.gen, msg)

    def _deliver_now(self, dst: str, gen: int, msg: Any) -> None:
        node = self.nodes[dst]
        core = node.core
        if core is None or node.gen != gen:
            return
        self.stats["delivered"] += 1
        try:  # the hot path: _guard inlined
            core.step(msg)
        except Exception as e:  # noqa: BLE001 - a broken invariant kills the node
            self._crashed(dst, e)
            return
        self._process(dst)

    def _guard(self, n: str, fn: Callable[[], Any]) -> Any:
        """Run a call into a core; an exception crashes the node (recorded) and gives False."""
        try:
            return fn()
        except Exception as e:  # noqa: BLE001 - a broken invariant (or a core bug) kills the node
            self._crashed(n, e)
            return False

    def _crashed(self, n: str, e: Exception) -> None:
        code = CRASH_EXIT if isinstance(e, AssertionError) else 1
        self._down(n)
        if self.on_crash is not None:
            self.on_crash({"node": n, "exit_code": code, "log": [f"{type(e).__name__}: {e}"]})

    # -- clients --------------------------------------------------------------------------
    def call(self, node: str, msg: dict[str, Any], waiter: Callable[[CallResult], None]) -> int:
        """Send a client request; ``waiter`` gets the result once. Returns the call's token."""
        self._next_token += 1
        token = self._next_token
        self._stamp += 1
        self.at(self.now_ns + self._delay_ns(), self._arrive, node, token, msg, waiter,
                self._stamp)
        return token

    def cancel(self, token: int) -> None:
        self._calls.pop(token, None)

    def _arrive(self, n: str, token: int, msg: dict[str, Any],
                waiter: Callable[[CallResult], None], sent: int = 0) -> None:
        node = self.nodes[n]
        if node.core is None:
            self.at(self.now_ns + self._delay_ns(), waiter, ("unsent", "connection-refused"))
            return
        if CLIENTS in self.grudge.get(n, ()):
            # A fault that cuts the harness's clients off this node (figure8) resets their
            # connections, as netctl's REJECT does: a request already on its way when the
            # cut came is lost (the client learns at once, unsure); one sent after it
            # finds the reconnect refused (nothing sent), so the client pauses before it
            # retries, as over TCP — not a retry loop at network speed.
            if sent > self.clients_cut.get(n, 0):
                self.at(self.now_ns + self._delay_ns(), waiter, ("unsent", "connection-refused"))
            else:
                self.at(self.now_ns + self._delay_ns(), waiter, ("lost", "connection-lost"))
            return
        self._calls[token] = (n, waiter)
        if node.paused:
            gen = node.gen
            node.held.append(lambda: self._request(n, gen, token, msg))
            return
        self._request(n, node.gen, token, msg)

    def _request(self, n: str, gen: int, token: int, msg: dict[str, Any]) -> None:
        node = self.nodes[n]
        core = node.core
        if core is None or node.gen != gen or token not in self._calls:
            return
        if self._guard(n, lambda: core.request(token, msg)) is not False:
            self._process(n)
