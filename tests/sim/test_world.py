"""The simulated world: network faults, pauses, crashes with lost/torn writes, clocks."""

from __future__ import annotations

from typing import Any

import pytest

from harness.errors import UsageError
from harness.sim.world import SimAborted, SimOptions, World
from systems.raftkv.sim import SimStorage
from systems.raftkv.simadapter import ADAPTER
from systems.raftkv.types import Entry, HardState

NODES = ["n1", "n2", "n3"]


def world(seed: int = 1, **kw: Any) -> World:
    w = World(ADAPTER, NODES, seed, options=SimOptions(**kw))
    w.up()
    w.run_for(2.0)
    return w


def roles(w: World) -> dict[str, str]:
    return {n: (w.status_of(n) or {}).get("role", "down") for n in NODES}


def test_a_healthy_world_elects_one_leader() -> None:
    w = world()
    assert list(roles(w).values()).count("leader") == 1
    assert w.leader() in NODES


def test_a_grudge_drops_what_the_node_would_hear_and_heal_restores_it() -> None:
    w = world()
    old = w.leader()
    assert old is not None
    w.partition({old: frozenset(n for n in NODES if n != old),
                 **{n: frozenset({old}) for n in NODES if n != old}})
    dropped = w.stats["dropped"]
    w.run_for(2.0)
    assert w.stats["dropped"] > dropped
    new = w.leader()
    assert new is not None and new != old, roles(w)
    assert roles(w)[old] != "leader", "CheckQuorum: the isolated leader stepped down"
    w.heal()
    w.run_for(2.0)
    assert list(roles(w).values()).count("leader") == 1


def test_a_paused_node_misses_ticks_and_handles_held_messages_on_resume() -> None:
    w = world()
    follower = next(n for n in NODES if n != w.leader())
    w.pause(follower)
    assert w.status_of(follower) is None, "a paused node does not answer"
    core = w.nodes[follower].core
    assert core is not None
    before = core.status()["commit"]  # type: ignore[attr-defined]
    ticks = core.node.now_ticks  # type: ignore[attr-defined]
    w.run_for(1.0)
    assert len(w.nodes[follower].held) > 0, "messages wait in its socket buffer"
    assert core.node.now_ticks == ticks, "time stopped for the paused node"  # type: ignore[attr-defined]
    w.resume(follower)
    assert w.nodes[follower].held == []
    w.run_for(0.5)
    assert core.status()["commit"] >= before  # type: ignore[attr-defined]


def test_the_clock_rate_scales_a_nodes_ticks() -> None:
    w = world()
    counts = {}
    for rate in (1.0, 2.0):
        w.clock("n1", 0.0, rate)
        node = w.nodes["n1"].core
        assert node is not None
        t0 = node.node.now_ticks  # type: ignore[attr-defined]
        w.run_for(1.5)
        counts[rate] = node.node.now_ticks - t0  # type: ignore[attr-defined]
    assert counts[2.0] > 1.8 * counts[1.0]


def test_a_killed_node_restarts_from_its_disk() -> None:
    w = world()
    n = w.leader()
    assert n is not None
    term = w.status_of(n)["term"]  # type: ignore[index]
    w.kill(n)
    assert w.status_of(n) is None
    w.run_for(1.0)
    w.start(n)
    w.run_for(1.0)
    st = w.status_of(n)
    assert st is not None and st["term"] >= term, "the term survived on disk"
    assert [row[1] for row in w.fault_log] == ["kill", "start"]


def _entries(i: int) -> list[Entry]:
    return [Entry(1, i, {"op": "put", "k": "x", "v": i})]


def test_a_crash_loses_unsynced_writes_and_a_torn_crash_keeps_a_prefix() -> None:
    disk = SimStorage()
    disk.save(HardState(1, "n1", 0), _entries(1), None, sync=True)
    for i in (2, 3, 4):
        disk.save(None, _entries(i), None, sync=False)
    assert disk.pending() == 3
    disk.crash(keep=1)
    assert [e.index for e in disk.load()[2]] == [1, 2]
    assert disk.pending() == 0
    disk.save(None, _entries(3), None, sync=False)
    disk.crash()
    assert [e.index for e in disk.load()[2]] == [1, 2]


def test_no_fsync_loses_acknowledged_state_on_kill() -> None:
    w = World(ADAPTER, NODES, 3, bugs=("no-fsync",))
    w.up()
    w.run_for(2.0)
    n = w.leader()
    assert n is not None
    w.kill(n)
    w.start(n)
    assert w.nodes[n].core.status()["term"] == 0  # type: ignore[union-attr]


