"""The lock service under the deterministic simulation backend: the correct build stays
valid under every fault with client stalls (and replays byte for byte), and each of its
bug switches is found there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BASE = ["run", "--backend", "sim", "--system", "lock", "--workload", "lock", "--nodes", "5",
        "--no-report"]


def fb(*args: str, store: Path, hashseed: str = "0") -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONHASHSEED=hashseed)
    return subprocess.run([sys.executable, "-m", "harness.cli", *args, "--store", str(store)],
                          capture_output=True, text=True, timeout=600, env=env)


def lock_details(run: Path) -> dict:
    return json.loads((run / "results.json").read_text())["checkers"]["lock"]["details"]


def test_correct_lock_is_valid_under_all_faults_and_replays_exactly(tmp_path: Path) -> None:
    args = [*BASE, "--nemesis", "partition,kill,pause,clock", "--time-limit", "20", "--seed", "7"]
    for hashseed in ("1", "2"):
        r = fb(*args, store=tmp_path, hashseed=hashseed)
        assert r.returncode == 0, (r.stdout, r.stderr)
    a, b = sorted(p.parent for p in tmp_path.glob("*/*/history.jsonl"))
    assert (a / "history.jsonl").read_bytes() == (b / "history.jsonl").read_bytes()
    d = lock_details(a)
    assert d["grants"] > 10 and d["stalls_longer_than_ttl"] > 0 and d["fenced"] > 0, d


@pytest.mark.parametrize(
    ("bug", "nemesis", "kinds"),
    [
        ("no-fencing", "pause", {"lost-increment", "stale-write", "final-count"}),
        ("release-any", "pause", {"lease-overlap"}),
        ("wall-clock-lease", "clock", {"lease-overlap"}),
    ],
)
def test_each_lock_bug_switch_is_found_in_the_simulation(bug: str, nemesis: str, kinds: set[str],
                                                          tmp_path: Path) -> None:
    r = fb(*BASE, "--bug", bug, "--nemesis", nemesis, "--time-limit", "30", "--seed", "3",
           store=tmp_path)
    assert r.returncode == 1, (r.stdout, r.stderr)
    (run,) = [p.parent for p in tmp_path.glob("*/*/history.jsonl")]
    assert set(lock_details(run)["counts"]) & kinds


def test_redlock_is_invalid_in_the_simulation_too(tmp_path: Path) -> None:
    r = fb("run", "--backend", "sim", "--system", "redlock", "--workload", "lock", "--nodes", "5",
           "--no-report", "--nemesis", "pause,clock", "--time-limit", "20", "--seed", "1",
           store=tmp_path)
    assert r.returncode == 1, (r.stdout, r.stderr)
    (run,) = [p.parent for p in tmp_path.glob("*/*/history.jsonl")]
    assert {"stale-write", "lost-increment"} <= set(lock_details(run)["counts"])
