"""twopc throughput, abort rate and latency on local 127.0.0.1 clusters, and Elle's check time.

    python3 bench/twopc.py [--sizes 1,3,5] [--concurrency 10,50] [--seconds 5] [--keys 8]

For each cluster size a fresh cluster of server subprocesses (empty data
dirs, fsync on, no faults) is started; for each concurrency level that many
client tasks (each its own ``AppendClient``, homes spread over the nodes)
run the ``append`` workload's txns (1-4 micro-ops, half reads, half appends
of unique elements, over ``--keys`` keys fresh to the cell) back to back for
``--seconds``.
Size 1 is the same code on one node: every key is on the coordinator's own
shard, so no txn crosses the network (it still logs a prepare record and a
decision) - the comparison shows the cost of distribution.

Columns: committed txns/s; abort rate (``fail`` / all: wait-die refusals and
lock timeouts); p50/p99 latency of committed txns; ``info`` count; and the
time the Elle checker (strict-serializable) takes on the history the cell
recorded, with its verdict. The clients and every node share this machine's
cores, so the figures are a floor, not a capacity claim.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from checkers.elle import check_list_append  # noqa: E402
from harness.history import History, Op  # noqa: E402
from systems.twopc import make_append_client  # noqa: E402
from tests.twopc.cluster import TwoPCCluster  # noqa: E402


class Recorder:
    def __init__(self) -> None:
        self.t0 = time.monotonic_ns()
        self.ops: list[Op] = []
        self.next_elem = 0

    def add(self, process: int, typ: str, value: Any) -> None:
        self.ops.append(Op(len(self.ops), time.monotonic_ns() - self.t0, process, typ, "txn", value))


async def _worker(cl: TwoPCCluster, wid: int, keys: list[str], until: float, rec: Recorder,
                  lat: list[float], counts: dict[str, int]) -> None:
    rng = random.Random(wid)
    client = make_append_client(cl.addrs, cl.names[wid % len(cl.names)], 5.0)
    process = wid
    try:
        while time.monotonic() < until:
            mops: list[list[Any]] = []
            n = 1 if rng.random() < 0.1 else rng.randint(2, 4)
            for k in rng.sample(keys, min(len(keys), n)):
                if rng.random() < 0.5:
                    mops.append(["r", k, None])
                else:
                    mops.append(["append", k, rec.next_elem])
                    rec.next_elem += 1
            rec.add(process, "invoke", mops)
            t = time.perf_counter()
            typ, value, _ = await client.invoke("txn", mops)
            dt = time.perf_counter() - t
            rec.add(process, typ, value)
            counts[typ] += 1
            if typ == "ok":
                lat.append(dt)
            elif typ == "info":
                process += 1000
                await client.close()
                client = make_append_client(cl.addrs, cl.names[wid % len(cl.names)], 5.0)
    finally:
        await client.close()


async def _measure(cl: TwoPCCluster, conc: int, nkeys: int, seconds: float) -> dict[str, Any]:
    rec = Recorder()
    keys = [f"c{conc}k{i}" for i in range(nkeys)]  # fresh keys: each cell's history stands alone
    lat: list[float] = []
    counts = {"ok": 0, "fail": 0, "info": 0}
    start = time.monotonic()
    await asyncio.gather(*(_worker(cl, w, keys, start + seconds, rec, lat, counts)
                           for w in range(conc)))
    elapsed = time.monotonic() - start
    lat.sort()

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else float("nan")

    t = time.monotonic()
    res = check_list_append(History(rec.ops), ("strict-serializable",), time_budget_s=120)
    total = sum(counts.values())
    return {"txn_s": counts["ok"] / elapsed, "abort": counts["fail"] / total if total else 0.0,
            "p50": pct(0.5), "p99": pct(0.99), "info": counts["info"], "txns": total,
            "elle_s": time.monotonic() - t, "valid": res.valid}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1,3,5")
    ap.add_argument("--concurrency", default="10,50")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--keys", type=int, default=8)
    args = ap.parse_args()
    rows = []
    for size in (int(x) for x in args.sizes.split(",")):
        with tempfile.TemporaryDirectory(prefix="twopc-bench-") as tmp, TwoPCCluster(
            size, Path(tmp)
        ) as cl:
            cl.up()
            for conc in (int(x) for x in args.concurrency.split(",")):
                r = asyncio.run(_measure(cl, conc, args.keys, args.seconds))
                rows.append((size, conc, r))
                print(f"  nodes={size} conc={conc}: {r['txn_s']:.0f} txn/s", file=sys.stderr)
    head = (f"{'nodes':>5} {'conc':>5} {'txn/s':>7} {'abort':>6} {'p50 ms':>7} {'p99 ms':>7} "
            f"{'info':>5} {'txns':>6} {'elle s':>7} {'elle':>6}")
    print(f"keys={args.keys}, {args.seconds:g} s per cell, fsync on, no faults")
    print(head)
    print("-" * len(head))
    for size, conc, r in rows:
        print(f"{size:>5} {conc:>5} {r['txn_s']:>7.0f} {r['abort']:>6.1%} {r['p50']:>7.1f} "
              f"{r['p99']:>7.1f} {r['info']:>5} {r['txns']:>6} {r['elle_s']:>7.2f} "
              f"{str(r['valid']):>6}")


if __name__ == "__main__":
    main()
