"""Benchmark of the queue checker (checkers/queue.py): seconds per history size.

Synthetic histories in the queue workload's shape: ``producers`` processes
send unique values round-robin over ``partitions`` (sends overlap: each
completes after the next producer's send began); two consumers of one group
(taking turns, each turn begun by a ``join``) poll batches of 100 messages per partition as they become available and
commit; after the sends, one drain poll per partition reads it all from 0.
Every message is therefore polled twice (group + drain). Optionally broken:
one acknowledged message is missing from every poll (a lost write).

    python bench/queue.py [--sizes 10000,100000,1000000] [--repeat 1]

The goal from issue 16 is a 1M-message history in <= 30 s on 2 cores.
(System throughput figures — messages/s end to end — are not measured yet.)
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from checkers.core import verdict_word  # noqa: E402
from checkers.queue import check_queue  # noqa: E402
from harness.history import History, Op  # noqa: E402


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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--repeat", type=int, default=1)
    a = ap.parse_args()
    try:
        sizes = [int(x) for x in a.sizes.split(",")]
    except ValueError:
        print(f"bench/queue.py: --sizes must be comma-separated ints, not {a.sizes!r}",
              file=sys.stderr)
        raise SystemExit(2) from None
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


if __name__ == "__main__":
    main()
