"""The local backend really starts, kills, restarts and pauses node processes."""

import asyncio
import os

import pytest

from harness.backends.base import BackendError
from harness.backends.local import LocalBackend
from systems.common import wire
from systems.common.spec import SystemSpec
from systems.memkv import SYSTEM as MEMKV
from systems.memkv.client import make_register_client


@pytest.fixture
def memkv(tmp_path):
    b = LocalBackend(ready_timeout_s=10)
    b.up(MEMKV, ["n1"], tmp_path)
    try:
        yield b
    finally:
        b.down()


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().split()[2] != "Z"


def _state(pid):
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().split()[2]


def _call(b, f, v=None):
    async def go():
        c = make_register_client(b.cluster(), "n1", 1.0)
        try:
            return await c.invoke(f, v)
        finally:
            await c.close()

    return asyncio.run(go())


def test_kill_loses_memkv_state_and_restart_reuses_port(memkv):
    assert _call(memkv, "write", 3)[0] == "ok"
    assert _call(memkv, "read") == ("ok", 3, None)
    pid = memkv.pid("n1")
    memkv.kill("n1")
    assert not _alive(pid)
    assert _call(memkv, "read")[0] == "fail"  # refused: definitely did not happen
    memkv.start("n1")
    memkv.wait_ready(["n1"])
    assert memkv.pid("n1") != pid
    assert _call(memkv, "read") == ("ok", None, None)  # in-memory state is gone


def test_pause_stops_the_process_and_resume_continues(memkv):
    pid = memkv.pid("n1")
    memkv.pause("n1")
    assert _state(pid) == "T"
    kind, _, err = _call(memkv, "write", 1)
    assert (kind, err) == ("info", "TimeoutError")  # a write that timed out is indeterminate
    memkv.resume("n1")
    assert _state(pid) in ("S", "R")
    assert _call(memkv, "read")[0] == "ok"


def test_logs_are_collected(memkv, tmp_path):
    memkv.collect_logs(tmp_path / "nodes")
    assert "listening" in (tmp_path / "nodes" / "n1" / "server.log").read_text()


def test_unsupported_faults_are_refused(memkv):
    assert memkv.capabilities() == {"kill", "pause"}
    with pytest.raises(BackendError, match="cannot partition"):
        memkv.partition({"n1": frozenset()})


def test_node_that_never_comes_up_is_named(tmp_path):
    broken = SystemSpec("broken", "exits at once", "systems.no_such_module", clients={})
    b = LocalBackend(ready_timeout_s=5)
    try:
        with pytest.raises(BackendError, match="node n1 exited"):
            b.up(broken, ["n1"], tmp_path)
    finally:
        b.down()


def test_status_reports_ready(memkv):
    st = wire.request(*memkv.cluster()["n1"], {"op": "status"})
    assert st["ready"] is True and st["node"] == "n1"
