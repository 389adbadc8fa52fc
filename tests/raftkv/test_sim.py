"""Deterministic multi-node tests on the in-memory network (systems.raftkv.sim)."""

from __future__ import annotations

from systems.raftkv.core import Config
from systems.raftkv.kv import KVStore
from systems.raftkv.node import NodeConfig
from systems.raftkv.sim import SimCluster
from systems.raftkv.types import FOLLOWER, LEADER


def cluster(size=3, seed=1, **kw) -> SimCluster:
    s = SimCluster(size, seed=seed, **kw)
    s.run(60)
    assert s.leader() is not None
    return s


def test_a_fresh_cluster_elects_exactly_one_leader():
    for seed in range(5):
        s = cluster(5, seed)
        leaders = [n for n, x in s.nodes.items() if x.core.role == LEADER]
        assert len(leaders) == 1
        assert all(x.core.lead == leaders[0] for x in s.nodes.values())


def test_an_acknowledged_write_is_on_a_majority_and_readable_everywhere():
    s = cluster()
    lead = s.leader()
    t = s.put(lead, "x", 1)
    s.stabilize()
    assert s.replies[t] == {"ok": True}
    holders = [n for n in s.names if any(e.data and e.data.get("v") == 1 for e in s.nodes[n].core.log.entries)]
    assert len(holders) >= 2
    for n in s.names:
        r = s.read(n, "x")
        s.stabilize()
        s.run(2)
        assert s.replies[r] == {"ok": True, "value": 1}, n


def test_a_follower_rejects_writes_with_a_redirect():
    s = cluster()
    lead = s.leader()
    other = next(n for n in s.names if n != lead)
    t = s.put(other, "x", 1)
    assert s.replies[t] == {"ok": False, "error": "not-leader", "leader": lead}


def test_an_isolated_leader_cannot_commit_or_serve_reads_and_steps_down():
    s = cluster(seed=3)
    old = s.leader()
    s.isolate(old)
    w = s.put(old, "x", "lost")
    r = s.read(old, "x")
    s.run(60)
    new = s.leader()
    assert new != old and s.nodes[old].core.role != LEADER
    assert s.replies[w].get("ambiguous") is True
    assert s.replies[r]["ok"] is False
    t = s.put(new, "x", "kept", seq=2)
    s.stabilize()
    assert s.replies[t] == {"ok": True}
    s.heal()
    s.run(30)
    assert s.nodes[old].kv.get("x") == "kept"


def test_a_partitioned_node_does_not_disrupt_the_cluster_when_it_returns():
    s = cluster(seed=4)
    lead = s.leader()
    term = s.nodes[lead].core.term
    loner = next(n for n in s.names if n != lead)
    s.isolate(loner)
    s.run(200)
    assert s.nodes[loner].core.term == term, "prevote keeps a partitioned node's term"
    s.heal()
    s.run(20)
    assert s.leader() == lead and s.nodes[lead].core.term == term


def test_a_lagging_follower_catches_up_through_a_snapshot():
    cfg = NodeConfig(raft=Config(), snapshot_every=5)
    s = cluster(seed=5, config=cfg)
    lead = s.leader()
    lag = next(n for n in s.names if n != lead)
    s.isolate(lag)
    for i in range(20):
        s.put(lead, f"k{i}", i, client="c", seq=i + 1)
        s.stabilize()
    assert s.nodes[lead].core.log.snapshot.index >= 15
    s.heal()
    s.run(20)
    assert s.nodes[lag].core.log.snapshot.index >= 15, "caught up by InstallSnapshot"
    assert s.nodes[lag].kv.data == s.nodes[lead].kv.data
    s.crash(lag)
    s.restart(lag)
    assert s.nodes[lag].kv.data == s.nodes[lead].kv.data, "snapshot recovered from disk"


def test_leadership_transfer_hands_over_to_the_target():
    s = cluster(seed=6)
    lead = s.leader()
    target = next(n for n in s.names if n != lead)
    s.nodes[lead].transfer(target)
    s.process(lead)
    s.stabilize()
    assert s.leader() == target
    assert s.nodes[lead].core.role == FOLLOWER


