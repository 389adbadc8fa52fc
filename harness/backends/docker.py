"""Docker backend: one container per node on a bridge network of the run's own.

Layout of a run (DESIGN §5):

* network ``fb-<run>`` — a user-defined bridge with an explicit /24 subnet
  (picked from 10.213.0.0/16, skipping pools in use); node ``i`` has the fixed
  address ``.<10+i>`` so it keeps it across restarts, and hostname ``n<i>``;
* containers ``fb-<run>-<node>``, labelled ``faultbox=1`` (``clean_all``),
  capability ``NET_ADMIN`` only, never privileged;
* ``<run_dir>/data/<node>`` bind-mounted at ``/data`` (survives kill/start),
  ``<run_dir>/ctl/<node>`` at ``/run/faultbox`` (the faketime spec and the
  start gate, written from the host: a clock change is a file write; the
  container can write there too, so the host writes only through
  ``harness.store.write_file``, which never follows a symlink);
* the server is the container's main process, so a kill is ``SIGKILL`` to it
  and a start is ``container.start()`` on the same data; a container that
  exits without ``kill``/``down`` is a crash (``crashes()``: State.ExitCode
  and the tail of its output).

A container's main process waits for ``/run/faultbox/go`` before it execs the
server, so the node's iptables rules (which live in its network namespace and
are lost with it) are in place before the server sends its first packet.
Network rules are applied with the host's iptables through ``nsenter`` when
the harness is root (fast), else with ``docker exec`` (slow).
"""

from __future__ import annotations

import atexit
import contextlib
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.backends.base import CRASH_LOG_LINES, BackendError, next_node_name
from harness.backends.netfaults import NetFaults
from harness.netctl import (
    DelayProxy,
    NetExec,
    Runner,
    nsenter_available,
    nsenter_runner,
    owner_alive,
    owner_token,
    process_age_s,
)
from harness.netctl import shell_with_stdin as _shell_with_stdin
from harness.store import write_file
from systems.common import wire
from systems.common.spec import Addr, SystemSpec, server_argv

__all__ = ["DockerBackend", "clean_all", "docker_available", "owner_token", "LABEL", "PORT"]

LABEL = "faultbox"
PORT = 7000
_SUBNET_PREFIX = "10.213"
_FAKETIME_LIB = "/opt/faultbox/libfaketime.so.1"
_CTL_MOUNT = "/run/faultbox"
_GO_FILE = "go"
_FAKETIME_FILE = "faketime"


def _docker() -> Any:
    import docker

    return docker


def _client(timeout_s: float = 60.0) -> Any:
    docker = _docker()
    try:
        client = docker.from_env(timeout=timeout_s)
        client.ping()
        return client
    except (docker.errors.DockerException, OSError) as e:
        raise BackendError(f"no Docker engine reachable: {e}") from e


def docker_available() -> bool:
    """True when a Docker engine answers a ping within a few seconds."""
    try:
        _client(timeout_s=3.0).close()
        return True
    except BackendError:
        return False


def clean_all(run_id: str | None = None, force: bool = False) -> dict[str, int]:
    """Remove every container and network labelled ``faultbox`` (of one run if given).

    Runs whose harness process is still alive are left alone unless ``force``
    (so a ``faultbox clean`` does not pull a running test's nodes away).
    """
    docker = _docker()
    client = _client()
    # faultbox=1, not the bare key: every container of the node image inherits the
    # image's label faultbox=node (an SSH lab's hosts, for one), and only runs' are ours.
    label = f"{LABEL}=1" if run_id is None else f"{LABEL}.run={_safe_name(run_id)}"
    removed = {"containers": 0, "networks": 0}
    for c in client.containers.list(all=True, filters={"label": label}):
        if not force and owner_alive(c.labels.get(f"{LABEL}.owner")):
            continue
        with contextlib.suppress(docker.errors.APIError):
            if c.status == "paused":
                c.unpause()
            c.remove(force=True)
            removed["containers"] += 1
    for n in client.networks.list(filters={"label": label}):
        if not force and owner_alive((n.attrs.get("Labels") or {}).get(f"{LABEL}.owner")):
            continue
        with contextlib.suppress(docker.errors.APIError):
            n.remove()
            removed["networks"] += 1
    client.close()
    return removed


