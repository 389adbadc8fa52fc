"""Local backend: each node is a subprocess on 127.0.0.1 with its own port and data dir.

For machines without Docker and for fast tests. It can kill (SIGKILL),
restart on the same data, pause (SIGSTOP) and resume (SIGCONT), and add and
retire nodes of a system that can change membership; it cannot partition,
skew clocks or shape packets, and says so in ``capabilities``.

A node process that exits without ``kill``/``down`` having asked for it is a
crash (``crashes()``): a broken invariant in the system, reported as a finding.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from harness.backends.base import CRASH_LOG_LINES, BackendError, Grudge, next_node_name
from harness.netctl import owner_alive, owner_token
from harness.store import open_append, write_file
from systems.common import wire
from systems.common.spec import Addr, SystemSpec, server_argv

__all__ = ["LocalBackend", "free_ports", "clean_local", "log_tail", "NODE_MARKER"]

REPO_ROOT = Path(__file__).resolve().parents[2]
# Every node process carries this in its environment, set to the owner token of the
# harness process that started it (``<pid>:<start ticks>``), so `faultbox clean` can
# find nodes that a dead harness left behind (PR_SET_PDEATHSIG already kills most)
# and leaves alone those of runs still going (another user's, another CI job's).
NODE_MARKER = "FAULTBOX_LOCAL_NODE"
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child before exec: get SIGKILL when the harness thread that started us dies."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def orphaned(owner: str | None, force: bool = False) -> bool:
    """Whether ``clean`` kills a process whose node marker holds ``owner`` (None: unmarked)."""
    return owner is not None and (force or not owner_alive(owner))


def clean_local(force: bool = False) -> int:
    """Kill node processes left by a dead local run; returns how many.

    Nodes whose harness process still runs are left alone unless ``force``.
    """
    killed = 0
    prefix = f"{NODE_MARKER}=".encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            env = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        owner = next((e[len(prefix) :].decode("ascii", "replace") for e in env if e.startswith(prefix)), None)
        if not orphaned(owner, force):
            continue
        try:
            os.kill(int(proc.name), signal.SIGCONT)
            os.kill(int(proc.name), signal.SIGKILL)
            killed += 1
        except ProcessLookupError:
            pass
    return killed


def log_tail(path: Path, lines: int = CRASH_LOG_LINES, max_bytes: int = 16384) -> list[str]:
    """The last ``lines`` lines of a log file, reading only its end (logs can be large)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - max_bytes))
            data = fh.read()
    except OSError:
        return []
    text = data.decode("utf-8", errors="replace").splitlines()
    if size > max_bytes and text:
        text = text[1:]  # the first line read is most likely cut
    return [line for line in text if line.strip()][-lines:]


