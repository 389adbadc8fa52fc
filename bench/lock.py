"""Lock-service round trips on local 127.0.0.1 clusters (prints a table).

    python3 bench/lock.py [--sizes 3,5] [--concurrency 10,50] [--seconds 3]

For each cluster size, a fresh cluster of lock-server subprocesses (empty data
dirs, fsync on) is started; for each concurrency level, that many client tasks
(each its own ``LockClient``, as the harness would open them) loop
acquire -> release on a lock of their own (uncontended: this measures the
service, two committed log entries per round trip, not queueing on one
lock) for ``--seconds``. A round trip counts when both steps were ok; its
latency is from the acquire's start to the release's answer. The client and
every node share this machine's cores, so the numbers are a floor, not a
capacity claim.
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

from systems.lock import make_lock_client  # noqa: E402
from tests.lock.cluster import LockCluster  # noqa: E402

TTL_MS = 5000


async def _worker(cl: LockCluster, wid: int, until: float, lat: list, errs: list) -> None:
    client = make_lock_client(cl.addrs, cl.names[wid % len(cl.names)], 5.0)
    lock = f"L{wid}"
    try:
        while time.monotonic() < until:
            t0 = time.perf_counter()
            typ, got, err = await client.invoke("acquire", {"lock": lock, "ttl_ms": TTL_MS})
            if typ != "ok":
                errs.append(err)
                continue
            typ, _, err = await client.invoke("release", {"lock": lock, "token": got["token"]})
            if typ == "ok":
                lat.append(time.perf_counter() - t0)
            else:
                errs.append(err)
    finally:
        await client.close()


async def _measure(cl: LockCluster, conc: int, seconds: float) -> dict:
    lat: list[float] = []
    errs: list[str] = []
    start = time.monotonic()
    await asyncio.gather(*(_worker(cl, w, start + seconds, lat, errs) for w in range(conc)))
    elapsed = time.monotonic() - start
    lat.sort()

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else float("nan")

    return {
        "rt_s": len(lat) / elapsed,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "mean_ms": statistics.fmean(lat) * 1000 if lat else float("nan"),
        "errors": len(errs),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="3,5")
    ap.add_argument("--concurrency", default="10,50")
    ap.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args()
    rows = []
    for size in [int(x) for x in args.sizes.split(",")]:
        with tempfile.TemporaryDirectory(prefix="lock-bench-") as tmp, LockCluster(
            size, Path(tmp)
        ) as cl:
            cl.up()
            for conc in [int(x) for x in args.concurrency.split(",")]:
                r = asyncio.run(_measure(cl, conc, args.seconds))
                rows.append((size, conc, r))
                print(f"  nodes={size} conc={conc}: {r['rt_s']:.0f} round trips/s",
                      file=sys.stderr)
    head = f"{'nodes':>5} {'conc':>5} {'rt/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}"
    print(head)
    print("-" * len(head))
    for size, conc, r in rows:
        print(f"{size:>5} {conc:>5} {r['rt_s']:>8.0f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} "
              f"{r['errors']:>7}")


if __name__ == "__main__":
    main()
