"""The cache's store and registry on the simulated Raft cluster: puts and reads, membership
epochs, heartbeat TTL expiry through the log, sessions, snapshots (deterministic)."""

from __future__ import annotations

from typing import Any

from systems.cache.sim import TICK_MS, StoreSim
from systems.cache.store import StoreMachine
from systems.raft.types import Entry

TTL_MS = 600
TTL_TICKS = TTL_MS // TICK_MS


def cluster(size: int = 3, seed: int = 1) -> StoreSim:
    s = StoreSim(size, seed=seed)
    s.run(60)
    assert s.leader() is not None
    return s


def ask(s: StoreSim, n: str, op: str, **kw: Any) -> dict[str, Any]:
    t = s.request(n, op, **kw)
    s.stabilize()
    return s.replies[t]


def members(s: StoreSim, n: str) -> dict[str, Any]:
    return ask(s, n, "members")


def test_put_then_get_is_linearizable_and_unknown_keys_are_absent() -> None:
    s = cluster()
    lead = s.leader()
    assert lead is not None
    assert ask(s, lead, "put", key="k", value=7)["ok"] is True
    assert ask(s, lead, "get", key="k") == {"ok": True, "value": 7}
    assert ask(s, lead, "get", key="nope") == {"ok": True, "value": None}


def test_joins_and_leaves_bump_the_epoch_heartbeats_do_not() -> None:
    s = cluster()
    lead = s.leader()
    assert lead is not None
    r1 = ask(s, lead, "register", client="a", node="c1", addr="10.0.0.1:7000", ttl=TTL_MS)
    e1 = r1["epoch"]
    assert e1 > 0 and members(s, lead) == {"ok": True, "epoch": e1,
                                           "members": {"c1": "10.0.0.1:7000"},
                                           "joined": {"c1": e1}}
    r2 = ask(s, lead, "register", client="a", node="c1", addr="10.0.0.1:7000", ttl=TTL_MS)
    assert r2["epoch"] == e1 and r2["gen"] > r1["gen"]  # a heartbeat, not a change
    e2 = ask(s, lead, "register", client="b", node="c2", addr="x", ttl=TTL_MS)["epoch"]
    assert e2 > e1
    e3 = ask(s, lead, "deregister", client="a", node="c1")["epoch"]
    assert e3 > e2 and members(s, lead)["members"] == {"c2": "x"}
    assert ask(s, lead, "deregister", client="a", node="c1")["epoch"] == e3  # no change
    assert members(s, lead)["joined"] == {"c2": e2}  # a heartbeat keeps the join epoch
    e4 = ask(s, lead, "register", client="a", node="c1", addr="y", ttl=TTL_MS)["epoch"]
    assert e4 > e3 and members(s, lead)["joined"] == {"c1": e4, "c2": e2}  # a rejoin is new


