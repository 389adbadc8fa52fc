"""Benchmarks of the queue: the system's throughput, and the checker's seconds per history size.

**System** (``--part system``): for each cluster size a fresh cluster of
queue-server subprocesses on 127.0.0.1 (empty data dirs, fsync on,
``--partitions P``); for each producer count, that many producer tasks (each
its own ``QueueClient``, as the harness opens them: idempotent sends over the
partitions by key) send unique values as fast as they are answered for
``--seconds``, while ``--consumers`` members of one group join, poll (100
per partition) and commit in a loop. Printed: acknowledged sends/s,
messages/s the group consumed (distinct values delivered in the window),
p50/p99 send latency, and sends that were not ok. Clients and every node
share this machine's cores, so the numbers are a floor, not a capacity claim.

    python bench/queue_bench.py --part system [--nodes 3,5] [--partitions 1,3,8] \
        [--producers 1,10,50] [--consumers 2] [--seconds 5]

**Checker** (``--part checker``, the default): synthetic histories in the queue workload's shape: ``producers`` processes
send unique values round-robin over ``partitions`` (sends overlap: each
completes after the next producer's send began); two consumers of one group
(taking turns, each turn begun by a ``join``) poll batches of 100 messages per partition as they become available and
commit; after the sends, one drain poll per partition reads it all from 0.
Every message is therefore polled twice (group + drain). Optionally broken:
one acknowledged message is missing from every poll (a lost write).

    python bench/queue_bench.py [--sizes 10000,100000,1000000] [--repeat 1]

The goal from issue 16 is a 1M-message history in <= 30 s on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.loadgen import measure_async  # noqa: E402
from checkers.core import verdict_word  # noqa: E402
from checkers.queue import check_queue  # noqa: E402
from harness.history import History, Op  # noqa: E402
from systems.queue.client import make_queue_client  # noqa: E402
from tests.queue.test_server import QueueCluster  # noqa: E402


def synth(n: int, partitions: int = 8, producers: int = 10, broken: bool = False) -> History:
    ops: list[Op] = []
    t = 0

    def ev(p: int, typ: str, f: str, value: object) -> None:
        nonlocal t
        t += 1000
        ops.append(Op(len(ops), t, p, typ, f, value))

    logs: list[list[int]] = [[] for _ in range(partitions)]
    pos = [0] * partitions
    lost = n // 2 if broken else -1
    pending: tuple[int, list[int]] | None = None
    for i in range(n):
        p = i % producers
        part = i % partitions
        ev(p, "invoke", "send", [part, i])
        if pending is not None:
            ev(pending[0], "ok", "send", pending[1])
        logs[part].append(i)
        pending = (p, [part, len(logs[part]) - 1])
        if i % 400 == 399:  # a consumer polls what is there, 100 per partition at most
            c = 100 + (i // 8000) % 2  # a rebalance hands everything over now and then
            if i % 8000 == 399:
                ev(c, "invoke", "join", None)
                ev(c, "ok", "join", list(range(partitions)))
            msgs: dict[str, list[list[int]]] = {}
            for q in range(partitions):
                stop = min(len(logs[q]), pos[q] + 100)
                msgs[str(q)] = [[o, logs[q][o]] for o in range(pos[q], stop) if logs[q][o] != lost]
                pos[q] = stop
            ev(c, "invoke", "poll", {"group": "g", "drain": False})
            ev(c, "ok", "poll", msgs)
            ev(c, "invoke", "commit", {"group": "g", "offsets": dict.fromkeys(msgs, 0)})
            ev(c, "ok", "commit", None)
    if pending is not None:
        ev(pending[0], "ok", "send", pending[1])
    for q in range(partitions):
        ev(200, "invoke", "poll", {"group": None, "drain": True})
        ev(200, "ok", "poll", {str(q): [[o, v] for o, v in enumerate(logs[q]) if v != lost]})
    return History(ops)


async def _consumer(cl: QueueCluster, wid: int, parts: int, until: float,
                    seen: set[Any]) -> None:
    client = make_queue_client(cl.addrs, cl.names[wid % len(cl.names)], 5.0, parts)
    joined = False
    try:
        while time.monotonic() < until:
            if not joined:
                joined = (await client.invoke("join", {"group": "bench"}))[0] == "ok"
                continue
            typ, got, _ = await client.invoke("poll", {"group": "bench", "max": 100})
            if typ != "ok":
                joined = False
                continue
            n = 0
            for ms in got.values():
                seen.update(v for _, v in ms)
                n += len(ms)
            if (await client.invoke("commit", {"group": "bench"}))[0] != "ok":
                joined = False
            if n == 0:
                await asyncio.sleep(0.01)
    finally:
        await client.close()


async def _measure(cl: QueueCluster, parts: int, producers: int, consumers: int,
                   seconds: float) -> dict[str, float]:
    """Producers through the shared closed-loop generator; the group consumes alongside."""
    seen: set[Any] = set()

    def open_client(w: int) -> Any:
        return make_queue_client(cl.addrs, cl.names[w % len(cl.names)], 5.0, parts)

    async def send(client: Any, w: int, i: int) -> Any:
        typ, _, err = await client.invoke("send", [f"{w}-{i}", f"{w}-{i}"])
        return None if typ == "ok" else (err or typ)

    start = time.monotonic()
    r, *_ = await asyncio.gather(
        measure_async(open_client, send, producers, seconds),
        *(_consumer(cl, w, parts, start + seconds, seen) for w in range(consumers)))
    return {**r, "sent_s": r["ops_s"], "consumed_s": len(seen) / (time.monotonic() - start)}


def system_bench(a: argparse.Namespace) -> None:
    rows = []
    for size in _ints(a.nodes, "--nodes"):
        for parts in _ints(a.partitions, "--partitions"):
            with tempfile.TemporaryDirectory(prefix="queue-bench-") as tmp, QueueCluster(
                    size, Path(tmp), partitions=parts) as cl:
                cl.up()
                for p in range(parts):
                    cl.part_leader(p)
                for prods in _ints(a.producers, "--producers"):
                    r = asyncio.run(_measure(cl, parts, prods, a.consumers, a.seconds))
                    rows.append((size, parts, prods, r))
                    print(f"  nodes={size} P={parts} producers={prods}: {r['sent_s']:.0f} "
                          "sends/s", file=sys.stderr)
    head = (f"{'nodes':>5} {'P':>3} {'prod':>5} {'cons':>5} {'sent/s':>8} {'consumed/s':>10} "
            f"{'p50 ms':>8} {'p99 ms':>8} {'not ok':>7}")
    print(head)
    print("-" * len(head))
    for size, parts, prods, r in rows:
        print(f"{size:>5} {parts:>3} {prods:>5} {a.consumers:>5} {r['sent_s']:>8.0f} "
              f"{r['consumed_s']:>10.0f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} "
              f"{r['errors']:>7.0f}")


def _ints(text: str, flag: str) -> list[int]:
    try:
        out = [int(x) for x in text.split(",")]
    except ValueError:
        out = []
    if not out or min(out) < 1:
        print(f"bench/queue_bench.py: {flag} must be comma-separated positive ints, not {text!r}",
              file=sys.stderr)
        raise SystemExit(2)
    return out


def checker_bench(a: argparse.Namespace) -> None:
    sizes = _ints(a.sizes, "--sizes")
    print(f"{'messages':>9} {'broken':>6} {'ops':>9} {'polled':>9} {'verdict':>8} "
          f"{'median s':>9} {'kmsg/s':>7}")
    for n in sizes:
        for broken in (False, True):
            h = synth(n, broken=broken)
            times = []
            verdict = ""
            polled = 0
            for _ in range(a.repeat):
                gc.collect()
                t0 = time.perf_counter()
                r = check_queue(h)
                times.append(time.perf_counter() - t0)
                verdict = verdict_word(r.valid)
                polled = r.details["messages_polled"]
            times.sort()
            med = times[len(times) // 2]
            print(f"{n:>9} {str(broken):>6} {len(h):>9} {polled:>9} {verdict:>8} "
                  f"{med:>9.2f} {n / med / 1000:>7.0f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--part", choices=("checker", "system"), default="checker")
    ap.add_argument("--sizes", default="10000,100000,1000000", help="checker: messages")
    ap.add_argument("--repeat", type=int, default=1, help="checker: runs per size")
    ap.add_argument("--nodes", default="3,5", help="system: cluster sizes")
    ap.add_argument("--partitions", default="3", help="system: partitions per topic")
    ap.add_argument("--producers", default="1,10,50", help="system: producer counts")
    ap.add_argument("--consumers", type=int, default=2, help="system: group members")
    ap.add_argument("--seconds", type=float, default=5.0, help="system: per measurement")
    a = ap.parse_args()
    if a.part == "system":
        system_bench(a)
    else:
        checker_bench(a)


if __name__ == "__main__":
    main()
