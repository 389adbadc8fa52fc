"""Micro-benchmark: ops/s of harness.generator.simulate on a typical test generator.

    python bench/generator_rate.py [--concurrency 50] [--seconds 10] [--profile]

Prints a table per generator: ops invoked, simulate's ops/s and µs per op
(generator plus simulate's own bookkeeping), how many times the generator was
asked per dispatched op, and the time spent inside the generator alone (op()
and update()) per op, per ask and per update.
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


class Timed:
    """Wraps the top generator and adds up the time spent inside op() and update()."""

    __slots__ = ("gen", "acc")

    def __init__(self, g: gen.Generator, acc: list[int]) -> None:
        self.gen = g
        self.acc = acc  # [ns in op, ns in update, asks]

    def op(self, test: Any, ctx: gen.Context) -> gen.OpResult:
        t0 = time.perf_counter_ns()
        r = self.gen.op(test, ctx)
        self.acc[0] += time.perf_counter_ns() - t0
        self.acc[2] += 1
        if r is None:
            return None
        return (r[0], Timed(r[1], self.acc))

    def update(self, test: Any, ctx: gen.Context, event: Any) -> gen.Generator:
        t0 = time.perf_counter_ns()
        g = self.gen.update(test, ctx, event)
        self.acc[1] += time.perf_counter_ns() - t0
        return Timed(g, self.acc)


def run(
    make: Callable[[float], gen.Generator], concurrency: int, seconds: float
) -> tuple[int, float, list[int]]:
    acc = [0, 0, 0]
    g = Timed(make(seconds), acc)
    t0 = time.perf_counter()
    h = gen.simulate(g, seed=1, concurrency=concurrency, latency_ns=1_000_000, limit=10**9)
    dt = time.perf_counter() - t0
    return sum(1 for o in h if o["type"] == "invoke"), dt, acc


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=10.0, help="simulated seconds")
    ap.add_argument("--repeat", type=int, default=3, help="runs per case; the fastest counts")
    ap.add_argument("--profile", action="store_true")
    a = ap.parse_args()
    if a.profile:
        cProfile.runctx(
            "run(typical, a.concurrency, a.seconds)", globals(), locals(), "/tmp/gen.prof"
        )
        pstats.Stats("/tmp/gen.prof").sort_stats("tottime").print_stats(15)
        return
    print(
        f"{'generator':66} {'conc':>4} {'ops':>7} {'simulate ops/s':>14} {'µs/op':>6}"
        f" {'asks/op':>7} {'gen µs/op':>9} {'µs/ask':>6} {'µs/update':>9}"
    )
    for name, make in CASES.items():
        n, dt, (op_ns, upd_ns, asks) = min(
            (run(make, a.concurrency, a.seconds) for _ in range(a.repeat)), key=lambda x: x[1]
        )
        print(
            f"{name:66} {a.concurrency:>4} {n:>7} {n / dt:>14.0f} {1e6 * dt / n:>6.1f}"
            f" {asks / n:>7.2f} {(op_ns + upd_ns) / 1e3 / n:>9.1f} {op_ns / 1e3 / asks:>6.1f}"
            f" {upd_ns / 1e3 / (2 * n):>9.2f}"
        )


if __name__ == "__main__":
    main()
