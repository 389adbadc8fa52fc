"""Node crashes on the docker backend: a container that dies on its own is recorded and flagged.

The container's main process is the server, so ``docker kill`` behind the
backend's back (or a broken invariant, exit 70) ends the container: that is a
crash. The harness's own nemesis ``kill`` is not.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import pytest

from harness.backends.docker import DockerBackend
from harness.history import NEMESIS, read_jsonl
from systems import get_system
from systems.common import wire
from tests.crash_runs import kill_twice_package, sabotaged_run
from tests.integration.conftest import run_id

pytestmark = pytest.mark.docker


def _wait_exited(b: DockerBackend, node: str) -> None:
    deadline = time.monotonic() + 15
    while b.pid(node) != 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert b.pid(node) == 0


def test_backend_reports_a_broken_invariant_but_not_its_own_kill(
    node_image: str, tmp_path: Path
) -> None:
    b = DockerBackend(run_id("c"), image=node_image)
    try:
        b.up(get_system("raftkv"), ["n1", "n2", "n3"], tmp_path, seed=2)
        assert b.crashes() == []
        b.kill("n1")
        assert b.crashes() == []  # the harness's own kill
        # A peer frame addressed to someone else: raftkv's core asserts m.dst == self.id.
        with socket.create_connection(b.cluster()["n2"], timeout=2) as s:
            wire.send(s, {"op": "raft", "ms": [{"t": "heartbeat", "s": "n1", "d": "nobody",
                                                "term": 1}]})
        _wait_exited(b, "n2")
        b.start("n1")  # restarting another node changes nothing for n2
        (c,) = b.crashes()
        assert c["node"] == "n2" and c["exit_code"] == 70
        assert c["log"][-1] == "AssertionError: n2 got a message for nobody", c["log"]
        assert b.crashes() == []  # once per exit
        b.start("n2")  # a restart clears the mark; a later exit is a new crash
        b.wait_ready(["n2"])
        b._node("n3").container.kill(signal="SIGKILL")  # behind the backend's back
        _wait_exited(b, "n3")
        b.start("n3")  # restarted before any poll: the crash is still reported
        assert [(c["node"], c["exit_code"]) for c in b.crashes()] == [("n3", 137)]
    finally:
        b.down()
    assert b.crashes() == []


def _run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sabotage: bool, pkg: Any = None) -> Any:
    def kill_n2(b: Any) -> None:
        import docker

        client = docker.from_env()
        client.containers.get(b.container_name("n2")).kill(signal="SIGKILL")
        client.close()

    return sabotaged_run(tmp_path, monkeypatch, "docker", kill_n2 if sabotage else None, pkg,
                         time_limit_s=8 if pkg else 4, recovery_s=0.5, seed=4, op_timeout_s=1.5,
                         check_budget_s=30, report=False)


def test_a_container_killed_behind_the_backends_back_is_a_crash(
    node_image: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = _run(tmp_path, monkeypatch, sabotage=True)
    hist = read_jsonl(out.run_dir / "history.jsonl")
    crashes = [(i, c) for i, c in hist.pairs() if i.process == NEMESIS and i.f == "crash"]
    assert len(crashes) == 1
    inv, comp = crashes[0]
    assert inv.value == "n2" and comp is not None
    assert comp.value["node"] == "n2" and comp.value["exit_code"] == 137
    assert out.results["verdict"] == "invalid"
    (a,) = out.results["checkers"]["crash"]["anomalies"]
    assert "n2" in a["explanation"] and "137" in a["explanation"]


def test_a_nemesis_kill_in_docker_records_no_crash(
    node_image: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = _run(tmp_path, monkeypatch, sabotage=False, pkg=kill_twice_package())
    hist = read_jsonl(out.run_dir / "history.jsonl")
    done = [o for o in hist if o.process == NEMESIS and o.type == "info"]
    assert [o.f for o in done].count("start-kill") == 2 and all(o.error is None for o in done)
    assert "crash" not in {o.f for o in hist}
    assert out.results["checkers"]["crash"]["valid"] is True
