"""The Raft library with a state machine of its own (not raftkv's): what a new system
gets by plugging in — apply/query/snapshot/restore, answers to proposals keyed by the
proposal itself, ambiguous answers on leadership loss, Raft's own bug switches."""

from __future__ import annotations

from typing import Any

import pytest

from systems.raft import RAFT_BUGS, Entry, NodeConfig, RaftNode
from systems.raft.sim import SimCluster, SimStorage
from systems.raft.types import LEADER, Rng


class Counter:
    """A replicated counter: ``{"add": n}`` adds, queries read it."""

    def __init__(self) -> None:
        self.total = 0
        self.applied: list[int] = []

    def apply(self, entry: Entry) -> dict[str, Any] | None:
        if not isinstance(entry.data, dict):
            return None
        self.total += int(entry.data["add"])
        self.applied.append(entry.index)
        return {"ok": True, "total": self.total, "index": entry.index}

    def query(self, query: Any) -> dict[str, Any]:
        return {"ok": True, "total": self.total}

    def snapshot(self) -> Any:
        return {"total": self.total}

    def restore(self, data: Any) -> None:
        self.total = int(data["total"]) if isinstance(data, dict) else 0


class CounterNode(RaftNode):
    def __init__(self, *args: Any, **kw: Any) -> None:
        self.counter = Counter()
        super().__init__(*args[:4], self.counter, *args[4:], **kw)


class CounterSim(SimCluster[CounterNode]):
    def make_node(self, name: str, storage: SimStorage, rng: Rng, ctx_prefix: str) -> CounterNode:
        return CounterNode(name, self.names, storage, rng, self.bugs, self.config,
                           ctx_prefix=ctx_prefix)


def cluster(**kw: Any) -> CounterSim:
    s = CounterSim(3, seed=5, **kw)
    s.run(60)
    assert s.leader() is not None
    return s


def test_a_plugged_in_state_machine_is_replicated_and_answers_its_proposer():
    s = cluster()
    lead = s.leader()
    tokens = [s.write(lead, {"add": n}) for n in (1, 2, 3)]
    s.stabilize()
    s.run(3)
    assert [s.replies[t]["total"] for t in tokens] == [1, 3, 6]
    assert all(s.nodes[n].counter.total == 6 for n in s.names)
    follower = next(n for n in s.names if n != lead)
    r = s.read(follower, None)
    s.stabilize()
    s.run(3)
    assert s.replies[r] == {"ok": True, "total": 6}


def test_a_proposal_is_answered_by_its_own_entry_only():
    """The default waiter key is the proposal's (index, term): an entry that replaced it
    after a leader change never answers it with another command's result."""
    s = cluster()
    old = s.leader()
    s.isolate(old)
    lost = s.write(old, {"add": 100})
    s.run(60)
    new = s.leader()
    assert new != old
    kept = s.write(new, {"add": 1})
    s.stabilize()
    s.heal()
    s.run(40)
    assert s.replies[lost] == {"ok": False, "error": "leadership-lost", "ambiguous": True}
    assert s.replies[kept]["total"] == 1
    assert all(s.nodes[n].counter.total == 1 for n in s.names)


def test_snapshots_carry_the_machine_to_a_restarted_node():
    s = cluster(config=NodeConfig(snapshot_every=4))
    lead = s.leader()
    for _ in range(10):
        s.write(lead, {"add": 1})
        s.stabilize()
    f = next(n for n in s.names if n != lead)
    s.crash(f)
    s.restart(f)
    s.run(5)
    node = s.nodes[f]
    assert node.core.log.snapshot.index >= 4
    assert node.counter.total == 10 and node.core.role != LEADER


def test_the_library_owns_raft_bug_switches_and_refuses_unknown_ones():
    assert set(RAFT_BUGS) == {"stale-read", "no-fsync", "commit-old-term"}
    s = cluster(bugs=["stale-read"])
    lead = s.leader()
    f = next(n for n in s.names if n != lead)
    s.isolate(f)
    s.write(lead, {"add": 5})
    s.stabilize()
    r = s.read(f, None)
    assert s.replies[r] == {"ok": True, "total": 0}, "a cut-off follower answers at once"
    with pytest.raises(AssertionError, match="unknown bug"):
        CounterSim(3, bugs=["no-dedup"])  # raftkv's switch, not the library's
