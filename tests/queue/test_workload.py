"""The queue workload's generator against a fake queue (no cluster): producers send unique
values, consumers join/poll/commit and re-join after failures; the history checks valid."""

from __future__ import annotations

from typing import Any

from checkers.queue import check_queue
from harness import generator as gen
from harness.generator.simulate import simulate
from harness.history import History, op_from_dict
from workloads import REGISTRY, WorkloadOptions
from workloads.queue import QueueOps


class FakeQueue:
    """One partition, applied at invocation; consumers resume from the group's commit."""

    def __init__(self, fail_every: int = 0) -> None:
        self.log: list[Any] = []
        self.committed = 0
        self.pos: dict[int, int] = {}
        self.n = 0
        self.fail_every = fail_every

    def __call__(self, c: dict) -> dict:
        f, v, p = c["f"], c["value"], c["process"]
        self.n += 1
        if f == "send":
            self.log.append(v[1])
            return {"value": [0, len(self.log) - 1]}
        if f == "join":
            self.pos[p] = self.committed
            return {"value": [0]}
        if p not in self.pos:
            return {"type": "fail", "error": "not-joined"}
        if self.fail_every and self.n % self.fail_every == 0:
            del self.pos[p]
            return {"type": "fail", "error": "rebalance"}
        if f == "poll":
            if v.get("drain"):
                return {"value": {"0": [[o, x] for o, x in enumerate(self.log)]}}
            start = self.pos[p]
            msgs = [[o, self.log[o]] for o in range(start, min(len(self.log), start + v["max"]))]
            self.pos[p] = start + len(msgs)
            return {"value": {"0": msgs}}
        self.committed = self.pos[p]
        return {"value": {"group": "g", "offsets": {"0": self.committed}}}


def history(seed: int, fail_every: int) -> History:
    fake = FakeQueue(fail_every)
    ops = simulate(gen.limit(300, QueueOps()), seed=seed, concurrency=4, complete=fake,
                   nemesis=False)
    drains = [{"type": "invoke", "process": 99, "time_ns": 10**15, "f": "poll",
               "value": {"group": None, "drain": True}},
              {"type": "ok", "process": 99, "time_ns": 10**15 + 1, "f": "poll",
               "value": {"0": [[o, x] for o, x in enumerate(fake.log)]}}]
    return History([op_from_dict({**o, "index": i}) for i, o in enumerate(ops + drains)])


def test_producers_send_unique_values_and_consumers_cycle_join_poll_commit():
    h = history(1, 0)
    sends = [o.value[1] for o in h if o.f == "send" and o.type == "invoke"]
    assert sends == list(range(len(sends))) and len(sends) > 50
    steps: dict[Any, list[str]] = {}
    for o in h:
        if o.type == "invoke" and o.f != "send" and o.process != 99:
            steps.setdefault(o.process, []).append(o.f)
    assert steps and all(s[0] == "join" and s[1:4] == ["poll", "commit", "poll"]
                         for s in steps.values())


def test_fake_runs_check_valid_with_and_without_rebalances():
    for seed, fail_every in ((1, 0), (2, 7), (3, 5)):
        h = history(seed, fail_every)
        r = check_queue(h)
        assert r.valid is True, [a.explanation for a in r.anomalies][:3]
        if fail_every:
            assert r.details["assignments"] > 2


def test_registered_with_a_drain_final_generator():
    w = REGISTRY["queue"](WorkloadOptions())
    assert w.name == "queue" and "queue" in w.checker.checkers
    final = simulate(w.final_generator, seed=0, concurrency=2, nemesis=False)
    assert {o["f"] for o in final} == {"poll"}
    assert all(o["value"] == {"group": None, "drain": True} for o in final if o["type"] == "invoke")
