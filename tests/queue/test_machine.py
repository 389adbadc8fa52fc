"""The queue partition's state machine, one rule per test (pure: entries in, replies out)."""

from __future__ import annotations

from typing import Any

from systems.queue.machine import COMMIT_AHEAD, QueueMachine, coordinator, range_assign
from systems.raft.types import Entry


class Log:
    def __init__(self, m: QueueMachine) -> None:
        self.m = m
        self.index = 1

    def cmd(self, op: str, **kw: Any) -> Any:
        self.index += 1
        return self.m.apply(Entry(1, self.index, {"op": op, **kw}))

    def send(self, pid: str, seq: int, value: Any) -> Any:
        return self.cmd("append", pid=pid, seq=seq, key="k", value=value)


def test_appends_get_dense_offsets_and_fetch_reads_from_an_offset():
    log = Log(QueueMachine())
    assert [log.send("p", i, f"v{i}")["offset"] for i in range(3)] == [0, 1, 2]
    r = log.m.query(["fetch", 1, 10])
    assert r == {"ok": True, "messages": [[1, "k", "v1"], [2, "k", "v2"]], "high": 3}
    assert log.m.query(["fetch", 5, 10])["messages"] == []


def test_a_retried_send_answers_its_first_offset_and_appends_nothing():
    log = Log(QueueMachine())
    log.send("p", 1, "a")
    log.send("q", 1, "b")
    assert log.send("p", 1, "a") == {"ok": True, "offset": 0, "dup": True}
    assert len(log.m.log) == 2 and log.m.duplicates_refused == 1
    assert log.send("p", 0, "old") == {"ok": False, "error": "stale-seq"}


def test_no_idempotence_bug_appends_a_retry_twice():
    log = Log(QueueMachine(idempotent=False))
    log.send("p", 1, "a")
    assert log.send("p", 1, "a") == {"ok": True, "offset": 1}
    assert [m[1] for m in log.m.log] == ["a", "a"]


def test_range_assignment_over_sorted_members():
    assert range_assign(["b", "a"], 5) == {"a": [0, 1, 2], "b": [3, 4]}
    assert range_assign(["a", "b", "c"], 2) == {"a": [0], "b": [1], "c": []}
    assert range_assign([], 3) == {}
    assert 0 <= coordinator("g", 3) < 3 and coordinator("g", 3) == coordinator("g", 3)


def test_joins_and_leaves_start_generations_and_reassign():
    log = Log(QueueMachine(partitions=4))
    a = log.cmd("join", group="g", member="a")
    assert (a["generation"], a["mine"]) == (1, [0, 1, 2, 3])
    b = log.cmd("join", group="g", member="b")
    assert (b["generation"], b["mine"]) == (2, [2, 3])
    assert log.cmd("join", group="g", member="b")["generation"] == 2  # already a member
    assert log.cmd("leave", group="g", member="a")["assignment"] == {"b": [0, 1, 2, 3]}


def test_commits_need_a_current_member_of_the_current_generation():
    log = Log(QueueMachine(partitions=2))
    log.cmd("join", group="g", member="a")
    assert log.cmd("commit", group="g", member="a", generation=1, offsets={"0": 3})["ok"]
    log.cmd("join", group="g", member="b")
    r = log.cmd("commit", group="g", member="a", generation=1, offsets={"0": 9})
    assert r == {"ok": False, "error": "rebalance", "generation": 2}
    assert log.cmd("commit", group="g", member="z", generation=2, offsets={"0": 9})["ok"] is False
    assert log.m.query(["group", "g"])["offsets"] == {"0": 3}


def test_commit_ahead_bug_stores_past_the_committed_offset():
    log = Log(QueueMachine(commit_ahead=True))
    log.cmd("join", group="g", member="a")
    log.cmd("commit", group="g", member="a", generation=1, offsets={"0": 3})
    assert log.m.query(["group", "g"])["offsets"] == {"0": 3 + COMMIT_AHEAD}


def test_an_expiry_removes_only_the_incarnation_it_names():
    log = Log(QueueMachine())
    log.cmd("join", group="g", member="a")  # joined in generation 1
    log.cmd("leave", group="g", member="a")
    log.cmd("join", group="g", member="a")  # joined again in generation 3
    assert log.cmd("expire", group="g", member="a", joined=1) is None
    assert log.m.query(["group", "g"])["members"] == ["a"]
    log.cmd("expire", group="g", member="a", joined=3)
    v = log.m.query(["group", "g"])
    assert v["members"] == [] and v["generation"] == 4


def test_snapshot_round_trip():
    log = Log(QueueMachine(partitions=2))
    log.send("p", 1, "a")
    log.cmd("join", group="g", member="a")
    log.cmd("commit", group="g", member="a", generation=1, offsets={"1": 1})
    m2 = QueueMachine(partitions=2)
    m2.restore(log.m.snapshot())
    assert m2.snapshot() == log.m.snapshot()
    assert Log(m2).send("p", 1, "a")["dup"] is True


def test_bad_commands_and_queries():
    log = Log(QueueMachine())
    assert log.cmd("nope") == {"ok": False, "error": "bad-command"}
    assert log.m.apply(Entry(1, 9, None)) is None
    assert log.m.query("x")["error"] == "bad-query"
    assert log.m.query(["fetch", 1])["error"] == "bad-query"


def test_a_snapshot_is_a_copy_not_a_view_of_the_live_state():
    log = Log(QueueMachine())
    log.send("p", 1, "a")
    snap = log.m.snapshot()
    log.send("p", 2, "b")
    assert snap["log"] == [["k", "a"]]
