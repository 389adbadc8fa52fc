"""Set workload: add unique elements, read the whole set; duplicates and losses show directly.

Why a set next to the register: a register overwrites, so a write applied
twice (a retry the system failed to deduplicate) is invisible when no other
write came between the copies, and a small value domain masks it further.
Each element of a set is added at most once, so an element that a read holds
twice is proof of a duplicated application, and an acknowledged element
missing from a later read is proof of a lost write (Jepsen's set / set-full).

Generator: ``add`` of the ints 0, 1, 2, … in order, mixed with ~10 % ``read``
ops, staggered at the workload's total rate. The next element lives in the
generator's own (immutable) state, not in a counter: generators are pure, and
the interpreter may ask a generator for an op and then drop it (it re-asks
the old generator), which must not burn or repeat an element. Final
generator: one read per client thread, after healing.

Checker: :class:`checkers.set.SetChecker` (rules in its docstring), composed
with ``Stats``, ``Perf`` and ``Crashes`` (a node that died on its own).

A system serves this workload with a client whose ``invoke("add", e)``
inserts ``e`` and ``invoke("read", None)`` returns the elements as a list of
ints, in any order, duplicates kept (the checker needs to see them).
"""

from __future__ import annotations

from typing import Any

from checkers.set import SetChecker
from harness import generator as gen
from harness.generator.context import Context
from harness.generator.core import PENDING, Gen, OpResult
from workloads.base import Workload, WorkloadOptions, judged_by

__all__ = ["set_workload", "SetOps", "READ_SHARE"]

READ_SHARE = 0.1


class SetOps(Gen):
    """``add next`` (then ``next + 1``…) or, with probability ``read_share``, a ``read``."""

    __slots__ = ("next", "read_share")
    needs_update = False

    def __init__(self, next_element: int = 0, read_share: float = READ_SHARE) -> None:
        self.next = next_element
        self.read_share = read_share

    def op(self, test: Any, ctx: Context) -> OpResult:
        p = ctx.some_free_process()
        if p is None:
            return (PENDING, self)
        base = {"type": "invoke", "process": p, "time_ns": ctx.time_ns}
        if ctx.rng.random() < self.read_share:
            return ({**base, "f": "read", "value": None}, self)
        return ({**base, "f": "add", "value": self.next}, SetOps(self.next + 1, self.read_share))

    def __repr__(self) -> str:
        return f"SetOps(next={self.next})"


def set_workload(opts: WorkloadOptions) -> Workload:
    return Workload(
        name="set",
        generator=gen.stagger(1.0 / opts.rate, SetOps()),
        final_generator=gen.each_thread({"f": "read", "value": None}),
        checker=judged_by("set", SetChecker()),
        description="add unique ints to one set, ~10 % whole-set reads; no lost, duplicated "
        "or unexpected elements",
    )
