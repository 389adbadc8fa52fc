"""Cache workload: reads far outnumber writes, over keys of skewed popularity.

Client ops (shapes in :mod:`checkers.cache`)::

    read  {key}            -> ok {key, value, [hit, node]}  read through the cache
    write {key, value}     -> ok                            the store, then invalidate

``read_fraction`` of ops are reads (0.9 by default). Keys ``k0 .. k{n-1}``
are drawn with Zipf-like weights ``1 / (i + 1) ** zipf_s`` so hot keys exist
(``k0`` the hottest). Write values are 62-bit random integers drawn from the
run's seeded generator, unique with overwhelming probability, as the
checker's never-written and staleness rules assume.

The final generator, after healing: one ``final-read`` of every key through
the cache, then one ``store-read`` of every key from the store; the checker
compares them (convergence).

Checker: :class:`checkers.cache.CacheChecker` — never-written values,
staleness beyond Δ (``delta_ms``, 1 s by default), convergence; plus the load
and hit figures in its details.
"""

from __future__ import annotations

import bisect
import itertools
from typing import Any

from checkers.cache import DEFAULT_DELTA_MS, CacheChecker
from harness import generator as gen
from workloads.base import Workload, WorkloadOptions, judged_by

__all__ = ["cache_workload", "cache_ops", "key_weights", "READ_FRACTION", "ZIPF_S"]

READ_FRACTION = 0.9
ZIPF_S = 1.0


def key_weights(n: int, s: float = ZIPF_S) -> list[float]:
    """Cumulative Zipf-like weights of keys ``k0 .. k{n-1}``."""
    if n < 1:
        raise ValueError(f"the cache workload needs at least one key, got {n}")
    return list(itertools.accumulate(1.0 / (i + 1) ** s for i in range(n)))


def cache_ops(keys: int, read_fraction: float = READ_FRACTION, zipf_s: float = ZIPF_S) -> Any:
    """The client op callable: a read or a write of a popularity-weighted key."""
    if not 0.0 <= read_fraction <= 1.0:
        raise ValueError(f"read_fraction must be within [0, 1], got {read_fraction}")
    cum = key_weights(keys, zipf_s)

    def op(test: Any, ctx: Any) -> dict[str, Any]:
        i = min(keys - 1, bisect.bisect_left(cum, ctx.rng.random() * cum[-1]))
        key = f"k{i}"
        if ctx.rng.random() < read_fraction:
            return {"f": "read", "value": {"key": key}}
        return {"f": "write", "value": {"key": key, "value": ctx.rng.getrandbits(62)}}

    return op


def cache_workload(opts: WorkloadOptions, delta_ms: int = DEFAULT_DELTA_MS) -> Workload:
    keys = [f"k{i}" for i in range(opts.keys)]
    final = gen.phases(
        gen.clients([{"f": "final-read", "value": {"key": k}} for k in keys]),
        gen.clients([{"f": "store-read", "value": {"key": k}} for k in keys]),
    )
    return Workload(
        name="cache",
        generator=gen.stagger(1.0 / opts.rate, cache_ops(opts.keys)),
        final_generator=final,
        checker=judged_by("cache", CacheChecker(delta_ms=delta_ms)),
        description=f"look-aside cache over {opts.keys} Zipf-popular keys, "
        f"{READ_FRACTION:.0%} reads; never-written, staleness <= {delta_ms} ms, convergence",
    )
