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

import shlex
import shutil
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass

__all__ = [
    "NetExec",
    "NetError",
    "PART_CHAIN",
    "SHAPE_CHAIN",
    "DUP_CHAIN",
    "Runner",
    "nsenter_runner",
    "nsenter_available",
    "setup_script",
    "partition_script",
    "shape_script",
    "netem_args",
]

PART_CHAIN = "FB-PART"
SHAPE_CHAIN = "FB-SHAPE"
DUP_CHAIN = "FB-DUP"

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
        f"-I INPUT 1 -j {PART_CHAIN}\n"
        f"-I OUTPUT 1 -j {SHAPE_CHAIN}\n"
        "COMMIT\n"
        "*mangle\n"
        f":{DUP_CHAIN} - [0:0]\n"
        f"-I POSTROUTING 1 -j {DUP_CHAIN}\n"
        "COMMIT\n"
    )


def partition_script(drop_from: Iterable[str]) -> str:
    """Replace the node's grudge: drop every packet whose source is in ``drop_from``.

    ``iptables-restore --noflush`` flushes a chain it declares, so applying
    the script replaces the previous grudge atomically; an empty set heals.
    """
    lines = ["*filter", f":{PART_CHAIN} - [0:0]"]
    lines += [f"-A {PART_CHAIN} -s {ip} -j DROP" for ip in sorted(set(drop_from))]
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def shape_script(peers: Iterable[str], loss: float = 0.0, dup: float = 0.0) -> str:
    """Replace the node's packet shaping towards ``peers`` (loss and duplication)."""
    ips = sorted(set(peers))
    lines = ["*filter", f":{SHAPE_CHAIN} - [0:0]"]
    if loss > 0:
        lines += [
            f"-A {SHAPE_CHAIN} -d {ip} -m statistic --mode random "
            f"--probability {_prob(loss)} -j DROP"
            for ip in ips
        ]
    lines += ["COMMIT", "*mangle", f":{DUP_CHAIN} - [0:0]"]
    if dup > 0:
        lines += [
            f"-A {DUP_CHAIN} -d {ip} -m statistic --mode random "
            f"--probability {_prob(dup)} -j TEE --gateway {ip}"
            for ip in ips
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


def nsenter_available() -> bool:
    import os

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

    def set_partition(self, drop_from: Iterable[str]) -> None:
        self._check(["iptables-restore", "--noflush"], partition_script(drop_from))

    def set_shape(self, peers: Iterable[str], loss: float, dup: float) -> None:
        self._check(["iptables-restore", "--noflush"], shape_script(peers, loss, dup))

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

    def rules(self) -> str:
        return self._check(["iptables-save"])