def _safe_name(run_id: str) -> str:
    name = re.sub(r"[^a-zA-Z0-9_.-]", "-", run_id).strip("-.")
    return name or "run"


def faketime_spec(offset_s: float, rate: float, process_age_s: float) -> str:
    """The libfaketime spec giving wall = real + ``offset_s`` now, advancing at ``rate``.

    libfaketime applies a rate from the process's start: fake = real + spec
    offset + (rate - 1) * age. We subtract what the rate already added.
    """
    spec_offset = offset_s - (rate - 1.0) * process_age_s
    if rate == 1.0:
        return f"{spec_offset:+.6f}"
    return f"{spec_offset:+.6f} x{rate:g}"


@dataclass(slots=True)
class _Node:
    name: str
    ip: str
    container: Any
    data_dir: Path
    ctl_dir: Path
    clock: tuple[float, float, float] = (0.0, 1.0, 0.0)  # offset_s, rate, set at (monotonic)
    shape: tuple[float, float, float] = (0.0, 0.0, 0.0)  # delay_ms, loss, dup
    pid: int = 0
    # Crash bookkeeping (guarded by DockerBackend._crash_lock): the harness stopped
    # this container (kill/down); its exit was reported; ``epoch`` changes with each
    # kill/start so a poll that raced one of them drops what it saw.
    stopped: bool = False
    reported: bool = False
    epoch: int = 0


@dataclass(slots=True)
class _State:
    nodes: dict[str, _Node] = field(default_factory=dict)
    grudge: dict[str, frozenset[str]] = field(default_factory=dict)
    network: Any = None
    gateway: str = ""
    proxy: DelayProxy | None = None
    logs: dict[str, bytes] = field(default_factory=dict)
    log_dir: Path | None = None
    # what add_node needs to start one more node of the running system
    system: SystemSpec | None = None
    run_dir: Path | None = None
    bugs: tuple[str, ...] = ()
    seed: int = 0
    subnet: str = ""
    initial: dict[str, tuple[str, int]] = field(default_factory=dict)  # the nodes up() started
    retired: set[str] = field(default_factory=set)


