"""The 2PC cores driven through every crash point of the protocol, in the simulation.

Cluster n1, n2, n3; the txn is submitted to n1 (its coordinator) and appends
to one key on n2's shard and one on n3's, so the coordinator is not a
participant and each crash hits exactly one role. The txn is one-shot (no
write depends on a read), so each participant's ``exec`` executes, persists
the prepare record and votes in one step: crashing on that message is the
"before/after prepare persisted" crash point.
"""

from __future__ import annotations

from typing import Any

import pytest

from systems.twopc.participant import Participant
from systems.twopc.proto import Timing
from systems.twopc.sim import SimCluster


def key_on(c: SimCluster, node: str, skip: int = 0) -> int:
    found = [k for k in range(1000) if c.owner(k) == node]
    return found[skip]


NO_RETRY = Timing(conflict_retries=0)


def start(bugs: tuple[str, ...] = (), timing: Timing = NO_RETRY) -> tuple[SimCluster, int, int]:
    c = SimCluster(("n1", "n2", "n3"), bugs=bugs, timing=timing)
    a, b = key_on(c, "n2"), key_on(c, "n3")
    c.submit("n1", "T", [["append", a, 1], ["append", b, 2]])
    return c, a, b


def deliver_kind(c: SimCluster, kind: str, dst: str | None = None, **kw: Any) -> dict[str, Any]:
    """Deliver everything in flight, in order, until a message of ``kind`` (to ``dst``)."""
    while True:
        for i, m in enumerate(c.net):
            if m["t"] == kind and (dst is None or m["dst"] == dst):
                return c.deliver(i, **kw)
        assert c.net, f"no {kind} message to {dst} ever came"
        c.deliver(0)


def visible(c: SimCluster, a: int, b: int) -> tuple[bool, bool]:
    return (1 in (c.value(a) or []), 2 in (c.value(b) or []))


def test_happy_path_commits_everywhere_and_forgets_the_decision() -> None:
    c, a, b = start()
    assert c.settle()
    assert c.replies["T"] is not None and c.replies["T"]["ok"]
    assert visible(c, a, b) == (True, True)
    assert c.atomicity_violations() == []
    n1 = c.disks["n1"].durable + c.disks["n1"].buffer
    assert any("decide" in r for r in n1) and any("end" in r for r in n1)
    assert c.nodes["n1"].coord.txns == {}


def test_participant_crash_before_prepare_persisted_aborts() -> None:
    c, a, b = start()
    deliver_kind(c, "exec", "n2", crash_after=-1)
    assert c.disks["n2"].durable == []
    for _ in range(Timing().txn_ticks):
        c.tick()
        while c.net:
            c.deliver(0)
    assert c.replies["T"] == {"ok": False, "error": "timeout", "tx": "n1.b0.1"}
    assert c.settle()
    assert visible(c, a, b) == (False, False)
    assert c.atomicity_violations() == []


def test_participant_crash_after_prepare_persisted_recovers_prepared_with_locks() -> None:
    c, a, b = start()
    deliver_kind(c, "exec", "n2", crash_after=0)  # persisted, vote never sent
    assert any("prep" in r for r in c.disks["n2"].durable)
    c.restart("n2")
    n2 = c.nodes["n2"].part
    assert n2.counts()["prepared"] == 1 and n2.counts()["in_doubt"] == 1
    assert n2.locks == {a: {"n1.b0.1": "X"}}, "a recovered prepared txn holds its locks"
    assert c.settle()
    assert c.replies["T"] is not None and c.replies["T"]["ok"] is False
    assert visible(c, a, b) == (False, False)
    assert c.nodes["n2"].part.locks == {}


def test_participant_crash_after_voting_yes_commits_after_restart() -> None:
    c, a, b = start()
    deliver_kind(c, "exec", "n2", crash_after=1)  # persisted and voted yes
    assert c.settle()
    assert c.replies["T"] is not None and c.replies["T"]["ok"]
    assert visible(c, a, b) == (True, True)
    assert c.atomicity_violations() == []


