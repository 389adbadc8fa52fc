"""The figure8 nemesis: its grudges (pure), and the whole attempt driven against the
deterministic raftkv simulation, where it must reach Figure 8 with the bug and stop
harmlessly at phase (c) without it. The Docker campaign is in
tests/integration/test_raftkv_campaigns.py."""

from __future__ import annotations

from typing import Any

import pytest

from harness.netctl import CLIENTS
from nemesis import grudge as gr
from nemesis.core import NemesisOptions
from nemesis.figure8 import Figure8Nemesis, plan_components, star
from systems.raftkv.sim import SimCluster

TICK_S = 0.015  # raftkv's tick


def test_star_lets_only_the_hub_hear_a_majority() -> None:
    g = star("n1", ["n2", "n3", "n4"], ["n5"])
    hears = gr.views(["n1", "n2", "n3", "n4", "n5"], g)
    assert hears["n1"] == {"n1", "n2", "n3", "n4"}
    assert hears["n2"] == {"n2", "n1"} and hears["n4"] == {"n4", "n1"}
    assert hears["n5"] == {"n5"}
    assert gr.is_symmetric(g)


def test_plan_components_cuts_clients_everywhere_but_where_allowed() -> None:
    g = plan_components(gr.isolate(["n1", "n2", "n3"], "n1"), ["n1"])
    assert CLIENTS not in g["n1"] and g["n1"] == {"n2", "n3"}
    assert g["n2"] == {"n1", CLIENTS} and g["n3"] == {"n1", CLIENTS}
    nobody = plan_components(gr.isolate(["n1", "n2", "n3"], "n1"), [])
    assert len(nobody) == 3  # (with {} the check below held vacuously)
    assert all(CLIENTS in ps for ps in nobody.values()) is True


class SimBackend:
    """The backend calls the nemesis makes, over a SimCluster; "clients" keep writing
    to whichever leader they may reach, every tick."""

    def __init__(self, sim: SimCluster) -> None:
        self.sim = sim
        self.clients_at = set(sim.names)
        self.now = 0.0
        self.seq = 0

    def cluster(self) -> dict[str, tuple[str, int]]:
        return {n: ("sim", 0) for n in self.sim.names}

    def partition(self, grudge: Any) -> None:
        self.sim.cuts = {(p, n) for n, ps in grudge.items() for p in ps if p != CLIENTS}
        self.clients_at = {n for n in self.sim.names if CLIENTS not in grudge.get(n, ())}

    def heal(self) -> None:
        self.partition({})

    def status(self, node: str) -> dict[str, Any] | None:
        n = self.sim.nodes.get(node)
        return None if n is None else n.status()

    def sleep(self, dt: float) -> None:
        for _ in range(max(1, round(dt / TICK_S))):
            for n in sorted(self.clients_at):
                node = self.sim.nodes.get(n)
                if node is not None and node.core.role == "leader":
                    self.seq += 1
                    self.sim.put(n, "r", self.seq, client="w", seq=self.seq)
            self.sim.tick()
            self.sim.stabilize()
            self.now += TICK_S


def attempt(bugs: list[str], seed: int) -> tuple[dict[str, Any], SimCluster]:
    sim = SimCluster(5, seed=seed, bugs=bugs)
    backend = SimBackend(sim)
    nem = Figure8Nemesis(NemesisOptions(), status=backend.status, clock=lambda: backend.now,
                         sleep=backend.sleep)
    nem.setup(backend, {"nodes": sim.names, "seed": seed})
    backend.sleep(1.0)  # a leader, some committed writes
    return nem.invoke("start-figure8", None), sim


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_with_the_bug_the_attempt_overwrites_a_committed_entry(seed: int) -> None:
    with pytest.raises(AssertionError, match="state machine safety|committed"):
        attempt(["commit-old-term"], seed)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_without_the_bug_the_attempt_stops_at_c_and_nothing_breaks(seed: int) -> None:
    result, sim = attempt([], seed)
    assert result["outcome"].startswith(("precondition not met at (c)", "no commit at (c)")), result
    assert [p["phase"] for p in result["phases"]] == ["a", "b", "c"]
    sim.heal()
    sim.run(100)
    sim.check_invariants()
    assert sim.leader() is not None


def test_fewer_than_five_nodes_is_refused_at_setup() -> None:
    from nemesis.core import NemesisError

    sim = SimCluster(3, seed=1)
    with pytest.raises(NemesisError, match="at least 5 nodes, not 3"):
        Figure8Nemesis(NemesisOptions()).setup(SimBackend(sim), {"nodes": sim.names})


def test_an_attempt_heals_when_it_ends() -> None:
    sim = SimCluster(5, seed=4)
    backend = SimBackend(sim)
    nem = Figure8Nemesis(NemesisOptions(), status=backend.status, clock=lambda: backend.now,
                         sleep=backend.sleep)
    nem.setup(backend, {"nodes": sim.names, "seed": 4})
    backend.sleep(1.0)
    result = nem.invoke("start-figure8", None)
    assert len(result["phases"]) >= 2  # it did cut the network
    assert sim.cuts == set() and backend.clients_at == set(sim.names)
