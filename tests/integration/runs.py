"""One Docker run of a system × workload through the harness's runner, as the integration
tests need it (5 nodes, no report, no fallback to the local backend)."""

from __future__ import annotations

from pathlib import Path

from harness.options import Options
from harness.runner import RunOutcome, run_test


def docker_run(tmp_path: Path, system: str, workload: str, nemesis: tuple[str, ...], seed: int,
               bugs: tuple[str, ...] = (), time_limit_s: float = 20.0, interval_s: float = 2.0,
               rate: float = 100.0, op_timeout_s: float = 3.0, concurrency: int = 5) -> RunOutcome:
    from systems import get_system
    from workloads import WorkloadOptions, get_workload

    opts = Options(
        system=system, workload=workload, nemesis=nemesis, nodes=5, concurrency=concurrency,
        rate=rate, time_limit_s=time_limit_s, seed=seed, backend="docker", bugs=bugs,
        op_timeout_s=op_timeout_s, nemesis_interval_s=interval_s, recovery_s=2.0,
        check_budget_s=60.0, store=tmp_path / "store", report=False,
    )
    wl = get_workload(workload, WorkloadOptions(rate=rate, concurrency=concurrency,
                                                check_time_budget_s=60.0))
    notices: list[str] = []
    out = run_test(opts, get_system(system), wl, notice=notices.append)
    assert not notices, notices  # no fallback to the local backend
    return out
