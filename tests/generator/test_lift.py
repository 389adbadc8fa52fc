"""Plain data as generators, the module helpers, and the Context."""

from __future__ import annotations

import random
from typing import Any

import pytest

import harness.generator as gen
from harness.generator import PENDING, Context, GeneratorError, simulate
from harness.history import Op

from .helpers import MS, fs, invokes


def test_none_is_exhausted() -> None:
    assert simulate(None) == []
    assert gen.op(None, None, Context.initial(2)) is None


def test_dict_is_one_op_filled_in() -> None:
    d = {"f": "read"}
    h = simulate(d, latency_ns=5 * MS)
    p = h[0]["process"]
    assert p in (0, 1, 2), "some free client thread's process, never the nemesis"
    assert h == [
        {"type": "invoke", "value": None, "f": "read", "process": p, "time_ns": 0},
        {"type": "ok", "value": None, "f": "read", "process": p, "time_ns": 5 * MS},
    ]
    assert d == {"f": "read"}, "the user's dict must not be mutated"


def test_dict_keeps_its_value_and_type_but_not_process_or_time() -> None:
    d = {"f": "w", "value": 3, "process": 99, "time_ns": 123}
    # With one client thread the op must go to it (the nemesis is free too).
    h = simulate(d, concurrency=1)
    assert invokes(h) == [{"type": "invoke", "value": 3, "f": "w", "process": 0, "time_ns": 0}]
    (o,) = invokes(simulate(d, concurrency=3))
    assert o["process"] in (0, 1, 2) and (o["value"], o["time_ns"]) == (3, 0)


def test_list_runs_in_order_and_nests() -> None:
    h = simulate([{"f": "a"}, [{"f": "b"}, ({"f": "c"},)], None, [], {"f": "d"}])
    assert fs(h) == ["a", "b", "c", "d"]


def test_list_ops_use_free_threads_concurrently() -> None:
    ops = [{"f": "a"}, {"f": "b"}, {"f": "c"}]
    inv = invokes(simulate(gen.clients(ops), concurrency=2, latency_ns=10))
    assert [o["f"] for o in inv] == ["a", "b", "c"]
    assert {inv[0]["process"], inv[1]["process"]} == {0, 1}, "both client threads at once"
    assert inv[2]["process"] in (0, 1)
    assert [o["time_ns"] for o in inv] == [0, 0, 10]
    # Unrestricted, the nemesis thread is a free thread too (Jepsen), but it is
    # drawn only when no client thread is free.
    inv = invokes(simulate(ops, concurrency=2, latency_ns=10))
    assert {inv[0]["process"], inv[1]["process"]} == {0, 1}
    assert inv[2]["process"] == "nemesis"
    assert [o["time_ns"] for o in inv] == [0, 0, 0]
    inv = invokes(simulate(ops, concurrency=2, latency_ns=10, nemesis=False))
    assert {inv[0]["process"], inv[1]["process"]} == {0, 1}
    assert inv[2]["process"] in (0, 1)
    assert [o["time_ns"] for o in inv] == [0, 0, 10]


def test_callable_is_called_per_op_until_none() -> None:
    calls: list[int] = []

    def fn(test: Any, ctx: Context) -> dict[str, Any] | None:
        calls.append(ctx.time_ns)
        return {"f": "r"} if ctx.time_ns < 3 * MS else None

    h = simulate(fn, concurrency=1, nemesis=False)
    assert fs(h) == ["r", "r", "r"]
    assert [o["time_ns"] for o in invokes(h)] == [0, MS, 2 * MS]
    assert calls[-1] >= 3 * MS


def test_callable_receives_test_and_may_return_a_generator() -> None:
    def fn(test: Any, ctx: Context) -> Any:
        return [{"f": test["name"]}, {"f": "second"}]

    h = simulate(gen.limit(5, fn), test={"name": "first"})
    assert fs(h) == ["first", "second", "first", "second", "first"]


def test_callable_is_not_called_without_a_free_thread() -> None:
    ctx = Context.initial(1, nemesis=False).busy_thread(0)

    def boom(test: Any, ctx: Context) -> dict[str, Any]:
        raise AssertionError("called with no free thread")

    r = gen.op(boom, None, ctx)
    assert r is not None and r[0] is PENDING


def test_lift_rejects_other_values() -> None:
    with pytest.raises(GeneratorError):
        gen.lift(42)
    with pytest.raises(GeneratorError):
        gen.lift("read")


def test_lift_keeps_generators_and_foreign_protocol_objects() -> None:
    g = gen.limit(1, {"f": "x"})
    assert gen.lift(g) is g

    class Foreign:
        def op(self, test: Any, ctx: Context) -> Any:
            p = ctx.some_free_process()
            return (
                {
                    "f": "foreign",
                    "value": None,
                    "type": "invoke",
                    "process": p,
                    "time_ns": ctx.time_ns,
                },
                gen.EMPTY,
            )

        def update(self, test: Any, ctx: Context, event: Any) -> Any:
            return self

    f = Foreign()
    assert gen.lift(f) is f
    assert fs(simulate(gen.clients(f))) == ["foreign"]