def test_a_silent_member_expires_through_the_log_on_every_replica() -> None:
    s = cluster()
    lead = s.leader()
    assert lead is not None
    ask(s, lead, "register", client="a", node="c1", addr="x", ttl=TTL_MS)
    ask(s, lead, "register", client="b", node="c2", addr="y", ttl=TTL_MS)
    for _ in range(4):  # c2 keeps heart-beating, c1 goes silent
        s.run(TTL_TICKS // 2)
        ask(s, lead, "register", client="b", node="c2", addr="y", ttl=TTL_MS)
    s.stabilize()
    for n in s.names:
        assert set(s.nodes[n].store.members) == {"c2"}
    assert all(any(isinstance(e.data, dict) and e.data.get("op") == "expire"
                   and e.data.get("node") == "c1" for e in s.nodes[n].core.log.entries)
               for n in s.names)
    epochs = {s.nodes[n].store.epoch for n in s.names}
    assert len(epochs) == 1


def test_a_registration_survives_a_leader_change_by_one_full_ttl() -> None:
    s = cluster(5, seed=3)
    old = s.leader()
    assert old is not None
    ask(s, old, "register", client="a", node="c1", addr="x", ttl=10 * TTL_MS)
    s.crash(old)
    s.run(60)
    new = s.leader()
    assert new is not None and new != old
    assert "c1" in s.nodes[new].store.members  # not expired at once on takeover
    s.run(10 * TTL_TICKS - 60 + 5)  # a full TTL from the registration: the new leader waits on
    assert "c1" in s.nodes[new].store.members  # (it extends by one TTL from its takeover)
    s.run(80)
    s.stabilize()
    assert "c1" not in s.nodes[new].store.members


def test_retried_session_command_applies_once() -> None:
    m = StoreMachine()
    cmd = {"op": "register", "node": "c1", "addr": "x", "ttl": 100, "c": "a", "s": 1}
    first = m.apply(Entry(term=1, index=5, data=cmd))
    again = m.apply(Entry(term=1, index=6, data=cmd))
    assert first == again == {"ok": True, "epoch": 5, "gen": 5}
    assert m.apply(Entry(term=1, index=7, data={**cmd, "s": 0}))["error"] == "stale-seq"
    assert m.apply(Entry(term=1, index=8, data={"op": "put"}))["error"] == "bad-request"


def test_snapshot_restores_the_same_state() -> None:
    m = StoreMachine()
    m.apply(Entry(term=1, index=1, data={"op": "put", "key": "k", "value": [1], "c": "a", "s": 1}))
    m.apply(Entry(term=1, index=2, data={"op": "register", "node": "c1", "addr": "x",
                                         "ttl": 100, "c": "b", "s": 1}))
    m.apply(Entry(term=1, index=3, data={"op": "expire", "node": "c1", "gen": 1}))  # stale gen
    other = StoreMachine()
    other.restore(m.snapshot())
    assert other.snapshot() == m.snapshot()
    assert other.query(["members"]) == {"ok": True, "epoch": 2, "members": {"c1": "x"},
                                        "joined": {"c1": 2}}
    assert other.query(["get", "k"]) == {"ok": True, "value": [1]}
    assert other.query(["nope"])["ok"] is False


def test_a_cache_only_nodes_heartbeat_carries_the_keys_put_since_its_last_one() -> None:
    """The invalidation feed (store.py): keys put after max(seen, the node's join), so what
    a node cached before it (re)joined is left to the moved-range rule."""
    from systems.cache.node import CacheCore, apply_feed
    from systems.cache.store import FEED_MAX, StoreMachine
    from systems.raft.types import Entry

    m = StoreMachine()
    seq = iter(range(1, 10_000))

    def cmd(index: int, **c: Any) -> Any:
        return m.apply(Entry(1, index, {**c, "c": "x", "s": next(seq)}))

    cmd(1, op="put", key="a", value=1)
    first = cmd(2, op="register", node="j", addr="h:1", ttl=3000, seen=0)
    assert first["upto"] == 2 and first["changed"] == []  # joined at 2: nothing before
    cmd(3, op="put", key="b", value=1)
    cmd(4, op="put", key="a", value=2)
    beat = cmd(5, op="register", node="j", addr="h:1", ttl=3000, seen=2)
    assert beat["changed"] == ["a", "b"] and beat["upto"] == 5
    assert cmd(6, op="register", node="j", addr="h:1", ttl=3000, seen=5)["changed"] == []
    assert "changed" not in cmd(7, op="register", node="r", addr="h:2", ttl=3000)  # a replica
    cache = CacheCore()
    for k in ("a", "b", "c"):
        cache.set(k, 0)
    assert apply_feed(cache, beat, 3) == 5
    assert [k for k in ("a", "b", "c") if cache.get(k).__class__.__name__ == "Hit"] == ["c"]
    assert apply_feed(cache, {"ok": False}, 5) == 5
    for i in range(FEED_MAX + 1):
        cmd(10 + i, op="put", key=f"k{i}", value=i)
    many = cmd(10_000, op="register", node="j", addr="h:1", ttl=3000, seen=6)
    assert many["changed"] is None  # too many: the node flushes
    assert apply_feed(cache, many, 6) == 10_000 and len(cache) == 0
