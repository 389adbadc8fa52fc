"""twopc on 5 containers: the no-decision-log bug switch is caught by the harness's checkers
under the commit-cut nemesis (real relay delay, real iptables cut, real SIGKILL).

The correct build under the same nemesis stays valid: shown by the deterministic simulation
test (tests/twopc/test_runs.py) and by the Docker runs recorded in docs/twopc.md, kept out of
this file for the suite's time budget."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.options import Options
from harness.runner import RunOutcome, run_test

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def run(tmp_path: Path, bugs: tuple[str, ...], seed: int, time_limit_s: float) -> RunOutcome:
    from systems import get_system
    from workloads import WorkloadOptions, get_workload

    opts = Options(system="twopc", workload="append", nemesis=("commit-cut",), nodes=5,
                   time_limit_s=time_limit_s, seed=seed, backend="docker", bugs=bugs,
                   nemesis_interval_s=2.0, check_budget_s=60.0, store=tmp_path / "store",
                   report=False)
    workload = get_workload("append", WorkloadOptions(rate=opts.rate,
                                                      concurrency=opts.concurrency,
                                                      check_time_budget_s=60.0))
    notices: list[str] = []
    out = run_test(opts, get_system("twopc"), workload, notice=notices.append)
    assert not notices, notices  # no fallback to another backend
    return out


def _commit_cuts(out: RunOutcome) -> list[dict[str, Any]]:
    """The completions of the run's commit-cut attempts."""
    import json

    lines = (out.run_dir / "history.jsonl").read_text().splitlines()
    ops = [json.loads(line) for line in lines]
    return [op for op in ops if op.get("f") == "start-commit-cut" and op.get("type") == "info"
            and isinstance(op.get("value"), dict)]


def test_no_decision_log_is_caught_by_commit_cut(tmp_path: Path, node_image: str) -> None:
    # Measured (seeds 1-5, 30 s runs, loaded 2-core machine): every seed was caught at its
    # first kill with a commit in flight, which came at 6.9-13.4 s (seed 1: 13.4 s); 25 s
    # leaves room for seed 1's second kill (22.7 s) too.
    # Seed 1 failed to get a commit in flight at any of its four attempts in 2 of 4 runs on
    # 2026-11-30 (every attempt "participant": null); a second seed is tried then.
    for seed in (1, 2, 3):
        out = run(tmp_path / str(seed), ("no-decision-log",), seed=seed, time_limit_s=25.0)
        if any(op.get("value", {}).get("killed") for op in _commit_cuts(out)):
            break
    checkers = out.results["checkers"]
    kinds = set(checkers["atomicity"]["details"]["anomaly-types"])
    assert out.valid is False and checkers["atomicity"]["valid"] is False, checkers
    assert kinds & {"partial-commit", "lost-commit"}, kinds
    assert checkers["crash"]["valid"] is True  # a checker caught it, not a node's assert
    print(f"atomicity: {checkers['atomicity']['details']['counts']}; "
          f"elle: {checkers['elle']['details'].get('anomaly-types')}")
