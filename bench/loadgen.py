"""A closed-loop load generator shared by the system benches (raftkv, lock, ...).

``measure(open_client, one_op, conc, seconds)`` runs ``conc`` tasks for
``seconds``; task ``w`` opens ``client = open_client(w)``, calls ``await
one_op(client, w, i)`` for i = 1, 2, ... and closes the client at the end.
``one_op`` returns ``None`` when the operation succeeded (its latency counts)
or an error value (counted, no latency). The result holds operations per
second and the latency percentiles in milliseconds.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["measure", "measure_async", "print_table"]

OneOp = Callable[[Any, int, int], Awaitable[Any]]


async def _task(
    w: int,
    open_client: Callable[[int], Any],
    one_op: OneOp,
    until: float,
    lat: list[float],
    errs: list[Any],
) -> None:
    client = open_client(w)
    i = 0
    try:
        while time.monotonic() < until:
            i += 1
            t0 = time.perf_counter()
            err = await one_op(client, w, i)
            if err is None:
                lat.append(time.perf_counter() - t0)
            else:
                errs.append(err)
    finally:
        await client.close()


async def measure_async(
    open_client: Callable[[int], Any], one_op: OneOp, conc: int, seconds: float
) -> dict[str, float]:
    """``measure`` inside a running event loop (alongside other tasks, e.g. consumers)."""
    lat: list[float] = []
    errs: list[Any] = []
    start = time.monotonic()
    await asyncio.gather(*(_task(w, open_client, one_op, start + seconds, lat, errs) for w in range(conc)))
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


def measure(open_client: Callable[[int], Any], one_op: OneOp, conc: int, seconds: float) -> dict[str, float]:
    """``conc`` closed-loop tasks, each with ``open_client(task)``, for ``seconds``."""
    return asyncio.run(measure_async(open_client, one_op, conc, seconds))


def print_table(keys: list[str], rows: list[tuple[Any, ...]], rate: str = "ops/s") -> None:
    """Rows of (key values..., result of ``measure``) as an aligned table on stdout."""
    head = " ".join(f"{k:>5}" for k in keys) + f" {rate:>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}"
    print(head)
    print("-" * len(head))
    for row in rows:
        *vals, r = row
        print(
            " ".join(f"{v!s:>5}" for v in vals)
            + f" {r['ops_s']:>8.0f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['errors']:>7}"
        )
