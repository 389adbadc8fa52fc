"""Campaigns on the Docker backend: the smoke campaign, Ctrl-C then --resume, --jobs 2."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from junitparser import JUnitXml

from harness.backends.docker import docker_available
from harness.netctl import owner_alive
from tests.campaign.helpers import REPO, campaign_dirs, campaign_json, faultbox, write

pytestmark = [
    pytest.mark.docker, pytest.mark.slow,
    pytest.mark.skipif(not docker_available(), reason="no Docker engine reachable"),
]

RAFT = """
[campaign]
name = "{name}"
[defaults]
backend = "docker"
system = "raftkv"
nodes = 3
time_limit = {time_limit}
recovery = 1
nemesis_interval = 2
op_timeout = 1.5
check_budget = 30
"""


def _docker_leftovers() -> list[str]:
    """faultbox containers and networks whose owning harness process is gone.

    Nodes of runs still going (another developer's, another CI job on this
    engine) are not leftovers; anything our runs left behind has a dead owner.
    """
    out = []
    for what in (["ps", "-a"], ["network", "ls"]):
        r = subprocess.run(["docker", *what, "--filter", "label=faultbox=1",
                            "--format", '{{.ID}} {{.Label "faultbox.owner"}}'],
                           capture_output=True, text=True, timeout=60)
        for line in r.stdout.splitlines():
            ident, _, owner = line.partition(" ")
            if not owner_alive(owner.strip()):
                out.append(ident)
    return out


def test_smoke_campaign_passes_and_writes_junit_and_page(tmp_path: Path) -> None:
    r = faultbox("campaign", "run", "campaigns/smoke.toml", "--store", str(tmp_path / "store"),
                 "--junit", str(tmp_path / "out.xml"), timeout_s=900)
    assert r.returncode == 0, r.stdout + r.stderr
    (d,) = campaign_dirs(tmp_path / "store", "smoke")
    n = len(campaign_json(d)["runs"])
    suite = next(iter(JUnitXml.fromfile(str(tmp_path / "out.xml"))))
    assert (suite.name, suite.tests, suite.failures, suite.errors, suite.skipped) == ("smoke", n, 0, 0, 0)
    assert (d / "campaign.html").is_file()
    assert not _docker_leftovers()


def _wait_for(pred: object, what: str, timeout_s: float = 400) -> None:
    deadline = time.monotonic() + timeout_s  # a hang guard, not a timing assertion
    while not pred():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.5)


def test_sigint_tears_down_and_resume_skips_finished_runs(tmp_path: Path) -> None:
    f = write(tmp_path / "c.toml", RAFT.format(name="intr", time_limit=5) + """
[[case]]
workload = "register"
nemesis = "partition"
seeds = [1, 2, 3]
""")
    store = tmp_path / "store"
    log = open(tmp_path / "out.log", "w")  # noqa: SIM115
    # started as a script's background job is (SIGINT inherited ignored): Ctrl-C must still work
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "campaign", "run", str(f),
                             "--store", str(store)], cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        def second_run_is_recording() -> bool:
            dirs = campaign_dirs(store, "intr")
            if not dirs or campaign_json(dirs[0])["counts"]["passed"] < 1:
                return False
            hist = list(dirs[0].glob("*_s2/*/*/history.jsonl"))
            return bool(hist) and hist[0].stat().st_size > 0
        _wait_for(second_run_is_recording, "the first run to pass and the second to record ops")
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    output = (tmp_path / "out.log").read_text()
    assert rc == 2, output
    assert "interrupted" in output
    (d,) = campaign_dirs(store, "intr")
    doc = campaign_json(d)
    assert doc["interrupted"] is True
    before = {r["id"]: r for r in doc["runs"]}
    assert [r["status"] for r in doc["runs"]] == ["passed", "interrupted", "not-run"], output
    assert (d / "campaign.html").is_file() and (d / "junit.xml").is_file()
    assert not _docker_leftovers()  # the interrupted run's nodes and network are gone

    r = faultbox("campaign", "run", str(f), "--store", str(store), "--resume", timeout_s=900)
    assert r.returncode == 0, r.stdout + r.stderr
    assert campaign_dirs(store, "intr") == [d]
    after = {x["id"]: x for x in campaign_json(d)["runs"]}
    assert [x["status"] for x in after.values()] == ["passed"] * 3
    first = "raftkv-register-partition-n3/s1"
    assert after[first] == before[first]  # not re-run: the same record, the same run folder
    assert len(list(d.glob("*_s1/*/*/test.json"))) == 1
    assert len(list(d.glob("*_s2/*/*/test.json"))) == 2  # interrupted, then run again
    assert campaign_json(d)["resumed_runs"] == 1
    assert not _docker_leftovers()


def test_parallel_jobs_run_on_separate_networks(tmp_path: Path) -> None:
    f = write(tmp_path / "j.toml", RAFT.format(name="jobs", time_limit=6) + """
[[case]]
workload = ["register", "kv"]
nemesis = "partition"
seeds = [1]
""")
    r = faultbox("campaign", "run", str(f), "--store", str(tmp_path / "store"), "--jobs", "2",
                 "--no-report", timeout_s=900)
    assert r.returncode == 0, r.stdout + r.stderr
    (d,) = campaign_dirs(tmp_path / "store", "jobs")
    tests = [json.loads((d / rec["run_dir"] / "test.json").read_text())
             for rec in campaign_json(d)["runs"]]
    assert len(tests) == 2
    # both ran at the same time (same seed, same second): names and subnets did not clash
    assert tests[0]["start_time"] <= tests[1]["end_time"] and tests[1]["start_time"] <= tests[0]["end_time"]
    assert not _docker_leftovers()