def test_a_crashed_and_restarted_cluster_keeps_every_acknowledged_write():
    s = cluster(seed=7)
    acked = {}
    for i in range(10):
        t = s.put(s.leader(), f"k{i}", i, seq=i + 1)
        s.stabilize()
        if s.replies.get(t) == {"ok": True}:
            acked[f"k{i}"] = i
    for n in s.names:
        s.crash(n)
    for n in s.names:
        s.restart(n)
    s.run(60)
    lead = s.leader()
    for k, v in acked.items():
        r = s.read(lead, k)
        s.run(2)
        assert s.replies[r] == {"ok": True, "value": v}


def test_a_retried_write_with_the_same_session_applies_once():
    s = cluster(seed=8)
    lead = s.leader()
    cmd = {"op": "append", "k": "log", "v": "x", "c": "cl", "s": 1}
    a = s.write(lead, cmd)
    b = s.write(lead, cmd)
    s.stabilize()
    assert s.replies[a] == s.replies[b] == {"ok": True, "value": "x"}
    assert s.nodes[lead].kv.get("log") == "x"


def test_kv_cas_and_sessions():
    kv = KVStore()
    assert kv.apply({"op": "cas", "k": "r", "old": None, "new": 1, "c": "a", "s": 1}) == {"ok": True}
    bad = kv.apply({"op": "cas", "k": "r", "old": 5, "new": 2, "c": "a", "s": 2})
    assert bad == {"ok": False, "error": "cas-mismatch", "value": 1}
    assert kv.apply({"op": "cas", "k": "r", "old": 1, "new": 2, "c": "a", "s": 2}) == bad
    assert kv.apply({"op": "put", "k": "r", "v": 9, "c": "a", "s": 1})["error"] == "stale-seq"
    img = kv.snapshot()
    kv2 = KVStore()
    kv2.restore(img)
    assert kv2.get("r") == 1 and kv2.sessions == kv.sessions
    kv.apply({"op": "delete", "k": "r", "c": "b", "s": 1})
    assert kv.get("r") is None


def test_follower_reads_go_through_the_leader_and_see_the_latest_write():
    s = cluster(seed=9)
    lead = s.leader()
    f = next(n for n in s.names if n != lead)
    s.put(lead, "x", 1)
    # deliver only until the leader commits, so the follower has not applied yet
    while s.nodes[lead].core.log.applied < s.nodes[lead].core.log.last_index():
        s.deliver(0)
    assert s.nodes[f].kv.get("x") is None
    r = s.read(f, "x")
    s.stabilize()
    s.run(3)
    assert s.replies[r] == {"ok": True, "value": 1}


def test_messages_survive_the_wire_encoding():
    import json

    from systems.raftkv.types import Entry, Message, Snapshot

    m = Message(
        "app", "n1", "n2", 7, log_term=6, index=9,
        entries=(Entry(7, 10, {"op": "put", "k": "x", "v": [1, None]}), Entry(7, 11, None)),
        commit=8, reject=True, hint_index=3, hint_term=2,
        snapshot=Snapshot(5, 4, {"data": {"x": 1}, "sessions": {"c": [1, {"ok": True}]}}),
        context="n2.ab:1",
    )
    assert Message.from_wire(json.loads(json.dumps(m.to_wire()))) == m
    bare = Message("heartbeat", "n1", "n3", 1)
    assert Message.from_wire(json.loads(json.dumps(bare.to_wire()))) == bare


def test_a_granted_vote_is_durable_before_the_grant_leaves():
    s = SimCluster(3, seed=11)
    s.campaign("n1")
    s.stabilize()  # prevote round, then the vote requests
    assert s.nodes["n1"].core.role == LEADER
    # n2's grant has been sent; kill n2 now and bring it back from its disk
    s.crash("n2")
    s.restart("n2")
    assert s.storages["n2"].hard_state.vote == "n1"
    assert s.nodes["n2"].core.vote == "n1" and s.nodes["n2"].core.term == 1
    # so n2 cannot vote again in term 1 for someone else
    from systems.raftkv.types import VOTE, Message

    s.nodes["n2"].step(Message(VOTE, "n3", "n2", 1, index=9, log_term=9))
    out = s.nodes["n2"].process()
    assert [m.reject for m in out.messages] == [True]


def test_entries_are_durable_before_the_append_is_acknowledged():
    s = cluster(seed=12)
    lead = s.leader()
    s.put(lead, "x", 1)
    f = next(n for n in s.names if n != lead)
    while not any(m.type == "app_resp" and m.src == f and m.index >= 2 for m in s.inflight):
        s.deliver(0)
    s.crash(f)
    s.restart(f)
    assert s.nodes[f].core.log.last_index() >= 2
