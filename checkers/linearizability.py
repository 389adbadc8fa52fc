"""Linearizability checker (issue 3): WGL + just-in-time linearization + P-compositionality.

``Linearizable(model, init)`` is a Checker; :func:`check_history` is the same as
a function.  The history is split into parts (per key for partitioned models),
each part is searched independently — in worker processes when there are
several big parts — under one time budget and a memory budget, and the
verdicts merge: any invalid part makes the history invalid (the smallest such
part is reported), else any part out of budget makes it ``unknown``.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checkers.core import UNKNOWN, Anomaly, Result
from checkers.linear.explain import explain
from checkers.linear.prepare import Prepared, prepare
from checkers.linear.search import Budget, Outcome, Part, search
from checkers.models import Model, ModelError, make_model
from harness.history import History, Op

__all__ = ["Linearizable", "check_history", "PARALLEL_MIN_OPS"]

PARALLEL_MIN_OPS = 1500  # below this many ops in all, worker processes cost more than they save


@dataclass(frozen=True)
class Linearizable:
    """A Checker: are the client ops of the history linearizable against ``model``?"""

    model: str
    init: Any = None
    time_budget_s: float = 30.0
    memory_budget_mb: int = 2048
    processes: int | None = None

    def check(self, test: Mapping[str, Any], history: History, out_dir: Path | None) -> Result:
        return check_history(
            history,
            self.model,
            self.init,
            time_budget_s=self.time_budget_s,
            memory_budget_mb=self.memory_budget_mb,
            processes=self.processes,
        )


def _search_job(args: tuple[Part, Model, Budget]) -> Outcome:
    return search(*args)


def _run_parts(
    parts: Sequence[tuple[Part, Model]], budget: Budget, processes: int | None
) -> list[Outcome]:
    """Search every part; in worker processes when several parts are big enough to pay."""
    workers = processes if processes is not None else (os.cpu_count() or 1)
    total = sum(len(p.ops) for p, _ in parts)
    big = [i for i, (p, _) in enumerate(parts) if len(p.ops) >= 50]
    if workers <= 1 or len(big) < 2 or total < PARALLEL_MIN_OPS:
        return [search(p, m, budget) for p, m in parts]
    workers = min(workers, len(big))
    order = sorted(range(len(parts)), key=lambda i: -len(parts[i][0].ops))
    split = Budget(budget.deadline, budget.memory_bytes // workers, budget.time_budget_s)
    ctx = multiprocessing.get_context("fork")
    results: list[Outcome | None] = [None] * len(parts)
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        jobs = [(i, pool.submit(_search_job, (parts[i][0], parts[i][1], split))) for i in order]
        for i, fut in jobs:
            results[i] = fut.result()
    return [r for r in results if r is not None]


def check_history(
    history: History | Sequence[Op],
    model: str,
    init: Any = None,
    *,
    time_budget_s: float = 30.0,
    memory_budget_mb: int = 2048,
    processes: int | None = None,
) -> Result:
    """Check a history against the named model (see ``checkers.models.MODELS``)."""
    t0 = time.monotonic()
    base: dict[str, Any] = {"model": model, "states_explored": 0, "check_seconds": 0.0}
    try:
        m = make_model(model, init)
        prepared = prepare(history, m)
    except ModelError as e:
        base.update(ops=0, reason=f"model error: {e}")
        return Result(UNKNOWN, details=base)
    budget = Budget(t0 + time_budget_s, memory_budget_mb << 20, time_budget_s)
    outcomes = _run_parts(prepared.parts, budget, processes)
    base.update(
        ops=prepared.client_ops,
        parts=len(prepared.parts),
        states_explored=sum(o.states for o in outcomes),
        check_seconds=time.monotonic() - t0,
    )
    return _verdict(prepared, outcomes, base)


def _verdict(prepared: Prepared, outcomes: list[Outcome], details: dict[str, Any]) -> Result:
    bad = [(p, m, o) for (p, m), o in zip(prepared.parts, outcomes, strict=True) if o.valid is False]
    if bad:
        part, m, out = min(bad, key=lambda b: len(b[0].ops))
        return _invalid(part, m, out, details, len(bad))
    unknown = [(p, o) for (p, _), o in zip(prepared.parts, outcomes, strict=True) if o.valid == UNKNOWN]
    if unknown:
        part, out = unknown[0]
        where = "" if part.key is None else f" (key {part.key!r}, {len(part.ops)} ops)"
        details["reason"] = f"{out.reason}{where}"
        details["unknown_parts"] = len(unknown)
        return Result(UNKNOWN, details=details)
    return Result(True, details=details)


def _invalid(part: Part, m: Model, out: Outcome, details: dict[str, Any], n_bad: int) -> Result:
    text = explain(part, m, out, part.key)
    failed = part.ops[out.failed].index if out.failed is not None else None
    details.update(
        failing_key=part.key,
        failing_parts=n_bad,
        partial_linearizations=[[part.ops[i].index for i in seq] for seq in out.partials],
        failed_op=failed,
        part_ops=[o.index for o in part.ops],
        explanation=text,
    )
    anomaly = Anomaly(
        "nonlinearizable",
        text,
        ops=(failed,) if failed is not None else (),
        data={"key": part.key, "model": details["model"]},
    )
    return Result(False, (anomaly,), details)
