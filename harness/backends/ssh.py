"""SSH backend: each node is a server process on a remote Debian host (DESIGN §5).

The control machine (where faultbox runs) drives the hosts over one pooled
SSH connection each (:mod:`harness.backends.ssh_conn`); the harness's clients
connect to the servers directly, as on Docker.

Layout on a host, under ``<dir>`` of the hosts file (default ``~/faultbox``):

* ``code/<hash>/`` — ``systems/`` and the faketime ``sitecustomize``, uploaded
  over SFTP once per content hash (an unchanged tree is not sent again);
* ``runs/<run>/owner`` — which control machine and process own the run
  (``faultbox clean --backend ssh`` leaves live runs alone);
* ``runs/<run>/<node>/{data,ctl/faketime,server.log,pid,exit}``.

A server starts under ``setsid`` in a small ``sh`` that writes its own pid
(the process group) to ``pid``, runs python, and writes python's exit status
to ``exit``: an ``exit`` file the harness did not cause is a crash. Kill is
SIGKILL to the process group; pause/resume are SIGSTOP/SIGCONT to it; the
clock is libfaketime's timestamp file, replaced over SFTP (read on every
call, ``FAKETIME_NO_CACHE``). Network faults are iptables rules in the
``FB-*`` chains of :mod:`harness.netctl` on each host; packet faults never
use netem (it would delay the SSH session too): loss and duplication by
iptables, delay by the relay on the control machine (:class:`NetFaults`).
Teardown kills the servers, removes exactly our chains, fetches the logs and
removes the run folder (``--keep`` keeps it).
"""

from __future__ import annotations

import atexit
import contextlib
import io
import shlex
import socket
import sys
import tarfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.backends.base import CRASH_LOG_LINES, BackendError
from harness.backends.docker import faketime_spec
from harness.backends.netfaults import NetFaults
from harness.backends.ssh_conn import ConnectError, SshHost
from harness.backends.ssh_hosts import HostsConfig, SshSettings, load_hosts
from harness.netctl import DelayProxy, NetExec, owner_alive, owner_token, teardown_script
from harness.store import write_file
from systems.common import wire
from systems.common.spec import Addr, SystemSpec, server_argv

__all__ = ["SshBackend", "clean_hosts", "code_bundle", "MIN_PYTHON"]

REPO_ROOT = Path(__file__).resolve().parents[2]
MIN_PYTHON = (3, 11)
_LOG_MAX = 64 << 20  # bytes of a server log fetched into the store
_TOOLS = ("python3", "iptables", "iptables-restore", "iptables-save", "setsid", "tar")
_APT_PACKAGES = "python3 iptables libfaketime util-linux tar procps"
_FAKETIME_GLOB = "/usr/lib/*/faketime/libfaketime.so.1 /usr/lib/faketime/libfaketime.so.1"


def code_bundle() -> tuple[str, bytes]:
    """(content hash, tar of ``systems/`` + ``sitecustomize.py``) — what a host needs."""
    from harness.image import IMAGES_DIR, SYSTEMS_DIR, _hash, _tree_files

    files = [(IMAGES_DIR / "sitecustomize.py", "sitecustomize.py")]
    files += [(p, str(p.relative_to(REPO_ROOT))) for p in _tree_files(SYSTEMS_DIR)]
    parts: list[bytes] = []
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for p, arc in files:
            data = p.read_bytes()
            parts += [arc.encode(), data]
            info = tarfile.TarInfo(arc)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return _hash(parts), buf.getvalue()


@dataclass(slots=True)
class _Node:
    name: str
    host: SshHost
    dir: str  # runs/<run>/<node>, absolute on the host
    ip: str
    shape: tuple[float, float, float] = (0.0, 0.0, 0.0)  # delay_ms, loss, dup
    clock: tuple[float, float, float] = (0.0, 1.0, 0.0)  # offset_s, rate, set at (monotonic)
    pgid: int = 0  # the server's process group (0: not running)
    started_at: float = 0.0  # monotonic, when the server was started (libfaketime's rate origin)
    stopped: bool = False  # the harness stopped it (kill/down): its exit is no crash
    reported: bool = False
    epoch: int = 0