def test_coordinator_crash_before_decision_logged_presumes_abort_and_blocks_meanwhile() -> None:
    c, a, b = start()
    deliver_kind(c, "vote", "n1")
    deliver_kind(c, "vote", "n1", crash_after=-1)  # the last vote: crash before deciding
    assert c.disks["n1"].durable == []
    for _ in range(3 * Timing().query_ticks):  # participants cannot reach the coordinator
        c.tick()
        while c.net:
            c.deliver(0)
    for n, k in (("n2", a), ("n3", b)):
        part = c.nodes[n].part
        assert part.counts()["in_doubt"] == 1 and k in part.locks, "2PC blocks: locks kept"
    c.submit("n2", "U", [["r", a, None]])  # a younger txn dies on the held lock
    while c.net:
        c.deliver(0)
    assert c.replies["U"] is not None and c.replies["U"]["error"] == "conflict"
    c.restart("n1")
    assert c.settle()
    assert c.replies["T"] is None  # the client saw the coordinator die: info
    assert visible(c, a, b) == (False, False)
    assert c.atomicity_violations() == []


@pytest.mark.parametrize("sent", [0, 1])
def test_coordinator_crash_after_decision_logged_redrives_commit(sent: int) -> None:
    """sent=0: decision durable, no commit left; sent=1: crash during the commit fan-out."""
    c, a, b = start()
    deliver_kind(c, "vote", "n1")
    deliver_kind(c, "vote", "n1", crash_after=sent)
    assert any("decide" in r for r in c.disks["n1"].durable)
    c.restart("n1")
    assert c.nodes["n1"].status()["deciding"] == 1
    assert c.settle()
    assert visible(c, a, b) == (True, True)
    assert c.atomicity_violations() == []
    assert c.nodes["n1"].status()["deciding"] == 0


def test_participant_crash_after_commit_persisted_before_ack() -> None:
    c, a, b = start()
    deliver_kind(c, "commit", "n2", crash_after=0)
    c.restart("n2")
    assert c.value(a) == [1], "the commit record is replayed with the prepared writes"
    assert c.settle()
    assert visible(c, a, b) == (True, True)
    assert c.nodes["n1"].coord.txns == {}


def test_no_decision_log_bug_gives_a_partial_commit() -> None:
    c, a, b = start(bugs=("no-decision-log",))
    deliver_kind(c, "vote", "n1")
    deliver_kind(c, "vote", "n1", crash_after=1)  # one commit left, then the crash
    c.restart("n1")
    assert c.settle()
    assert visible(c, a, b) in ((True, False), (False, True))
    assert any("partial commit" in p for p in c.atomicity_violations())


def test_no_prepare_fsync_bug_loses_prepared_writes() -> None:
    c, a, b = start(bugs=("no-prepare-fsync",))
    deliver_kind(c, "exec", "n2", crash_after=1)  # voted yes, nothing on disk
    assert not any("prep" in r for r in c.disks["n2"].durable)
    assert c.settle()
    assert c.replies["T"] is not None and c.replies["T"]["ok"]
    assert visible(c, a, b) == (False, True)
    assert any("partial commit" in p for p in c.atomicity_violations())


def write_skew(bugs: tuple[str, ...]) -> dict[str, Any]:
    """T1 reads x then appends y, T2 reads y then appends x, interleaved at the shards."""
    c = SimCluster(("n1", "n2", "n3"), bugs=bugs)
    x, y = key_on(c, "n2"), key_on(c, "n3")
    c.submit("n1", "T1", [["r", x, None], ["append", y, 1]])
    c.submit("n1", "T2", [["r", y, None], ["append", x, 2]])
    for tx, dst in (("n1.b0.1", "n2"), ("n1.b0.2", "n3")):  # T1 reads x, T2 reads y
        c.deliver(next(i for i, m in enumerate(c.net) if (m["tx"], m["dst"]) == (tx, dst)))
    assert c.settle()
    return {t: c.replies[t] for t in ("T1", "T2")}


def test_early_unlock_bug_commits_a_write_skew_strict_2pl_does_not() -> None:
    bad = write_skew(("early-unlock",))
    assert all(r is not None and r["ok"] for r in bad.values())
    assert bad["T1"] is not None and bad["T1"]["txn"][0][2] is None  # T1 missed T2's append
    assert bad["T2"] is not None and bad["T2"]["txn"][0][2] is None  # and T2 missed T1's
    good = write_skew(())
    oks = [t for t, r in good.items() if r is not None and r["ok"]]
    assert len(oks) < 2 or any(r["txn"][0][2] for r in good.values() if r is not None)


