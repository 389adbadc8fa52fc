"""kill and pause work through the plain Backend protocol: the local backend."""

from __future__ import annotations

import time
from pathlib import Path

import nemesis
from harness.backends.local import LocalBackend
from nemesis import NemesisOptions
from systems import get_system
from systems.common import wire


def answers(addr: tuple[str, int]) -> bool:
    try:
        return bool(wire.request(*addr, {"op": "status"}, timeout_s=0.3).get("ready"))
    except OSError:
        return False


def test_kill_and_pause_packages_on_local_backend(tmp_path: Path) -> None:
    backend = LocalBackend()
    opts = NemesisOptions(interval_s=1.0)
    pkg = nemesis.compose([nemesis.PACKAGES["kill"](opts), nemesis.PACKAGES["pause"](opts)])
    assert pkg.needs <= backend.capabilities()
    backend.up(get_system("memkv"), ["n1"], tmp_path, seed=1)
    try:
        addr = backend.cluster()["n1"]
        pkg.nemesis.setup(backend, {"nodes": ["n1"], "seed": 1})
        assert pkg.nemesis.invoke("start-kill", "one") == ["n1"]
        assert not answers(addr)
        assert pkg.nemesis.invoke("stop-kill", None) == ["n1"]
        backend.wait_ready(["n1"])
        assert answers(addr)
        assert pkg.nemesis.invoke("start-pause", "leader") == ["n1"]
        assert not answers(addr)
        pkg.nemesis.teardown()
        deadline = time.monotonic() + 5
        while not answers(addr) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert answers(addr)
    finally:
        backend.down()
