"""Benchmark of the set checker (checkers/set.py): seconds per history shape.

A set workload's reads return the whole set, so a run's cost is the total
size of its reads (quadratic in the number of adds when reads are a fixed
share of the ops), not its op count; the table shows both. Synthetic
histories: ``concurrency`` processes, adds of 0, 1, 2, … with some ok reads
of the whole set, and a final read; optionally broken (the last quarter of the
reads lose one early element, or one read holds an element twice) to show
what a failing run costs.

    python bench/set_checker.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from checkers.core import verdict_word  # noqa: E402
from checkers.set import check_set  # noqa: E402
from harness.history import History, Op  # noqa: E402

SHAPES = [  # (ops, read share, broken)
    (1_000, 0.1, ""),
    (10_000, 0.1, ""),
    (20_000, 0.1, ""),
    (100_000, 0.0, ""),
    (100_000, 0.001, ""),
    (100_000, 0.01, ""),
    (100_000, 0.01, "lost"),
    (100_000, 0.01, "duplicated"),
]


def synth(n: int, read_share: float, broken: str, concurrency: int = 10, seed: int = 0) -> History:
    """Overlapping ops: each process's op completes after the next process's op began."""
    rng = random.Random(seed)
    events: list[tuple[int, Op]] = []
    state: list[int] = []
    reads = int(n * read_share)
    read_no = 0
    for i in range(n + 1):
        final = i == n
        p, t = i % concurrency, (i + 2 * final) * 1000  # the final read begins after all adds
        if final or rng.random() < read_share:
            value = list(state)
            read_no += 1
            if broken == "lost" and read_no > reads * 3 // 4 and value:
                value.remove(value[0])
            if broken == "duplicated" and read_no == reads // 2 and value:
                value.append(value[-1])
            events += [(t, Op(0, t, p, "invoke", "read", None)),
                       (t + 1500, Op(0, t + 1500, p, "ok", "read", value))]
        else:
            e = len(state)
            state.append(e)
            events += [(t, Op(0, t, p, "invoke", "add", e)), (t + 1500, Op(0, t + 1500, p, "ok", "add", e))]
    events.sort(key=lambda x: x[0])
    return History((o for _, o in events), reindex=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    print(f"{'ops':>8} {'reads %':>7} {'broken':>10} {'read elems':>11} {'verdict':>8} "
          f"{'best s':>7} {'Melem/s':>8}")
    for n, share, broken in SHAPES:
        h = synth(n, share, broken)
        total = sum(len(o.value) for o in h if o.f == "read" and o.type == "ok")
        best = float("inf")
        verdict = ""
        for _ in range(a.repeat):
            t0 = time.perf_counter()
            r = check_set(h)
            best = min(best, time.perf_counter() - t0)
            verdict = verdict_word(r.valid)
        print(f"{n:>8} {share * 100:>7.1f} {broken or '-':>10} {total:>11} {verdict:>8} "
              f"{best:>7.2f} {total / best / 1e6:>8.1f}")


if __name__ == "__main__":
    main()
