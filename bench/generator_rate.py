"""Micro-benchmark: ops/s of harness.generator.simulate on a typical test generator.

    python bench/generator_rate.py [--concurrency 50] [--seconds 10] [--profile]

Prints a table: generator, concurrency, ops invoked, wall time, ops/s, and
µs per op (the generator's cost plus simulate's own bookkeeping).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
from collections.abc import Callable
from typing import Any

import harness.generator as gen


def r(test: Any, ctx: gen.Context) -> dict[str, Any]:
    return {"f": "read", "value": None}


def w(test: Any, ctx: gen.Context) -> dict[str, Any]:
    return {"f": "write", "value": ctx.rng.randrange(5)}


def cas(test: Any, ctx: gen.Context) -> dict[str, Any]:
    return {"f": "cas", "value": [ctx.rng.randrange(5), ctx.rng.randrange(5)]}


def typical(seconds: float) -> gen.Generator:
    # The nemesis cycle is infinite: the outer time_limit ends the test.
    return gen.time_limit(
        seconds,
        gen.any(
            gen.nemesis(
                gen.cycle(
                    [gen.sleep(5), {"f": "start-partition"}, gen.sleep(5), {"f": "stop-partition"}]
                )
            ),
            gen.clients(gen.stagger(0.0001, gen.time_limit(seconds, gen.mix([r, w, cas])))),
        ),
    )


def plain(seconds: float) -> gen.Generator:
    return gen.clients(gen.time_limit(seconds, r))


def reserved(seconds: float) -> gen.Generator:
    return gen.clients(
        gen.stagger(
            0.0001,
            gen.time_limit(seconds, gen.reserve(5, w, 5, cas, gen.mix([r, w]))),
        )
    )


CASES: dict[str, Callable[[float], gen.Generator]] = {
    "typical: time_limit(any(nemesis(cycle), clients(stagger(mix))))": typical,
    "bare: clients(time_limit(fn))": plain,
    "reserve: clients(stagger(time_limit(reserve(5,w,5,cas,mix))))": reserved,
}


def run(
    make: Callable[[float], gen.Generator], concurrency: int, seconds: float
) -> tuple[int, float]:
    g = make(seconds)
    t0 = time.perf_counter()
    h = gen.simulate(g, seed=1, concurrency=concurrency, latency_ns=1_000_000, limit=10**9)
    dt = time.perf_counter() - t0
    return sum(1 for o in h if o["type"] == "invoke"), dt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=10.0, help="simulated seconds")
    ap.add_argument("--profile", action="store_true")
    a = ap.parse_args()
    if a.profile:
        cProfile.runctx(
            "run(typical, a.concurrency, a.seconds)", globals(), locals(), "/tmp/gen.prof"
        )
        pstats.Stats("/tmp/gen.prof").sort_stats("tottime").print_stats(15)
        return
    print(f"{'generator':66} {'conc':>4} {'ops':>8} {'wall s':>7} {'ops/s':>9} {'µs/op':>6}")
    for name, make in CASES.items():
        n, dt = run(make, a.concurrency, a.seconds)
        print(f"{name:66} {a.concurrency:>4} {n:>8} {dt:>7.2f} {n / dt:>9.0f} {1e6 * dt / n:>6.1f}")


if __name__ == "__main__":
    main()
