"""raftkv's --opt snapshot_every reaches the servers (and the sim adapter): logs really compact."""

import subprocess
import sys
from pathlib import Path

import pytest

from systems.raftkv.simadapter import ADAPTER

REPO = Path(__file__).resolve().parents[2]


def fb(*args, timeout=180):
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=REPO)


def _run(store, *opt):
    r = fb("run", "--system", "raftkv", "--backend", "local", "--time-limit", "4",
           "--recovery", "0.5", "--seed", "3", "--store", str(store), "--no-report", *opt)
    assert r.returncode == 0, r.stdout + r.stderr
    return sorted(p.parent.name for p in (store / "latest" / "data").glob("*/snapshot.json"))


@pytest.mark.slow
def test_snapshot_every_makes_every_node_compact(tmp_path):
    assert _run(tmp_path / "a", "--opt", "snapshot_every=20") == ["n1", "n2", "n3"]
    assert _run(tmp_path / "b") == []  # the default (1000) is not reached in 4 s


def test_sim_adapter_takes_the_option():
    assert ADAPTER.configure({"snapshot_every": 50}).config.snapshot_every == 50
    assert ADAPTER.config.snapshot_every == 1000  # the shared adapter is left as it was


def test_bad_value_is_one_line_exit_2():
    r = fb("run", "--system", "raftkv", "--backend", "local", "--opt", "snapshot_every=0")
    assert r.returncode == 2
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "snapshot_every" in lines[0] and "Traceback" not in r.stderr