def opposite_orders(timing: Timing) -> SimCluster:
    c = SimCluster(("n1", "n2", "n3"), timing=timing)
    x, y = key_on(c, "n2"), key_on(c, "n3")
    c.submit("n1", "OLD", [["append", x, 1], ["append", y, 1]])
    c.submit("n1", "YOUNG", [["append", y, 2], ["append", x, 2]])
    old, young = "n1.b0.1", "n1.b0.2"
    for tx, dst in [(old, "n2"), (young, "n3"), (old, "n3"), (young, "n2")]:
        i = next(i for i, m in enumerate(c.net) if m["t"] == "exec" and (m["tx"], m["dst"]) == (tx, dst))
        c.deliver(i)
    assert c.nodes["n3"].part.txns[old].state == "waiting", "the older txn waits"
    return c


def test_wait_die_opposite_lock_orders_one_commits_one_aborts_cleanly() -> None:
    c = opposite_orders(NO_RETRY)
    x, y = key_on(c, "n2"), key_on(c, "n3")
    young = "n1.b0.2"
    assert c.settle()
    assert c.replies["OLD"] is not None and c.replies["OLD"]["ok"]
    assert c.replies["YOUNG"] == {"ok": False, "error": "conflict", "tx": young}
    assert c.value(x) == [1] and c.value(y) == [1]
    for n in c.names:
        assert c.nodes[n].part.locks == {} and c.nodes[n].part.txns == {}


def test_a_txn_that_died_is_restarted_with_its_age_and_commits_after_the_older() -> None:
    c = opposite_orders(Timing())
    x, y = key_on(c, "n2"), key_on(c, "n3")
    assert c.settle()
    assert c.replies["OLD"] is not None and c.replies["OLD"]["ok"]
    young = c.replies["YOUNG"]
    assert young is not None and young["ok"] and young["tx"] != "n1.b0.2", "a new txid"
    assert c.value(x) == [1, 2] and c.value(y) == [1, 2]
    assert c.nodes["n1"].status()["conflict_retries"] >= 1


def test_wait_die_direction_at_one_participant() -> None:
    p = Participant("n1", Timing())

    def ex(tx: str, ts: int, k: int) -> list[dict[str, Any]]:
        m = {"t": "exec", "src": "c", "dst": "n1", "tx": tx, "age": [ts, tx], "mops": [["append", k, 0]]}
        return p.step(m, 0).messages

    assert ex("a", 5, 1)[0]["t"] == "exec-ok"
    assert ex("young", 9, 1)[0] == {"t": "exec-no", "src": "n1", "dst": "c", "tx": "young",
                                    "reason": "conflict"}
    assert ex("old", 1, 1) == []  # waits
    out = p.step({"t": "abort", "src": "c", "dst": "n1", "tx": "a"}, 1)
    assert [m["t"] for m in out.messages] == ["exec-ok"] and out.messages[0]["tx"] == "old"
    assert p.step({"t": "exec", "src": "c", "dst": "n1", "tx": "young", "age": [9, "young"],
                   "mops": [["r", 2, None]]}, 2).messages[0]["reason"] == "aborted"


def test_lock_wait_times_out_into_a_no() -> None:
    p = Participant("n1", Timing(exec_wait_ticks=3))
    base = {"t": "exec", "src": "c", "dst": "n1", "mops": [["r", 1, None]]}
    p.step({**base, "tx": "w", "age": [5, "w"], "mops": [["w", 1, 0]]}, 0)
    assert p.step({**base, "tx": "r", "age": [1, "r"]}, 0).messages == []
    msgs = [m for now in range(1, 4) for m in p.tick(now).messages]
    assert [(m["t"], m.get("reason")) for m in msgs] == [("exec-no", "lock-timeout")]


def test_bad_requests_are_refused_definitely() -> None:
    c = SimCluster()
    c.submit("n1", "B", [["frob", 1, 2]])
    assert c.replies["B"] is not None and c.replies["B"]["error"] == "bad-request"


def test_status_names_the_participants_whose_commit_ack_is_missing() -> None:
    c = SimCluster(("n1", "n2", "n3"), timing=NO_RETRY)
    a, b = key_on(c, "n2"), key_on(c, "n3")
    c.submit("n1", "T", [["append", a, 1], ["r", b, None]])  # writes on n2, reads on n3
    deliver_kind(c, "vote", "n1")
    deliver_kind(c, "vote", "n1")  # decided: commits to n2 and n3 in flight
    st = c.nodes["n1"].status()
    assert st["awaiting_ack"] == {"n2": 1, "n3": 1} and st["awaiting_write_ack"] == {"n2": 1}
    deliver_kind(c, "ack", "n1")
    deliver_kind(c, "ack", "n1")
    st = c.nodes["n1"].status()
    assert st["awaiting_ack"] == {} and st["awaiting_write_ack"] == {} and st["deciding"] == 0
