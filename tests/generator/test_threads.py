"""Thread restriction: on_threads, clients, nemesis, each_thread, reserve."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

import harness.generator as gen
from harness.generator import simulate

from .helpers import MS, assert_well_formed, counter_fn, fs, invokes

r = counter_fn("r")
w = counter_fn("w")
cas = counter_fn("cas")


def procs(h: list[dict[str, Any]], f: str | None = None) -> set[Any]:
    return {o["process"] for o in invokes(h) if f is None or o["f"] == f}


def always_info(c: dict[str, Any]) -> dict[str, Any]:
    return {**c, "type": "info"}


class TestOnThreads:
    def test_set(self) -> None:
        h = simulate(gen.on_threads({1, 2}, gen.limit(50, r)), concurrency=4, latency_ns=MS)
        assert procs(h) == {1, 2}
        assert len(invokes(h)) == 50

    def test_predicate(self) -> None:
        h = simulate(gen.on_threads(lambda t: t == 3, gen.limit(5, r)), concurrency=4)
        assert procs(h) == {3}

    def test_follows_retired_processes(self) -> None:
        h = simulate(gen.on_threads({1}, gen.limit(4, r)), concurrency=3, complete=always_info)
        assert [o["process"] for o in invokes(h)] == [1, 4, 7, 10]

    def test_no_matching_thread_means_nothing(self) -> None:
        assert simulate(gen.on_threads({99}, gen.repeat({"f": "x"})), concurrency=2) == []

    def test_clients_never_use_the_nemesis(self) -> None:
        h = simulate(gen.clients(gen.limit(40, r)), concurrency=2)
        assert procs(h) == {0, 1}

    def test_nemesis_only_uses_the_nemesis(self) -> None:
        h = simulate(gen.nemesis(gen.repeat({"f": "kill"}, 3)), latency_ns=MS)
        assert procs(h) == {"nemesis"}
        assert [o["time_ns"] for o in invokes(h)] == [0, MS, 2 * MS]

    def test_nemesis_with_client_generator(self) -> None:
        g = gen.time_limit(
            0.1,
            gen.nemesis(gen.delay(0.02, gen.repeat({"f": "kill"})), gen.stagger(0.001, r)),
        )
        h = simulate(g, concurrency=3)
        assert procs(h, "kill") == {"nemesis"}
        assert procs(h, "r") <= {0, 1, 2}
        assert Counter(fs(h))["kill"] == 5

    def test_updates_reach_only_the_owner(self) -> None:
        # until_ok on client threads must ignore the nemesis' ok completions.
        g = gen.any(
            gen.nemesis(gen.repeat({"f": "noise"}, 5)),
            gen.clients(gen.until_ok(gen.delay(0.01, gen.repeat({"f": "acquire"})))),
        )

        def complete(c: dict[str, Any]) -> dict[str, Any]:
            return c if c["f"] == "noise" or c["time_ns"] > 25 * MS else {**c, "type": "fail"}

        h = simulate(g, concurrency=1, complete=complete, latency_ns=MS)
        # acquires at 0, 10, 20, 30 ms; only the last completes after 25 ms (ok)
        assert Counter(fs(h)) == {"noise": 5, "acquire": 4}


class TestEachThread:
    def test_one_copy_per_thread(self) -> None:
        h = simulate(gen.clients(gen.each_thread({"f": "read"})), concurrency=3)
        assert sorted(o["process"] for o in invokes(h)) == [0, 1, 2]
        h = simulate(gen.each_thread({"f": "read"}), concurrency=3)
        assert procs(h) == {0, 1, 2, "nemesis"}

    def test_copies_are_independent(self) -> None:
        h = simulate(gen.clients(gen.each_thread([{"f": "a"}, {"f": "b"}])), concurrency=3)
        for p in (0, 1, 2):
            assert [o["f"] for o in invokes(h) if o["process"] == p] == ["a", "b"]

    def test_updates_are_routed_per_thread(self) -> None:
        g = gen.clients(gen.each_thread(gen.until_ok(gen.repeat({"f": "x"}))))

        def complete(c: dict[str, Any]) -> dict[str, Any]:
            return c if c["time_ns"] - MS >= 5 * MS else {**c, "type": "fail"}

        h = simulate(g, concurrency=2, complete=complete, latency_ns=MS)
        assert Counter(o["process"] for o in invokes(h)) == {0: 6, 1: 6}

    def test_after_retirement_the_thread_keeps_its_copy(self) -> None:
        g = gen.clients(gen.each_thread([{"f": "a"}, {"f": "b"}]))
        h = simulate(g, concurrency=2, complete=always_info)
        assert [(o["f"], o["process"]) for o in invokes(h)] == [
            ("a", 0),
            ("a", 1),
            ("b", 2),
            ("b", 3),
        ]

    def test_waits_for_busy_threads_before_ending(self) -> None:
        g = gen.phases(gen.clients(gen.each_thread(gen.limit(2, r))), gen.clients({"f": "done"}))
        h = simulate(g, concurrency=3)
        assert fs(h)[-1] == "done"
        assert Counter(fs(h)) == {"r": 6, "done": 1}


class TestReserve:
    def test_thread_ranges(self) -> None:
        g = gen.clients(gen.stagger(0.001, gen.limit(300, gen.reserve(2, w, 1, cas, r))))
        h = simulate(g, concurrency=5, seed=1, latency_ns=3 * MS)
        assert procs(h, "w") == {0, 1}
        assert procs(h, "cas") == {2}
        assert procs(h, "r") == {3, 4}
        assert_well_formed(h, 5)

    def test_simultaneous_ops_are_shared_in_proportion_to_threads(self) -> None:
        g = gen.clients(gen.stagger(0.001, gen.limit(2000, gen.reserve(1, w, r))))
        n = Counter(fs(simulate(g, concurrency=10, latency_ns=1000, seed=4)))
        assert 140 < n["w"] < 260, n  # one thread in ten: about 10%, not 50%

    def test_ranges_follow_retired_processes(self) -> None:
        g = gen.clients(gen.limit(60, gen.reserve(2, w, 1, cas, r)))
        h = simulate(g, concurrency=5, seed=1, complete=always_info)
        assert {p % 5 for p in procs(h, "w")} == {0, 1}
        assert {p % 5 for p in procs(h, "cas")} == {2}
        assert {p % 5 for p in procs(h, "r")} == {3, 4}
        assert max(procs(h)) >= 10

    def test_default_includes_the_nemesis_unless_clients(self) -> None:
        h = simulate(gen.limit(40, gen.reserve(1, w, r)), concurrency=2)
        assert procs(h, "r") == {1, "nemesis"}

    def test_no_default(self) -> None:
        h = simulate(gen.clients(gen.limit(10, gen.reserve(2, w, None))), concurrency=4)
        assert procs(h) == {0, 1}

    def test_updates_go_to_the_owning_range(self) -> None:
        g = gen.clients(gen.reserve(1, gen.until_ok(gen.repeat({"f": "lock"})), gen.limit(5, r)))
        h = simulate(
            g,
            concurrency=2,
            complete=lambda c: (
                c if c["f"] == "r" else ({**c, "type": "fail"} if c["time_ns"] < 3 * MS else c)
            ),
            latency_ns=MS,
        )
        assert Counter(fs(h)) == {"lock": 3, "r": 5}

    @pytest.mark.parametrize("args", [(2, {"f": "x"}), (-1, {"f": "x"}, None), ("2", r, None)])
    def test_bad_arguments(self, args: tuple[Any, ...]) -> None:
        with pytest.raises(gen.GeneratorError):
            gen.reserve(*args)


class TestNesting:
    def test_restrictions_compose(self) -> None:
        h = simulate(
            gen.clients(gen.on_threads({0, 1, "nemesis"}, gen.limit(20, r))), concurrency=4
        )
        assert procs(h) == {0, 1}

    def test_nemesis_inside_clients_is_empty(self) -> None:
        assert simulate(gen.clients(gen.nemesis(gen.repeat({"f": "kill"})))) == []

    def test_each_thread_inside_a_reserved_range(self) -> None:
        g = gen.clients(gen.reserve(2, gen.each_thread({"f": "init"}), gen.limit(3, r)))
        h = simulate(g, concurrency=4)
        assert sorted(o["process"] for o in invokes(h) if o["f"] == "init") == [0, 1]
        assert procs(h, "r") <= {2, 3}

    def test_custom_generator_with_fill(self) -> None:
        class Countdown(gen.Gen):
            def __init__(self, n: int) -> None:
                self.n = n

            def op(self, test: Any, ctx: gen.Context) -> Any:
                if self.n == 0:
                    return None
                p = ctx.some_free_process()
                if p is None:
                    return (gen.PENDING, self)
                return (
                    gen.fill({"f": "tick", "value": self.n}, p, ctx.time_ns),
                    Countdown(self.n - 1),
                )

        h = simulate(gen.nemesis(Countdown(3)))
        assert [(o["value"], o["process"]) for o in invokes(h)] == [
            (3, "nemesis"),
            (2, "nemesis"),
            (1, "nemesis"),
        ]
