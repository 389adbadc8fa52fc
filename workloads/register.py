"""Register workloads: one CAS register, or many independent ones (Jepsen's independent keys).

Values are drawn from a small domain (0..4) so that reads often have several
candidate writes: that is what makes stale and lost reads visible to the
linearizability checker. A never-written register reads as None.

Half of the ops are reads (then writes and cas, a quarter each): a lost or
stale state is only visible to a read that comes before the next write, so
reads are weighted up from Jepsen's uniform mix.
"""

from __future__ import annotations

from typing import Any

from checkers.core import Compose
from checkers.linearizability import Linearizable
from harness import generator as gen
from workloads.base import Workload, WorkloadOptions, judged_by

__all__ = ["register_workload", "kv_workload"]

VALUES = 5


def _read(test: Any, ctx: Any) -> dict[str, Any]:
    return {"f": "read", "value": None}


def _write(test: Any, ctx: Any) -> dict[str, Any]:
    return {"f": "write", "value": ctx.rng.randrange(VALUES)}


def _cas(test: Any, ctx: Any) -> dict[str, Any]:
    return {"f": "cas", "value": [ctx.rng.randrange(VALUES), ctx.rng.randrange(VALUES)]}


def _checkers(model: str, opts: WorkloadOptions) -> Compose:
    return judged_by(
        "linearizable", Linearizable(model, None, time_budget_s=opts.check_time_budget_s)
    )


def register_workload(opts: WorkloadOptions) -> Workload:
    ops = gen.mix([_read, _read, _write, _cas])
    return Workload(
        name="register",
        generator=gen.stagger(1.0 / opts.rate, ops),
        final_generator=gen.each_thread({"f": "read", "value": None}),
        checker=_checkers("cas-register", opts),
        description="one CAS register: read, write, cas; linearizability",
    )


def kv_workload(opts: WorkloadOptions) -> Workload:
    keys = [f"k{i}" for i in range(opts.keys)]

    def keyed(f: Any) -> Any:
        def op(test: Any, ctx: Any) -> dict[str, Any]:
            o = f(test, ctx)
            return {"f": o["f"], "value": [ctx.rng.choice(keys), o["value"]]}

        return op

    final = gen.clients([{"f": "read", "value": [k, None]} for k in keys])
    return Workload(
        name="kv",
        generator=gen.stagger(
            1.0 / opts.rate, gen.mix([keyed(_read), keyed(_read), keyed(_write), keyed(_cas)])
        ),
        final_generator=final,
        checker=_checkers("kv", opts),
        description=f"{opts.keys} independent CAS registers; per-key linearizability",
    )
