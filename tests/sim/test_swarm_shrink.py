"""Swarm runs, shrinking by delta debugging, and generated regression tests."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from harness.options import Options
from harness.sim.faults import Fault
from harness.sim.regression import BUGS_ENV, emit
from harness.sim.run import make_workload, simulate
from harness.sim.shrink import ddmin, replay, shrink
from harness.sim.swarm import SWARM_FAULTS, draw, run_one, swarm
from harness.sim.world import SimOptions

BASE = Options(system="raftkv", workload="register", nodes=5, time_limit_s=10, backend="sim",
               report=False)
# Found by the swarm: seed 0's draw (packet faults, dup 5%, delay up to 5 ms) reads stale data.
STALE = replace(BASE, bugs=("stale-read",), seed=0)


def test_the_draw_is_a_pure_function_of_the_seed_and_varies_with_it() -> None:
    assert draw(BASE, 3) == draw(BASE, 3)
    draws = [draw(BASE, s) for s in range(12)]
    assert len({o.nemesis for o, _ in draws}) > 3
    assert len({o.nemesis_interval_s for o, _ in draws}) > 3
    assert len({sim for _, sim in draws}) > 3
    assert all(set(o.nemesis) <= set(SWARM_FAULTS) and o.nemesis for o, _ in draws)
    only = replace(BASE, nemesis=("kill", "pause"))
    assert all(set(draw(only, s)[0].nemesis) <= {"kill", "pause"} for s in range(12))


def test_a_swarm_on_the_correct_build_is_valid_and_stops_at_the_first_invalid_run_on_a_buggy_one() -> None:
    ok = swarm(replace(BASE, time_limit_s=3, seed=100), runs=3)
    assert [s.valid for s in ok] == [True, True, True]
    assert [s.seed for s in ok] == [100, 101, 102]
    found = swarm(STALE, runs=5)
    assert len(found) == 1 and found[0].valid is False, "seed 0 already fails: the swarm stops"
    assert "nonlinearizable" in found[0].anomaly
    assert found[0].command.startswith("faultbox run ") and "--nemesis packet" in found[0].command


def test_worker_processes_give_the_same_results_in_seed_order() -> None:
    base = replace(BASE, time_limit_s=2, seed=40, nodes=3)
    one = [(s.seed, s.valid, s.ops, s.faults) for s in swarm(base, runs=3, jobs=1)]
    two = [(s.seed, s.valid, s.ops, s.faults) for s in swarm(base, runs=3, jobs=2)]
    assert one == two


def test_ddmin_finds_a_minimal_failing_subset() -> None:
    items = [Fault(i, "kill", (f"n{i}",)) for i in range(10)]
    calls = []

    def first_failing(cands: list[list[Fault]]) -> int | None:
        for k, c in enumerate(cands):
            calls.append(len(c))
            ts = {f.t_ns for f in c}
            if {2, 7} <= ts:
                return k
        return None

    assert [f.t_ns for f in ddmin(items, first_failing)] == [2, 7]
    assert ddmin(items, lambda cands: 0) == [], "fails even with no faults: nothing needed"


def test_shrinking_a_real_failure_gives_a_smaller_schedule_that_still_fails() -> None:
    opts, sim = draw(STALE, 0)
    run = simulate(opts, sim, make_workload(opts))
    shrunk = shrink(opts, sim, run.schedule, run.client_ops, budget=40)
    assert shrunk is not None
    assert len(shrunk.script) <= len(run.schedule)
    assert shrunk.max_ops is None or shrunk.max_ops < run.client_ops
    valid, anomaly = replay(opts, sim, shrunk.script, shrunk.max_ops)
    assert valid is False and anomaly
    fixed, _ = replay(replace(opts, bugs=()), sim, shrunk.script, shrunk.max_ops)
    assert fixed is True, "the correct build passes the same schedule"
    assert all(line.startswith("t=") for line in shrunk.lines())


def test_a_generated_regression_test_fails_on_the_buggy_build_and_passes_on_the_correct_one(
    tmp_path: Path,
) -> None:
    opts, sim = draw(STALE, 0)
    run = simulate(opts, sim, make_workload(opts))
    shrunk = shrink(opts, sim, run.schedule, run.client_ops, budget=20)
    assert shrunk is not None
    path = emit(tmp_path / "regressions", opts, sim, shrunk, "faultbox run --backend sim ...")
    assert path.name == "test_raftkv_register_stale_read_0.py"
    root = Path(__file__).resolve().parents[2]

    def pytest_file(bugs: str) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, **{BUGS_ENV: bugs}, PYTHONPATH=str(root))
        return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               str(path)], capture_output=True, text=True, env=env, cwd=tmp_path,
                              timeout=300)

    correct = pytest_file("")
    assert correct.returncode == 0, correct.stdout
    buggy = pytest_file("stale-read")
    assert buggy.returncode == 1, buggy.stdout
    assert "nonlinearizable" in buggy.stdout


def test_run_one_without_a_draw_runs_the_options_as_given() -> None:
    s = run_one((replace(BASE, time_limit_s=2, nodes=3), SimOptions(), 9, False))
    assert s.seed == 9 and s.nemesis == () and s.valid is True and s.faults == 0


def test_replaying_a_runs_own_schedule_as_a_script_gives_the_same_client_history() -> None:
    # What shrinking relies on: the script is the run's faults at their times, issued
    # the way the nemesis issued them, so the clients see exactly the same run.
    for seed, faults in ((5, SWARM_FAULTS), (8, ("figure8", "partition", "kill"))):
        opts, sim = draw(replace(BASE, nemesis=faults), seed)
        workload = make_workload(opts)
        a = simulate(opts, sim, workload)
        b = simulate(opts, sim, workload, script=a.schedule)
        assert len(a.schedule) > 3
        assert [f for f in b.schedule] == [replace(f, until_ns=0) for f in a.schedule] or \
            [(f.t_ns, f.call) for f in b.schedule] == [(f.t_ns, f.call) for f in a.schedule]
        client = [o for o in a.ops if o.process != "nemesis"]
        assert client == [o for o in b.ops if o.process != "nemesis"] or \
            [o.to_dict() | {"index": 0} for o in client] == \
            [o.to_dict() | {"index": 0} for o in b.ops if o.process != "nemesis"]
