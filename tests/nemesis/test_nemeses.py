"""Fault nemeses against a recording fake backend; packages and composition via simulate."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

import nemesis
from harness import generator as g
from nemesis import NemesisError, NemesisOptions

NODES = ["n1", "n2", "n3", "n4", "n5"]


class FakeBackend:
    """Records every call; implements HasLeader so leader targeting is deterministic."""

    name = "fake"

    def __init__(self, leader: str | None = "n3", delay: bool = False) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.grudge: Mapping[str, frozenset[str]] = {}
        self.killed: set[str] = set()
        self.paused: set[str] = set()
        self.clocks: dict[str, tuple[float, float]] = {}
        self.shapes: dict[str, tuple[float, float, float]] = {}
        self._leader = leader
        self._delay = delay

    def leader(self) -> str | None:
        return self._leader

    def capabilities(self) -> frozenset[str]:
        return frozenset({"kill", "pause", "partition", "clock", "packet"})

    def cluster(self) -> dict[str, tuple[str, int]]:
        return {n: ("127.0.0.1", 1) for n in NODES}

    def kill(self, node: str) -> None:
        self.calls.append(("kill", node))
        self.killed.add(node)

    def start(self, node: str) -> None:
        self.calls.append(("start", node))
        self.killed.discard(node)

    def pause(self, node: str) -> None:
        self.calls.append(("pause", node))
        self.paused.add(node)

    def resume(self, node: str) -> None:
        self.calls.append(("resume", node))
        self.paused.discard(node)

    def partition(self, grudge: Mapping[str, frozenset[str]]) -> None:
        self.calls.append(("partition", dict(grudge)))
        self.grudge = dict(grudge)

    def heal(self) -> None:
        self.calls.append(("heal",))
        self.grudge = {}

    def clock(self, node: str, offset_s: float, rate: float = 1.0) -> None:
        self.calls.append(("clock", node, offset_s, rate))
        self.clocks[node] = (offset_s, rate)

    def shape(self, node: str, delay_ms: float = 0, loss: float = 0, dup: float = 0) -> None:
        self.calls.append(("shape", node, delay_ms, loss, dup))
        self.shapes[node] = (delay_ms, loss, dup)

    def packet_mechanism(self) -> dict[str, str]:
        return {"delay": "proxy" if self._delay else "unsupported (no netem)",
                "loss": "iptables statistic DROP", "dup": "iptables TEE clone"}


TEST = {"nodes": NODES, "seed": 42}


def setup(name: str, **opts: Any) -> tuple[Any, FakeBackend]:
    pkg = nemesis.PACKAGES[name](NemesisOptions(**opts))
    b = FakeBackend()
    pkg.nemesis.setup(b, TEST)
    return pkg, b


def test_kill_then_restart_same_nodes() -> None:
    pkg, b = setup("kill")
    killed = pkg.nemesis.invoke("start-kill", "majority")
    assert len(killed) == 3 and b.killed == set(killed)
    assert pkg.nemesis.invoke("stop-kill", None) == killed
    assert b.killed == set()
    assert pkg.nemesis.invoke("start-kill", "leader") == ["n3"]
    pkg.nemesis.teardown()
    assert b.killed == set() and ("start", "n3") in b.calls


def test_pause_resume_and_teardown_never_raises() -> None:
    pkg, b = setup("pause")
    assert pkg.nemesis.invoke("start-pause", "all") == NODES
    assert b.paused == set(NODES)
    pkg.nemesis.teardown()
    assert b.paused == set()
    with pytest.raises(NemesisError):
        pkg.nemesis.invoke("start-kill", "one")


@pytest.mark.parametrize("kind", nemesis.PARTITION_KINDS)
def test_partition_kinds_reach_the_backend(kind: str) -> None:
    pkg, b = setup("partition")
    res = pkg.nemesis.invoke("start-partition", kind)
    assert res["kind"] == kind and res["grudge"]
    assert {n: sorted(v) for n, v in b.grudge.items() if v} == res["grudge"]
    if kind == "leader":
        assert res["grudge"]["n3"] == ["n1", "n2", "n4", "n5"]
    assert pkg.nemesis.invoke("stop-partition", None) == "healed"
    assert b.grudge == {}


def test_clock_bump_rate_strobe_and_reset() -> None:
    pkg, b = setup("clock", strobe_duration_s=0.05, strobe_period_ms=5, clock_max_offset_s=10)
    res = pkg.nemesis.invoke("start-clock", {"mode": "bump", "targets": "all"})
    assert set(res["offsets_s"]) == set(NODES)
    assert all(0.1 <= abs(v) <= 10 for v in res["offsets_s"].values())
    res = pkg.nemesis.invoke("start-clock", {"mode": "rate", "targets": "n2"})
    assert res["rates"]["n2"] in (0.5, 2.0)
    before = dict(b.clocks)
    res = pkg.nemesis.invoke("start-clock", {"mode": "strobe", "targets": "n1"})
    assert res["flips"] >= 2
    assert b.clocks["n1"] == before["n1"]  # strobe settles back
    flips = [c for c in b.calls if c[0] == "clock" and c[1] == "n1"]
    assert len({c[2] for c in flips}) == 2
    touched = pkg.nemesis.invoke("stop-clock", None)
    assert touched == NODES and all(b.clocks[n] == (0.0, 1.0) for n in NODES)


def test_packet_modes_follow_the_backend_mechanism() -> None:
    pkg, b = setup("packet")
    assert pkg.nemesis.modes == ("loss", "dup")  # fake has no delay
    res = pkg.nemesis.invoke("start-packet", {"mode": "loss", "targets": "one"})
    assert res["mechanism"] == "iptables statistic DROP" and res["loss"] == 0.3
    with pytest.raises(NemesisError, match="not available"):
        pkg.nemesis.invoke("start-packet", {"mode": "delay", "targets": "one"})
    assert pkg.nemesis.invoke("stop-packet", None) == res["nodes"]
    assert b.shapes[res["nodes"][0]] == (0, 0, 0)


def test_package_shapes_and_op_names() -> None:
    for name, make in nemesis.PACKAGES.items():
        pkg = make(NemesisOptions(interval_s=1.0))
        # figure8 is partitions only; coordinator-crash is a targeted kill; commit-cut
        # cuts and kills (its delay is used when the backend has one); leader-chase
        # kills or pauses; deposed-leader isolates the leader and slows its clock
        needs = {"figure8": {"partition"}, "coordinator-crash": {"kill"},
                 "commit-cut": {"partition", "kill"},
                 "leader-chase": {"kill", "pause"},
                 "deposed-leader": {"partition", "clock"},
                 "voter-crash": {"partition", "kill", "packet"}}.get(name, {name})
        assert pkg.name == name and pkg.needs == frozenset(needs)
        assert pkg.bands[0].start_f == f"start-{name}" and pkg.bands[0].stop_f == f"stop-{name}"
        ops = g.simulate(g.nemesis(g.time_limit(30, pkg.generator)), seed=1, concurrency=0)
        fs = [o["f"] for o in ops if o["type"] == "invoke"]
        assert len(fs) >= 10
        # strictly alternating start/stop, starting with start (membership: a join,
        # then bands of three starts and a stop)
        per = 2
        if name == "membership":
            assert fs[0] == "start-membership"
            fs, per = fs[1:], 4
        starts = [f for i, f in enumerate(fs) if i % per != per - 1]
        assert starts == [f"start-{name}"] * len(starts)
        assert fs[per - 1::per] == [f"stop-{name}"] * len(fs[per - 1::per])
        final = g.simulate(g.nemesis(pkg.final_generator), seed=1, concurrency=0)
        assert [o["f"] for o in final if o["type"] == "invoke"] == [f"stop-{name}"]


def test_generator_is_seeded() -> None:
    pkg = nemesis.PACKAGES["partition"](NemesisOptions(interval_s=1.0))
    a = g.simulate(g.nemesis(g.time_limit(20, pkg.generator)), seed=5, concurrency=0)
    b = g.simulate(g.nemesis(g.time_limit(20, pkg.generator)), seed=5, concurrency=0)
    c = g.simulate(g.nemesis(g.time_limit(20, pkg.generator)), seed=6, concurrency=0)
    assert a == b and a != c


def test_compose_mixes_faults_and_heals_all() -> None:
    opts = NemesisOptions(interval_s=1.0)
    pkg = nemesis.compose([nemesis.PACKAGES[n](opts) for n in ("partition", "kill", "clock")])
    assert pkg.needs == {"partition", "kill", "clock"}
    assert [b.name for b in pkg.bands] == ["partition", "kill", "clock"]
    ops = g.simulate(g.nemesis(g.time_limit(60, pkg.generator)), seed=2, concurrency=0)
    invs = [o for o in ops if o["type"] == "invoke"]
    assert {nemesis.fault_of(o["f"]) for o in invs} == {"partition", "kill", "clock"}
    # each fault keeps its own start/stop alternation
    for fault in ("partition", "kill", "clock"):
        mine = [o["f"] for o in invs if nemesis.fault_of(o["f"]) == fault]
        assert all(f.startswith("start-") for f in mine[::2])
        assert all(f.startswith("stop-") for f in mine[1::2])
    # about one op per interval over the whole mix
    assert 30 <= len(invs) <= 90
    final = g.simulate(g.nemesis(pkg.final_generator), seed=2, concurrency=0)
    assert {o["f"] for o in final if o["type"] == "invoke"} == {
        "stop-partition", "stop-kill", "stop-clock"}
    # the composed nemesis dispatches by fault and tears down every member
    b = FakeBackend()
    pkg.nemesis.setup(b, TEST)
    pkg.nemesis.invoke("start-kill", "one")
    pkg.nemesis.invoke("start-partition", "halves")
    pkg.nemesis.invoke("start-clock", {"mode": "bump", "targets": "one"})
    pkg.nemesis.teardown()
    assert b.killed == set() and b.grudge == {} and all(c == (0.0, 1.0) for c in b.clocks.values())
    with pytest.raises(NemesisError):
        pkg.nemesis.invoke("start-pause", "one")


class GrowingBackend(FakeBackend):
    """A cluster the membership nemesis changes: ``live`` is what ``cluster()`` says now."""

    def __init__(self) -> None:
        super().__init__()
        self.live = list(NODES)

    def cluster(self) -> dict[str, tuple[str, int]]:
        return {n: ("127.0.0.1", 1) for n in self.live}

    def start(self, node: str) -> None:
        if node not in self.live:
            raise NemesisError(f"unknown node {node}")  # as Docker's backend does
        super().start(node)


def test_partition_kill_and_pause_also_hit_nodes_added_mid_run_and_forget_retired_ones() -> None:
    b = GrowingBackend()
    pkgs = {n: nemesis.PACKAGES[n](NemesisOptions()) for n in ("kill", "pause", "partition")}
    for p in pkgs.values():
        p.nemesis.setup(b, TEST)
    b.live += ["n6", "n7"]  # two nodes joined after setup
    assert pkgs["kill"].nemesis.invoke("start-kill", "all") == [*NODES, "n6", "n7"]
    assert pkgs["pause"].nemesis.invoke("start-pause", "n7") == ["n7"]
    grudge = pkgs["partition"].nemesis.invoke("start-partition", "halves")["grudge"]
    assert {"n6", "n7"} <= set(grudge) | {s for ss in grudge.values() for s in ss}
    b.live.remove("n6")  # retired while down: the restart skips it instead of failing
    assert pkgs["kill"].nemesis.invoke("stop-kill", None) == [*NODES, "n7"]
    assert ("start", "n6") not in b.calls
    # the clock nemesis keeps the nodes the test started with
    clock = nemesis.PACKAGES["clock"](NemesisOptions())
    clock.nemesis.setup(b, TEST)
    assert "n7" not in clock.nemesis.targets("all")
