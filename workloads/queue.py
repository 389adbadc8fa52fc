"""Queue workload: producers send unique values, a consumer group polls, commits and
rebalances; after healing a drain reads every partition from offset 0.

Client threads split by role (thread index even: producer, odd: consumer)::

    producer:  send [key, value]                    -> ok [partition, offset]
    consumer:  join {group} -> poll {group, max} -> commit {group} -> poll -> commit ...

Values are the ints 0, 1, 2, … (the key is the value, so values spread over
the partitions by the client's hash); the next one lives in the generator's
immutable state, as in the set workload. A consumer whose poll or commit
fails (``rebalance``: the group's generation moved — someone joined, left or
timed out; ``not-joined``) joins again, resuming from the group's committed
offsets; an ``info`` op retires the process and its successor is a new
member, so faults make rebalances happen (the checker's details count the
``join`` ops as ``assignments``). The final generator: one drain poll per
thread (``{group: null, drain: true}``).

Checker: :class:`checkers.queue.QueueChecker` (Jepsen's Kafka classes),
composed with stats, perf and crash. A system serves the workload with a
client answering these ops in the shapes ``checkers/queue.py`` documents
(``systems/queue/client.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from checkers.queue import QueueChecker
from harness import generator as gen
from harness.generator.context import Context, Thread
from harness.generator.core import PENDING, Event, Gen, OpResult, event_get
from workloads.base import Workload, WorkloadOptions, judged_by

__all__ = ["queue_workload", "QueueOps", "GROUP", "POLL_MAX"]

GROUP = "g"
POLL_MAX = 10


class QueueOps(Gen):
    """Producers and group consumers (see the module docstring)."""

    __slots__ = ("state", "next_value")

    def __init__(self, state: Mapping[Thread, str] | None = None, next_value: int = 0) -> None:
        self.state: Mapping[Thread, str] = state or {}  # consumer thread -> next step
        self.next_value = next_value

    def op(self, test: Any, ctx: Context) -> OpResult:
        p = ctx.some_free_process()
        if p is None:
            return (PENDING, self)
        t = ctx.process_to_thread(p)
        base = {"type": "invoke", "process": p, "time_ns": ctx.time_ns}
        if not isinstance(t, int) or t % 2 == 0:
            v = self.next_value
            return ({**base, "f": "send", "value": [v, v]}, QueueOps(self.state, v + 1))
        step = self.state.get(t, "join")
        if step == "join":
            return ({**base, "f": "join", "value": {"group": GROUP}}, self)
        if step == "commit":
            return ({**base, "f": "commit", "value": {"group": GROUP}}, self)
        value = {"group": GROUP, "drain": False, "max": POLL_MAX}
        return ({**base, "f": "poll", "value": value}, self)

    def update(self, test: Any, ctx: Context, event: Event) -> Gen:
        typ = event_get(event, "type")
        p = event_get(event, "process")
        if typ == "invoke" or type(p) is not int:
            return self
        t = ctx.process_to_thread(p)
        if not isinstance(t, int) or t % 2 == 0:
            return self
        f = event_get(event, "f")
        if typ != "ok":
            nxt = "join"  # info: a new process (a new member); fail: rebalance or not joined
        elif f == "poll":
            nxt = "commit"
        else:
            nxt = "poll"
        if self.state.get(t) == nxt:
            return self
        state = dict(self.state)
        state[t] = nxt
        return QueueOps(state, self.next_value)

    def __repr__(self) -> str:
        return f"QueueOps(next={self.next_value})"


def queue_workload(opts: WorkloadOptions) -> Workload:
    return Workload(
        name="queue",
        generator=gen.stagger(1.0 / opts.rate, QueueOps()),
        final_generator=gen.each_thread({"f": "poll", "value": {"group": None, "drain": True}}),
        checker=judged_by("queue", QueueChecker()),
        description="producers send unique values over partitions, a consumer group polls, "
        "commits and rebalances, a final drain; lost writes, duplicates, inconsistent "
        "offsets, skips, order (Jepsen's Kafka classes)",
    )
