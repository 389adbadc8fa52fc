"""deposed-leader: the leader isolated from its peers with its clock slowed."""

from __future__ import annotations

import nemesis
from harness.options import Options
from harness.sim.run import judge, make_workload, simulate
from harness.sim.world import SimOptions
from nemesis import NemesisOptions
from tests.nemesis.test_nemeses import FakeBackend

TEST = {"nodes": ["n1", "n2", "n3", "n4", "n5"], "seed": 1}


def test_isolates_the_leader_slows_its_clock_and_undoes_both():
    pkg = nemesis.PACKAGES["deposed-leader"](NemesisOptions(deposed_rate=0.25))
    b = FakeBackend(leader="n3")
    pkg.nemesis.setup(b, TEST)
    got = pkg.nemesis.invoke("start-deposed-leader", None)
    assert got["leader"] == "n3" and got["rate"] == 0.25
    assert b.grudge["n3"] == frozenset({"n1", "n2", "n4", "n5"})
    assert all(b.grudge[n] == frozenset({"n3"}) for n in ("n1", "n2", "n4", "n5"))
    assert b.clocks["n3"] == (0.0, 0.25) and set(b.clocks) == {"n3"}
    assert pkg.nemesis.invoke("stop-deposed-leader", None) == ["n3"]
    assert b.clocks["n3"] == (0.0, 1.0) and not b.grudge
    leaderless = FakeBackend(leader=None)
    pkg.nemesis.setup(leaderless, TEST)
    got = pkg.nemesis.invoke("start-deposed-leader", None)
    assert got["leader"] in TEST["nodes"]  # no leader known: a random node
    pkg.nemesis.teardown()
    assert not leaderless.grudge and leaderless.clocks[got["leader"]] == (0.0, 1.0)


def _leaders_at(statuses, t_ns):
    return {r["node"]: r["status"]["term"] for r in statuses
            if r["t_ns"] == t_ns and r["status"] and r["status"].get("role") == "leader"}


def test_the_old_leader_outlives_its_successor_in_the_simulation_and_raftkv_stays_valid():
    """The point of the fault: a window in which the isolated leader still says it leads
    while a newer leader exists. Random partitions open it for a few hundred ms at most;
    here it stays open for most of the fault (the correct build still answers no stale
    read: ReadIndex needs a quorum)."""
    opts = Options(system="raftkv", workload="register", nodes=5, time_limit_s=8, seed=4,
                   backend="sim", nemesis=("deposed-leader",), nemesis_interval_s=2.0,
                   monitor_hz=10.0)
    wl = make_workload(opts)
    run = simulate(opts, SimOptions(), wl)
    valid, anomalies = judge(opts, SimOptions(), wl, run.ops, run.statuses)
    assert valid is True, anomalies
    both = [t for t in sorted({r["t_ns"] for r in run.statuses})
            if len(set(_leaders_at(run.statuses, t).values())) >= 2]
    assert len(both) >= 5, "no poll saw the deposed leader and its successor both leading"
