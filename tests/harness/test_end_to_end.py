"""Whole test lifecycle on the local backend with memkv: the acceptance runs of the harness core."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.backends.local import NODE_MARKER, orphaned
from harness.netctl import owner_token

REPO = Path(__file__).resolve().parents[2]


def fb(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=REPO)


def _node_pids(under):
    """Marked node processes whose command line names a folder under ``under``."""
    pids = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                env = (p / "environ").read_bytes().split(b"\0")
                marked = any(e.startswith(f"{NODE_MARKER}=".encode()) for e in env)
                ours = str(under).encode() in (p / "cmdline").read_bytes()
            except OSError:
                continue
            if marked and ours:
                pids.append(int(p.name))
    return pids


def _latest(store):
    return (store / "latest").resolve()


def _wait_for_history(store, min_bytes, timeout_s=30):
    """Until the running harness has recorded ``min_bytes`` of history (or ``timeout_s`` passed)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        hist = store / "latest" / "history.jsonl"
        if hist.exists() and hist.stat().st_size > min_bytes:
            return
        time.sleep(0.2)


@pytest.mark.slow
def test_memkv_under_pause_is_valid_and_stored(tmp_path):
    store = tmp_path / "store"
    r = fb("run", "--system", "memkv", "--workload", "register", "--nemesis", "pause",
           "--time-limit", "6", "--nemesis-interval", "1", "--backend", "local",
           "--recovery", "0.5", "--seed", "7", "--store", str(store))
    assert r.returncode == 0, r.stdout + r.stderr
    run = _latest(store)
    for name in ("test.json", "history.jsonl", "results.json", "nodes/n1/server.log"):
        assert (run / name).exists(), name
    test = json.loads((run / "test.json").read_text())
    assert test["seed"] == 7 and "--seed 7" in test["command"] and test["git_commit"]
    results = json.loads((run / "results.json").read_text())
    assert results["verdict"] == "valid"
    assert re.search(r"^VALID\s+results: \S*results\.json$", r.stdout, re.M), r.stdout
    hist = [json.loads(x) for x in (run / "history.jsonl").read_text().splitlines()]
    assert any(o["f"] == "start-pause" for o in hist)


@pytest.mark.slow
def test_memkv_kill_loses_writes_and_the_checker_says_so(tmp_path):
    # A deterministic schedule: kill once writes were acknowledged and hold the kill
    # across the end of the main phase; healing restarts an empty node and the final
    # reads see None, which no write ever wrote. The recovery window is loose: a restarted
    # node on a loaded machine can take most of a second before it answers.
    from dataclasses import replace

    import nemesis
    from harness import generator as g
    from harness.options import Options
    from harness.runner import run_test
    from systems.memkv import SYSTEM
    from workloads import WorkloadOptions, get_workload

    opts = Options(system="memkv", workload="register", nemesis=("kill",), nodes=1,
                   time_limit_s=3, backend="local", recovery_s=2.0, seed=11, store=tmp_path,
                   nemesis_interval_s=0.5)
    pkg = nemesis.PACKAGES["kill"](nemesis.NemesisOptions(interval_s=1))
    pkg = replace(pkg, generator=[g.sleep(1.0), {"f": "start-kill", "value": "all"}])
    wl = get_workload("register", WorkloadOptions(rate=100, concurrency=5))
    out = run_test(opts, SYSTEM, wl, notice=lambda m: None, package=pkg)
    assert out.exit_code == 1
    lin = out.results["checkers"]["linearizable"]
    assert lin["valid"] is False
    assert lin["anomalies"][0]["kind"] == "nonlinearizable"
    assert "None" in lin["anomalies"][0]["explanation"] or "nil" in lin["anomalies"][0]["explanation"]


@pytest.mark.slow
def test_sigkilled_harness_leaves_a_checkable_prefix_and_no_nodes(tmp_path):
    store = tmp_path / "store"
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "run", "--system", "memkv", "--workload", "register",
         "--nemesis", "pause", "--time-limit", "20", "--backend", "local", "--seed", "5",
         "--store", str(store)],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_history(store, 20_000)
        time.sleep(1)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    time.sleep(0.5)
    leftovers = _node_pids(tmp_path)
    fb("clean")
    assert leftovers == [], "node processes survived the SIGKILLed harness"
    r = fb("check", str(store / "latest"))
    # memkv under pause is linearizable: the prefix (open invocations indeterminate) is too
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.match(r"VALID\s", r.stdout), r.stdout
    results = json.loads((_latest(store) / "results.json").read_text())
    assert results["ops"] > 50 and results["verdict"] == "valid"


def _marked_sleeper(owner):
    env = dict(os.environ, **{NODE_MARKER: owner})
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], env=env,
                            start_new_session=True)


def _dead_owner_token():
    """The owner token of a harness process that has exited."""
    gone = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    token = owner_token(gone.pid)
    gone.kill()
    gone.wait()
    return token


def test_clean_kills_orphaned_local_nodes(tmp_path):
    orphan = _marked_sleeper(_dead_owner_token())
    try:
        r = fb("clean")
        assert r.returncode == 0, r.stderr
        assert orphan.wait(timeout=5) == -signal.SIGKILL
    finally:
        if orphan.poll() is None:
            orphan.kill()


def test_clean_spares_nodes_of_a_live_run_unless_forced(tmp_path):
    # this pytest process plays the harness of a run that is still going
    live = _marked_sleeper(owner_token())
    try:
        r = fb("clean")
        assert r.returncode == 0, r.stderr
        time.sleep(0.3)
        assert live.poll() is None, "clean killed a node of a live run"
    finally:
        live.kill()
        live.wait()
    # --force takes them too (not run for real here: it would take other runs on this machine)
    assert orphaned(owner_token(), force=True)
    assert not orphaned(owner_token(), force=False)
    assert orphaned(_dead_owner_token()) and orphaned("1")  # "1": the marker of older versions
    assert not orphaned(None, force=True)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_run_tears_down_and_still_checks(tmp_path, sig):
    store = tmp_path / "store"
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "run", "--system", "memkv", "--workload", "register",
         "--nemesis", "pause", "--nemesis-interval", "1", "--time-limit", "30", "--backend",
         "local", "--seed", "9", "--store", str(store)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    _wait_for_history(store, 10_000)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err  # memkv under pause: what was recorded is valid
    assert "Traceback" not in err
    assert "interrupted" in out
    run = _latest(store)
    test = json.loads((run / "test.json").read_text())
    assert test["interrupted"] is True
    results = json.loads((run / "results.json").read_text())
    assert results["ops"] > 10 and results["verdict"] == "valid"
    assert (run / "nodes" / "n1" / "server.log").exists()
    assert _node_pids(tmp_path) == []


@pytest.mark.parametrize("report", [True, False])
def test_report_option_decides_whether_the_report_is_written(tmp_path, report):
    from harness.options import Options
    from harness.runner import run_test
    from systems.memkv import SYSTEM
    from workloads import WorkloadOptions, get_workload

    opts = Options(system="memkv", workload="register", nodes=1, time_limit_s=0.5, backend="local",
                   recovery_s=0, seed=3, store=tmp_path, report=report)
    wl = get_workload("register", WorkloadOptions(rate=50, concurrency=2))
    out = run_test(opts, SYSTEM, wl, notice=lambda m: None)
    assert (out.run_dir / "results.json").exists()
    assert (out.run_dir / "report.html").exists() is report
    assert (tmp_path / "index.html").exists() is report