def free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class LocalBackend:
    name = "local"

    def __init__(self, ready_timeout_s: float = 20.0) -> None:
        self.ready_timeout_s = ready_timeout_s
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: dict[str, IO[bytes]] = {}
        self._addrs: dict[str, Addr] = {}
        self._argv: dict[str, list[str]] = {}
        self._log_paths: dict[str, Path] = {}
        # Crash bookkeeping, shared with the runner's polling thread: nodes whose exit
        # the harness caused (kill/down), nodes whose exit was already reported, and
        # crashes seen by start() before a poll did (a restart must not hide them).
        self._lock = threading.Lock()
        self._stopped: set[str] = set()
        self._reported: set[str] = set()
        self._pending: list[dict[str, Any]] = []
        # what add_node needs: the system, its options, the nodes up() started
        self._system: SystemSpec | None = None
        self._run: tuple[Path, tuple[str, ...], int] | None = None
        self._initial: dict[str, Addr] = {}
        self._retired: set[str] = set()

    def capabilities(self) -> frozenset[str]:
        if self._system is None or self._system.membership is not None:
            return frozenset({"kill", "pause", "membership"})
        return frozenset({"kill", "pause"})

    # lifecycle ---------------------------------------------------------
    def up(
        self,
        system: SystemSpec,
        nodes: list[str],
        run_dir: Path,
        bugs: tuple[str, ...] = (),
        seed: int = 0,
    ) -> None:
        ports = free_ports(len(nodes))
        self._addrs = {n: ("127.0.0.1", p) for n, p in zip(nodes, ports, strict=True)}
        self._system, self._run = system, (run_dir, bugs, seed)
        self._initial = dict(self._addrs)
        for i, node in enumerate(nodes):
            self._prepare(node, self._addrs, seed * 1000 + i)
        for node in nodes:
            self.start(node)
        self.wait_ready(nodes)

    def _prepare(self, node: str, peers: Mapping[str, Addr], seed: int,
                 extra: tuple[str, ...] = ()) -> None:
        assert self._system is not None and self._run is not None
        run_dir, bugs, _ = self._run
        data = run_dir / "data" / node
        data.mkdir(parents=True, exist_ok=True)
        logdir = run_dir / "nodes" / node
        logdir.mkdir(parents=True, exist_ok=True)
        self._log_paths[node] = logdir / "server.log"
        self._argv[node] = server_argv(
            self._system, node, self._addrs[node], peers, str(data), bugs, seed,
            python=sys.executable,
        ) + list(extra)

    # membership (base.ChangesMembership) -------------------------------
    def add_node(self) -> dict[str, Any]:
        """One more node process, started with the system's join arguments."""
        if self._system is None or self._run is None:
            raise BackendError("add_node before up()")
        membership = self._system.membership
        if membership is None:
            raise BackendError(f"system {self._system.name} cannot change membership")
        name = next_node_name(set(self._addrs) | self._retired | set(self._initial))
        self._addrs[name] = ("127.0.0.1", free_ports(1)[0])
        self._prepare(name, {**self._initial, name: self._addrs[name]},
                      self._run[2] * 1000 + int(name[1:]) - 1, membership.join_args)
        try:
            self.start(name)
            self.wait_ready([name])
        except BaseException:
            self.retire_node(name, graceful=False)
            raise
        host, port = self._addrs[name]
        return {"node": name, "addr": f"{host}:{port}", "mechanism": "new process"}

    def retire_node(self, node: str, graceful: bool) -> dict[str, Any]:
        """Stop a node's process for good (SIGTERM or SIGKILL); its log stays for collect_logs."""
        if node not in self._addrs:
            raise BackendError(f"unknown node {node!r}")
        with self._lock:
            self._stopped.add(node)  # before the signal: a poll never reports it
            proc = self._procs.get(node)
        if proc is not None:
            self._signal(node, signal.SIGCONT)
            self._signal(node, signal.SIGTERM if graceful else signal.SIGKILL)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._signal(node, signal.SIGKILL)
                proc.wait(timeout=5)
        with self._lock:
            self._procs.pop(node, None)
            self._addrs.pop(node, None)
            self._retired.add(node)
        fh = self._logs.pop(node, None)
        if fh is not None:
            fh.close()
        return {"node": node, "mechanism": "SIGTERM" if graceful else "SIGKILL"}

    def wait_ready(self, nodes: list[str]) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        for node in nodes:
            while True:
                proc = self._procs[node]
                if proc.poll() is not None:
                    raise BackendError(
                        f"node {node} exited with code {proc.returncode} before it was ready "
                        f"(see {self._log_paths[node]})"
                    )
                try:
                    st = wire.request(*self._addrs[node], {"op": "status"}, timeout_s=0.5)
                    if isinstance(st, dict) and st.get("ready"):
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise BackendError(
                        f"node {node} did not become ready within {self.ready_timeout_s:.0f} s"
                    )
                time.sleep(0.05)

    def down(self) -> None:
        with self._lock:
            self._stopped.update(self._procs)
        for node in list(self._procs):
            try:
                self._signal(node, signal.SIGCONT)
                self._signal(node, signal.SIGKILL)
                self._procs[node].wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self._procs.clear()
        for fh in self._logs.values():
            fh.close()
        self._logs.clear()

    def cluster(self) -> Mapping[str, Addr]:
        return dict(self._addrs)

    # faults ------------------------------------------------------------
    def start(self, node: str) -> None:
        with self._lock:
            self._start(node)

    def _start(self, node: str) -> None:
        proc = self._procs.get(node)
        if proc is not None and proc.poll() is None:
            return
        if proc is not None:
            self._note_crash(node, proc)
        if node not in self._logs:
            try:
                self._logs[node] = open_append(self._log_paths[node])
            except OSError as e:
                raise BackendError(f"cannot open the log of {node}: {e}") from e
        env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), PYTHONUNBUFFERED="1")
        env[NODE_MARKER] = owner_token()
        self._procs[node] = subprocess.Popen(
            self._argv[node],
            stdout=self._logs[node],
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=str(REPO_ROOT),
            start_new_session=True,  # a Ctrl-C to the harness must not reach the nodes
            preexec_fn=_die_with_parent,
        )
        self._stopped.discard(node)
        self._reported.discard(node)

    def kill(self, node: str) -> None:
        with self._lock:
            proc = self._procs.get(node)
            if proc is None or proc.poll() is not None:
                return  # already dead on its own: that exit stays a crash
            self._stopped.add(node)  # marked before the signal: a poll never sees it unmarked
            self._signal(node, signal.SIGKILL)
        proc.wait(timeout=5)

    def crashes(self) -> list[dict[str, Any]]:
        """Node processes that exited without kill()/down() (see Backend.crashes)."""
        with self._lock:
            for node, proc in self._procs.items():
                self._note_crash(node, proc)
            out, self._pending = self._pending, []
        return out

    def _note_crash(self, node: str, proc: subprocess.Popen[bytes]) -> None:
        """Queue a crash record if ``proc`` exited on its own and nobody was told yet (lock held)."""
        if node in self._stopped or node in self._reported or proc.poll() is None:
            return
        self._reported.add(node)
        fh = self._logs.get(node)
        if fh is not None:
            fh.flush()
        self._pending.append(
            {"node": node, "exit_code": proc.returncode, "log": log_tail(self._log_paths[node])}
        )

    def pause(self, node: str) -> None:
        """SIGSTOP, and return once the kernel reports the process stopped."""
        self._signal(node, signal.SIGSTOP)
        pid = self.pid(node)
        deadline = time.monotonic() + 2.0
        while pid is not None and time.monotonic() < deadline:
            try:
                with open(f"/proc/{pid}/stat") as fh:
                    if fh.read().rsplit(")", 1)[1].split()[0] in ("T", "t"):
                        return
            except OSError:
                return
            time.sleep(0.002)

    def resume(self, node: str) -> None:
        self._signal(node, signal.SIGCONT)

    def is_running(self, node: str) -> bool:
        proc = self._procs.get(node)
        return proc is not None and proc.poll() is None

    def pid(self, node: str) -> int | None:
        proc = self._procs.get(node)
        return proc.pid if proc is not None and proc.poll() is None else None

    def _signal(self, node: str, sig: signal.Signals) -> None:
        proc = self._procs.get(node)
        if proc is not None and proc.poll() is None:
            try:
                os.kill(proc.pid, sig)
            except ProcessLookupError:
                pass

    def partition(self, grudge: Grudge) -> None:
        raise BackendError("the local backend cannot partition nodes (use --backend docker)")

    def heal(self) -> None:
        """Nothing to heal: the local backend never partitions."""

    def clock(self, node: str, offset_s: float, rate: float = 1.0) -> None:
        raise BackendError("the local backend cannot skew clocks (use --backend docker)")

    def shape(self, node: str, delay_ms: float = 0, loss: float = 0, dup: float = 0) -> None:
        raise BackendError("the local backend cannot shape packets (use --backend docker)")

    def collect_logs(self, dest: Path) -> None:
        for fh in self._logs.values():
            fh.flush()
        for node, path in self._log_paths.items():
            target = dest / node / "server.log"
            if path.resolve() != target.resolve() and path.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                write_file(target, path.read_bytes())
