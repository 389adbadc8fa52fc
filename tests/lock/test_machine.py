"""The lock service's state machine, one rule per test (pure: entries in, replies out)."""

from __future__ import annotations

from systems.lock.machine import Lease, LockMachine
from systems.raft.types import Entry


class Log:
    """Feeds commands to a machine as consecutive entries (index = Raft index)."""

    def __init__(self, m: LockMachine) -> None:
        self.m = m
        self.index = 1  # index 1 is the leader's no-op
        self.seq = 0

    def cmd(self, op: str, client: str = "c", seq: int | None = None, **kw: object) -> dict | None:
        self.index += 1
        if seq is None:
            self.seq += 1
            seq = self.seq
        return self.m.apply(Entry(1, self.index, {"op": op, "c": client, "s": seq, **kw}))

    def expire(self, lock: str, token: int, gen: int) -> None:
        self.index += 1
        assert self.m.apply(Entry(1, self.index, {"op": "expire", "lock": lock, "token": token, "gen": gen})) is None


def test_a_free_lock_is_granted_with_the_raft_index_of_the_grant_as_its_token():
    log = Log(LockMachine())
    assert log.cmd("acquire", lock="L", holder="a", ttl=500) == {"ok": True, "token": 2, "ttl": 500}
    assert log.cmd("acquire", lock="M", holder="a", ttl=500)["token"] == 3


def test_a_held_lock_is_refused_and_names_its_holder():
    log = Log(LockMachine())
    log.cmd("acquire", lock="L", holder="a", ttl=500)
    assert log.cmd("acquire", client="b", lock="L", holder="b", ttl=500) == {
        "ok": False, "error": "held", "holder": "a", "token": 2}


def test_only_the_holders_token_releases_the_lock():
    log = Log(LockMachine())
    tok = log.cmd("acquire", lock="L", holder="a", ttl=500)["token"]
    assert log.cmd("release", lock="L", token=tok + 1) == {"ok": False, "error": "not-holder"}
    assert "L" in log.m.leases
    assert log.cmd("release", lock="L", token=tok) == {"ok": True}
    assert log.cmd("release", lock="L", token=tok) == {"ok": False, "error": "not-holder"}


def test_release_any_bug_frees_the_lock_whatever_the_token():
    log = Log(LockMachine(check_release_token=False))
    log.cmd("acquire", lock="L", holder="a", ttl=500)
    assert log.cmd("release", lock="L", token=999) == {"ok": True}
    assert "L" not in log.m.leases


def test_a_renew_starts_a_new_generation_so_an_expiry_of_the_old_one_does_nothing():
    log = Log(LockMachine())
    tok = log.cmd("acquire", lock="L", holder="a", ttl=500)["token"]
    assert log.cmd("renew", lock="L", token=tok) == {"ok": True, "token": tok}
    renew_index = log.index
    log.expire("L", tok, tok)  # the deadline of the grant, proposed before the renew applied
    assert log.m.leases["L"].gen == renew_index
    log.expire("L", tok, renew_index)
    assert "L" not in log.m.leases
    assert log.cmd("renew", lock="L", token=tok) == {"ok": False, "error": "not-holder"}


def test_a_token_lower_than_the_highest_seen_is_fenced_off_the_resource():
    log = Log(LockMachine())
    assert log.cmd("write", key="k", value=1, token=10) == {"ok": True}
    assert log.cmd("write", key="k", value=2, token=10) == {"ok": True}, "equal tokens pass"
    assert log.cmd("write", key="k", value=3, token=9) == {"ok": False, "error": "fenced", "highest": 10}
    assert log.cmd("read", key="k", token=9)["error"] == "fenced"
    assert log.cmd("read", key="k", token=10) == {"ok": True, "value": 2}
    assert log.m.fenced == 2


def test_a_fenced_read_keeps_an_older_holder_from_writing_after_it():
    log = Log(LockMachine())
    assert log.cmd("read", client="old", key="k", token=5) == {"ok": True, "value": None}
    assert log.cmd("read", client="new", key="k", token=8) == {"ok": True, "value": None}
    assert log.cmd("write", client="old", key="k", value=1, token=5)["error"] == "fenced"
    assert log.cmd("write", client="new", key="k", value=1, token=8) == {"ok": True}


def test_no_fencing_bug_lets_a_stale_token_overwrite_the_resource():
    log = Log(LockMachine(fencing=False))
    log.cmd("write", key="k", value=7, token=10)
    assert log.cmd("write", key="k", value=1, token=3) == {"ok": True}
    assert log.m.resources["k"] == (1, 10)


def test_a_retried_acquire_returns_the_first_answer_and_grants_once():
    log = Log(LockMachine())
    first = log.cmd("acquire", seq=1, lock="L", holder="a", ttl=500)
    again = log.cmd("acquire", seq=1, lock="L", holder="a", ttl=500)
    assert again == first and log.m.leases["L"].token == first["token"]
    assert log.cmd("acquire", seq=0, lock="L", holder="a", ttl=500)["error"] == "stale-seq"


def test_a_snapshot_restores_leases_resources_and_sessions():
    log = Log(LockMachine())
    log.cmd("acquire", lock="L", holder="a", ttl=500)
    log.cmd("write", key="k", value=4, token=2)
    m2 = LockMachine()
    m2.restore(log.m.snapshot())
    assert m2.leases == log.m.leases and m2.resources == log.m.resources
    assert m2.sessions == log.m.sessions
    assert m2.query(["lock", "L"]) == {"ok": True, "lease": ["a", 2, 500, 2, None]}
    assert m2.query(["peek", "k"]) == {"ok": True, "value": 4, "highest": 2}


def test_wall_clock_lease_bug_lets_an_acquire_stamped_past_the_expiry_take_the_lock():
    log = Log(LockMachine())
    log.cmd("acquire", lock="L", holder="a", ttl=500, wall=1000)
    assert log.m.leases["L"] == Lease("a", 2, 500, 2, 1500)
    assert log.cmd("acquire", client="b", lock="L", holder="b", ttl=500, wall=1499)["error"] == "held"
    assert log.cmd("acquire", client="b", lock="L", holder="b", ttl=500, wall=1500)["ok"] is True
    assert log.m.leases["L"].holder == "b"
