"""SSH backend latency against Docker's: per command, and per fault apply/heal.

    python bench/ssh.py [--system memkv|raftkv] [--fault-repeat 10] [--cmd-repeat 50]
    python bench/ssh.py --hosts hosts.toml      # your own hosts instead of a lab

Without --hosts it starts an SSH lab of three sshd containers (`faultbox ssh-lab`),
so both backends run on this machine: the SSH figures then show the protocol's
cost, not a network's. Prints markdown tables; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.cluster_up import _stats, _timed, fault_rows  # noqa: E402
from harness.backends.docker import DockerBackend  # noqa: E402
from harness.backends.ssh import SshBackend  # noqa: E402
from harness.backends.ssh_hosts import SshSettings  # noqa: E402
from harness.image import ensure_image  # noqa: E402
from systems import get_system  # noqa: E402

NODES = ["n1", "n2", "n3"]


def bench_commands(b: SshBackend, repeat: int) -> None:
    h = b.host("n1")
    rows = {
        "resident shell: `true`": lambda: h.run("true"),
        "resident shell: `kill -0` (a signal)": lambda: h.run("kill -0 1"),
        "resident shell: iptables-restore (a partition)": lambda: b._net("n1").set_partition([]),
        "new channel: `true` (sshd session + login shell)": lambda: h.run_channel("true"),
        "SFTP: read a small file": lambda: h.read_tail("/etc/hostname", 64),
        "SFTP: replace a small file (clock)": lambda: b.clock("n1", 0.0),
    }
    print(f"\n### one command to a host over an open transport ({repeat} each)\n")
    print("| command | median ms | min ms | max ms |")
    print("|---|---:|---:|---:|")
    for name, fn in rows.items():
        print(f"| {name} | {_stats([_timed(fn) for _ in range(repeat)])} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--system", default="memkv")
    ap.add_argument("--hosts", type=Path, default=None, help="hosts.toml (default: a lab of 3)")
    ap.add_argument("--fault-repeat", type=int, default=10)
    ap.add_argument("--cmd-repeat", type=int, default=50)
    args = ap.parse_args()
    image = ensure_image(progress=lambda m: print(f"[image] {m}"))
    spec = get_system(args.system)
    results: dict[str, dict[str, tuple[list[float], list[float]]]] = {}
    lab = None
    with tempfile.TemporaryDirectory() as tmp:
        hosts = args.hosts
        if hosts is None:
            from harness.backends.ssh_lab import lab_up

            t0 = time.monotonic()
            from harness.netctl import owner_token

            lab = lab_up(len(NODES), Path(tmp) / "lab", image=image, owner=owner_token())
            hosts = lab.hosts_file
            print(f"[lab] {len(NODES)} sshd hosts up in {time.monotonic() - t0:.1f}s")
        try:
            s = SshBackend("benchssh", SshSettings(hosts), NODES, progress=lambda m: None)
            t0 = time.monotonic()
            s.connect()
            t_connect = time.monotonic() - t0
            try:
                t0 = time.monotonic()
                s.up(spec, NODES, Path(tmp) / "ssh")
                t_up = time.monotonic() - t0
                bench_commands(s, args.cmd_repeat)
                results["ssh"] = fault_rows(s, args.fault_repeat)
            finally:
                t0 = time.monotonic()
                s.down()
                t_down = time.monotonic() - t0
            d = DockerBackend("benchsshdocker", image=image)
            try:
                d.up(spec, NODES, Path(tmp) / "docker")
                results["docker"] = fault_rows(d, args.fault_repeat)
                docker_part = d.partition_mechanism()
            finally:
                d.down()
        finally:
            if lab is not None:
                from harness.backends.ssh_lab import lab_down

                lab_down(lab.dir, name=lab.name)
    print(f"\nssh: connect+check 3 hosts {t_connect * 1000:.0f} ms, up (upload, start, ready) "
          f"{t_up * 1000:.0f} ms, down (kill, logs, rules, folder) {t_down * 1000:.0f} ms")
    print(f"\n### fault apply / heal latency, SSH vs Docker ({args.system}, 3 nodes, "
          f"{args.fault_repeat} each, median ms)\n")
    print("| fault | ssh apply | docker apply | ssh heal | docker heal |")
    print("|---|---:|---:|---:|---:|")
    for name, (sa, sh) in results["ssh"].items():
        da, dh = results["docker"].get(name, ([float("nan")], [float("nan")]))
        med = [statistics.median(x) * 1000 for x in (sa, da, sh, dh)]
        print(f"| {name} | {med[0]:.1f} | {med[1]:.1f} | {med[2]:.1f} | {med[3]:.1f} |")
    print(f"\nssh partition: {s.partition_mechanism()}\ndocker partition: {docker_part}")
    print("ssh packet: " + "; ".join(f"{k} = {v}" for k, v in s.packet_mechanism().items()))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
