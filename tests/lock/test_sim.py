"""The lock service on the simulated Raft cluster: leases end through the log, on the
leader's monotonic clock, and survive leader changes (deterministic, one seed)."""

from __future__ import annotations

from systems.lock.sim import TICK_MS, LockSim
from systems.raft.node import NodeConfig

TTL_MS = 600
TTL_TICKS = TTL_MS // TICK_MS


def cluster(size: int = 3, seed: int = 1, **kw) -> LockSim:
    s = LockSim(size, seed=seed, **kw)
    s.run(60)
    assert s.leader() is not None
    return s


def acquire(s: LockSim, n: str, client: str, lock: str = "L", ttl: int = TTL_MS) -> dict:
    t = s.command(n, "acquire", client=client, lock=lock, holder=client, ttl=ttl)
    s.stabilize()
    return s.replies[t]


def expiries(s: LockSim, n: str) -> list[dict]:
    return [e.data for e in s.nodes[n].core.log.entries
            if isinstance(e.data, dict) and e.data.get("op") == "expire"]


def test_an_unrenewed_lease_ends_through_a_committed_expire_entry_on_every_replica():
    s = cluster()
    lead = s.leader()
    tok = acquire(s, lead, "a")["token"]
    s.run(TTL_TICKS - 2)
    assert all(s.lease(n, "L") is not None for n in s.names), "not before the TTL"
    s.run(10)
    assert all(s.lease(n, "L") is None for n in s.names)
    assert all(expiries(s, n) == [{"op": "expire", "lock": "L", "token": tok, "gen": tok}]
               for n in s.names)
    assert acquire(s, lead, "b")["ok"] is True


def test_renewing_keeps_a_lease_past_its_ttl():
    s = cluster()
    lead = s.leader()
    tok = acquire(s, lead, "a")["token"]
    for _ in range(4):
        s.run(TTL_TICKS // 2)
        t = s.command(lead, "renew", client="a", lock="L", token=tok)
        s.stabilize()
        assert s.replies[t] == {"ok": True, "token": tok}
    assert s.lease(lead, "L").token == tok
    assert acquire(s, lead, "b")["error"] == "held"


def test_a_new_leader_extends_outstanding_leases_by_one_ttl_before_expiring_them():
    s = cluster(5, seed=2)
    old = s.leader()
    acquire(s, old, "a")
    s.run(TTL_TICKS // 2)
    s.crash(old)
    start = s.now_ms
    while s.leader() in (None, old):
        s.run(1)
    new = s.leader()
    elected_ms = s.now_ms
    # The old leader's deadline (half a TTL away when it crashed) passes: still held.
    while s.now_ms < elected_ms + TTL_MS - 4 * TICK_MS:
        s.run(1)
        assert s.lease(new, "L") is not None, f"expired {s.now_ms - start} ms after the crash"
    s.run(20)
    assert s.lease(new, "L") is None


def test_fencing_tokens_grow_across_grants_and_leader_changes():
    s = cluster(5, seed=3)
    tokens = []
    for i in range(6):
        lead = s.leader()
        r = acquire(s, lead, f"c{i}")
        tokens.append(r["token"])
        t = s.command(lead, "release", client=f"c{i}", lock="L", token=r["token"])
        s.stabilize()
        assert s.replies[t] == {"ok": True}
        if i % 2:
            s.crash(lead)
            s.run(80)
            s.restart(lead)
            s.run(20)
    assert tokens == sorted(set(tokens))


def test_a_stale_holder_is_fenced_off_once_the_next_holder_has_read():
    s = cluster()
    lead = s.leader()
    a = acquire(s, lead, "a")["token"]
    s.run(TTL_TICKS + 10)  # a stalls past its TTL: the lease ends
    b = acquire(s, lead, "b")["token"]
    assert b > a
    r = s.command(lead, "read", client="b", key="counter", token=b)
    w = s.command(lead, "write", client="a", key="counter", value=1, token=a)
    s.stabilize()
    assert s.replies[r] == {"ok": True, "value": None}
    assert s.replies[w] == {"ok": False, "error": "fenced", "highest": b}


def test_without_the_bug_a_wall_clock_jump_does_not_end_a_lease():
    s = cluster()
    lead = s.leader()
    acquire(s, lead, "a")
    s.wall_offset_ms[lead] = 3_600_000
    s.run(TTL_TICKS // 2)
    assert s.lease(lead, "L") is not None


def test_wall_clock_lease_bug_ends_a_lease_at_once_when_the_leaders_clock_jumps():
    s = cluster(bugs=["wall-clock-lease"])
    lead = s.leader()
    acquire(s, lead, "a")
    s.wall_offset_ms[lead] = 3_600_000
    s.run(3)
    assert s.lease(lead, "L") is None
    assert acquire(s, lead, "b")["ok"] is True, "granted while a's TTL has barely begun"


def test_lease_state_survives_snapshots_and_restarts():
    s = cluster(config=NodeConfig(snapshot_every=3))
    lead = s.leader()
    tok = acquire(s, lead, "a")["token"]
    for v in range(5):
        t = s.command(lead, "write", client="a", key="k", value=v, token=tok)
        s.stabilize()
        assert s.replies[t] == {"ok": True}
    f = next(n for n in s.names if n != lead)
    s.crash(f)
    s.restart(f)
    s.run(5)
    assert s.nodes[f].core.log.snapshot.index > 0
    assert s.lease(f, "L").token == tok
    assert s.nodes[f].locks.resources["k"] == (4, tok)
