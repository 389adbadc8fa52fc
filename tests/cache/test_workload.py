"""The cache workload's generator against a fake look-aside cache (no cluster): mostly reads,
skewed keys, unique write values, final reads through cache and store; and it checks."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from checkers.cache import check_cache
from harness import generator as gen
from harness.generator.simulate import simulate
from harness.history import History, op_from_dict
from workloads import REGISTRY, WorkloadOptions
from workloads.cache import cache_ops, key_weights


class FakeCache:
    """A store applied at invocation, and a cache that is invalidated on writes (or not)."""

    def __init__(self, invalidate: bool = True) -> None:
        self.store: dict[str, Any] = {}
        self.cache: dict[str, Any] = {}
        self.invalidate = invalidate

    def __call__(self, c: dict[str, Any]) -> dict[str, Any]:
        f, v = c["f"], dict(c["value"])
        key = v["key"]
        if f == "write":
            self.store[key] = v["value"]
            if self.invalidate:
                self.cache.pop(key, None)
            return {}
        if f == "store-read":
            return {"value": {**v, "value": self.store.get(key)}}
        hit = key in self.cache
        if not hit:
            self.cache[key] = self.store.get(key)
        return {"value": {**v, "value": self.cache[key], "hit": hit, "node": "c1"}}


def history(fake: FakeCache, seed: int = 1, n: int = 3000) -> History:
    w = REGISTRY["cache"](WorkloadOptions(keys=10))
    ops = simulate(gen.phases(gen.limit(n, w.generator), w.final_generator), seed=seed,
                   concurrency=4, complete=fake, nemesis=False, latency_ns=2_000_000)
    return History([op_from_dict({**o, "index": i}) for i, o in enumerate(ops)])


def test_mostly_reads_over_skewed_keys_with_unique_values() -> None:
    h = history(FakeCache())
    inv = [o for o in h if o.type == "invoke" and o.f in ("read", "write")]
    fs = Counter(o.f for o in inv)
    assert 0.85 < fs["read"] / len(inv) < 0.95
    keys = Counter(o.value["key"] for o in inv)
    assert keys["k0"] > 3 * keys["k9"]  # Zipf: the hottest key is much hotter
    values = [o.value["value"] for o in inv if o.f == "write"]
    assert len(values) == len(set(values))


def test_final_phase_reads_every_key_through_cache_then_store() -> None:
    h = history(FakeCache(), n=200)
    finals = [o for o in h if o.type == "invoke" and o.f in ("final-read", "store-read")]
    assert [o.f for o in finals] == ["final-read"] * 10 + ["store-read"] * 10
    assert {o.value["key"] for o in finals} == {f"k{i}" for i in range(10)}


def test_a_correct_cache_checks_valid_and_a_non_invalidating_one_does_not() -> None:
    good = check_cache(history(FakeCache()), delta_ms=1000)
    assert good.valid is True, good.anomalies
    assert good.details["load"]["hits"] > 0 and good.details["load"]["misses"] > 0
    bad = check_cache(history(FakeCache(invalidate=False), n=6000), delta_ms=1000)
    assert bad.valid is False
    assert {"stale-read", "not-converged"} <= {a.kind for a in bad.anomalies}


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError):
        key_weights(0)
    with pytest.raises(ValueError):
        cache_ops(3, read_fraction=1.5)
