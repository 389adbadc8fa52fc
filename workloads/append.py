"""List-append transactions (Elle's workload), judged for isolation AND atomicity.

Generator: txns of 1-4 micro-ops (one in ten has a single micro-op; the rest
have 2-4, so most span two or more shards of a sharded store) over
``opts.keys`` keys (ints), each micro-op a read ``["r", k, None]`` or an
append ``["append", k, v]`` with equal odds; a txn touches a key at most once
per kind. Appended elements are unique ints 0, 1, 2, ... drawn from the
generator's own immutable state (see :mod:`workloads.set` for why not a
counter). Final generator (after healing): every client thread reads every
key in one txn.

Checker: the Elle-style list-append checker (:func:`checkers.elle.check_list_append`)
with the consistency model ``strict-serializable`` (realtime edges on),
composed with :class:`checkers.atomicity.Atomicity` (partial and lost commits,
which need the final reads) and the usual stats/perf/crash checkers.

A system serves this workload with a client whose ``invoke("txn", mops)``
returns the micro-ops with each read filled in as a list.
"""

from __future__ import annotations

from typing import Any

from checkers.atomicity import Atomicity
from checkers.core import Compose
from checkers.elle import ListAppend
from harness import generator as gen
from harness.generator.context import Context
from harness.generator.core import PENDING, Gen, OpResult
from workloads.base import Workload, WorkloadOptions, judged_by

__all__ = ["append_workload", "AppendOps", "MAX_MOPS"]

MAX_MOPS = 4
SINGLE_SHARE = 0.1


class AppendOps(Gen):
    """One list-append txn per op; ``next`` is the next element to append."""

    __slots__ = ("next", "keys")
    needs_update = False

    def __init__(self, keys: int, next_element: int = 0) -> None:
        self.keys = keys
        self.next = next_element

    def op(self, test: Any, ctx: Context) -> OpResult:
        p = ctx.some_free_process()
        if p is None:
            return (PENDING, self)
        rng = ctx.rng
        n = 1 if rng.random() < SINGLE_SHARE else rng.randint(2, MAX_MOPS)
        keys = rng.sample(range(self.keys), min(n, self.keys))
        mops: list[list[Any]] = []
        nxt = self.next
        for k in keys:
            if rng.random() < 0.5:
                mops.append(["r", k, None])
            else:
                mops.append(["append", k, nxt])
                nxt += 1
        op = {"type": "invoke", "process": p, "time_ns": ctx.time_ns, "f": "txn", "value": mops}
        return (op, AppendOps(self.keys, nxt))

    def __repr__(self) -> str:
        return f"AppendOps(keys={self.keys}, next={self.next})"


def append_checker(opts: WorkloadOptions) -> Compose:
    elle = ListAppend(("strict-serializable",), time_budget_s=opts.check_time_budget_s)
    base = judged_by("elle", elle)
    return Compose({"elle": elle, "atomicity": Atomicity(),
                    **{k: v for k, v in base.checkers.items() if k != "elle"}})


def append_workload(opts: WorkloadOptions) -> Workload:
    keys = max(2, opts.keys)
    final = gen.each_thread({"f": "txn", "value": [["r", k, None] for k in range(keys)]})
    return Workload(
        name="append",
        generator=gen.stagger(1.0 / opts.rate, AppendOps(keys)),
        final_generator=final,
        checker=append_checker(opts),
        description=f"list-append txns of 1-{MAX_MOPS} micro-ops over {keys} keys; Elle "
        "strict-serializable plus partial-commit atomicity",
    )
