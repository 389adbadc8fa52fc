"""A tiny real mutate run: overlays in child processes, unit tests, the sim swarm."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from harness.mutate.report import write_outputs
from harness.mutate.runner import MutateConfig, run_mutate

REPO = Path(__file__).resolve().parents[2]
EQUIVALENT = "raft/core.py:346:30:num:-1"  # `len(self.peers) == 0`: differs only on 1 node


def test_a_sim_kill_and_a_survivor_end_to_end(tmp_path: Path) -> None:
    cfg = MutateConfig(
        only=("reply-before-apply", "kv-cas-ignores-mismatch", EQUIVALENT),
        sim_runs=3, sim_time_limit_s=5.0, docker_sample=0, jobs=2, out=tmp_path,
        # one fast unit test: enough to kill the cas mutant, not the other two
        unit_args=("tests/raftkv/test_sim.py::test_kv_cas_and_sessions",),
    )
    lines: list[str] = []
    doc = run_mutate(cfg, say=lines.append)
    by = {r["id"]: r for r in doc["mutants"]}
    assert by["kv-cas-ignores-mismatch"]["unit"]["outcome"] == "killed"
    assert "test_kv_cas_and_sessions" in by["kv-cas-ignores-mismatch"]["unit"]["detail"]
    assert by["kv-cas-ignores-mismatch"]["sim"] is None
    # Acknowledging a write before it commits is found by the linearizability checker.
    sim = by["reply-before-apply"]["sim"]
    assert sim["outcome"] == "killed" and sim["by"] == "history", sim
    assert sim["runs_to_kill"] >= 1 and sim["seconds_to_kill"] > 0
    assert sim["history_caught_by"] and "crash" not in sim["history_caught_by"]
    assert "faultbox run" in sim["command"] and "--backend sim" in sim["command"]
    # The equivalent mutant runs every seed and survives (the overlay is not a kill by itself).
    eq = by[EQUIVALENT]["sim"]
    assert eq["outcome"] == "survived" and len(eq["runs"]) == 3
    assert doc["scores"]["sim"] == {"killed": 1, "of": 2, "score": 0.5}
    assert doc["baseline"]["unit"]["outcome"] == "survived"
    assert not (tmp_path / "overlays").exists()  # nothing left behind
    jpath, hpath = write_outputs(doc, tmp_path)
    assert json.loads(jpath.read_text())["system"] == "raftkv" and hpath.exists()


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    for argv in (["--system", "nope"], ["--operators", "many"], ["--jobs", "0"],
                 ["--only", "no-such-mutant", "--sim-runs", "0"],
                 ["--docker-nemesis", "bogus", "--docker-sample", "1"]):
        res = subprocess.run([sys.executable, "-m", "harness.cli", "mutate", *argv,
                              "--out", str(tmp_path)], cwd=REPO, capture_output=True,
                             text=True, timeout=120)
        assert res.returncode == 2, (argv, res.stderr)
        assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