@dataclass(slots=True)
class _State:
    nodes: dict[str, _Node] = field(default_factory=dict)
    hosts: dict[str, SshHost] = field(default_factory=dict)  # node -> its connection
    grudge: dict[str, frozenset[str]] = field(default_factory=dict)
    proxy: DelayProxy | None = None
    gateway: str = ""  # this machine's address as the hosts see it
    logs: dict[str, bytes] = field(default_factory=dict)
    log_dir: Path | None = None
    run_root: dict[str, str] = field(default_factory=dict)  # node -> runs/<run> on its host
    faketime: dict[str, str] = field(default_factory=dict)  # node -> libfaketime path


class SshBackend(NetFaults):
    """Backend protocol over SSH (see module docstring)."""

    name = "ssh"
    _st: _State
    _why_no_netem = "netem not used: on a host it would delay the SSH session too"

    def __init__(
        self,
        run_id: str,
        settings: SshSettings,
        nodes: list[str] | None,
        ready_timeout_s: float = 30.0,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.run_id = "".join(c if c.isalnum() or c in "-_." else "-" for c in run_id) or "run"
        self.settings = settings
        self.config: HostsConfig = load_hosts(settings, nodes)
        self.server_port = self.config.server_port
        self.ready_timeout_s = ready_timeout_s
        self.progress = progress or (lambda msg: print(f"faultbox: {msg}", file=sys.stderr))
        self._st = _State()
        self._netem = False  # never netem: it would delay the SSH session with the peers
        self._atexit = False
        self._crash_lock = threading.Lock()
        self._pending_crashes: list[dict[str, Any]] = []
        self._connected = False
        self._argv: dict[str, tuple[list[str], str]] = {}  # node -> (server argv, code folder)

    # -- introspection ----------------------------------------------------------------
    def capabilities(self) -> frozenset[str]:
        return frozenset({"kill", "pause", "partition", "clock", "packet"})

    def partition_mechanism(self) -> str:
        return "iptables INPUT DROP by source on each receiving host (FB-PART chain, over SSH)"

    def cluster(self) -> Mapping[str, Addr]:
        return {name: (n.ip, self.server_port) for name, n in self._st.nodes.items()}

    def host(self, node: str) -> SshHost:
        return self._node(node).host

    def pgid(self, node: str) -> int:
        return self._node(node).pgid

    def _node(self, node: str) -> _Node:
        try:
            return self._st.nodes[node]
        except KeyError:
            raise BackendError(f"unknown node {node!r} (cluster is not up?)") from None

    # -- connecting ---------------------------------------------------------------------
    def connect(self) -> None:
        """Open and check every host (reachable, trusted, tools present, not in use).

        Called before the test starts (``make_backend``): any problem is one line
        naming the host, and every connection opened so far is closed.
        """
        if self._connected:
            return
        st = self._st
        for spec in self.config.hosts:
            st.hosts[spec.node] = SshHost(spec, sudo=self.settings.sudo,
                                          accept_new=self.settings.accept_new)
        try:
            self._each(list(st.hosts), lambda n: self._check_host(st.hosts[n]))
            addrs = [h.ip for h in st.hosts.values()]
            dup = {a for a in addrs if addrs.count(a) > 1}
            if dup:
                raise ConnectError(f"{self.config.path}: nodes share address(es) {sorted(dup)}: "
                                   "partitions drop by source address, so each node needs its own host")
        except BaseException:
            self._close_all()
            raise
        for h in st.hosts.values():
            if h.key_added:
                self.progress(f"{h.spec.label}: host key recorded in {h.spec.known_hosts} "
                              "(--ssh-accept-new)")
        st.gateway = next(iter(st.hosts.values())).local_ip
        self._connected = True

    def _check_host(self, h: SshHost) -> None:
        h.connect()
        label = h.spec.label
        uid = h.check("id -u", root=False, what="id -u").strip()
        if uid != "0" and not self.settings.sudo:
            raise ConnectError(f"{label}: logs in as a non-root user; iptables and signals need "
                               "root: pass --sudo (passwordless sudo) or log in as root")
        if self.settings.sudo:
            rc, out = h.run("true", timeout_s=15)
            if rc != 0:
                raise ConnectError(f"{label}: `sudo -n` refused (passwordless sudo needed for "
                                   f"--sudo): {' '.join(out.split())[-120:]}")
        h.start_shell()
        missing, faketime, py = self._probe_tools(h)
        if (missing or not faketime) and self.settings.install:
            self.progress(f"{label}: installing {_APT_PACKAGES} (--install)")
            h.check(f"export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && "
                    f"apt-get install -y -qq {_APT_PACKAGES}", timeout_s=600, what="apt-get install")
            missing, faketime, py = self._probe_tools(h)
        if missing or not faketime:
            lacks = missing + ([] if faketime else ["libfaketime"])
            raise ConnectError(f"{label}: lacks {', '.join(lacks)} (rerun with --install, or "
                               f"apt-get install {_APT_PACKAGES} on the host)")
        if py < MIN_PYTHON:
            raise ConnectError(f"{label}: python3 is {py[0]}.{py[1]}; the systems need "
                               f"{MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer (Debian 12 has 3.11)")
        port = self.config.server_port
        rc, out = h.run("python3 -c 'import socket,sys; s=socket.socket(); "
                        "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
                        f"s.bind((\"0.0.0.0\", {port}))'")
        if rc != 0:
            raise ConnectError(f"{label}: port {port} is in use (a server left by a crashed run? "
                               f"faultbox clean --backend ssh --hosts {self.config.path}; or set "
                               "server_port in the hosts file)")
        rc, _ = h.run("iptables -w -S FB-PART >/dev/null 2>&1")
        if rc == 0:
            raise ConnectError(f"{label}: already has faultbox's iptables chains (another run on "
                               "this host, or a crashed one: faultbox clean --backend ssh --hosts "
                               f"{self.config.path})")
        self._st.faketime[h.spec.node] = faketime

    def _probe_tools(self, h: SshHost) -> tuple[list[str], str, tuple[int, int]]:
        out = h.check(
            f"for t in {' '.join(_TOOLS)}; do command -v $t >/dev/null || echo missing:$t; done; "
            f"for f in {_FAKETIME_GLOB}; do [ -e \"$f\" ] && echo faketime:$f && break; done; "
            "python3 -c 'import sys; print(\"py:%d.%d\" % sys.version_info[:2])' 2>/dev/null; true",
            root=False, what="tool check")
        missing = [x[8:] for x in out.split() if x.startswith("missing:")]
        faketime = next((x[9:] for x in out.split() if x.startswith("faketime:")), "")
        pys = [x[3:] for x in out.split() if x.startswith("py:")]
        py = tuple(int(v) for v in pys[0].split(".")) if pys else (0, 0)
        return missing, faketime, (py[0], py[1])

    def _close_all(self) -> None:
        for h in self._st.hosts.values():
            h.close()
        self._st.hosts.clear()
        self._connected = False

    # -- lifecycle ------------------------------------------------------------------------
    def up(
        self,
        system: SystemSpec,
        nodes: list[str],
        run_dir: Path,
        bugs: tuple[str, ...] = (),
        seed: int = 0,
    ) -> None:
        if self._st.nodes:
            raise BackendError("cluster already up; call down() first")
        self.connect()
        if not self._atexit:
            atexit.register(self.down)
            self._atexit = True
        st = self._st
        st.log_dir = run_dir / "nodes"
        missing = [n for n in nodes if n not in st.hosts]
        if missing:
            raise BackendError(f"no host for node(s) {missing} in {self.config.path}")
        digest, bundle = code_bundle()
        peers = {n: (st.hosts[n].ip, self.server_port) for n in nodes}
        try:
            def prepare(node: str) -> None:
                h = st.hosts[node]
                base = self._base(h)
                code = f"{base}/code/{digest}"
                self._upload(h, base, code, bundle)
                root = f"{base}/runs/{self.run_id}"
                d = f"{root}/{node}"
                owner = f"{socket.gethostname()} {owner_token()}"
                h.check(f"mkdir -p {shlex.quote(d)}/data {shlex.quote(d)}/ctl && "
                        f"printf '%s\\n' {shlex.quote(owner)} > {shlex.quote(root)}/owner && "
                        f"printf '+0\\n' > {shlex.quote(d)}/ctl/faketime",
                        root=False, what="creating the run folder")
                st.run_root[node] = root
                st.nodes[node] = _Node(node, h, d, h.ip)
                st.nodes[node].stopped = True  # not started yet
                NetExec(node, h.argv_runner).setup()
                argv = server_argv(system, node, ("0.0.0.0", self.server_port), peers, f"{d}/data",
                                   bugs, seed * 1000 + nodes.index(node))
                self._argv[node] = (argv, code)

            self._each(nodes, prepare)
            self._each(nodes, self.start)
            self.wait_ready(nodes)
        except BaseException:
            self.down()
            raise

    def _base(self, h: SshHost) -> str:
        d = self.config.dir
        return d if d.startswith("/") else f"{h.home().rstrip('/')}/{d}"

    @staticmethod
    def _upload(h: SshHost, base: str, code: str, bundle: bytes) -> None:
        """Send the code once per content hash: an unpacked tree is marked complete last."""
        q = shlex.quote
        rc, _ = h.run(f"test -f {q(code)}/.complete", root=False)
        if rc == 0:
            return
        tmp = f"{code}.{owner_token().replace(':', '-')}"
        h.check(f"mkdir -p {q(base)}/code && rm -rf {q(tmp)} && mkdir {q(tmp)}", root=False,
                what="creating the code folder")
        try:
            with h.sftp() as sftp, sftp.open(f"{tmp}.tar", "wb") as fh:
                fh.set_pipelined(True)
                fh.write(bundle)
        except OSError as e:
            raise BackendError(f"{h.spec.label}: SFTP upload of the code failed: {e}") from None
        h.check(f"tar -xf {q(tmp)}.tar -C {q(tmp)} && rm -f {q(tmp)}.tar && touch {q(tmp)}/.complete "
                f"&& {{ mv -T {q(tmp)} {q(code)} 2>/dev/null || rm -rf {q(tmp)}; }}",
                root=False, what="unpacking the code")

    def wait_ready(self, nodes: list[str]) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        for node in nodes:
            n = self._node(node)
            while True:
                try:
                    status = wire.request(n.ip, self.server_port, {"op": "status"}, timeout_s=0.5,
                                          control=True)
                    if isinstance(status, dict) and status.get("ready"):
                        break
                except OSError:
                    pass
                code = n.host.read_tail(f"{n.dir}/exit", 64)
                if code is not None:
                    tail = (n.host.read_tail(f"{n.dir}/server.log", 2048) or b"").decode(
                        errors="replace").strip().splitlines()
                    raise BackendError(f"node {node} on {n.host.spec.label} exited with code "
                                       f"{code.decode().strip()} before ready: {tail[-1] if tail else ''}")
                if time.monotonic() > deadline:
                    raise BackendError(f"node {node} on {n.host.spec.label} did not become ready "
                                       f"within {self.ready_timeout_s:.0f} s (port {self.server_port} "
                                       "reachable from here?)")
                time.sleep(0.05)

    def down(self) -> None:
        """Kill the servers, remove our chains, fetch logs, remove the run folder. Never raises."""
        st = self._st
        with self._crash_lock:
            for n in st.nodes.values():
                n.stopped = True
                n.epoch += 1
        keep = self.settings.keep

        def clean(node: str) -> None:
            n = st.nodes[node]
            with contextlib.suppress(Exception):
                self._signal(n, "KILL", wait=True)
            with contextlib.suppress(Exception):
                st.logs[node] = n.host.read_tail(f"{n.dir}/server.log", _LOG_MAX) or b""
            with contextlib.suppress(Exception):
                n.host.run(teardown_script())
            if not keep and node in st.run_root:
                with contextlib.suppress(Exception):
                    n.host.run(f"rm -rf {shlex.quote(st.run_root[node])}")

        with contextlib.suppress(Exception):
            self._each(list(st.nodes), clean)
        if st.log_dir is not None and st.logs:
            with contextlib.suppress(Exception):
                self._write_logs(st.log_dir, st.logs)
        if st.proxy is not None:
            with contextlib.suppress(Exception):
                st.proxy.stop()
            st.proxy = None
        st.nodes.clear()
        st.grudge.clear()
        st.run_root.clear()
        self._close_all()

    # -- node control ----------------------------------------------------------------------
    def _signal(self, n: _Node, sig: str, wait: bool = False) -> None:
        """Send ``sig`` to the node's process group (SIGCONT first for KILL of a paused one)."""
        if n.pgid <= 0:
            return
        g = f"-{n.pgid}"  # dash's kill takes no "--": a negative number is a process group
        cmd = f"kill -{sig} {g} 2>/dev/null; true"
        if sig == "KILL":
            cmd = f"kill -CONT {g} 2>/dev/null; " + cmd
        if wait:  # until the group is gone (reaped), at most ~5 s
            cmd += (f"; i=0; while kill -0 {g} 2>/dev/null && [ $i -lt 1000 ]; do sleep 0.005; "
                    "i=$((i+1)); done")
        n.host.check(cmd, what=f"kill -{sig}")

    def start(self, node: str) -> None:
        n = self._node(node)
        if n.pgid:
            rc, _ = n.host.run(f"kill -0 -{n.pgid} 2>/dev/null && ! test -e {shlex.quote(n.dir)}/exit")
            if rc == 0:
                self._signal(n, "CONT")  # paused or running: running is what start means
                return
            self._note_crash(n, n.epoch)  # a restart must not hide a crash no poll saw yet
        argv, code = self._argv[node]
        offset_s, rate, set_at = n.clock
        n.started_at = time.monotonic()
        if rate != 1.0:  # the new process restarts libfaketime's rate origin
            self.clock(node, offset_s + (rate - 1.0) * (time.monotonic() - set_at), rate)
        env = {
            "FAULTBOX_NODE": node, "FAULTBOX_SSH_RUN": self.run_id, "PYTHONPATH": code,
            "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1",
            "LD_PRELOAD": self._st.faketime[node],
            "FAKETIME_TIMESTAMP_FILE": f"{n.dir}/ctl/faketime",
            "FAKETIME_NO_CACHE": "1", "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        }
        q = shlex.quote
        d = n.dir
        inner = (f"echo $$ > {q(d)}/pid; "
                 f"env {' '.join(f'{k}={q(v)}' for k, v in env.items())} {shlex.join(argv)}; "
                 f"echo $? > {q(d)}/exit")
        cmd = (f"cd {q(d)}/data && rm -f {q(d)}/pid {q(d)}/exit && "
               f"{{ setsid sh -c {q(inner)} >> {q(d)}/server.log 2>&1 < /dev/null & }}; "
               f"i=0; while [ ! -s {q(d)}/pid ] && [ $i -lt 2000 ]; do sleep 0.005; i=$((i+1)); done; "
               f"cat {q(d)}/pid")
        out = n.host.check(cmd, what=f"starting {node}")
        try:
            pgid = int(out.split()[-1])
        except (ValueError, IndexError):
            raise BackendError(f"node {node} on {n.host.spec.label} did not start: {out[-200:]}") from None
        with self._crash_lock:
            n.pgid = pgid
            n.stopped = n.reported = False
            n.epoch += 1

    def kill(self, node: str) -> None:
        n = self._node(node)
        if n.pgid <= 0:
            return
        if n.host.read_tail(f"{n.dir}/exit", 64) is not None:
            return  # already dead on its own: that exit stays a crash
        with self._crash_lock:  # marked before the signal: a poll never sees it unmarked
            n.stopped = True
            n.epoch += 1
        self._signal(n, "KILL", wait=True)

    def pause(self, node: str) -> None:
        self._signal(self._node(node), "STOP")

    def resume(self, node: str) -> None:
        self._signal(self._node(node), "CONT")

    def crashes(self) -> list[dict[str, Any]]:
        """Servers whose ``exit`` file appeared without kill()/down() (one SFTP read each)."""
        for n in list(self._st.nodes.values()):
            with self._crash_lock:
                if n.stopped or n.reported:
                    continue
                epoch = n.epoch
            self._note_crash(n, epoch)
        with self._crash_lock:
            out, self._pending_crashes = self._pending_crashes, []
        return out

    def _note_crash(self, n: _Node, epoch: int) -> None:
        try:
            raw = n.host.read_tail(f"{n.dir}/exit", 64)
        except Exception:  # noqa: BLE001 - connection hiccup: next poll
            return
        if raw is None:
            return
        with self._crash_lock:
            if n.stopped or n.reported or n.epoch != epoch:
                return
            n.reported = True
        text = raw.decode(errors="replace").strip()
        log = (n.host.read_tail(f"{n.dir}/server.log", 16384) or b"").decode(errors="replace")
        lines = [x for x in log.splitlines() if x.strip()]
        with self._crash_lock:
            self._pending_crashes.append({
                "node": n.name,
                "exit_code": int(text) if text.lstrip("-").isdigit() else None,
                "log": lines[-CRASH_LOG_LINES:],
            })

    def exec(self, node: str, argv: list[str]) -> tuple[int, str]:
        """Run ``argv`` on the node's host (as root with --sudo); (exit code, output)."""
        return self._node(node).host.run(shlex.join(argv))

    # -- network and clock ---------------------------------------------------------------------
    def _net(self, node: str) -> NetExec:
        return NetExec(node, self._node(node).host.argv_runner)

    def _running(self, node: str) -> bool:
        return node in self._st.nodes  # rules live on the host, not with the process

    def _keep_dports(self, node: str) -> tuple[int, ...]:
        return (self._node(node).host.spec.port,)

    def clock(self, node: str, offset_s: float, rate: float = 1.0) -> None:
        """Set the node's wall clock to real + ``offset_s``, advancing at ``rate`` from now."""
        if rate <= 0:
            raise BackendError(f"clock rate must be positive, not {rate}")
        n = self._node(node)
        age_s = max(0.0, time.monotonic() - n.started_at) if n.started_at else 0.0
        spec = faketime_spec(offset_s, rate, age_s)
        n.host.write_file(f"{n.dir}/ctl/faketime", (spec + "\n").encode())
        n.clock = (float(offset_s), float(rate), time.monotonic())

    def clock_mechanism(self) -> str:
        return "libfaketime timestamp file replaced over SFTP (FAKETIME_NO_CACHE)"

    # -- logs -------------------------------------------------------------------------------------
    def _iter_logs(self) -> Iterator[tuple[str, bytes]]:
        for name, n in self._st.nodes.items():
            data = n.host.read_tail(f"{n.dir}/server.log", _LOG_MAX)
            if data is not None:
                yield name, data
            elif name in self._st.logs:
                yield name, self._st.logs[name]
        for name, data in self._st.logs.items():
            if name not in self._st.nodes:
                yield name, data

    @staticmethod
    def _write_logs(dest: Path, logs: Mapping[str, bytes] | Iterator[tuple[str, bytes]]) -> None:
        items = logs.items() if isinstance(logs, Mapping) else logs
        for name, data in items:
            d = dest / name
            d.mkdir(parents=True, exist_ok=True)
            write_file(d / "server.log", data)

    def collect_logs(self, dest: Path) -> None:
        """Write each node's server output to ``dest/<node>/server.log`` (also after down)."""
        self._write_logs(dest, self._iter_logs())


def clean_hosts(settings: SshSettings, force: bool = False,
                say: Callable[[str], None] = print) -> dict[str, int]:
    """``faultbox clean --backend ssh``: what crashed runs left on the hosts of a hosts file.

    For every run folder on every host whose owner (control machine + process)
    is no longer alive (all with ``force``): kill its servers, remove the folder.
    When no live run is left on a host, remove faultbox's iptables chains there.
    """
    backend = SshBackend("clean", settings, None)
    here = socket.gethostname()
    removed = {"runs": 0, "server groups": 0, "hosts with chains removed": 0}
    lock = threading.Lock()
    for spec in backend.config.hosts:
        backend._st.hosts[spec.node] = SshHost(spec, sudo=settings.sudo,
                                               accept_new=settings.accept_new)

    def one(node: str) -> None:
        h = backend._st.hosts[node]
        h.connect()
        runs = f"{backend._base(h)}/runs"
        out = h.check(f"cd {shlex.quote(runs)} 2>/dev/null || exit 0; for r in */; do "
                      "r=${r%/}; [ -d \"$r\" ] || continue; "
                      "printf 'run %s %s\\n' \"$r\" \"$(head -c 200 \"$r/owner\" 2>/dev/null | tr -s ' \\n' '  ')\"; "
                      "done", root=False, what="listing runs")
        live = 0
        for line in out.splitlines():
            parts = line.split()
            if len(parts) < 2 or parts[0] != "run":
                continue
            run, owner = parts[1], parts[2:]
            mine = len(owner) == 2 and owner[0] == here and owner_alive(owner[1])
            if mine and not force:
                live += 1
                continue
            d = f"{runs}/{run}"
            got = h.check(
                f"n=0; for p in {shlex.quote(d)}/*/pid; do [ -s \"$p\" ] || continue; "
                "g=$(head -c 20 \"$p\" | tr -cd 0-9); [ -n \"$g\" ] || continue; "
                "if kill -0 -$g 2>/dev/null; then kill -CONT -$g; kill -KILL -$g; "
                f"n=$((n+1)); fi; done; rm -rf {shlex.quote(d)}; echo killed:$n",
                what=f"removing run {run}")
            with lock:
                removed["runs"] += 1
                removed["server groups"] += int(got.split("killed:")[-1] or 0)
        if live == 0:
            rc, _ = h.run("iptables -w -S FB-PART >/dev/null 2>&1")
            if rc == 0:
                h.check(teardown_script(), what="removing faultbox's iptables chains")
                with lock:
                    removed["hosts with chains removed"] += 1
        say(f"{h.spec.label}: clean ({live} live run(s) left alone)")

    try:
        backend._each(list(backend._st.hosts), one)
    finally:
        backend._close_all()
    return removed

