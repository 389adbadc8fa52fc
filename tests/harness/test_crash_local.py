"""Node crashes on the local backend: recorded in the history, flagged by the verdict.

A node that dies behind the backend's back (a real process exit the harness did
not cause) must show up as a ``crash`` op pair and make the run INVALID; a
nemesis ``kill`` is the harness's own fault and must never be reported.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from harness.backends.local import LocalBackend
from harness.history import NEMESIS, read_jsonl
from systems import get_system
from systems.common import wire
from systems.memkv import SYSTEM as MEMKV
from tests.crash_runs import kill_twice_package, sabotaged_run


def _wait_exit(b: LocalBackend, node: str) -> None:
    deadline = time.monotonic() + 10
    while b.is_running(node) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not b.is_running(node)


def _misaddressed_raft_frame(addr: tuple[str, int], node: str) -> None:
    """A peer frame addressed to another node: raftkv's core asserts ``m.dst == self.id``."""
    with socket.create_connection(addr, timeout=2) as s:
        wire.send(s, {"op": "raft", "ms": [{"t": "heartbeat", "s": "n1", "d": "nobody", "term": 1}]})
        s.settimeout(5)
        try:
            s.recv(1)  # EOF (or reset) once the node is gone
        except OSError:
            pass
    del node


@pytest.fixture
def local(tmp_path: Path) -> Any:
    b = LocalBackend(ready_timeout_s=15)
    yield b
    b.down()


def test_backend_reports_exits_it_did_not_cause_once(local: LocalBackend, tmp_path: Path) -> None:
    local.up(MEMKV, ["n1", "n2"], tmp_path)
    assert local.crashes() == []
    local.kill("n1")  # the harness's own kill: never a crash
    assert local.crashes() == []
    pid = local.pid("n2")
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    _wait_exit(local, "n2")
    (c,) = local.crashes()
    assert c["node"] == "n2" and c["exit_code"] == -signal.SIGKILL
    assert isinstance(c["log"], list)
    assert local.crashes() == []  # once per exit
    # A crash that a restart would hide is still reported after the restart.
    local.start("n2")
    local.wait_ready(["n2"])
    pid = local.pid("n2")
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    _wait_exit(local, "n2")
    local.start("n2")
    assert [c["node"] for c in local.crashes()] == ["n2"]
    local.start("n1")
    local.down()
    assert local.crashes() == []  # down() is the harness's doing too


def test_raftkv_assertion_crash_prints_the_assertion_and_exits_70(
    local: LocalBackend, tmp_path: Path
) -> None:
    local.up(get_system("raftkv"), ["n1", "n2", "n3"], tmp_path)
    _misaddressed_raft_frame(local.cluster()["n2"], "n2")
    _wait_exit(local, "n2")
    (c,) = local.crashes()
    assert c["node"] == "n2" and c["exit_code"] == 70
    assert c["log"][-1] == "AssertionError: n2 got a message for nobody", c["log"]


def _run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sabotage: bool, pkg: Any = None) -> Any:
    """A short raftkv run on the local backend; ``sabotage`` SIGKILLs n2 behind the backend's back."""

    def kill_n2(b: Any) -> None:
        os.kill(b.pid("n2"), signal.SIGKILL)

    return sabotaged_run(tmp_path, monkeypatch, "local", kill_n2 if sabotage else None, pkg)


def test_a_node_killed_behind_the_backends_back_is_a_crash_and_invalid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = _run(tmp_path, monkeypatch, sabotage=True)
    hist = read_jsonl(out.run_dir / "history.jsonl")  # strict reader: the pair is well formed
    crashes = [(i, c) for i, c in hist.pairs() if i.process == NEMESIS and i.f == "crash"]
    assert len(crashes) == 1
    inv, comp = crashes[0]
    assert inv.value == "n2" and comp is not None and comp.type == "info"
    assert comp.value["node"] == "n2" and comp.value["exit_code"] == -signal.SIGKILL
    assert out.results["verdict"] == "invalid" and out.exit_code == 1
    crash = out.results["checkers"]["crash"]
    assert crash["valid"] is False
    (a,) = crash["anomalies"]
    assert "n2" in a["explanation"] and a["ops"] == [inv.index, comp.index]
    assert out.results["checkers"]["stats"]["details"]["faults"] == []


def test_a_nemesis_kill_records_no_crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = _run(tmp_path, monkeypatch, sabotage=False, pkg=kill_twice_package())
    hist = read_jsonl(out.run_dir / "history.jsonl")
    fs = [o.f for o in hist if o.process == NEMESIS and o.type == "invoke"]
    assert fs.count("start-kill") == 2 and "crash" not in fs, fs
    assert out.results["checkers"]["crash"]["valid"] is True


class _SlowNemesis:
    """A nemesis op that takes a while, so a crash arrives while it is open."""

    def invoke(self, f: str, value: Any) -> Any:
        time.sleep(0.3)
        return ["n1"]


def test_a_crash_during_an_open_nemesis_op_is_written_after_its_completion(tmp_path: Path) -> None:
    import asyncio

    from harness import generator as g
    from harness.history import HistoryWriter
    from harness.interpreter import Interpreter

    class Client:
        async def invoke(self, f: str, value: Any) -> Any:
            await asyncio.sleep(0.001)
            return "ok", value, None

        async def close(self) -> None:
            pass

    path = tmp_path / "h.jsonl"
    w = HistoryWriter(path)
    it = Interpreter({}, 2, lambda t: Client(), w, nemesis=_SlowNemesis(), op_timeout_s=1, seed=1)
    gen = g.any(g.nemesis([{"f": "start-kill", "value": "one"}]),
                g.clients(g.time_limit(0.6, g.stagger(0.01, {"f": "read", "value": None}))))

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.call_later(0.1, it.record_crash, {"node": "n3", "exit_code": 70, "log": ["x"]})
        await it.run(gen)
        it.flush_crashes()

    asyncio.run(main())
    w.close()
    h = read_jsonl(path)  # strict: a crash pair inside the open kill would not pair up
    nem = [(o.type, o.f) for o in h if o.process == NEMESIS]
    assert nem == [("invoke", "start-kill"), ("info", "start-kill"),
                   ("invoke", "crash"), ("info", "crash")]
    assert [c.value for i, c in h.pairs() if i.f == "crash"] == [
        {"node": "n3", "exit_code": 70, "log": ["x"]}]
