"""The Docker stage's `faultbox run` command lines (no containers: argv only)."""

from __future__ import annotations

from pathlib import Path

from harness.cli import run as run_cmd
from harness.mutate.child import docker_argv, docker_workload
from harness.mutate.runner import _snapshot_opt


def _spec(**kw: object) -> dict[str, object]:
    return {"system": "raftkv", "nodes": 5, "workloads": ["register", "kv", "set"], "first": 1,
            "nemesis": ["partition", "kill"],
            "time_limit_s": 120.0, "interval_s": None, "snapshot_every": None, **kw}


def test_snapshot_every_reaches_docker_runs_of_systems_that_take_it() -> None:
    assert _snapshot_opt("raftkv", 50) == 50
    assert _snapshot_opt("raftkv", None) is None  # 0 on the command line: the node default
    assert _snapshot_opt("lock", 50) is None  # lock's servers have no such option
    argv = docker_argv(_spec(snapshot_every=50), 3, "kv", Path("s"))
    assert argv[argv.index("--opt") + 1] == "snapshot_every=50"
    assert "--opt" not in docker_argv(_spec(), 3, "kv", Path("s"))
    # click accepts the line as `faultbox run` does
    ctx = run_cmd.make_context("run", argv[2:])
    assert ctx.params["system_opts"] == ("snapshot_every=50",) and ctx.params["seed"] == 3


def test_a_mutants_docker_runs_take_the_workloads_in_turn() -> None:
    # the second sampled mutant (first=1) starts at kv; its four runs cover all three
    assert [docker_workload(_spec(), i) for i in range(4)] == ["kv", "set", "register", "kv"]
    assert [docker_workload(_spec(first=0, workloads=["lock"]), i) for i in range(2)] == ["lock"] * 2
