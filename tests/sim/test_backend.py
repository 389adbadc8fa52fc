"""`faultbox run --backend sim`: exact replay, the store folder, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ACCEPT = ["run", "--backend", "sim", "--system", "raftkv", "--workload", "register", "--nodes", "5",
          "--nemesis", "partition,kill,pause,clock", "--time-limit", "10", "--seed", "7"]


def fb(*args: str, store: Path, hashseed: str = "0", timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONHASHSEED=hashseed)
    return subprocess.run([sys.executable, "-m", "harness.cli", *args, "--store", str(store)],
                          capture_output=True, text=True, timeout=timeout, env=env)


def _runs(store: Path) -> list[Path]:
    return sorted(p.parent for p in store.glob("*/*/history.jsonl"))


def test_the_acceptance_run_replays_byte_for_byte_and_is_valid(tmp_path: Path) -> None:
    # Two processes with different hash seeds: nothing may depend on set/dict hash order.
    for hashseed in ("1", "2"):
        r = fb(*ACCEPT, store=tmp_path, hashseed=hashseed)
        assert r.returncode == 0, (r.stdout, r.stderr)
        assert "VALID" in r.stdout
    a, b = _runs(tmp_path)
    ha, hb = (a / "history.jsonl").read_bytes(), (b / "history.jsonl").read_bytes()
    assert ha == hb
    assert ha.count(b'"type":"ok"') > 300, "the run made progress"
    test = json.loads((a / "test.json").read_text())
    assert test["backend"] == "sim"
    assert test["command"].startswith("faultbox run ") and "--backend sim" in test["command"]
    assert "--seed 7" in test["command"]
    for name in ("results.json", "report.html", "schedule.json"):
        assert (a / name).exists(), name
    assert json.loads((a / "results.json").read_text())["valid"] is True
    assert "--backend sim" in (a / "report.html").read_text()


def test_a_different_seed_gives_a_different_history(tmp_path: Path) -> None:
    args = ["run", "--backend", "sim", "--time-limit", "2", "--no-report"]
    assert fb(*args, "--seed", "1", store=tmp_path).returncode == 0
    assert fb(*args, "--seed", "2", store=tmp_path).returncode == 0
    a, b = _runs(tmp_path)
    assert (a / "history.jsonl").read_bytes() != (b / "history.jsonl").read_bytes()


def test_the_reproduce_command_replays_the_run(tmp_path: Path) -> None:
    r = fb("run", "--backend", "sim", "--time-limit", "2", "--seed", "5", "--nemesis", "kill,packet",
           "--nemesis-interval", "0.5", "--sim", "delay=0.1-3,loss=0.02,dup=0.02,torn=1", "--no-report",
           store=tmp_path)
    assert r.returncode == 0, r.stderr
    (first,) = _runs(tmp_path)
    cmd = json.loads((first / "test.json").read_text())["command"].split()
    assert cmd[:2] == ["faultbox", "run"] and "--sim" in cmd
    r = fb(*cmd[1:], "--no-report", store=tmp_path, hashseed="3")
    assert r.returncode == 0, r.stderr
    a, b = _runs(tmp_path)
    assert (a / "history.jsonl").read_bytes() == (b / "history.jsonl").read_bytes()


def _one_line_error(r: subprocess.CompletedProcess[str], needle: str) -> None:
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = [x for x in r.stderr.splitlines() if x.strip() and not x.startswith("faultbox: raftkv")]
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert needle in lines[0]


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--backend", "sim", "--sim", "loss=2"], "--sim"),
        (["--backend", "sim", "--sim", "speed=1"], "unknown key"),
        (["--backend", "sim", "--runs", "0"], "--runs"),
        (["--backend", "sim", "--jobs", "0", "--runs", "2"], "--jobs"),
        (["--backend", "sim", "--emit-regression"], "--shrink"),
        (["--backend", "local", "--system", "memkv", "--runs", "3"], "only work with --backend sim"),
        (["--backend", "sim", "--system", "memkv"], "no simulation adapter"),
        (["--backend", "sim", "--nemesis", "figure8"], "at least 5 nodes"),
    ],
)
def test_bad_sim_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], needle: str) -> None:
    _one_line_error(fb("run", *args, store=tmp_path), needle)


def test_run_test_with_backend_sim_runs_the_simulation(tmp_path: Path) -> None:
    # The seam other callers (campaigns, the pytest plugin) go through: no silent fallback.
    from dataclasses import replace

    from harness.options import Options
    from harness.runner import run_test
    from harness.sim.run import make_workload
    from systems import get_system

    opts = replace(Options(backend="sim", time_limit_s=2, seed=3, nemesis=("kill",),
                           nemesis_interval_s=0.5, report=False), store=tmp_path)
    seen: list[object] = []
    outcome = run_test(opts, get_system("raftkv"), make_workload(opts), on_op=seen.append)
    assert outcome.valid is True
    test = json.loads((outcome.run_dir / "test.json").read_text())
    assert test["backend"] == "sim" and "--backend sim" in test["command"]
    assert len(seen) == len((outcome.run_dir / "history.jsonl").read_text().splitlines()) > 50


def test_replay_does_not_depend_on_the_hash_seed_at_high_concurrency(tmp_path: Path) -> None:
    # With 10 client threads plus the nemesis in one frozenset, the order of the ints
    # used to depend on where "nemesis" hashed: the generator's process draw differed.
    args = ["run", "--backend", "sim", "--concurrency", "10", "--time-limit", "3", "--seed", "2",
            "--nemesis", "partition,kill", "--nemesis-interval", "0.5", "--no-report"]
    for hashseed in ("1", "3"):
        assert fb(*args, store=tmp_path, hashseed=hashseed).returncode == 0
    a, b = _runs(tmp_path)
    assert (a / "history.jsonl").read_bytes() == (b / "history.jsonl").read_bytes()