def test_module_update_accepts_history_ops_and_dicts() -> None:
    ctx = Context.initial(2)
    g = gen.until_ok({"f": "x"})
    o, g2 = gen.op(g, None, ctx)  # type: ignore[misc]
    ev = Op(index=0, time_ns=5, process=0, type="ok", f="x")
    g3 = gen.update(g2, None, ctx, ev)
    assert gen.op(g3, None, ctx) is None
    g4 = gen.update(g2, None, ctx, {"process": 0, "type": "ok", "f": "x", "time_ns": 5})
    assert gen.op(g4, None, ctx) is None
    assert gen.update(None, None, ctx, ev) is gen.EMPTY


def test_pending_is_a_singleton() -> None:
    assert repr(PENDING) == "PENDING"
    assert gen.Pending() is PENDING


class TestContext:
    def test_initial(self) -> None:
        c = Context.initial(3)
        assert c.time_ns == 0
        assert c.free_threads == frozenset({0, 1, 2, "nemesis"})
        assert dict(c.workers) == {0: 0, 1: 1, 2: 2, "nemesis": "nemesis"}
        assert c.concurrency == 3
        assert c.free_processes() == (0, 1, 2, "nemesis")

    def test_some_free_process_draws_a_free_client_nemesis_only_if_alone(self) -> None:
        c = Context.initial(6)
        drawn = [c.some_free_process() for _ in range(300)]
        assert set(drawn) == set(range(6)), "every free client thread gets drawn; never the nemesis"
        part = c.busy_thread(0).busy_thread(2).busy_thread(5)
        drawn = [part.some_free_process() for _ in range(100)]
        assert set(drawn) == {1, 3, 4}, "only free threads, each of them"
        for t in range(5):
            c = c.busy_thread(t)
        assert {c.some_free_process() for _ in range(20)} == {5}, "the one free client"
        c = c.busy_thread(5)
        assert c.some_free_process() == "nemesis"
        assert c.busy_thread("nemesis").some_free_process() is None
        assert c.free_thread(3).some_free_process() == 3

    def test_some_free_process_is_deterministic_under_the_seed(self) -> None:
        def draws(seed: int) -> list[object]:
            c = Context.initial(8, seed=seed).busy_thread(3)
            return [c.some_free_process() for _ in range(50)]

        assert draws(1) == draws(1)
        assert draws(1) != draws(2)
        assert 3 not in draws(1)

    def test_derivations_do_not_change_the_original(self) -> None:
        c = Context.initial(2)
        d = c.with_time(7).busy_thread(0)
        assert (c.time_ns, 0 in c.free_threads) == (0, True)
        assert (d.time_ns, 0 in d.free_threads) == (7, False)
        assert d.rng is c.rng

    def test_retire_and_process_to_thread(self) -> None:
        c = Context.initial(3)
        c2 = c.retire(1)
        assert c2.workers[1] == 4 and c.workers[1] == 1
        c3 = c2.retire(1)
        assert c3.workers[1] == 7
        assert c3.process_to_thread(7) == 1
        assert c3.process_to_thread(4) == 1  # a retired process still maps to its thread
        assert c3.process_to_thread("nemesis") == "nemesis"
        assert c3.retire("nemesis") is c3
        assert {c3.some_free_process() for _ in range(50)} == {0, 7, 2}
        assert c3.busy_thread(0).busy_thread(2).some_free_process() == 7

    def test_restrict(self) -> None:
        c = Context.initial(4).busy_thread(1)
        r = c.restrict([1, 2, "nemesis", 17])
        assert r.all_threads == frozenset({1, 2, "nemesis"})
        assert r.free_threads == frozenset({2, "nemesis"})
        assert dict(r.workers) == {1: 1, 2: 2, "nemesis": "nemesis"}
        assert 0 not in r.workers and len(r.workers) == 3
        with pytest.raises(KeyError):
            r.workers[0]
        assert r.some_free_process() == 2
        assert r.process_to_thread(0) is None
        assert r.process_to_thread(6) == 2

    def test_direct_construction_derives_threads_and_concurrency(self) -> None:
        c = Context(
            time_ns=5,
            free_threads=frozenset({1}),
            workers={0: 0, 1: 5, "nemesis": "nemesis"},
            rng=random.Random(1),
        )
        assert c.all_threads == frozenset({0, 1, "nemesis"})
        assert c.concurrency == 2
        assert c.some_free_process() == 5
        assert c.process_to_thread(5) == 1
