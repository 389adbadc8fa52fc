"""The SSH lab as a fixture: real sshd hosts (containers from the node image) for --backend ssh.

One lab of five hosts is shared by every test in tests/ssh (session scope): starting
it costs a few seconds; each test leaves the hosts as it found them (no servers, no
faultbox chains, no run folders), and the lab is removed at the end.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.backends.docker import docker_available
from harness.netctl import owner_token

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    if not docker_available():
        pytest.skip("no Docker engine reachable")
    from harness.backends.ssh_lab import lab_down, lab_up

    folder = tmp_path_factory.mktemp("sshlab") / "lab"
    name = f"t{os.getpid()}"
    lab = lab_up(5, folder, name=name, owner=owner_token())
    try:
        yield lab
    finally:
        lab_down(folder, name=name)


def fb(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """The faultbox CLI in a subprocess (exit code, stdout, stderr)."""
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=REPO)


def host_state(lab: object, i: int) -> tuple[str, str, str]:
    """(faultbox server processes, faultbox iptables lines, run folders) on lab host ``i``,
    read over SSH as root."""
    from harness.backends.ssh_conn import SshHost
    from harness.backends.ssh_hosts import SshSettings, load_hosts

    spec = load_hosts(SshSettings(lab.hosts_file)).hosts[i]  # type: ignore[attr-defined]
    h = SshHost(spec)
    h.connect()
    try:
        procs = h.run("ps -eo pid,args | grep '[s]ystems\\.' ; true")[1]
        rules = h.run("iptables-save | grep FB- ; true")[1]
        runs = h.run("find /root/faultbox/runs /home/fb/faultbox/runs -mindepth 1 -maxdepth 1 "
                     "2>/dev/null; true")[1]
    finally:
        h.close()
    return procs, rules, runs


def assert_hosts_clean(lab: object) -> None:
    for i in range(len(lab.hosts)):  # type: ignore[attr-defined]
        procs, rules, runs = host_state(lab, i)
        assert (procs, rules, runs) == ("", "", ""), f"host {i + 1} not clean"
