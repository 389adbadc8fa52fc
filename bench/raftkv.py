"""raftkv throughput and latency on local 127.0.0.1 clusters (prints a table).

    python3 bench/raftkv.py [--sizes 3,5] [--concurrency 1,10,50] [--seconds 3]

For each cluster size, a fresh cluster of server subprocesses (empty data
dirs, fsync on) is started; for each concurrency level, that many client
tasks (each its own ``KVClient``, as the harness would open them) run puts on
distinct keys, then gets, for ``--seconds`` each. Puts go to the leader (after
one redirect); gets are spread over all nodes (followers serve them through
ReadIndex). The client and every node share this machine's cores, so the
numbers are a floor, not a capacity claim.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from systems.raftkv import make_kv_client  # noqa: E402
from tests.raftkv.cluster import LocalCluster  # noqa: E402


async def _worker(cl: LocalCluster, wid: int, op: str, until: float, lat: list, errs: list) -> None:
    home = cl.names[wid % len(cl.names)]
    client = make_kv_client(cl.addrs, home, 5.0)
    i = 0
    try:
        while time.monotonic() < until:
            i += 1
            key = f"k{wid}-{i % 100}"
            t0 = time.perf_counter()
            if op == "put":
                typ, _, _ = await client.invoke("write", [key, i])
            else:
                typ, _, _ = await client.invoke("read", [key, None])
            dt = time.perf_counter() - t0
            if typ == "ok":
                lat.append(dt)
            else:
                errs.append(typ)
    finally:
        await client.close()


async def _measure(cl: LocalCluster, op: str, conc: int, seconds: float) -> dict:
    lat: list[float] = []
    errs: list[str] = []
    start = time.monotonic()
    until = start + seconds
    await asyncio.gather(*(_worker(cl, w, op, until, lat, errs) for w in range(conc)))
    elapsed = time.monotonic() - start
    lat.sort()

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else float("nan")

    return {
        "ops_s": len(lat) / elapsed,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "mean_ms": statistics.fmean(lat) * 1000 if lat else float("nan"),
        "errors": len(errs),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="3,5")
    ap.add_argument("--concurrency", default="1,10,50")
    ap.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    concs = [int(x) for x in args.concurrency.split(",")]
    rows = []
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="raftkv-bench-") as tmp, LocalCluster(
            size, Path(tmp)
        ) as cl:
            cl.up()
            for conc in concs:
                for op in ("put", "get"):
                    r = asyncio.run(_measure(cl, op, conc, args.seconds))
                    rows.append((size, conc, op, r))
                    print(
                        f"  nodes={size} conc={conc} {op}: {r['ops_s']:.0f} ops/s",
                        file=sys.stderr,
                    )
    head = f"{'nodes':>5} {'conc':>5} {'op':>4} {'ops/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}"
    print(head)
    print("-" * len(head))
    for size, conc, op, r in rows:
        print(
            f"{size:>5} {conc:>5} {op:>4} {r['ops_s']:>8.0f} {r['p50_ms']:>8.2f} "
            f"{r['p99_ms']:>8.2f} {r['errors']:>7}"
        )


if __name__ == "__main__":
    main()
