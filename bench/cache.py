"""Cache throughput, hit ratio and load balance on local 127.0.0.1 clusters (prints a table).

    python3 bench/cache.py [--sizes 3,5] [--concurrency 10,50] [--seconds 3] [--keys 100]
                           [--bounded 1.25] [--read-fraction 0.9]

For each cluster size a fresh cluster of cache server subprocesses (each a
store replica and a cache node, ``systems/cache/server.py``) is started and
waited for until every node is registered; then, for each concurrency level
and each routing mode (``plain``: every read at its key's owner;
``bounded``: ``--opt bounded_load=C``, the clients sharing one balancer),
that many closed-loop client tasks (each its own ``CacheClient``, as the
harness opens them) run the cache workload's mix for ``--seconds``: reads of
Zipf-popular keys ``k0..k{keys-1}`` (s = 1, so hot keys exist) and writes of
fresh values. Each mode starts from a cold cache (every key is written
first, which invalidates it everywhere).

Columns: reads/s; hit ratio; p50/p99 read latency of hits and of misses (a
miss is a cache get, a store ReadIndex read and a fill); max/mean of the
reads each node served (node = the cache node the read went to); the peak
in-flight excess of a node over the mean at the moment of choosing. The
clients and every node share this machine's cores, so the numbers are a
floor, not a capacity claim.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from systems.cache.client import CacheClient, make_cache_client  # noqa: E402
from tests.cache.test_server import CacheCluster, members  # noqa: E402
from workloads.cache import key_weights  # noqa: E402


class _Stats:
    def __init__(self) -> None:
        self.hit_ms: list[float] = []
        self.miss_ms: list[float] = []
        self.per_node: Counter[str] = Counter()
        self.excess = 0.0
        self.reads = self.writes = self.errors = 0


async def _worker(w: int, cl: CacheCluster, bounded: float, keys: int, read_fraction: float,
                  until: float, st: _Stats) -> None:
    client = make_cache_client(cl.addrs, cl.names[w % len(cl.names)], 5.0,
                               bounded_load=bounded)
    assert isinstance(client, CacheClient)
    rng = random.Random(w)
    cum = key_weights(keys)
    try:
        while time.monotonic() < until:
            key = f"k{min(keys - 1, bisect.bisect_left(cum, rng.random() * cum[-1]))}"
            if rng.random() >= read_fraction:
                kind, _, _ = await client.invoke("write", {"key": key, "value": rng.getrandbits(62)})
                st.writes += kind == "ok"
                st.errors += kind != "ok"
                continue
            t0 = time.perf_counter()
            kind, value, _ = await client.invoke("read", {"key": key})
            ms = (time.perf_counter() - t0) * 1000
            if kind != "ok":
                st.errors += 1
                continue
            st.reads += 1
            (st.hit_ms if value.get("hit") else st.miss_ms).append(ms)
            if value.get("node"):
                st.per_node[value["node"]] += 1
            load = value.get("load")
            if isinstance(load, dict):
                st.excess = max(st.excess, load["here"] - load["inflight"] / load["nodes"])
    finally:
        await client.close()


async def _warm(cl: CacheCluster, keys: int) -> None:
    c = CacheClient(cl.addrs, cl.names[0], 5.0)
    try:
        await members(c, len(cl.names))
        for i in range(keys):
            await c.invoke("write", {"key": f"k{i}", "value": -1})
    finally:
        await c.close()


def _pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(p * len(s)))] if s else float("nan")


def run_one(cl: CacheCluster, conc: int, bounded: float, keys: int, read_fraction: float,
            seconds: float) -> dict[str, Any]:
    st = _Stats()

    async def go() -> float:
        await _warm(cl, keys)
        start = time.monotonic()
        await asyncio.gather(*(_worker(w, cl, bounded, keys, read_fraction, start + seconds, st)
                               for w in range(conc)))
        return time.monotonic() - start

    elapsed = asyncio.run(go())
    served = list(st.per_node.values())
    return {
        "reads_s": st.reads / elapsed,
        "hit_ratio": len(st.hit_ms) / max(1, st.reads),
        "hit_p50": _pct(st.hit_ms, 0.5), "hit_p99": _pct(st.hit_ms, 0.99),
        "miss_p50": _pct(st.miss_ms, 0.5), "miss_p99": _pct(st.miss_ms, 0.99),
        "max_mean": max(served) / statistics.fmean(served) if served else float("nan"),
        "excess": st.excess, "errors": st.errors,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="3,5")
    ap.add_argument("--concurrency", default="10,50")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--keys", type=int, default=100)
    ap.add_argument("--bounded", type=float, default=1.25, help="c of the bounded mode")
    ap.add_argument("--read-fraction", type=float, default=0.9)
    args = ap.parse_args()
    head = (f"{'nodes':>5} {'conc':>4} {'mode':>7} {'reads/s':>8} {'hit':>5} {'hit p50':>7} "
            f"{'hit p99':>7} {'miss p50':>8} {'miss p99':>8} {'max/mean':>8} {'excess':>6} "
            f"{'err':>4}")
    print(head)
    print("-" * len(head), flush=True)
    for size in (int(x) for x in args.sizes.split(",")):
        with tempfile.TemporaryDirectory(prefix="cache-bench-") as tmp, \
                CacheCluster(size, Path(tmp)) as cl:
            cl.up()
            for conc in (int(x) for x in args.concurrency.split(",")):
                for mode, c in (("plain", 0.0), (f"c={args.bounded:g}", args.bounded)):
                    r = run_one(cl, conc, c, args.keys, args.read_fraction, args.seconds)
                    print(f"{size:>5} {conc:>4} {mode:>7} {r['reads_s']:>8.0f} "
                          f"{r['hit_ratio']:>5.2f} {r['hit_p50']:>7.2f} {r['hit_p99']:>7.2f} "
                          f"{r['miss_p50']:>8.2f} {r['miss_p99']:>8.2f} {r['max_mean']:>8.2f} "
                          f"{r['excess']:>6.1f} {r['errors']:>4}", flush=True)


if __name__ == "__main__":
    main()
