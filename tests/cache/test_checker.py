"""The cache consistency checker, both ways: fresh, bounded-stale and converged histories
pass; never-written values, staleness beyond Δ and divergence are caught and explained."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checkers.cache import CacheChecker, check_cache
from checkers.core import UNKNOWN
from harness.history import History, Op


class H:
    """Builds a history: ``call`` = invocation + completion at given times (seconds)."""

    def __init__(self) -> None:
        self.events: list[tuple[float, int, Op]] = []

    def call(self, p: int, f: str, value: dict[str, Any], t0: float, t1: float | None,
             typ: str = "ok", out: dict[str, Any] | None = None) -> None:
        n = len(self.events)
        self.events.append((t0, n, Op(0, int(t0 * 1e9), p, "invoke", f, value)))
        if t1 is not None:
            self.events.append((t1, n + 1, Op(0, int(t1 * 1e9), p, typ, f,
                                              {**value, **(out or {})})))

    def write(self, k: str, v: int, t0: float, t1: float | None, typ: str = "ok",
              p: int = 0) -> None:
        self.call(p, "write", {"key": k, "value": v}, t0, t1, typ)

    def read(self, k: str, v: int | None, t0: float, t1: float, f: str = "read", p: int = 1,
             **extra: Any) -> None:
        self.call(p, f, {"key": k}, t0, t1, out={"value": v, **extra})

    def final(self, k: str, cache: int | None, store: int | None, t: float) -> None:
        self.read(k, cache, t, t + 0.01, f="final-read", p=2)
        self.read(k, store, t + 0.02, t + 0.03, f="store-read", p=2)

    def history(self) -> History:
        ops = [o for _, _, o in sorted(self.events, key=lambda e: (e[0], e[1]))]
        return History([Op(i, o.time_ns, o.process, o.type, o.f, o.value) for i, o in
                        enumerate(ops)])


def kinds(res: Any) -> list[str]:
    return sorted({a.kind for a in res.anomalies})


def test_fresh_reads_and_misses_converged_are_valid() -> None:
    h = H()
    h.read("a", None, 0.0, 0.01, node="c1", hit=False)
    h.write("a", 1, 0.1, 0.2)
    h.read("a", 1, 0.15, 0.3, node="c1", hit=False)  # concurrent with the write
    h.read("a", 1, 0.4, 0.41, node="c1", hit=True)
    h.write("a", 2, 1.0, 1.1)
    h.read("a", 1, 1.5, 1.51, node="c2", hit=True)  # stale by 0.4 s: within Δ = 1 s
    h.read("a", 2, 2.0, 2.01, node="c2", hit=True)
    h.final("a", 2, 2, 5.0)
    res = check_cache(h.history(), delta_ms=1000)
    assert res.valid is True, res.anomalies
    d = res.details
    assert d["staleness_ms"]["stale_n"] == 1 and 399 < d["staleness_ms"]["max"] < 401
    assert d["load"]["requests_per_node"] == {"c1": 3, "c2": 2}
    assert d["load"]["hits"] == 3 and d["load"]["misses"] == 2
    assert d["convergence"] == {"keys": 1, "diverged": 0, "without_store_read": 0,
                                "unknown": False}


def test_stale_read_beyond_delta_names_read_and_overwriting_write() -> None:
    h = H()
    h.write("a", 1, 0.0, 0.1)
    h.write("a", 2, 0.5, 0.6)
    h.read("a", 1, 3.0, 3.01)  # 2.4 s after write 2 completed
    h.final("a", 2, 2, 5.0)
    res = check_cache(h.history(), delta_ms=1000)
    assert res.valid is False and kinds(res) == ["stale-read"]
    a = res.anomalies[0]
    assert a.data["newer"] == 2 and 2399 < a.data["staleness_ms"] < 2401
    hist = h.history()
    named = {(hist[i].f, hist[i].type) for i in a.ops}
    assert ("write", "invoke") in named and ("read", "ok") in named
    assert "2400 ms before the read began" in a.explanation
    # a larger bound accepts the same history
    assert check_cache(hist, delta_ms=3000).valid is True


def test_absent_after_a_completed_write_is_stale() -> None:
    h = H()
    h.write("a", 1, 0.0, 0.1)
    h.read("a", None, 2.0, 2.01)
    h.final("a", 1, 1, 3.0)
    res = check_cache(h.history(), delta_ms=500)
    assert kinds(res) == ["stale-read"] and "key being absent" in res.anomalies[0].explanation


def test_concurrent_or_indeterminate_writes_are_not_called_stale() -> None:
    h = H()
    h.write("a", 1, 0.0, 1.0)
    h.write("a", 2, 0.5, 0.6)  # concurrent with write 1: order unknown
    h.read("a", 1, 5.0, 5.01)
    h.write("b", 1, 0.0, None)  # never completed: may take effect any time
    h.write("b", 2, 1.0, 1.1)
    h.read("b", 1, 5.0, 5.01)
    h.final("a", 1, 1, 6.0)
    h.final("b", 1, 1, 6.0)
    assert check_cache(h.history(), delta_ms=100).valid is True


def test_never_written_values_are_caught_three_ways() -> None:
    h = H()
    h.read("a", 99, 0.0, 0.01)  # nobody wrote 99
    h.write("b", 5, 0.0, 0.1, typ="fail")
    h.read("b", 5, 0.2, 0.21)  # only a failed write carried it
    h.read("c", 7, 0.0, 0.01, p=3)
    h.write("c", 7, 0.5, 0.6)  # written only after the read completed
    h.final("c", 7, 7, 1.0)
    res = check_cache(h.history(), delta_ms=1000)
    assert res.valid is False and kinds(res) == ["never-written"]
    text = " ".join(a.explanation for a in res.anomalies)
    assert "no write of it was invoked" in text
    assert "only failed writes carried it" in text
    assert "after the read completed" in text
    assert res.details["anomaly_counts"] == {"never-written": 3}


def test_divergence_after_healing_is_caught() -> None:
    h = H()
    h.write("a", 1, 0.0, 0.1)
    h.write("a", 2, 0.2, 0.3)
    h.final("a", 1, 2, 0.5)  # stale by 0.2 s < Δ, but the cache never caught up
    res = check_cache(h.history(), delta_ms=1000)
    assert kinds(res) == ["not-converged"]
    assert res.anomalies[0].data == {"key": "a", "cache": 1, "store": 2}


def test_missing_final_reads_give_unknown_unless_not_required() -> None:
    h = H()
    h.write("a", 1, 0.0, 0.1)
    h.read("a", 1, 0.2, 0.3)
    assert check_cache(h.history()).valid == UNKNOWN
    assert check_cache(h.history(), require_final=False).valid is True
    h.read("a", 1, 1.0, 1.1, f="final-read")  # cache final read without a store read
    assert check_cache(h.history()).details["convergence"]["without_store_read"] == 1
    assert check_cache(h.history()).valid == UNKNOWN


def test_checker_object_and_bad_delta() -> None:
    h = H()
    h.write("a", 1, 0.0, 0.1)
    h.final("a", 1, 1, 0.5)
    assert CacheChecker(delta_ms=10).check({}, h.history(), None).valid is True
    with pytest.raises(ValueError):
        check_cache(h.history(), delta_ms=-1)


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(st.tuples(st.booleans(), st.sampled_from("ab"), st.integers(0, 3)),
                      min_size=1, max_size=40))
def test_sequential_history_is_valid_and_any_lagging_read_is_stale_at_delta_zero(
        steps: list[tuple[bool, str, int]]) -> None:
    """Ops one after another, 10 ms apart: reads of the latest value are valid; a read
    that returns an older value (lag > 0 writes) is caught when Δ = 0."""
    h = H()
    written: dict[str, list[int]] = {"a": [], "b": []}
    t, n, lagged = 0.0, 0, False
    for is_write, key, lag in steps:
        if is_write:
            n += 1
            h.write(key, n, t, t + 0.005)
            written[key].append(n)
        else:
            vals = written[key]
            if lag and len(vals) > lag:
                lagged = True
                h.read(key, vals[-1 - lag], t, t + 0.005)
            else:
                h.read(key, vals[-1] if vals else None, t, t + 0.005)
        t += 0.01
    for key, vals in written.items():
        h.final(key, vals[-1] if vals else None, vals[-1] if vals else None, t)
        t += 0.1
    res = check_cache(h.history(), delta_ms=0)
    assert res.valid is (not lagged), res.anomalies
    if lagged:
        assert kinds(res) == ["stale-read"]
    assert check_cache(h.history(), delta_ms=60_000).valid is True
