"""Linearizability checker (issue 3): WGL + just-in-time linearization + P-compositionality.

``Linearizable(model, init)`` is a Checker; :func:`check_history` is the same as
a function.  The history is split into parts (per key for partitioned models),
each part is searched independently — in worker processes when there are
several big parts — under one time budget and a memory budget, and the
verdicts merge: any invalid part makes the history invalid (the smallest such
part is reported), else any part out of budget makes it ``unknown``.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checkers.core import UNKNOWN, Anomaly, Result
from checkers.linear.explain import explain
from checkers.linear.prepare import Prepared, prepare
from checkers.linear.wgl import Budget, Outcome, Part, search
from checkers.models import Model, ModelError, make_model
from harness.history import History, Op

__all__ = ["Linearizable", "check_history"]

FIRST_STATE_CAP = 5_000  # states per part in the first pass over several parts (~20 ms)
LAST_STATE_CAP = 50_000_000  # past this the pass is uncapped (bounded by the budget only)
WORKER_GRACE_S = 10.0  # past the deadline, how long to wait for a worker's answer
NO_ANSWER = "a worker process did not answer (killed?); its part was not decided"
DIAGNOSE_S = 1.0  # at most this long re-searching a failing part for longer partials
DIAGNOSE_STATES = 200_000


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


def _search_job(args: tuple[int, Part, Model, Budget]) -> tuple[int, Outcome]:
    return args[0], search(args[1], args[2], args[3])


@dataclass
class _Runs:
    """Outcomes per part (None: skipped once another part was found invalid), states in all."""

    outcomes: list[Outcome | None]
    states: int = 0
    broken: bool = False  # the worker pool lost a worker: no further passes


def _batch_sequential(
    todo: list[int], parts: Sequence[tuple[Part, Model]], budget: Budget, runs: _Runs
) -> None:
    for i in todo:
        out = search(parts[i][0], parts[i][1], budget)
        runs.outcomes[i] = out
        runs.states += out.states
        if out.valid is False:
            return


def _batch_parallel(
    todo: list[int], parts: Sequence[tuple[Part, Model]], budget: Budget, runs: _Runs, pool: Any
) -> None:
    jobs = [(i, parts[i][0], parts[i][1], budget) for i in todo]
    results = pool.imap_unordered(_search_job, jobs)
    pending = set(todo)
    while pending:
        # every job stops itself at the deadline; a worker that died (killed, out of
        # memory) never answers, so waiting is bounded too
        wait_s = max(0.0, budget.deadline - time.monotonic()) + WORKER_GRACE_S
        try:
            i, out = results.next(timeout=wait_s)
        except multiprocessing.TimeoutError:
            for j in pending:
                runs.outcomes[j] = Outcome("unknown", reason=NO_ANSWER)
            pool.terminate()
            runs.broken = True
            return
        pending.discard(i)
        runs.outcomes[i] = out
        runs.states += out.states
        if out.valid is False:
            pool.terminate()  # the verdict is known; stop the others now
            return


def _run_parts(parts: Sequence[tuple[Part, Model]], budget: Budget, processes: int | None) -> _Runs:
    """Search the parts, smallest first, with a state cap that grows pass by pass.

    A part that fails within the cap settles the verdict (and is the smallest
    failing part found), so one hard part cannot hide an easy failure in
    another; parts that hit the cap are retried with a cap ten times bigger
    (the repeated work is at most ~1/9 of the total), the last pass uncapped.
    The first pass runs here; later passes, which only the hard parts reach,
    run in worker processes when there are several such parts.
    """
    runs = _Runs([None] * len(parts))
    todo = sorted(range(len(parts)), key=lambda i: len(parts[i][0].ops))
    workers = min(processes if processes is not None else (os.cpu_count() or 1), len(parts))
    pool = None
    cap = FIRST_STATE_CAP if len(parts) > 1 else 0
    try:
        while todo:
            capped = Budget(budget.deadline, budget.memory_bytes, budget.time_budget_s, cap)
            if pool is None and workers > 1 and len(todo) > 1 and cap != FIRST_STATE_CAP:
                pool = multiprocessing.get_context("fork").Pool(min(workers, len(todo)))
            if pool is not None:
                share = budget.memory_bytes // min(workers, len(todo))
                capped = Budget(budget.deadline, share, budget.time_budget_s, cap)
                _batch_parallel(todo, parts, capped, runs, pool)
            else:
                _batch_sequential(todo, parts, capped, runs)
            outs = [runs.outcomes[i] for i in todo]
            if any(o is not None and o.valid is False for o in outs) or not cap:
                break
            if runs.broken:
                for o in outs:
                    if o is not None and o.capped:
                        o.reason, o.capped = NO_ANSWER, False
                break
            todo = [i for i in todo if (o := runs.outcomes[i]) is not None and o.capped]
            cap = cap * 10 if cap * 10 < LAST_STATE_CAP else 0
    finally:
        if pool is not None:
            pool.terminate()
    return runs


@contextmanager
def _no_gc() -> Iterator[None]:
    """The cyclic garbage collector paused while a check runs.

    The search allocates millions of small tuples (frames, memo keys) and
    makes no reference cycles; each full collection on the way walks all of
    them (measured: about 30 % of a 100k-op check's CPU time).  Reference
    counting frees everything as before; the collector runs again afterwards."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def check_history(
    history: History | Sequence[Op],
    model: str,
    init: Any = None,
    *,
    time_budget_s: float = 30.0,
    memory_budget_mb: int = 2048,
    processes: int | None = None,
) -> Result:
    """Check a history against the named model (see ``checkers.models.MODELS``).

    ``Result.details``: model, ops (client invocations), parts, states_explored,
    check_seconds; when invalid also failing_key (None unless partitioned),
    failing_parts, failed_op (index of the invocation that could not be
    linearized), partial_linearizations (up to 3 lists of invocation indices in
    linearization order, longest first), part_ops (invocation indices of the
    failing part) and explanation (the paragraph, also the anomaly's text);
    when unknown, reason (which budget ran out, or a model error) and
    unknown_parts.
    """
    with _no_gc():
        return _check(history, model, init, time_budget_s, memory_budget_mb, processes)


