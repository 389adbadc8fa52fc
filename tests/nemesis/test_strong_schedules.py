"""Stronger fault schedules: the leader kept with a minority of followers, and kills and
pauses timed at a role change (the leader, then its successor the moment it is elected)."""

from __future__ import annotations

import random

import pytest

import nemesis
from harness.options import Options
from harness.sim.run import judge, make_workload, simulate
from harness.sim.world import SimOptions
from nemesis import NemesisOptions
from nemesis import grudge as gr
from nemesis.targets import TARGETS
from tests.nemesis.test_nemeses import NODES, TEST, FakeBackend


class ElectingBackend(FakeBackend):
    """The leader is the first node (by name) neither killed nor paused, after ``delay``
    polls with no leader at all — as an election takes a moment."""

    def __init__(self, first: str, delay: int = 3) -> None:
        super().__init__(leader=first)
        self.first = first
        self.delay = delay
        self.polls = 0

    def leader(self) -> str | None:
        if self.first not in self.killed | self.paused:
            return self.first
        self.polls += 1
        if self.polls <= self.delay:
            return None
        return next((n for n in NODES if n not in self.killed | self.paused), None)


def test_leader_minority_keeps_the_leader_with_a_minority_of_followers():
    g5 = gr.leader_minority(NODES, "n4", random.Random(1))
    side = sorted(n for n in NODES if g5[n] and "n4" not in g5[n])
    assert "n4" in side and len(side) == 2 and gr.is_symmetric(g5)
    assert gr.leader_minority(["a", "b", "c"], "b", random.Random(1)) == gr.isolate(
        ["a", "b", "c"], "b")
    with pytest.raises(ValueError):
        gr.leader_minority(NODES, "n9", random.Random(1))
    pkg = nemesis.PACKAGES["partition"](NemesisOptions())
    b = FakeBackend(leader="n2")
    pkg.nemesis.setup(b, TEST)
    res = pkg.nemesis.invoke("start-partition", "leader-minority")
    assert "n2" not in res["grudge"]["n2"] and len(res["grudge"]["n2"]) == 3
    assert "leader-minority" in nemesis.PARTITION_KINDS


@pytest.mark.parametrize("fault", ["kill", "pause"])
def test_new_leader_hits_the_leader_then_its_successor_once_elected(fault: str):
    pkg = nemesis.PACKAGES[fault](NemesisOptions())
    b = ElectingBackend("n3")
    pkg.nemesis.setup(b, TEST)
    slept: list[float] = []
    pkg.nemesis.sleep = slept.append
    hit = pkg.nemesis.invoke(f"start-{fault}", "new-leader")
    assert hit == ["n3", "n1"] and len(slept) == 3  # waited out the election, no more
    assert [c for c in b.calls if c[0] == fault] == [(fault, "n3"), (fault, "n1")]
    assert sorted(pkg.nemesis.invoke(f"stop-{fault}", None)) == ["n1", "n3"]
    assert not (b.killed | b.paused)
    assert "new-leader" not in TARGETS  # not drawn by the kill and pause packages


def test_the_leader_chase_package_kills_or_pauses_and_brings_each_back_as_it_was_hit():
    pkg = nemesis.PACKAGES["leader-chase"](NemesisOptions())
    assert pkg.needs == {"kill", "pause"}
    b = ElectingBackend("n2", delay=0)
    pkg.nemesis.setup(b, TEST)
    pkg.nemesis.sleep = lambda s: None
    assert pkg.nemesis.invoke("start-leader-chase", {"mode": "pause"}) == {
        "mode": "pause", "nodes": ["n2", "n1"]}
    assert b.paused == {"n1", "n2"} and not b.killed
    assert sorted(pkg.nemesis.invoke("stop-leader-chase", None)) == ["n1", "n2"]
    assert not b.paused and ("resume", "n1") in b.calls
    leaderless = FakeBackend(leader=None)
    pkg.nemesis.setup(leaderless, TEST)
    hit = pkg.nemesis.invoke("start-leader-chase", {"mode": "kill"})["nodes"]
    assert len(hit) == 1  # no leader known: one node, no chase
    pkg.nemesis.teardown()
    assert not leaderless.killed


def test_new_leader_gives_up_when_nobody_is_elected():
    pkg = nemesis.PACKAGES["kill"](NemesisOptions())
    b = ElectingBackend("n3", delay=10**6)
    pkg.nemesis.setup(b, TEST)
    pkg.nemesis.sleep = lambda s: None
    assert pkg.nemesis.invoke("start-kill", "new-leader") == ["n3"]


def test_correct_raftkv_stays_valid_under_leader_chases_and_leader_minority_partitions():
    opts = Options(system="raftkv", workload="register", nodes=5, time_limit_s=30, seed=10,
                   backend="sim", nemesis=("partition", "leader-chase"),
                   nemesis_interval_s=2.0)
    wl = make_workload(opts)
    run = simulate(opts, SimOptions(), wl)
    valid, anomalies = judge(opts, SimOptions(), wl, run.ops, run.statuses)
    assert valid is True, anomalies
    chased = [o for o in run.ops if o.process == "nemesis" and o.type == "info"
              and o.f == "start-leader-chase" and isinstance(o.value, dict)
              and len(o.value["nodes"]) == 2]
    kinds = {o.value.get("kind") for o in run.ops if o.process == "nemesis"
             and o.f == "start-partition" and isinstance(o.value, dict)}
    assert chased, "no new-leader fault hit a second leader"
    assert "leader-minority" in kinds
