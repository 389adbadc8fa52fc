"""End to end in the simulation: the queue's core under a scripted fault, recorded as a
history in the checker's shapes, judged by checkers/queue.py. Each bug switch that lives in
the queue is caught with the class it should raise; the same script on the correct build is
valid. (Scripted, deterministic schedules; the randomized sim backend adapter is not done.)
"""

from __future__ import annotations

from typing import Any

import pytest

from checkers.queue import check_queue
from systems.queue.sim import PartitionSim
from tests.queue.test_checker import H


class Driver:
    """Sequential clients over one partition group; every call is one history op."""

    def __init__(self, bugs: tuple[str, ...] = ()) -> None:
        self.s = PartitionSim(3, seed=3, bugs=bugs, session_timeout_ticks=1000)
        self.s.run(60)
        self.h = H()
        self.seq: dict[int, int] = {}
        self.n = 0

    def lead(self, among: list[str] | None = None) -> str:
        s = self.s
        names = among or s.up()
        best = max((s.nodes[n].core.term, n) for n in names if s.nodes[n].core.role == "leader")
        return best[1]

    def call(self, node: str, op: str, ticks: int = 60, **fields: Any) -> dict[str, Any] | None:
        t = self.s.request(node, op, **fields)
        for _ in range(ticks):
            self.s.stabilize()
            if t in self.s.replies:
                return self.s.replies[t]
            self.s.tick()
        return None

    def send(self, p: int, node: str, value: Any, retry_at: str | None = None) -> Any:
        """One send op; ``retry_at``: the first reply is lost and the client retries there."""
        seq = self.seq[p] = self.seq.get(p, 0) + 1
        self.h.invoke(p, "send", [value, value])
        fields = {"pid": f"p{p}", "seq": seq, "key": value, "value": value}
        r = self.call(node, "send", **fields)
        if retry_at is not None:
            r = self.call(retry_at, "send", **fields)
        if r is None or r.get("ambiguous"):
            return self.h.complete(p, "send", None, "info")
        if not r.get("ok"):
            return self.h.complete(p, "send", None, "fail")
        return self.h.complete(p, "send", [0, r["offset"]])

    def poll(self, p: int, node: str, offset: int, group: str | None = None,
             drain: bool = False, max_n: int = 1000) -> int:
        """One poll op; returns the next offset to read."""
        self.h.invoke(p, "poll", {"group": group, "drain": drain})
        r = self.call(node, "fetch", offset=offset, max=max_n)
        if r is None or not r.get("ok"):
            self.h.complete(p, "poll", None, "fail")
            return offset
        ms = [[o, v] for o, _, v in r["messages"]]
        self.h.complete(p, "poll", {"0": ms})
        return ms[-1][0] + 1 if ms else offset

    def group_op(self, p: int, op: str, **fields: Any) -> dict[str, Any]:
        self.h.invoke(p, op, fields)
        r = self.call(self.lead(), op, group="g", **fields)
        assert r is not None and r.get("ok"), r
        self.h.complete(p, op, fields)
        return r

    def drain(self) -> Any:
        self.s.heal()
        self.s.run(100)
        self.poll(99, self.lead(), 0, drain=True)
        return check_queue(self.h.history())


def acks_leader(bugs: tuple[str, ...]) -> Any:
    d = Driver(bugs)
    old = d.lead()
    d.send(0, old, "a")
    d.s.isolate(old)
    d.send(0, old, "b")  # acknowledged by the lone leader with the bug, info without
    d.s.run(80)
    new = d.lead([n for n in d.s.names if n != old])
    d.send(1, new, "c")
    return d.drain()


def no_idempotence(bugs: tuple[str, ...]) -> Any:
    d = Driver(bugs)
    old = d.lead()
    d.send(0, old, "a")
    seq = d.seq[0] = d.seq[0] + 1
    d.h.invoke(0, "send", ["b", "b"])
    fields = {"pid": "p0", "seq": seq, "key": "b", "value": "b"}
    d.call(old, "send", **fields)  # applied, but its reply is lost
    d.s.crash(old)
    d.s.run(80)
    r = d.call(d.lead(), "send", **fields)  # the client's retry, same (pid, seq)
    assert r is not None and r["ok"]
    d.h.complete(0, "send", [0, r["offset"]])
    d.s.restart(old)
    return d.drain()


def commit_ahead(bugs: tuple[str, ...]) -> Any:
    d = Driver(bugs)
    for i in range(10):
        d.send(0, d.lead(), f"m{i}")
    a = d.group_op(10, "join", member="a")
    assert d.poll(10, d.lead(), 0, group="g", max_n=3) == 3  # a is delivered 0..2
    d.group_op(10, "commit", member="a", generation=a["generation"], offsets={"0": 3})
    d.group_op(10, "leave", member="a")
    d.group_op(11, "join", member="b")
    view = d.call(d.lead(), "group", group="g")
    assert view is not None
    d.poll(11, d.lead(), view["offsets"]["0"], group="g")
    return d.drain()


def stale_fetch(bugs: tuple[str, ...]) -> Any:
    d = Driver(bugs)
    old = d.lead()
    d.send(0, old, "a")
    d.s.isolate(old)
    d.send(0, old, "ghost")  # never acknowledged
    d.poll(10, old, 0)  # served from the deposed leader's log with the bug
    d.s.run(80)
    new = d.lead([n for n in d.s.names if n != old])
    d.send(1, new, "c")
    return d.drain()


CASES = [
    ("acks-leader", acks_leader, {"inconsistent-offsets"}),
    ("no-idempotence", no_idempotence, {"duplicate"}),
    ("commit-ahead", commit_ahead, {"poll-skip"}),
    ("stale-fetch", stale_fetch, {"inconsistent-offsets"}),
]


@pytest.mark.parametrize("bug,script,expect", CASES, ids=[c[0] for c in CASES])
def test_the_bug_is_caught_and_the_correct_build_is_valid(bug: str, script: Any,
                                                          expect: set[str]) -> None:
    good = script(())
    assert good.valid is True, [a.explanation for a in good.anomalies]
    bad = script((bug,))
    assert bad.valid is False
    found = {a.kind for a in bad.anomalies}
    assert expect <= found, (found, [a.explanation for a in bad.anomalies])
