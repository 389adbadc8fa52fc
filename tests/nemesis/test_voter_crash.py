"""voter-crash in the simulation: a correct Raft keeps its vote across the crash; a store
that forgets ``votedFor`` elects two leaders of one term, which the divergence
checker's two-leaders rule (or the nodes' own election-safety assert) reports."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from harness.options import Options
from harness.sim.run import judge, make_workload, simulate
from harness.sim.world import SimOptions
from systems.raft.sim import SimStorage
from systems.raftkv.simadapter import RaftKVSimAdapter


class ForgetfulStorage(SimStorage):
    """A disk that never keeps votedFor (the bug: the vote is not part of the hard state)."""

    def save(self, hard_state: Any, entries: Any, snapshot: Any, sync: bool) -> None:
        if hard_state is not None:
            hard_state = replace(hard_state, vote=None)
        super().save(hard_state, entries, snapshot, sync)


class ForgetfulAdapter(RaftKVSimAdapter):
    def disk(self, node: str) -> SimStorage:
        return ForgetfulStorage()


def _run(seed: int, adapter: Any = None) -> tuple[Any, list[Any], list[dict[str, Any]]]:
    opts = Options(system="raftkv", workload="register", nodes=5, time_limit_s=10, seed=seed,
                   backend="sim", nemesis=("voter-crash",), nemesis_interval_s=1.0)
    wl = make_workload(opts)
    run = simulate(opts, SimOptions(), wl, adapter=adapter)
    valid, anomalies = judge(opts, SimOptions(), wl, run.ops, run.statuses)
    outcomes = [o.value for o in run.ops if o.process == "nemesis" and o.type == "info"
                and o.f == "start-voter-crash" and isinstance(o.value, dict)]
    return valid, anomalies, outcomes


@pytest.mark.parametrize("seed", [1, 2])
def test_a_correct_raft_keeps_its_vote_across_the_crash(seed: int) -> None:
    valid, anomalies, outcomes = _run(seed)
    assert valid is True, anomalies
    held = [o for o in outcomes if "vote held" in o["outcome"]]
    assert len(held) >= 2, [o["outcome"] for o in outcomes]  # the attempts got to the end
    second = held[0]["phases"][1]
    assert second["leader"]["term"] != second["voter"]["term"]  # not the term it voted in


def test_a_forgotten_vote_elects_two_leaders_of_one_term() -> None:
    found = []
    for seed in (1, 2):
        valid, anomalies, outcomes = _run(seed, ForgetfulAdapter())
        twice = [o for o in outcomes if "had voted in before its crash" in o["outcome"]]
        found.append((valid, {a["kind"] for a in anomalies}, len(twice)))
    assert all(v is False for v, _, _ in found), found
    assert any("two-leaders" in kinds for _, kinds, _ in found), found
    assert all(n >= 1 for _, _, n in found), found
