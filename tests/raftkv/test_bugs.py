"""Each --bug switch re-introduces a real class of bug; each test shows it caught.

The same scenario passes without the switch (so the test can fail), and with
it a direct check or the simulation's safety invariants flag the bug.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from systems.raftkv.core import Config
from systems.raftkv.node import BUGS, NodeConfig
from systems.raftkv.sim import InvariantViolation, SimCluster
from systems.raftkv.types import LEADER


def test_every_bug_switch_is_documented_in_one_sentence():
    assert set(BUGS) == {"stale-read", "no-fsync", "commit-old-term", "no-dedup"}
    for text in BUGS.values():
        assert text.endswith(".") and text.count(". ") == 0


def started(bugs=(), seed=2, size=3, **kw) -> SimCluster:
    s = SimCluster(size, seed=seed, bugs=bugs, **kw)
    s.run(60)
    assert s.leader() is not None
    return s


# -- stale-read ---------------------------------------------------------------------


def stale_read_scenario(bugs) -> tuple[dict, dict]:
    """x=1 is acknowledged; the leader is cut off; x=2 is acknowledged by the new
    leader; only then a client reads x at the old leader."""
    s = started(bugs)
    old = s.leader()
    w1 = s.put(old, "x", 1, client="a", seq=1)
    s.stabilize()
    s.isolate(old)
    for _ in range(200):
        s.tick(n=None)
        s.stabilize()
        new = s.leader()
        if new and new != old:
            break
    new = s.leader()
    assert new != old
    w2 = s.put(new, "x", 2, client="b", seq=1)
    s.stabilize()
    assert s.replies[w1] == s.replies[w2] == {"ok": True}
    r = s.read(old, "x")  # invoked after w2 completed
    for _ in range(60):
        s.tick(old)
    return s.replies, {"read": r}


def is_linearizable_read(replies, tokens) -> bool:
    """w1 < w2 < read in real time: a linearizable read returns 2 or fails."""
    got = replies.get(tokens["read"])
    return got is None or not got["ok"] or got["value"] == 2


def test_stale_read_is_caught_a_cut_off_leader_serves_an_old_value():
    replies, tokens = stale_read_scenario(["stale-read"])
    assert replies[tokens["read"]] == {"ok": True, "value": 1}
    assert not is_linearizable_read(replies, tokens)


def test_without_stale_read_the_cut_off_leader_refuses_the_read():
    replies, tokens = stale_read_scenario([])
    assert is_linearizable_read(replies, tokens)
    assert replies[tokens["read"]]["ok"] is False


def test_stale_read_is_caught_on_a_lagging_follower():
    s = started(["stale-read"], seed=5)
    lead = s.leader()
    f = next(n for n in s.names if n != lead)
    w = s.put(lead, "x", 1)
    while w not in s.replies:  # deliver just enough for the leader to acknowledge
        s.deliver(0)
    r = s.read(f, "x")
    assert s.replies[w] == {"ok": True} and s.replies[r] == {"ok": True, "value": None}


# -- no-fsync ----------------------------------------------------------------------


def crash_all_after_ack(bugs) -> tuple[dict, dict]:
    s = started(bugs, check=False)
    w = s.put(s.leader(), "x", "acked")
    s.stabilize()
    ack = s.replies[w]
    for n in s.names:
        s.crash(n)  # power loss: every node at once
    for n in s.names:
        s.restart(n)
    s.run(80)
    r = s.read(s.leader(), "x")
    s.run(3)
    return ack, s.replies[r]


def test_no_fsync_is_caught_a_crash_loses_an_acknowledged_write():
    ack, read = crash_all_after_ack(["no-fsync"])
    assert ack == {"ok": True}
    assert read == {"ok": True, "value": None}, "the acknowledged write is gone"


def test_with_fsync_the_acknowledged_write_survives_the_crash():
    ack, read = crash_all_after_ack([])
    assert ack == {"ok": True} and read == {"ok": True, "value": "acked"}


def test_no_fsync_violates_state_machine_safety_in_the_checked_sim():
    # lost votes and lost entries: election safety or state machine safety breaks
    with pytest.raises(InvariantViolation, match="safety|leader completeness"):
        s = started(["no-fsync"])
        s.put(s.leader(), "x", "acked")
        s.stabilize()
        for n in s.names:
            s.crash(n)
        for n in s.names:
            s.restart(n)
        s.run(80)
        s.put(s.leader(), "y", 1, client="d", seq=1)
        s.run(5)


# -- commit-old-term: Figure 8 of the Raft paper --------------------------------


def deliver_until(s: SimCluster, done: Callable[[], bool], limit: int = 10_000) -> None:
    for _ in range(limit):
        if done() or not s.inflight:
            return
        s.deliver(0)
    raise AssertionError("condition never held")


def win(s: SimCluster, n: str) -> None:
    """``n`` campaigns (as often as needed) until it leads; its appends stay in flight."""
    for _ in range(5):
        s.campaign(n)
        deliver_until(s, lambda: s.nodes[n].core.role == LEADER or not any(
            m.type in ("vote", "vote_resp") for m in s.inflight))
        if s.nodes[n].core.role == LEADER:
            return
    raise AssertionError(f"{n} cannot win")


def figure8(bugs) -> SimCluster:
    cfg = NodeConfig(raft=Config(pre_vote=False, check_quorum=False, max_msg_entries=1))
    s = SimCluster(5, seed=8, bugs=bugs, config=cfg)
    s.elect("n1")
    s.run(0)
    # (a) n1 (term 1) replicates entry 2 to n2 only, then crashes.
    for o in ("n3", "n4", "n5"):
        s.cut("n1", o)
    s.put("n1", "x", "from-term-1")
    s.stabilize()
    s.crash("n1")
    s.heal()
    # (b) n5 wins term 2 with n3, n4; its entry 2 (the no-op, or with the bug, which
    #     appends none, the client's write) reaches nobody; it crashes.
    win(s, "n5")
    s.put("n5", "x", "from-term-2")
    s.crash("n5")
    s.inflight.clear()
    # (c) n1 restarts and wins term 3 with n2, n3, n4; it gets entry 2 onto n3
    #     (a majority: n1 n2 n3) but crashes before its term-3 entry reaches n3.
    s.restart("n1")
    s.cut("n1", "n4")
    win(s, "n1")
    deliver_until(s, lambda: s.nodes["n1"].core.progress["n3"].match >= 2)
    s.crash("n1")
    s.inflight.clear()
    s.heal()
    # (d) n5 restarts and wins term 4 with n3, n4 (its last term 2 beats their 1).
    s.restart("n5")
    win(s, "n5")
    s.stabilize()
    return s


def test_commit_old_term_is_caught_by_figure_8():
    with pytest.raises(AssertionError, match="leader completeness|state machine safety|committed"):
        figure8(["commit-old-term"])


def test_figure_8_is_safe_with_the_current_term_commit_rule():
    s = figure8([])
    assert s.leader() == "n5"
    assert s.nodes["n5"].core.log.entry(2).term == 2, "the uncommitted entry was replaced"
    assert all(i != 2 or e.term == 2 for i, e in s.applied.items())


# -- no-dedup ----------------------------------------------------------------------


def retried_append(bugs) -> str:
    s = started(bugs, seed=3)
    lead = s.leader()
    cmd = {"op": "append", "k": "log", "v": "x", "c": "cl", "s": 1}
    s.write(lead, cmd)  # the first attempt commits but its answer is lost
    s.stabilize()
    s.write(lead, cmd)  # the client retries with the same session
    s.stabilize()
    return s.nodes[lead].kv.get("log")


def test_no_dedup_is_caught_a_retried_append_applies_twice():
    assert retried_append(["no-dedup"]) == "xx"


def test_sessions_apply_a_retried_append_once():
    assert retried_append([]) == "x"


def test_no_dedup_makes_a_retried_write_resurrect_an_overwritten_value():
    s = started(["no-dedup"], seed=4)
    lead = s.leader()
    w1 = {"op": "put", "k": "r", "v": 1, "c": "a", "s": 1}
    s.write(lead, w1)
    s.stabilize()
    s.put(lead, "r", 2, client="b", seq=1)  # w2 completes after w1 took effect
    s.stabilize()
    s.write(lead, w1)  # a's retry of w1 (same session)
    s.stabilize()
    r = s.read(lead, "r")
    s.run(3)
    assert s.replies[r] == {"ok": True, "value": 1}, "a read after w2 sees w1's value again"
