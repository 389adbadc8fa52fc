"""Combinators over order, time, counts and choice, each checked with simulate()."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

import harness.generator as gen
from harness.generator import simulate

from .helpers import MS, SEC, assert_well_formed, counter_fn, fs, invokes

r = counter_fn("r")
w = counter_fn("w")
cas = counter_fn("cas")
A, B, C = {"f": "a"}, {"f": "b"}, {"f": "c"}


def times(h: list[dict[str, Any]]) -> list[int]:
    return [o["time_ns"] for o in invokes(h)]


class TestPhasesAndSynchronize:
    def test_later_phase_waits_for_completions(self) -> None:
        h = simulate(gen.phases(A, gen.clients(gen.limit(2, r))), latency_ns=10 * MS)
        assert fs(h) == ["a", "r", "r"]
        assert times(h) == [0, 10 * MS, 10 * MS]
        # Without phases the reads start at once on the other threads.
        h = simulate(gen.concat(A, gen.clients(gen.limit(2, r))), latency_ns=10 * MS)
        assert times(h) == [0, 0, 0]

    def test_every_phase_starts_after_the_previous_one_completed(self) -> None:
        g = gen.phases(
            gen.clients(gen.stagger(0.001, gen.limit(20, r))),
            gen.clients(gen.limit(7, w)),
            gen.nemesis({"f": "heal"}),
            gen.clients(gen.each_thread({"f": "final-read"})),
        )
        h = simulate(g, concurrency=4, latency_ns=3 * MS)
        assert_well_formed(h, 4)
        order = ["r", "w", "heal", "final-read"]
        for before, after in zip(order, order[1:], strict=False):
            last_done = max(o["time_ns"] for o in h if o["f"] == before and o["type"] == "ok")
            first = min(o["time_ns"] for o in invokes(h) if o["f"] == after)
            assert first >= last_done, (before, after)
        assert Counter(fs(h)) == {"r": 20, "w": 7, "heal": 1, "final-read": 4}

    def test_a_sleep_in_a_nemesis_phase_pauses_everything(self) -> None:
        h = simulate(gen.phases(gen.nemesis(gen.sleep(1)), gen.clients(r)), limit=2)
        assert times(h)[0] == SEC

    def test_synchronize_waits_for_busy_threads(self) -> None:
        h = simulate([A, gen.synchronize(B)], latency_ns=5)
        assert times(h) == [0, 5]
        h = simulate([A, B], latency_ns=5)
        assert times(h) == [0, 0]


class TestMix:
    def test_uniform_choice(self) -> None:
        h = simulate(gen.clients(gen.limit(3000, gen.mix([r, w, cas]))), seed=3, limit=10**5)
        n = Counter(fs(h))
        assert set(n) == {"r", "w", "cas"}
        for f in ("r", "w", "cas"):
            assert 900 < n[f] < 1100, n

    def test_exhausted_children_drop_out(self) -> None:
        h = simulate(gen.mix([A, B, [C, C]]), seed=1)
        assert Counter(fs(h)) == {"a": 1, "b": 1, "c": 2}

    def test_order_depends_on_the_seed_only(self) -> None:
        g = gen.clients(gen.limit(30, gen.mix([gen.repeat(A), gen.repeat(B)])))
        orders = {tuple(fs(simulate(g, seed=s))) for s in range(5)}
        assert len(orders) > 1
        assert fs(simulate(g, seed=2)) == fs(simulate(g, seed=2))

    def test_empty_mix(self) -> None:
        assert simulate(gen.mix([])) == []


class TestTime:
    def test_stagger_total_rate_over_all_threads(self) -> None:
        g = gen.clients(gen.stagger(0.01, gen.time_limit(10, r)))
        h = simulate(g, concurrency=10, latency_ns=MS, seed=5, limit=10**5)
        ts = times(h)
        assert 900 < len(ts) < 1100, len(ts)  # 10 s at a total of 100 ops/s
        gaps = [b - a for a, b in zip(ts, ts[1:], strict=False)]
        assert all(0 <= d < 20 * MS for d in gaps)
        assert 9 * MS < sum(gaps) / len(gaps) < 11 * MS
        assert len(set(gaps)) > len(gaps) // 2, "gaps are random"

    def test_stagger_is_deterministic_per_seed(self) -> None:
        g = gen.clients(gen.stagger(0.01, gen.limit(50, r)))
        assert times(simulate(g, seed=1)) == times(simulate(g, seed=1))
        assert times(simulate(g, seed=1)) != times(simulate(g, seed=2))

    def test_delay_spaces_ops_exactly(self) -> None:
        h = simulate(gen.clients(gen.delay(0.5, gen.limit(4, r))), concurrency=2)
        assert times(h) == [0, SEC // 2, SEC, 3 * SEC // 2]

    def test_delay_never_schedules_before_a_thread_is_free(self) -> None:
        h = simulate(
            gen.clients(gen.delay(0.001, gen.limit(3, r))), concurrency=1, latency_ns=5 * MS
        )
        assert times(h) == [0, 5 * MS, 10 * MS]

    def test_time_limit_excludes_its_deadline(self) -> None:
        h = simulate(gen.clients(gen.time_limit(1, gen.delay(0.1, r))), concurrency=2)
        assert times(h) == [k * SEC // 10 for k in range(10)]

    def test_time_limit_counts_from_its_first_op(self) -> None:
        g = gen.clients([gen.sleep(2), gen.time_limit(1, gen.delay(0.1, r))])
        ts = times(simulate(g, concurrency=1))
        assert len(ts) == 10 and ts[0] == 2 * SEC and ts[-1] == 2 * SEC + 9 * SEC // 10

    def test_time_limit_ends_an_infinite_nemesis_cycle(self) -> None:
        cyc = gen.cycle([gen.sleep(5), {"f": "start"}, gen.sleep(5), {"f": "stop"}])
        h = simulate(gen.time_limit(12, gen.nemesis(cyc)))
        assert [(o["f"], o["time_ns"]) for o in invokes(h)] == [
            ("start", 5 * SEC),
            ("stop", 10 * SEC + MS),
        ]


class TestCounts:
    def test_limit(self) -> None:
        assert fs(simulate(gen.limit(3, gen.repeat(A)))) == ["a"] * 3
        assert simulate(gen.limit(0, gen.repeat(A))) == []
        assert fs(simulate(gen.limit(5, [A, B]))) == ["a", "b"]

    def test_once(self) -> None:
        assert fs(simulate(gen.once(gen.repeat(A)))) == ["a"]
        assert fs(simulate(gen.once([B, A]))) == ["b"]

    def test_repeat_reemits_the_first_op(self) -> None:
        assert fs(simulate(gen.repeat(A, 4))) == ["a"] * 4
        assert fs(simulate(gen.limit(4, gen.repeat([A, B])))) == ["a"] * 4
        assert simulate(gen.repeat(None)) == []
        assert simulate(gen.repeat(A, 0)) == []

    def test_repeat_of_a_callable_calls_it_again(self) -> None:
        vals = [o["value"] for o in invokes(simulate(gen.repeat(w, 20), seed=4))]
        assert len(vals) == 20 and len(set(vals)) > 1

    def test_cycle_restarts(self) -> None:
        assert fs(simulate(gen.clients(gen.cycle([A, B], 3)), concurrency=1)) == ["a", "b"] * 3
        assert fs(simulate(gen.clients(gen.limit(5, gen.cycle([A, B]))), concurrency=1)) == [
            "a",
            "b",
            "a",
            "b",
            "a",
        ]

    def test_cycle_of_nothing_ends(self) -> None:
        assert simulate(gen.cycle([])) == []
        assert simulate(gen.cycle(None, 3)) == []
        assert fs(simulate(gen.cycle(A, 1))) == ["a"]


class TestChoice:
    def test_any_takes_the_soonest(self) -> None:
        slow = gen.delay(1.0, gen.repeat({"f": "slow"}, 3))
        fast = gen.delay(0.4, gen.repeat({"f": "fast"}, 5))
        h = simulate(gen.clients(gen.any(slow, fast)), concurrency=2)
        got = sorted((o["time_ns"], o["f"]) for o in invokes(h))
        assert got == sorted(
            [(k * SEC, "slow") for k in range(3)] + [(k * 4 * SEC // 10, "fast") for k in range(5)]
        )
        assert times(h) == sorted(times(h))

    def test_any_runs_every_child_to_exhaustion(self) -> None:
        assert Counter(fs(simulate(gen.any([A], [B, C], None)))) == {"a": 1, "b": 1, "c": 1}
        assert simulate(gen.any()) == []
        assert fs(simulate(gen.any(A))) == ["a"]

    def test_any_breaks_ties_by_seed(self) -> None:
        g = gen.clients(gen.any(gen.repeat(A, 20), gen.repeat(B, 20)))
        firsts = {fs(simulate(g, seed=s, concurrency=1))[0] for s in range(10)}
        assert firsts == {"a", "b"}

    def test_flip_flop_alternates(self) -> None:
        g = gen.limit(6, gen.flip_flop(gen.repeat(A), gen.repeat(B)))
        assert fs(simulate(g)) == ["a", "b"] * 3

    def test_flip_flop_stops_when_either_is_exhausted(self) -> None:
        g = gen.flip_flop(gen.repeat(A), [{"f": "b1"}, {"f": "b2"}])
        assert fs(simulate(g)) == ["a", "b1", "a", "b2", "a"]


class TestUntilOk:
    @staticmethod
    def fail_before(t_ns: int) -> Any:
        return lambda c: c if c["time_ns"] - MS >= t_ns else {**c, "type": "fail"}

    def test_stops_after_the_first_ok(self) -> None:
        g = gen.clients(gen.until_ok(gen.repeat({"f": "acquire"})))
        h = simulate(g, concurrency=1, complete=self.fail_before(3 * MS))
        assert [o["type"] for o in h if o["type"] != "invoke"] == ["fail"] * 3 + ["ok"]

    def test_no_new_op_after_an_ok_completion(self) -> None:
        g = gen.clients(gen.until_ok(gen.stagger(0.0005, gen.repeat({"f": "acquire"}))))
        h = simulate(g, concurrency=3, complete=self.fail_before(4 * MS), seed=2)
        first_ok = min(o["time_ns"] for o in h if o["type"] == "ok")
        assert all(o["time_ns"] < first_ok for o in invokes(h))
        assert len(invokes(h)) > 4

    def test_info_and_fail_do_not_stop_it(self) -> None:
        def crash_early(c: dict[str, Any]) -> dict[str, Any]:
            return c if c["time_ns"] > 2 * MS else {**c, "type": "info"}

        g = gen.clients(gen.until_ok(gen.repeat({"f": "x"})))
        h = simulate(g, concurrency=1, complete=crash_early)
        assert [(o["process"], o["type"]) for o in h if o["type"] != "invoke"] == [
            (0, "info"),
            (1, "info"),
            (2, "ok"),
        ]

    def test_exhausts_with_its_child(self) -> None:
        h = simulate(gen.until_ok([A, B]), complete=lambda c: {**c, "type": "fail"})
        assert fs(h) == ["a", "b"]


class TestTransforms:
    def test_filter(self) -> None:
        h = simulate(gen.limit(10, gen.filter(lambda o: o["value"] % 2 == 0, w)), seed=1)
        vals = [o["value"] for o in invokes(h)]
        assert len(vals) == 10 and all(v % 2 == 0 for v in vals)

    def test_map(self) -> None:
        h = simulate(gen.map(lambda o: {**o, "f": "x", "value": 1}, gen.limit(3, r)))
        assert [(o["f"], o["value"]) for o in invokes(h)] == [("x", 1)] * 3

    def test_concat(self) -> None:
        assert fs(simulate(gen.concat([A, B], None, C))) == ["a", "b", "c"]
        assert simulate(gen.concat()) == []

    def test_log_and_sleep_ops(self) -> None:
        ctx = gen.Context.initial(1)
        o, _ = gen.op(gen.sleep(1.5), None, ctx)  # type: ignore[misc]
        assert (o["type"], o["value"]) == ("sleep", 1.5)
        o, _ = gen.op(gen.log("hi"), None, ctx)  # type: ignore[misc]
        assert (o["type"], o["value"]) == ("log", "hi")
        with pytest.raises(gen.GeneratorError):
            gen.sleep(-1)
