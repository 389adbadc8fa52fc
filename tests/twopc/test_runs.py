"""Whole faultbox runs of twopc on the local backend: append and bank, killed and paused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def fb(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=REPO)


@pytest.mark.slow
@pytest.mark.parametrize("workload", ["append", "bank"])
def test_correct_twopc_is_valid_under_kills_and_pauses(tmp_path: Path, workload: str) -> None:
    store = tmp_path / "store"
    r = fb("run", "--system", "twopc", "--workload", workload, "--nodes", "3", "--nemesis",
           "kill,pause", "--nemesis-interval", "2", "--time-limit", "10", "--backend", "local",
           "--seed", "5", "--store", str(store))
    assert r.returncode == 0, r.stdout + r.stderr
    results = json.loads(((store / "latest").resolve() / "results.json").read_text())
    want = {"elle", "atomicity"} if workload == "append" else {"bank"}
    assert want <= set(results["checkers"]) and results["valid"] is True
    hist = ((store / "latest").resolve() / "history.jsonl").read_text().splitlines()
    oks = [h for h in map(json.loads, hist) if h["type"] == "ok" and h["process"] != "nemesis"]
    assert len(oks) > 50
