"""The queue's partition groups on the simulated Raft cluster (deterministic, one seed):
acks after quorum, idempotent retries across a failover, sessions timed in ticks, and each
bug switch that lives in the node or the machine showing its failure."""

from __future__ import annotations

from typing import Any

from systems.queue.sim import PartitionSim, QueueSim

TIMEOUT = 30


def cluster(size: int = 3, seed: int = 1, **kw: Any) -> PartitionSim:
    s = PartitionSim(size, seed=seed, session_timeout_ticks=TIMEOUT, **kw)
    s.run(60)
    assert s.leader() is not None
    return s


def send(s: PartitionSim, n: str, value: Any, pid: str = "p", seq: int = 1,
         settle: bool = True) -> dict[str, Any] | None:
    t = s.request(n, "send", pid=pid, seq=seq, key="k", value=value)
    if settle:
        s.stabilize()
    return s.replies.get(t)


def logs(s: PartitionSim) -> dict[str, list[Any]]:
    return {n: [m[1] for m in s.nodes[n].queue.log] for n in s.up()}


def others(s: PartitionSim, n: str) -> list[str]:
    return [o for o in s.names if o != n]


def test_a_send_is_acknowledged_once_committed_and_every_replica_holds_it():
    s = cluster()
    lead = s.leader()
    assert lead is not None
    assert send(s, lead, "a") == {"ok": True, "offset": 0}
    assert send(s, lead, "b", seq=2) == {"ok": True, "offset": 1}
    s.run(5)
    assert all(v == ["a", "b"] for v in logs(s).values())
    t = s.request(lead, "fetch", offset=1, max=10)
    s.stabilize()
    assert s.replies[t]["messages"] == [[1, "k", "b"]]


def test_a_follower_refuses_a_send_and_names_the_leader():
    s = cluster()
    lead = s.leader()
    f = others(s, lead)[0]
    assert send(s, f, "a") == {"ok": False, "error": "not-leader", "leader": lead}


def test_a_retry_after_failover_answers_the_same_offset_and_appends_nothing():
    s = cluster()
    lead = s.leader()
    send(s, lead, "a")
    s.crash(lead)
    s.run(60)
    new = s.leader()
    assert new is not None and new != lead
    assert send(s, new, "a") == {"ok": True, "offset": 0, "dup": True}
    s.restart(lead)
    s.run(30)
    assert all(v == ["a"] for v in logs(s).values())


def test_no_idempotence_bug_appends_the_retry_again():
    s = cluster(bugs=("no-idempotence",))
    lead = s.leader()
    send(s, lead, "a")
    s.crash(lead)
    s.run(60)
    new = s.leader()
    assert new is not None
    assert send(s, new, "a") == {"ok": True, "offset": 1}


def test_acks_leader_bug_loses_an_acknowledged_send_on_failover():
    s = cluster(bugs=("acks-leader",))
    lead = s.leader()
    s.isolate(lead)
    assert send(s, lead, "lost") == {"ok": True, "offset": 0}  # acknowledged alone
    s.run(80)
    new = next(n for n in others(s, lead) if s.nodes[n].core.role == "leader")
    send(s, new, "kept", pid="q")
    s.heal()
    s.run(80)
    assert all(v == ["kept"] for v in logs(s).values())


def test_without_acks_leader_the_isolated_leaders_send_is_never_acknowledged():
    s = cluster()
    lead = s.leader()
    s.isolate(lead)
    t = s.request(lead, "send", pid="p", seq=1, key="k", value="x")
    s.run(80)
    assert s.replies.get(t, {}).get("ok") is not True


def test_stale_fetch_bug_serves_a_deposed_leaders_uncommitted_tail():
    s = cluster(bugs=("stale-fetch",))
    lead = s.leader()
    s.isolate(lead)
    send(s, lead, "ghost")
    t = s.request(lead, "fetch", offset=0, max=10)
    assert s.replies[t]["messages"] == [[0, "k", "ghost"]]  # never committed


def test_without_stale_fetch_an_isolated_node_serves_no_fetch():
    s = cluster()
    lead = s.leader()
    s.isolate(lead)
    send(s, lead, "ghost")
    t = s.request(lead, "fetch", offset=0, max=10)
    s.run(80)
    assert s.replies.get(t, {}).get("ok") is not True


def group(s: PartitionSim, n: str, op: str, member: str, **kw: Any) -> dict[str, Any]:
    t = s.request(n, op, group="g", member=member, **kw)
    s.stabilize()
    return s.replies[t]


def test_a_silent_member_is_expired_after_its_session_timeout_in_ticks():
    s = cluster(partitions=2)
    lead = s.leader()
    assert group(s, lead, "join", "a")["mine"] == [0, 1]
    assert group(s, lead, "join", "b")["generation"] == 2
    for _ in range(4):  # b heartbeats, a stays silent
        s.run(TIMEOUT // 3)
        hb = group(s, lead, "heartbeat", "b")
    s.run(5)
    view = s.nodes[lead].queue.group_view("g")
    assert view["members"] == ["b"] and view["assignment"] == {"b": [0, 1]}
    assert hb["ok"] and s.nodes[lead].expires_proposed >= 1
    assert all(s.nodes[n].queue.group_view("g")["members"] == ["b"] for n in s.up())
    assert group(s, lead, "heartbeat", "a") == {"ok": False, "error": "unknown-member"}


def test_a_heartbeat_names_a_rebalance_through_the_generation():
    s = cluster(partitions=2)
    lead = s.leader()
    group(s, lead, "join", "a")
    assert group(s, lead, "heartbeat", "a")["generation"] == 1
    group(s, lead, "join", "b")
    hb = group(s, lead, "heartbeat", "a")
    assert hb["generation"] == 2 and hb["mine"] == [0]
    c = group(s, lead, "commit", "a", generation=1, offsets={"0": 4})
    assert c["ok"] is False and c["error"] == "rebalance"


def test_a_restarted_node_recovers_its_log_from_storage():
    s = cluster()
    lead = s.leader()
    for i in range(5):
        send(s, lead, i, seq=i)
    f = others(s, lead)[0]
    s.crash(f)
    s.restart(f)
    s.run(20)
    assert logs(s)[f] == [0, 1, 2, 3, 4]


def test_the_queue_sim_runs_one_group_per_partition_and_faults_hit_them_all():
    q = QueueSim(3, partitions=3, seed=2)
    q.run(60)
    assert all(lead is not None for lead in q.leaders())
    victim = q.leaders()[0]
    assert victim is not None
    q.crash(victim)
    assert all(victim not in g.nodes for g in q.groups)
    q.run(60)
    assert all(lead not in (None, victim) for lead in q.leaders())


def test_a_lagging_follower_catches_up_through_a_snapshot_with_the_same_log():
    from systems.raft.node import NodeConfig

    s = cluster(config=NodeConfig(snapshot_every=5))
    lead = s.leader()
    assert lead is not None
    lag = others(s, lead)[0]
    s.isolate(lag)
    for i in range(12):
        send(s, lead, i, seq=i)
    s.run(5)  # the leader compacts after 5 applied entries; the lagging one needs a snapshot
    for i in range(12, 15):
        send(s, lead, i, seq=i)
    s.heal()
    s.run(40)
    assert logs(s)[lag] == list(range(15)) == logs(s)[lead]
