"""Docker backend timings: cluster up → ready for 3/5/7 nodes, and per-fault apply/heal latency.

    python bench/cluster_up.py [--system memkv|raftkv] [--repeat 3] [--fault-repeat 10]

Uses the warm node image (built first if missing; the build time is printed
but not part of the table). Prints markdown tables; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.backends.docker import DockerBackend
from harness.image import ensure_image
from systems import available_systems, get_system


def _stats(xs: list[float]) -> str:
    ms = sorted(x * 1000 for x in xs)
    return f"{statistics.median(ms):8.1f} | {ms[0]:8.1f} | {ms[-1]:8.1f}"


def bench_up(system: str, sizes: list[int], repeat: int, image: str) -> None:
    print(f"\n### cluster up → every node ready ({system}, warm image, {repeat} runs)\n")
    print("| nodes | up median ms | min ms | max ms | down median ms |")
    print("|---:|---:|---:|---:|---:|")
    spec = get_system(system)
    for n in sizes:
        ups, downs = [], []
        for r in range(repeat):
            b = DockerBackend(f"bench{n}x{r}", image=image)
            with tempfile.TemporaryDirectory() as tmp:
                t0 = time.monotonic()
                try:
                    b.up(spec, [f"n{i}" for i in range(1, n + 1)], Path(tmp), seed=r)
                    ups.append(time.monotonic() - t0)
                finally:
                    t1 = time.monotonic()
                    b.down()
                    downs.append(time.monotonic() - t1)
        med_down = statistics.median(downs) * 1000
        print(f"| {n} | {_stats(ups)} | {med_down:8.1f} |")


def _timed(fn: Callable[[], None]) -> float:
    t0 = time.monotonic()
    fn()
    return time.monotonic() - t0


def fault_rows(b: Any, repeat: int) -> dict[str, tuple[list[float], list[float]]]:
    """Apply/heal seconds of each fault on an up cluster of n1..n3 (any backend)."""
    rows: dict[str, tuple[list[float], list[float]]] = {}
    mech = b.packet_mechanism()

    def add(name: str, apply: Callable[[], None], heal: Callable[[], None]) -> None:
        a, h = rows.setdefault(name, ([], []))
        a.append(_timed(apply))
        h.append(_timed(heal))

    for _ in range(repeat):
        add("partition halves (3 nodes' rules)",
            lambda: b.partition({"n1": frozenset({"n2", "n3"}), "n2": frozenset({"n1"}),
                                 "n3": frozenset({"n1"})}),
            b.heal)
        add("partition one node's rules", lambda: b.partition({"n1": frozenset({"n2"})}), b.heal)
        add("kill / start + ready", lambda: b.kill("n2"),
            lambda: (b.start("n2"), b.wait_ready(["n2"])) and None)
        add("pause / resume", lambda: b.pause("n3"), lambda: b.resume("n3"))
        add("clock offset / reset (faketime file)", lambda: b.clock("n1", 30.0),
            lambda: b.clock("n1", 0.0))
        add("packet loss / clear (iptables statistic)", lambda: b.shape("n1", loss=0.5),
            lambda: b.shape("n1", 0, 0, 0))
        add("packet dup / clear (iptables TEE)", lambda: b.shape("n1", dup=0.5),
            lambda: b.shape("n1", 0, 0, 0))
        if "unsupported" not in mech["delay"]:
            add("packet delay / clear", lambda: b.shape("n1", delay_ms=50),
                lambda: b.shape("n1", 0, 0, 0))
    return rows


def bench_faults(system: str, repeat: int, image: str) -> None:
    spec = get_system(system)
    b = DockerBackend("benchfaults", image=image)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            b.up(spec, ["n1", "n2", "n3"], Path(tmp))
            mech = b.packet_mechanism()
            rows = fault_rows(b, repeat)
        finally:
            b.down()
    print(f"\n### fault apply / heal latency ({system}, 3 nodes, {repeat} each)\n")
    print("| fault | apply median ms | min | max | heal median ms | min | max |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, (a, h) in rows.items():
        print(f"| {name} | {_stats(a)} | {_stats(h)} |")
    print(f"\npartition: {b.partition_mechanism()}")
    print("packet: " + "; ".join(f"{k} = {v}" for k, v in mech.items()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--system", default=None, help="default: raftkv if present, else memkv")
    ap.add_argument("--sizes", default="3,5,7")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--fault-repeat", type=int, default=10)
    args = ap.parse_args()
    system = args.system or ("raftkv" if "raftkv" in available_systems() else "memkv")
    t0 = time.monotonic()
    image = ensure_image(progress=lambda m: print(f"[image] {m}"))
    print(f"[image] {image} ready in {time.monotonic() - t0:.2f}s")
    bench_up(system, [int(x) for x in args.sizes.split(",")], args.repeat, image)
    bench_faults(system, args.fault_repeat, image)


if __name__ == "__main__":
    main()