class _Exploding:
    """An adapter whose node n2 breaks an invariant on its third tick."""

    name = "boom"
    tick_s = 0.01
    workloads = frozenset({"register"})

    def disk(self, node: str) -> SimStorage:
        return SimStorage()

    def node(self, name: str, peers: list[str], disk: Any, rng: Any, bugs: tuple[str, ...],
             boot: int) -> Any:
        outer = self

        class Node:
            ticks = 0

            def tick(self) -> None:
                self.ticks += 1
                assert not (name == "n2" and self.ticks == 3), "invariant broken"

            def step(self, msg: Any) -> None: ...

            def request(self, token: Any, msg: dict[str, Any]) -> None: ...

            def process(self) -> tuple[list[Any], list[Any]]:
                return [], []

            def status(self) -> dict[str, Any]:
                return {"role": "follower", "term": 0, "adapter": outer.name}

        return Node()

    def client(self, *a: Any) -> Any:
        raise NotImplementedError


def test_a_core_that_raises_crashes_its_node_and_the_crash_is_reported() -> None:
    crashes: list[dict[str, Any]] = []
    w = World(_Exploding(), NODES, 1, on_crash=crashes.append)  # type: ignore[arg-type]
    w.up()
    w.run_for(0.2)
    assert [c["node"] for c in crashes] == ["n2"]
    assert crashes[0]["exit_code"] == 70 and "invariant broken" in crashes[0]["log"][0]
    assert w.status_of("n2") is None and w.status_of("n1") is not None


def test_sim_options_parse_and_print_round_trip() -> None:
    o = SimOptions.parse("delay=0.5-20,loss=0.05,dup=0.01,torn=1")
    assert o == SimOptions((0.5, 20.0), 0.05, 0.01, True)
    assert SimOptions.parse(o.spec()) == o
    assert SimOptions.parse("") == SimOptions()
    for bad in ("delay=5-1", "loss=1", "torn=yes", "delay", "x=1"):
        with pytest.raises(UsageError):
            SimOptions.parse(bad)


class _PingPong(_Exploding):
    """Every message is answered at once, and every tick starts one more exchange: a storm."""

    def node(self, name: str, peers: list[str], disk: Any, rng: Any, bugs: tuple[str, ...],
             boot: int) -> Any:
        other = next(p for p in peers if p != name)

        class Node:
            out: list[tuple[str, Any]] = []

            def tick(self) -> None:
                self.out.append((other, "ping"))

            def step(self, msg: Any) -> None:
                self.out.append((other, msg))

            def request(self, token: Any, msg: dict[str, Any]) -> None: ...

            def process(self) -> tuple[list[Any], list[Any]]:
                out, self.out = self.out, []
                return out, []

            def status(self) -> dict[str, Any]:
                return {"role": "follower", "term": 0}

        return Node()


def test_a_message_storm_cuts_the_run_short() -> None:
    w = World(_PingPong(), ["n1", "n2"], 1, storm=5_000)  # type: ignore[arg-type]
    w.up()
    with pytest.raises(SimAborted, match="message storm"):
        w.run_for(60.0)
    assert w.now_ns < 60 * 10**9


class _Skewed(_Exploding):
    """Nodes that record what the world tells them about their wall clock."""

    seen: dict[str, list[tuple[float, float]]] = {}

    def node(self, name: str, peers: list[str], disk: Any, rng: Any, bugs: tuple[str, ...],
             boot: int) -> Any:
        seen = self.seen.setdefault(name, [])
        inner = super().node("n1", peers, disk, rng, bugs, boot)  # n1 never explodes

        class Node:
            def __getattr__(self, attr: str) -> Any:
                return getattr(inner, attr)

            def skew(self, offset_s: float, rate: float) -> None:
                seen.append((offset_s, rate))

        return Node()


def test_clock_faults_reach_cores_that_read_wall_time() -> None:
    adapter = _Skewed()
    w = World(adapter, NODES, 1)  # type: ignore[arg-type]
    w.up()
    w.clock("n1", 2.5, 1.0)
    w.clock("n2", 0.0, 2.0)
    w.strobe(["n3"], 1.0, 0.1, 0.3)
    w.run_for(1.0)
    w.kill("n1")
    w.start("n1")  # boots skewed: told at once
    assert adapter.seen["n1"] == [(2.5, 1.0), (2.5, 1.0)]
    assert adapter.seen["n2"] == [(0.0, 2.0)]
    assert [o for o, _ in adapter.seen["n3"]] == [1.0, 0.0, 1.0, 0.0]


def test_a_grudge_naming_clients_resets_the_harness_off_that_node() -> None:
    w = world()
    got: list[Any] = []
    w.call("n1", {"op": "status"}, got.append)
    w.run_for(0.1)
    assert got and got[0][0] == "ok"
    early: list[Any] = []
    late: list[Any] = []
    other: list[Any] = []
    w.call("n1", {"op": "status"}, early.append)  # on its way when the cut comes: lost
    w.partition({"n1": frozenset({"clients"})})
    w.call("n1", {"op": "status"}, late.append)  # sent after it: the reconnect is refused
    w.call("n2", {"op": "status"}, other.append)
    w.run_for(0.1)
    assert early == [("lost", "connection-lost")] and late == [("unsent", "connection-refused")]
    assert other[0][1]["node"] == "n2"
