"""What the status monitor (harness/monitor.py, for the divergence checker) costs: raftkv
put and get throughput on a local 127.0.0.1 cluster with the monitor off and polling
at several rates (prints a table).

    python3 bench/monitor.py [--nodes 5] [--hz 0,5,10,20] [--concurrency 10] [--seconds 5] [--rounds 2]

One cluster of server subprocesses (fsync on) serves every row; the rates are
measured in turn, ``--rounds`` times over, so drift of a busy machine spreads
over all of them. ``status B/s`` is what the monitor wrote to its status.jsonl.
The client, the monitor and every node share this machine's cores: compare the
rows with each other, not with other machines.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.loadgen import print_table  # noqa: E402
from bench.raftkv import _run as _load  # noqa: E402
from harness.monitor import StatusMonitor  # noqa: E402
from tests.raftkv.cluster import LocalCluster  # noqa: E402


def _since(t0: int) -> Callable[[], int]:
    return lambda: time.monotonic_ns() - t0


def micro(n: int = 20000) -> None:
    """CPU cost inside a node: one applied entry's digest step, one status reply's rows."""
    from systems.raft.digest import Digests
    from systems.raft.types import Entry

    d = Digests()
    cmd = {"op": "put", "k": "key-17", "v": 123456, "c": "client-3", "s": 99}
    t0 = time.process_time()
    for i in range(1, n + 1):
        d.apply(Entry(3, i, cmd))
    per_apply = (time.process_time() - t0) / n
    t0 = time.process_time()
    for _ in range(n):
        d.rows()
    per_rows = (time.process_time() - t0) / n
    print(f"digest step per applied entry: {per_apply * 1e6:.1f} us CPU; "
          f"status rows per reply: {per_rows * 1e6:.1f} us CPU ({len(d.rows())} rows)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nodes", type=int, default=5)
    ap.add_argument("--hz", default="0,5,10,20")
    ap.add_argument("--concurrency", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--micro-only", action="store_true", help="only the in-node CPU costs")
    args = ap.parse_args()
    micro()
    if args.micro_only:
        return
    rates = [float(x) for x in args.hz.split(",")]
    results: dict[tuple[float, str], list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="monitor-bench-") as tmp, LocalCluster(
        args.nodes, Path(tmp)
    ) as cl:
        cl.up()
        cl.wait_leader()
        for rnd in range(args.rounds):
            for hz in rates:
                for op in ("put", "get"):
                    run_dir = Path(tmp) / f"run-{rnd}-{hz:g}-{op}"
                    run_dir.mkdir()
                    clock = _since(time.monotonic_ns())
                    mon = StatusMonitor(cl.addrs, run_dir, clock, hz) if hz > 0 else None
                    try:
                        r = _load(cl, op, args.concurrency, args.seconds)
                    finally:
                        if mon is not None:
                            mon.stop()
                    status = run_dir / "status.jsonl"
                    r["status_B_s"] = (status.stat().st_size / args.seconds
                                       if status.exists() else 0.0)
                    r["polls_s"] = (mon.rounds * args.nodes / args.seconds) if mon else 0.0
                    results.setdefault((hz, op), []).append(r)
                    print(f"  round {rnd} hz={hz:g} {op}: {r['ops_s']:.0f} ops/s",
                          file=sys.stderr)
    rows = []
    for (hz, op), rs in sorted(results.items()):
        best = max(rs, key=lambda r: r["ops_s"])
        best = {**best, "ops_s": sum(r["ops_s"] for r in rs) / len(rs)}
        rows.append((f"{hz:g}", op, best))
    print_table(["monitor hz", "op"], rows)
    for (hz, op), rs in sorted(results.items()):
        if hz > 0:
            print(f"hz={hz:g} {op}: {sum(r['polls_s'] for r in rs) / len(rs):.1f} status polls/s, "
                  f"{sum(r['status_B_s'] for r in rs) / len(rs):.0f} B/s of status rows")


if __name__ == "__main__":
    main()
