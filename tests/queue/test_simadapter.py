"""The queue under the deterministic simulation backend: the correct build is valid under
every fault (and replays byte for byte), and each of its bug switches is found there with the
anomaly class it should raise (schedules found by a 10-seed swarm, replayed exactly)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BASE = ["run", "--backend", "sim", "--system", "queue", "--workload", "queue", "--nodes", "5",
        "--no-report"]
COMMON = ["--time-limit", "30", "--op-timeout", "3", "--recovery", "3"]


def fb(*args: str, store: Path, hashseed: str = "0") -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONHASHSEED=hashseed)
    return subprocess.run([sys.executable, "-m", "harness.cli", *args, "--store", str(store)],
                          capture_output=True, text=True, timeout=600, env=env)


def queue_result(run: Path) -> dict:
    return json.loads((run / "results.json").read_text())["checkers"]["queue"]


def test_correct_queue_is_valid_under_all_faults_and_replays_exactly(tmp_path: Path) -> None:
    args = [*BASE, "--nemesis", "partition,kill,pause,clock", "--time-limit", "20", "--seed", "1"]
    for hashseed in ("1", "2"):
        r = fb(*args, store=tmp_path, hashseed=hashseed)
        assert r.returncode == 0, (r.stdout, r.stderr)
    a, b = sorted(p.parent for p in tmp_path.glob("*/*/history.jsonl"))
    assert (a / "history.jsonl").read_bytes() == (b / "history.jsonl").read_bytes()
    d = queue_result(a)["details"]
    assert d["sends_ok"] > 100 and d["messages_polled"] > 100 and d["assignments"] >= 2, d


SWARM = ["--sim", "delay=0.1-20,loss=0.01,dup=0.01,torn=1", "--nemesis", "partition",
         "--nemesis-interval", "2.23", "--seed", "1"]


@pytest.mark.parametrize("bug,extra,kinds", [
    ("commit-ahead", SWARM, {"poll-skip"}),
    ("acks-leader", SWARM, {"lost-write", "inconsistent-offsets"}),
    ("stale-fetch", SWARM, {"inconsistent-offsets"}),
    ("no-idempotence", ["--sim", "delay=0.1-5,loss=0.05,dup=0.01,torn=0", "--nemesis",
                        "partition,kill", "--nemesis-interval", "1.24", "--seed", "3"],
     {"duplicate"}),
])
def test_each_bug_switch_is_found_in_the_simulation(tmp_path: Path, bug: str, extra: list[str],
                                                    kinds: set[str]) -> None:
    r = fb(*BASE, *COMMON, *extra, "--bug", bug, store=tmp_path)
    assert r.returncode == 1, (r.stdout, r.stderr)
    run = next(p.parent for p in tmp_path.glob("*/*/history.jsonl"))
    found = {a["kind"] for a in queue_result(run)["anomalies"]}
    assert kinds <= found, found