class DockerBackend(NetFaults):
    """Backend protocol over the docker SDK (see module docstring)."""

    name = "docker"
    _st: _State

    def __init__(
        self,
        run_id: str,
        image: str | None = None,
        ready_timeout_s: float = 30.0,
        faketime: bool = True,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.run_id = _safe_name(run_id)
        self.image = image
        self.ready_timeout_s = ready_timeout_s
        self.faketime = faketime
        self.progress = progress or (lambda msg: print(f"faultbox: {msg}", file=sys.stderr))
        self.fast_path = nsenter_available()
        self._client: Any = None
        self._st = _State()
        self._netem: bool | None = None
        self._atexit = False
        self._crash_lock = threading.Lock()
        self._pending_crashes: list[dict[str, Any]] = []

    # -- introspection ----------------------------------------------------------
    def capabilities(self) -> frozenset[str]:
        caps = {"kill", "pause", "partition", "packet"}
        if self.faketime:
            caps.add("clock")
        if self._st.system is None or self._st.system.membership is not None:
            caps.add("membership")  # before up(): the runner checks the system itself
        return frozenset(caps)

    @property
    def network_name(self) -> str:
        return f"fb-{self.run_id}"

    def container_name(self, node: str) -> str:
        return f"fb-{self.run_id}-{node}"

    def ip(self, node: str) -> str:
        return self._node(node).ip

    def pid(self, node: str) -> int:
        """Host pid of the node's main process (0 when it is not running)."""
        n = self._node(node)
        n.container.reload()
        pid = int(n.container.attrs["State"]["Pid"] or 0)
        n.pid = pid
        return pid

    def partition_mechanism(self) -> str:
        how = "nsenter" if self.fast_path else "docker exec"
        return f"iptables INPUT DROP by source inside each receiving container ({how})"

    def cluster(self) -> Mapping[str, Addr]:
        return {name: (n.ip, PORT) for name, n in self._st.nodes.items()}

    def _node(self, node: str) -> _Node:
        try:
            return self._st.nodes[node]
        except KeyError:
            raise BackendError(f"unknown node {node!r} (cluster is not up?)") from None

    def _docker_client(self) -> Any:
        if self._client is None:
            self._client = _client()
        return self._client

    # -- lifecycle ---------------------------------------------------------------
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
        client = self._docker_client()
        if self.image is None:
            from harness.image import ImageError, ensure_image

            try:
                self.image = ensure_image(progress=self.progress)
            except ImageError as e:
                raise BackendError(str(e)) from e
        if not self._atexit:
            atexit.register(self.down)
            self._atexit = True
        self._st.log_dir = run_dir / "nodes"
        subnet_base = self._create_network(client)
        ips = {n: f"{subnet_base}.{10 + i}" for i, n in enumerate(nodes, start=1)}
        peers = {n: (ip, PORT) for n, ip in ips.items()}
        st = self._st
        st.system, st.run_dir, st.bugs, st.seed = system, run_dir, bugs, seed
        st.subnet, st.initial = subnet_base, dict(peers)
        try:
            for i, node in enumerate(nodes):
                argv = server_argv(
                    system, node, ("0.0.0.0", PORT), peers, "/data", bugs, seed * 1000 + i
                )
                self._create_node(client, node, ips[node], argv, run_dir)
            self._each(nodes, self.start)
            self.wait_ready(nodes)
        except BaseException:
            self.down()
            raise

    def _create_network(self, client: Any) -> str:
        docker = _docker()
        start = sum(self.run_id.encode()) * 7919
        for k in range(250):
            third = (start + k) % 250 + 1
            subnet = f"{_SUBNET_PREFIX}.{third}"
            ipam = docker.types.IPAMConfig(
                pool_configs=[docker.types.IPAMPool(subnet=f"{subnet}.0/24", gateway=f"{subnet}.1")]
            )
            try:
                net = client.networks.create(
                    self.network_name,
                    driver="bridge",
                    ipam=ipam,
                    labels={LABEL: "1", f"{LABEL}.run": self.run_id, f"{LABEL}.owner": owner_token()},
                    check_duplicate=True,
                )
            except docker.errors.APIError as e:
                msg = str(e).lower()
                if "overlap" in msg or "in use" in msg:
                    continue
                raise BackendError(f"cannot create network {self.network_name}: {e}") from e
            self._st.network = net
            self._st.gateway = f"{subnet}.1"
            return subnet
        raise BackendError(f"no free /24 left in {_SUBNET_PREFIX}.0.0/16 for the run's network")

    def _create_node(self, client: Any, node: str, ip: str, argv: list[str], run_dir: Path) -> None:
        docker = _docker()
        api = client.api
        data_dir = (run_dir / "data" / node).resolve()
        ctl_dir = (run_dir / "ctl" / node).resolve()
        data_dir.mkdir(parents=True, exist_ok=True)
        ctl_dir.mkdir(parents=True, exist_ok=True)
        write_file(ctl_dir / _FAKETIME_FILE, "+0\n")
        (ctl_dir / _GO_FILE).unlink(missing_ok=True)
        env = {"FAULTBOX_NODE": node}
        if self.faketime:
            env.update(
                LD_PRELOAD=_FAKETIME_LIB,
                FAKETIME_TIMESTAMP_FILE=f"{_CTL_MOUNT}/{_FAKETIME_FILE}",
                FAKETIME_NO_CACHE="1",
                FAKETIME_DONT_FAKE_MONOTONIC="1",
            )
        gate = (
            f"while [ ! -e {_CTL_MOUNT}/{_GO_FILE} ]; do sleep 0.005; done; "
            f"rm -f {_CTL_MOUNT}/{_GO_FILE}; exec \"$@\""
        )
        host_config = api.create_host_config(
            binds={
                str(data_dir): {"bind": "/data", "mode": "rw"},
                str(ctl_dir): {"bind": _CTL_MOUNT, "mode": "rw"},
            },
            cap_add=["NET_ADMIN"],
            network_mode=self.network_name,
        )
        net_config = api.create_networking_config(
            {self.network_name: api.create_endpoint_config(ipv4_address=ip, aliases=[node])}
        )
        try:
            created = api.create_container(
                self.image,
                command=["sh", "-c", gate, "gate", *argv],
                name=self.container_name(node),
                hostname=node,
                labels={
                    LABEL: "1",
                    f"{LABEL}.run": self.run_id,
                    f"{LABEL}.node": node,
                    f"{LABEL}.owner": owner_token(),
                },
                environment=env,
                working_dir="/data",
                host_config=host_config,
                networking_config=net_config,
            )
        except docker.errors.APIError as e:
            raise BackendError(f"cannot create container for {node}: {e.explanation or e}") from e
        container = client.containers.get(created["Id"])
        self._st.nodes[node] = _Node(node, ip, container, data_dir, ctl_dir)

    def wait_ready(self, nodes: list[str]) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        for node in nodes:
            n = self._node(node)
            while True:
                try:
                    st = wire.request(n.ip, PORT, {"op": "status"}, timeout_s=0.5, control=True)
                    if isinstance(st, dict) and st.get("ready"):
                        break
                except OSError:
                    pass
                n.container.reload()
                if n.container.status == "exited":
                    code = n.container.attrs["State"].get("ExitCode")
                    tail = n.container.logs(tail=1).decode(errors="replace").strip()
                    raise BackendError(f"node {node} exited with code {code} before ready: {tail}")
                if time.monotonic() > deadline:
                    raise BackendError(
                        f"node {node} did not become ready within {self.ready_timeout_s:.0f} s"
                    )
                time.sleep(0.05)

    def down(self) -> None:
        """Remove the run's containers and network; idempotent, never raises."""
        st = self._st
        with self._crash_lock:
            for n in st.nodes.values():
                n.stopped = True
                n.epoch += 1

        def remove(name: str) -> None:
            n = st.nodes[name]
            with contextlib.suppress(Exception):
                n.container.reload()
                if n.container.status == "paused":
                    n.container.unpause()
            with contextlib.suppress(Exception):
                st.logs[name] = n.container.logs(stdout=True, stderr=True)
            with contextlib.suppress(Exception):
                n.container.remove(force=True)

        with contextlib.suppress(Exception):
            self._each(list(st.nodes), remove)
        if st.log_dir is not None and st.logs:
            with contextlib.suppress(Exception):
                self.collect_logs(st.log_dir)
        if st.proxy is not None:
            with contextlib.suppress(Exception):
                st.proxy.stop()
            st.proxy = None
        if st.network is not None:
            with contextlib.suppress(Exception):
                st.network.remove()
        st.nodes.clear()
        st.grudge.clear()
        st.retired.clear()
        st.network = None
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
            self._client = None

    # -- membership (the optional capability, base.ChangesMembership) ------------------
    def add_node(self) -> dict[str, Any]:
        """One more container of the running system on the run's network (same image,
        labels and owner, so ``down`` and ``clean`` remove it), started with the
        system's join arguments; returns once it answers ``status``."""
        st = self._st
        if st.system is None or st.run_dir is None:
            raise BackendError("add_node before up()")
        if st.system.membership is None:
            raise BackendError(f"system {st.system.name} cannot change membership")
        name = next_node_name(set(st.nodes) | st.retired | set(st.initial))
        k = int(name[1:])
        if 10 + k > 250:
            raise BackendError(f"no address left on the run's network for {name}")
        ip = f"{st.subnet}.{10 + k}"
        peers = {**st.initial, name: (ip, PORT)}
        argv = server_argv(st.system, name, ("0.0.0.0", PORT), peers, "/data", st.bugs,
                           st.seed * 1000 + k - 1) + list(st.system.membership.join_args)
        self._create_node(self._docker_client(), name, ip, argv, st.run_dir)
        try:
            self.start(name)
            self.wait_ready([name])
        except BaseException:
            with contextlib.suppress(Exception):
                self.retire_node(name, graceful=False)
            raise
        return {"node": name, "addr": f"{ip}:{PORT}",
                "mechanism": f"new container {self.container_name(name)} at {ip}"}

    def retire_node(self, node: str, graceful: bool) -> dict[str, Any]:
        """Stop a node for good and remove its container (its log is kept)."""
        docker = _docker()
        n = self._node(node)
        with self._crash_lock:  # marked first: its exit is the harness's doing
            n.stopped = True
            n.epoch += 1
        try:
            n.container.reload()
            if n.container.status == "paused":
                n.container.unpause()
            if graceful:
                n.container.stop(timeout=5)
            else:
                n.container.kill(signal="SIGKILL")
            n.container.wait(timeout=10)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as e:
            if e.status_code != 409:  # 409: it was not running
                raise BackendError(f"cannot retire {node}: {e.explanation or e}") from e
        with contextlib.suppress(Exception):
            self._st.logs[node] = n.container.logs(stdout=True, stderr=True)
        with contextlib.suppress(Exception):
            n.container.remove(force=True)
        self._st.nodes.pop(node, None)
        self._st.retired.add(node)
        self._st.grudge.pop(node, None)
        how = "SIGTERM (docker stop)" if graceful else "SIGKILL"
        return {"node": node, "mechanism": f"{how}, container removed"}

    # -- node control ---------------------------------------------------------------
    def start(self, node: str) -> None:
        n = self._node(node)
        n.container.reload()
        if n.container.status == "paused":
            n.container.unpause()
        if n.container.status == "running":
            return
        if n.container.status in ("exited", "dead"):
            self._note_crash(n, n.epoch)  # a restart must not hide a crash no poll saw yet
        (n.ctl_dir / _GO_FILE).unlink(missing_ok=True)
        n.container.start()
        with self._crash_lock:
            n.stopped = n.reported = False
            n.epoch += 1
        pid = self.pid(node)
        if pid == 0:
            raise BackendError(f"node {node} did not start")
        self._net(node).setup()
        self._apply_partition(node)
        if n.shape != (0.0, 0.0, 0.0) or self._st.proxy is not None:
            self._apply_shape(node)
        offset_s, rate, set_at = n.clock
        if rate != 1.0:  # the new process restarts libfaketime's rate origin
            drift_s = (rate - 1.0) * (time.monotonic() - set_at)
            self.clock(node, offset_s + drift_s, rate)
        try:
            write_file(n.ctl_dir / _GO_FILE, b"")
        except OSError as e:
            raise BackendError(f"cannot release the start gate of {node}: {e}") from e

    def kill(self, node: str) -> None:
        docker = _docker()
        n = self._node(node)
        n.container.reload()
        if n.container.status == "paused":
            n.container.unpause()
        if n.container.status != "running":
            return  # already dead on its own: that exit stays a crash
        with self._crash_lock:  # marked before the signal: a poll never sees it unmarked
            n.stopped = True
            n.epoch += 1
        try:
            n.container.kill(signal="SIGKILL")
            n.container.wait(timeout=10)
        except docker.errors.APIError as e:
            raise BackendError(f"cannot kill {node}: {e.explanation or e}") from e
        n.pid = 0

    def crashes(self) -> list[dict[str, Any]]:
        """Containers that exited without kill()/down() (see Backend.crashes).

        One ``reload`` (State) per unmarked node; the log tail is fetched only
        for a crash. A node that vanished (removed under us) is skipped.
        """
        for n in list(self._st.nodes.values()):
            with self._crash_lock:
                if n.stopped or n.reported:
                    continue
                epoch = n.epoch
            try:
                n.container.reload()
                if n.container.status not in ("exited", "dead"):
                    continue
            except Exception:  # noqa: BLE001 - gone or engine hiccup: next poll
                continue
            self._note_crash(n, epoch)
        with self._crash_lock:
            out, self._pending_crashes = self._pending_crashes, []
        return out

    def _note_crash(self, n: _Node, epoch: int) -> None:
        """Queue a crash record for ``n`` (just seen exited) unless kill/start/down intervened."""
        with self._crash_lock:
            if n.stopped or n.reported or n.epoch != epoch:
                return
            n.reported = True
        code = n.container.attrs.get("State", {}).get("ExitCode")
        try:
            raw = n.container.logs(stdout=True, stderr=True, tail=CRASH_LOG_LINES)
            lines = [x for x in raw.decode(errors="replace").splitlines() if x.strip()]
        except Exception:  # noqa: BLE001 - the record still names the node and code
            lines = []
        with self._crash_lock:
            self._pending_crashes.append({
                "node": n.name,
                "exit_code": int(code) if isinstance(code, int) else None,
                "log": lines[-CRASH_LOG_LINES:],
            })

    def pause(self, node: str) -> None:
        n = self._node(node)
        n.container.reload()
        if n.container.status == "running":
            n.container.pause()

    def resume(self, node: str) -> None:
        n = self._node(node)
        n.container.reload()
        if n.container.status == "paused":
            n.container.unpause()

    def exec(
        self, node: str, argv: list[str], env: Mapping[str, str] | None = None
    ) -> tuple[int, str]:
        """Run ``argv`` in the node's container (docker exec); (exit code, output)."""
        res = self._node(node).container.exec_run(argv, environment=dict(env or {}))
        return int(res.exit_code or 0), res.output.decode(errors="replace")

    # -- network faults -------------------------------------------------------------
    def _runner(self, node: str) -> Runner:
        n = self._node(node)
        if self.fast_path:
            pid = n.pid or self.pid(node)
            if pid == 0:
                raise BackendError(f"node {node} is not running")
            return nsenter_runner(pid)

        def run(argv: list[str], stdin: str | None) -> tuple[int, str]:
            res = n.container.exec_run(_shell_with_stdin(argv, stdin))
            return int(res.exit_code or 0), res.output.decode(errors="replace")

        return run

    def _net(self, node: str) -> NetExec:
        return NetExec(node, self._runner(node))

    def _running(self, node: str) -> bool:
        n = self._node(node)
        return n.pid != 0

    def clock(self, node: str, offset_s: float, rate: float = 1.0) -> None:
        """Set the node's wall clock to real + ``offset_s``, advancing at ``rate`` from now."""
        if rate <= 0:
            raise BackendError(f"clock rate must be positive, not {rate}")
        if not self.faketime:
            raise BackendError("this backend was started without libfaketime")
        n = self._node(node)
        age_s = process_age_s(n.pid) if n.pid else 0.0
        spec = faketime_spec(offset_s, rate, age_s)
        try:
            write_file(n.ctl_dir / _FAKETIME_FILE, spec + "\n")
        except OSError as e:
            raise BackendError(f"cannot set the clock of {node}: {e}") from e
        n.clock = (float(offset_s), float(rate), time.monotonic())

    # -- logs -----------------------------------------------------------------------
    def _iter_logs(self) -> Iterator[tuple[str, bytes]]:
        for name, n in self._st.nodes.items():
            try:
                yield name, n.container.logs(stdout=True, stderr=True)
            except Exception:
                if name in self._st.logs:
                    yield name, self._st.logs[name]
        for name, data in self._st.logs.items():
            if name not in self._st.nodes:
                yield name, data

    def collect_logs(self, dest: Path) -> None:
        """Write each node's server output to ``dest/<node>/server.log`` (also after down)."""
        for name, data in self._iter_logs():
            d = dest / name
            d.mkdir(parents=True, exist_ok=True)
            write_file(d / "server.log", data)