def _check(
    history: History | Sequence[Op],
    model: str,
    init: Any,
    time_budget_s: float,
    memory_budget_mb: int,
    processes: int | None,
) -> Result:
    t0 = time.monotonic()
    base: dict[str, Any] = {"model": model, "states_explored": 0, "check_seconds": 0.0}
    try:
        m = make_model(model, init)
        prepared = prepare(history, m)
    except ModelError as e:
        base.update(ops=0, reason=f"model error: {e}")
        return Result(UNKNOWN, details=base)
    budget = Budget(t0 + time_budget_s, memory_budget_mb << 20, time_budget_s)
    runs = _run_parts(prepared.parts, budget, processes)
    base.update(
        ops=prepared.client_ops,
        parts=len(prepared.parts),
        states_explored=runs.states,
        check_seconds=time.monotonic() - t0,
    )
    result = _verdict(prepared, runs.outcomes, base, budget.deadline)
    base["check_seconds"] = time.monotonic() - t0  # (base is result.details) with any diagnosis
    return result


def _verdict(
    prepared: Prepared, outcomes: list[Outcome | None], details: dict[str, Any], deadline: float
) -> Result:
    pairs = [(p, m, o) for (p, m), o in zip(prepared.parts, outcomes, strict=True) if o is not None]
    bad = [(p, m, o) for p, m, o in pairs if o.valid is False]
    if bad:
        part, m, out = min(bad, key=lambda b: len(b[0].ops))
        shown = _diagnose(part, m, out, deadline)
        if shown is not out:
            details["states_explored"] += shown.states
        return _invalid(part, m, shown, details, len(bad))
    unknown = [(p, o) for p, _, o in pairs if o.valid == UNKNOWN]
    if unknown:
        part, out = unknown[0]
        where = "" if part.key is None else f" (key {part.key!r}, {len(part.ops)} ops)"
        details["reason"] = f"{out.reason}{where}"
        details["unknown_parts"] = len(unknown)
        return Result(UNKNOWN, details=details)
    return Result(True, details=details)


def _diagnose(part: Part, m: Model, out: Outcome, deadline: float) -> Outcome:
    """Longer partial linearizations for the report: search the failing part again
    without lookahead pruning, briefly; keep whichever run got further."""
    if not out.partials or deadline <= time.monotonic():
        return out
    seconds = min(DIAGNOSE_S, deadline - time.monotonic())
    again = search(
        part, m, Budget(time.monotonic() + seconds, 1 << 30, seconds, DIAGNOSE_STATES), lookahead=False
    )
    if again.valid is False and again.partials and len(again.partials[0]) > len(out.partials[0]):
        return again
    return out


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
