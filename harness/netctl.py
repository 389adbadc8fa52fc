"""Network faults inside a node's network namespace: iptables and tc (DESIGN §5).

Rules live in chains of our own so that healing is a flush, never a guess:

* ``FB-PART`` (filter, jumped to first from INPUT): ``-s <peer> -j DROP`` per
  peer the node holds a grudge against. Dropping by source inside the
  *receiving* node leaves the harness's client traffic (from the bridge
  gateway) alone.
* ``FB-SHAPE`` (filter, from OUTPUT): random loss towards peers with the
  ``statistic`` match.
* ``FB-DUP`` (mangle, from POSTROUTING): duplication towards peers with
  ``TEE --gateway <peer>`` (a clone routed to the same peer).

Rule texts are built by pure functions; :class:`NetExec` runs them either
with the host's tools through ``nsenter -t <pid> -n`` (root on the host,
~3 ms a call) or with ``docker exec`` in the container (~70-100 ms).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import shlex
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from systems.common.wire import CONTROL_PORTS

__all__ = [
    "CLIENTS",
    "NetExec",
    "NetError",
    "PART_CHAIN",
    "PART_OUT_CHAIN",
    "SHAPE_CHAIN",
    "DUP_CHAIN",
    "DNAT_CHAIN",
    "Runner",
    "nsenter_runner",
    "nsenter_available",
    "setup_script",
    "teardown_script",
    "partition_script",
    "shape_script",
    "netem_args",
    "DelayProxy",
    "process_age_s",
    "process_token",
    "owner_token",
    "owner_alive",
]

# A grudge may name this pseudo-node among the senders a node drops: the node then
# drops the harness's client traffic (not the control plane's, see partition_script).
CLIENTS = "clients"

PART_CHAIN = "FB-PART"
PART_OUT_CHAIN = "FB-PARTOUT"
SHAPE_CHAIN = "FB-SHAPE"
DUP_CHAIN = "FB-DUP"
DNAT_CHAIN = "FB-DNAT"

# (argv, stdin text) -> (exit code, combined output)
Runner = Callable[[list[str], str | None], tuple[int, str]]


class NetError(RuntimeError):
    """A network rule could not be applied; the message is one line."""


def _prob(p: float) -> str:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"probability {p} not in [0, 1]")
    return f"{p:.6f}"


def setup_script() -> str:
    """Create our chains and jump to them once (run on a fresh namespace)."""
    return (
        "*filter\n"
        f":{PART_CHAIN} - [0:0]\n"
        f":{SHAPE_CHAIN} - [0:0]\n"
        f":{PART_OUT_CHAIN} - [0:0]\n"
        f"-I INPUT 1 -j {PART_CHAIN}\n"
        f"-I OUTPUT 1 -j {SHAPE_CHAIN}\n"
        f"-I OUTPUT 1 -j {PART_OUT_CHAIN}\n"
        "COMMIT\n"
        "*mangle\n"
        f":{DUP_CHAIN} - [0:0]\n"
        f"-I POSTROUTING 1 -j {DUP_CHAIN}\n"
        "COMMIT\n"
        "*nat\n"
        f":{DNAT_CHAIN} - [0:0]\n"
        f"-I OUTPUT 1 -j {DNAT_CHAIN}\n"
        "COMMIT\n"
    )


# (table, hook chain, our chain) for every jump setup_script() inserts.
_JUMPS = (
    ("filter", "INPUT", PART_CHAIN),
    ("filter", "OUTPUT", SHAPE_CHAIN),
    ("filter", "OUTPUT", PART_OUT_CHAIN),
    ("mangle", "POSTROUTING", DUP_CHAIN),
    ("nat", "OUTPUT", DNAT_CHAIN),
)


def teardown_script() -> str:
    """Shell text removing exactly what setup_script() made: our jumps, then our chains.

    For hosts that outlive the run (the SSH backend); a container's namespace
    goes away with it. Safe to run when nothing is there.
    """
    lines = []
    for table, hook, chain in _JUMPS:
        lines.append(f"while iptables -w -t {table} -D {hook} -j {chain} 2>/dev/null; do :; done")
    for table, _hook, chain in _JUMPS:
        lines.append(f"iptables -w -t {table} -F {chain} 2>/dev/null; "
                     f"iptables -w -t {table} -X {chain} 2>/dev/null")
    lines.append("! iptables-save 2>/dev/null | grep -q -- '-j FB-\\|^:FB-'")
    return "\n".join(lines) + "\n"


def partition_script(
    drop_from: Iterable[str],
    relay_ip: str | None = None,
    relay_in_ports: Iterable[int] = (),
    relay_out_ports: Iterable[int] = (),
    clients_ip: str | None = None,
    control_ports: tuple[int, int] = CONTROL_PORTS,
    keep_dports: Iterable[int] = (),
) -> str:
    """Replace the node's grudge: drop every packet whose source is in ``drop_from``.

    ``clients_ip`` (the bridge gateway, where the harness's clients connect from)
    cuts the clients off this node too, except TCP from ``control_ports`` (the
    nemesis's status probes, :data:`systems.common.wire.CONTROL_PORTS`) and TCP
    to ``keep_dports`` (the SSH backend's own sshd: the harness drives the host
    over it).

    ``iptables-restore --noflush`` flushes a chain it declares, so applying
    the script replaces the previous grudge atomically; an empty set heals.
    While a delaying relay stands between nodes, relayed packets are cut by
    port instead: replies arriving from the relay ports in ``relay_in_ports``
    and sends to the relay ports in ``relay_out_ports`` are dropped.
    """
    lines = ["*filter", f":{PART_CHAIN} - [0:0]", f":{PART_OUT_CHAIN} - [0:0]"]
    lines += [f"-A {PART_CHAIN} -s {ip} -j DROP" for ip in sorted(set(drop_from))]
    if relay_ip:
        lines += [
            f"-A {PART_CHAIN} -s {relay_ip} -p tcp --sport {p} -j DROP"
            for p in sorted(set(relay_in_ports))
        ]
        lines += [
            f"-A {PART_OUT_CHAIN} -d {relay_ip} -p tcp --dport {p} -j DROP"
            for p in sorted(set(relay_out_ports))
        ]
    if clients_ip:
        lo, hi = control_ports
        lines += [
            f"-A {PART_CHAIN} -s {clients_ip} -p tcp --dport {p} -j RETURN"
            for p in sorted(set(keep_dports))
        ]
        lines += [
            f"-A {PART_CHAIN} -s {clients_ip} -p tcp --sport {lo}:{hi} -j RETURN",
            # Reset rather than drop: cut-off clients learn at once and try another node.
            f"-A {PART_CHAIN} -s {clients_ip} -p tcp -j REJECT --reject-with tcp-reset",
            f"-A {PART_CHAIN} -s {clients_ip} -j DROP",
        ]
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def shape_script(
    peers: Iterable[str],
    loss: float = 0.0,
    dup: float = 0.0,
    proxied: Mapping[str, tuple[str, int]] | None = None,
    port: int = 7000,
) -> str:
    """Replace the node's packet shaping towards ``peers`` (loss, duplication, relaying).

    ``proxied`` maps a peer's IP to the relay address that stands for it: new
    TCP connections to ``peer:port`` are DNAT-ed there, and packets of direct
    connections still open to or from that peer are answered with a reset so
    both ends reconnect through the relay. Loss and duplication apply to the
    relayed destinations too.
    """
    relays = dict(proxied or {})
    dests = [f"-d {ip}" for ip in sorted(set(peers))]
    dests += [f"-d {h} -p tcp --dport {p}" for h, p in sorted(relays.values())]
    lines = ["*filter", f":{SHAPE_CHAIN} - [0:0]"]
    for ip in sorted(relays):
        lines += [
            f"-A {SHAPE_CHAIN} -d {ip} -p tcp --dport {port} -j REJECT --reject-with tcp-reset",
            f"-A {SHAPE_CHAIN} -d {ip} -p tcp --sport {port} -j REJECT --reject-with tcp-reset",
        ]
    if loss > 0:
        lines += [
            f"-A {SHAPE_CHAIN} {d} -m statistic --mode random "
            f"--probability {_prob(loss)} -j DROP"
            for d in dests
        ]
    lines += ["COMMIT", "*mangle", f":{DUP_CHAIN} - [0:0]"]
    if dup > 0:
        lines += [
            f"-A {DUP_CHAIN} {d} -m statistic --mode random "
            f"--probability {_prob(dup)} -j TEE --gateway {d.split()[1]}"
            for d in dests
        ]
    lines += ["COMMIT", "*nat", f":{DNAT_CHAIN} - [0:0]"]
    lines += [
        f"-A {DNAT_CHAIN} -d {ip} -p tcp --dport {port} -j DNAT --to-destination {h}:{p}"
        for ip, (h, p) in sorted(relays.items())
    ]
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def netem_args(dev: str, delay_ms: float, loss: float, dup: float) -> list[str]:
    """``tc`` argv replacing the root qdisc with netem (only where the kernel has it)."""
    argv = ["tc", "qdisc", "replace", "dev", dev, "root", "netem"]
    if delay_ms > 0:
        argv += ["delay", f"{delay_ms:g}ms"]
    if loss > 0:
        argv += ["loss", f"{loss * 100:g}%"]
    if dup > 0:
        argv += ["duplicate", f"{dup * 100:g}%"]
    return argv


def _proc_start_ticks(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def process_token(pid: int) -> str:
    """``<pid>:<start ticks>`` — stays the same only while that very process lives."""
    return f"{pid}:{_proc_start_ticks(pid) or '?'}"


def owner_token(pid: int | None = None) -> str:
    """``<pid>:<start ticks>``: names the harness process that owns a run's nodes."""
    return process_token(os.getpid() if pid is None else pid)


def owner_alive(token: str | None) -> bool:
    """Whether the harness process named by an :func:`owner_token` still runs."""
    pid, _, ticks = (token or "").partition(":")
    return pid.isdigit() and ticks.isdigit() and process_token(int(pid)) == token


def process_age_s(pid: int) -> float:
    """Seconds since ``pid`` started (host view, 10 ms resolution), 0 if unknown."""
    ticks = _proc_start_ticks(pid)
    try:
        uptime_s = float(Path("/proc/uptime").read_text().split()[0])
        return max(0.0, uptime_s - int(ticks or 0) / os.sysconf("SC_CLK_TCK")) if ticks else 0.0
    except (OSError, ValueError):
        return 0.0


def nsenter_available() -> bool:
    return os.geteuid() == 0 and shutil.which("nsenter") is not None and bool(
        shutil.which("iptables-restore")
    )


def nsenter_runner(pid: int, timeout_s: float = 10.0) -> Runner:
    """Run the host's tools inside the network namespace of ``pid``."""

    def run(argv: list[str], stdin: str | None) -> tuple[int, str]:
        proc = subprocess.run(
            ["nsenter", "-t", str(pid), "-n", *argv],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
        return proc.returncode, (proc.stdout + proc.stderr).strip()

    return run


def shell_with_stdin(argv: list[str], stdin: str | None) -> list[str]:
    """One ``sh -c`` argv feeding ``stdin`` to ``argv`` (for ``docker exec``)."""
    cmd = shlex.join(argv)
    if stdin is not None:
        cmd = f"printf '%s' {shlex.quote(stdin)} | {cmd}"
    return ["sh", "-c", cmd]


@dataclass(frozen=True, slots=True)
class NetExec:
    """Network control of one node namespace through a :data:`Runner`."""

    node: str
    run: Runner

    def _check(self, argv: list[str], stdin: str | None = None) -> str:
        rc, out = self.run(argv, stdin)
        if rc != 0:
            raise NetError(f"{self.node}: {' '.join(argv[:2])} failed (exit {rc}): {out[-300:]}")
        return out

    def setup(self) -> None:
        self._check(["iptables-restore", "--noflush"], setup_script())

    def set_partition(
        self,
        drop_from: Iterable[str],
        relay_ip: str | None = None,
        relay_in_ports: Iterable[int] = (),
        relay_out_ports: Iterable[int] = (),
        clients_ip: str | None = None,
        keep_dports: Iterable[int] = (),
    ) -> None:
        script = partition_script(drop_from, relay_ip, relay_in_ports, relay_out_ports, clients_ip,
                                  keep_dports=keep_dports)
        self._check(["iptables-restore", "--noflush"], script)

    def set_shape(
        self,
        peers: Iterable[str],
        loss: float,
        dup: float,
        proxied: Mapping[str, tuple[str, int]] | None = None,
        port: int = 7000,
    ) -> None:
        script = shape_script(peers, loss, dup, proxied, port)
        self._check(["iptables-restore", "--noflush"], script)

    def has_netem(self, dev: str = "eth0") -> bool:
        """Probe: can this kernel attach a netem qdisc? Leaves no qdisc behind."""
        rc, _ = self.run(netem_args(dev, 1, 0, 0), None)
        if rc == 0:
            self.run(["tc", "qdisc", "del", "dev", dev, "root"], None)
        return rc == 0

    def set_netem(self, dev: str, delay_ms: float, loss: float, dup: float) -> None:
        if delay_ms <= 0 and loss <= 0 and dup <= 0:
            self.run(["tc", "qdisc", "del", "dev", dev, "root"], None)
            return
        self._check(netem_args(dev, delay_ms, loss, dup))


class DelayProxy:
    """A host-side TCP relay that delays what chosen nodes send (netem's stand-in).

    One listener per ordered pair (src, dst) on ``bind_ip``; nodes reach it
    through the DNAT rules of :func:`shape_script`. Bytes read from a sender
    are written on ``delay_s[sender]`` later, in order. The relay honours
    grudges itself (its traffic arrives at the receiver from the host, which
    the receiver's INPUT rules do not drop): a connection between nodes that
    a grudge separates is reset, and new ones are held without an upstream
    until the grudge changes.
    """

    def __init__(self, bind_ip: str, upstream: Mapping[str, tuple[str, int]]) -> None:
        self.bind_ip = bind_ip
        self.upstream = dict(upstream)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="faultbox-delay-proxy")
        self._delay_s: dict[str, float] = {}
        self._cut: frozenset[tuple[str, str]] = frozenset()
        self._ports: dict[tuple[str, str], int] = {}
        self._servers: list[Any] = []
        self._relays: dict[Any, tuple[str, str]] = {}  # transport -> (src, dst)
        self._held: dict[Any, tuple[str, str]] = {}

    def start(self) -> None:
        self._thread.start()

        async def listen() -> None:
            for src in self.upstream:
                for dst in self.upstream:
                    if src != dst:
                        srv = await asyncio.start_server(
                            functools.partial(self._handle, src, dst), self.bind_ip, 0
                        )
                        self._servers.append(srv)
                        self._ports[(src, dst)] = srv.sockets[0].getsockname()[1]

        asyncio.run_coroutine_threadsafe(listen(), self._loop).result(timeout=10)

    def address(self, src: str, dst: str) -> tuple[str, int]:
        """Where ``src`` must connect to reach ``dst`` through the relay."""
        return self.bind_ip, self._ports[(src, dst)]

    def _call(self, fn: Callable[[], None]) -> None:
        async def run() -> None:
            fn()

        asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=10)

    def set_delays(self, delay_s: Mapping[str, float]) -> None:
        """Per-sender delay in seconds; nodes not named send at once."""
        new = {n: d for n, d in delay_s.items() if d > 0}

        def apply() -> None:
            self._delay_s = new

        self._call(apply)

    def set_grudge(self, grudge: Mapping[str, Iterable[str]]) -> None:
        """Apply a grudge (receiver -> senders it drops) to relayed connections."""
        cut = {(s, r) for r, senders in grudge.items() for s in senders}
        cut |= {(r, s) for s, r in cut}  # TCP needs both ways

        def apply() -> None:
            self._cut = frozenset(cut)
            for t in list(self._held):
                t.abort()
            for t, pair in list(self._relays.items()):
                if pair in self._cut:
                    t.abort()

        self._call(apply)

    def reset(self, nodes: Iterable[str]) -> None:
        """Reset relayed connections touching ``nodes`` (they reconnect directly)."""
        ns = set(nodes)

        def apply() -> None:
            for t, (s, d) in list(self._relays.items()):
                if s in ns or d in ns:
                    t.abort()

        self._call(apply)

    async def _handle(self, src: str, dst: str, reader: Any, writer: Any) -> None:
        if (src, dst) in self._cut:
            self._held[writer.transport] = (src, dst)
            try:
                while await reader.read(65536):
                    pass
            except OSError:
                pass
            finally:
                self._held.pop(writer.transport, None)
                writer.transport.abort()
            return
        try:
            up_r, up_w = await asyncio.wait_for(asyncio.open_connection(*self.upstream[dst]), 5)
        except (TimeoutError, OSError):
            writer.transport.abort()
            return
        self._relays[writer.transport] = (src, dst)
        self._relays[up_w.transport] = (src, dst)
        try:
            await asyncio.gather(self._pump(reader, up_w, src), self._pump(up_r, writer, dst))
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            for w in (writer, up_w):
                self._relays.pop(w.transport, None)
                w.transport.abort()

    async def _pump(self, reader: Any, writer: Any, sender: str) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                wait_s = due - loop.time()
                if wait_s > 0:
                    await asyncio.sleep(wait_s)
                if not data:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()

        task = asyncio.ensure_future(deliver())
        try:
            while True:
                data = await reader.read(65536)
                queue.put_nowait((loop.time() + self._delay_s.get(sender, 0.0), data))
                if not data:
                    break
            await task
        finally:
            task.cancel()

    def stop(self) -> None:
        """Close every listener and connection; stop the relay's thread. Never raises."""
        def close() -> None:
            for srv in self._servers:
                srv.close()
            for t in list(self._relays) + list(self._held):
                t.abort()

        with contextlib.suppress(Exception):
            if self._thread.is_alive():
                self._call(close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
