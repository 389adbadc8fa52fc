"""The simulator: determinism, latency, retirement, sleep/log, validation."""

from __future__ import annotations

from typing import Any

import pytest

import harness.generator as gen
from harness.generator import PENDING, Context, SimulationError, simulate

from .helpers import MS, SEC, as_history, assert_well_formed, counter_fn, fs, invokes


def _workload() -> gen.Generator:
    return gen.nemesis(
        gen.cycle([gen.sleep(0.01), {"f": "start"}, gen.sleep(0.01), {"f": "stop"}]),
        gen.stagger(0.001, gen.mix([counter_fn("r"), counter_fn("w"), counter_fn("cas")])),
    )


def test_same_seed_same_history_other_seed_other_history() -> None:
    a = simulate(gen.time_limit(0.2, _workload()), seed=7, concurrency=5)
    b = simulate(gen.time_limit(0.2, _workload()), seed=7, concurrency=5)
    c = simulate(gen.time_limit(0.2, _workload()), seed=8, concurrency=5)
    assert len(a) > 100
    assert a == b
    assert a != c
    assert_well_formed(a, 5)


def test_the_same_generator_object_can_be_simulated_twice() -> None:
    g = gen.time_limit(0.1, _workload())
    assert simulate(g, seed=3) == simulate(g, seed=3)


def test_completion_after_latency_default_ok() -> None:
    h = simulate(gen.clients(gen.limit(4, counter_fn("r"))), concurrency=2, latency_ns=7)
    pairs = list(as_history(h).pairs())
    assert len(pairs) == 4
    for inv, comp in pairs:
        assert comp is not None and comp.type == "ok"
        assert comp.time_ns == inv.time_ns + 7


def test_info_retires_the_process() -> None:
    def complete(c: dict[str, Any]) -> dict[str, Any]:
        return {**c, "type": "info"} if c["value"] == "crash" else c

    ops = [
        {"f": "w", "value": "crash"},
        {"f": "w", "value": 1},
        {"f": "w", "value": 2},
        {"f": "w", "value": 3},
    ]
    h = simulate(gen.clients(ops), concurrency=2, complete=complete, latency_ns=10)
    # t=0: p0 crash, p1 w1; t=10: the crash completes (info), so thread 0 continues as
    # process 2 and takes w2; then w1 completes and thread 1 (still process 1) takes w3.
    assert [(o["process"], o["type"], o["value"]) for o in h] == [
        (0, "invoke", "crash"),
        (1, "invoke", 1),
        (0, "info", "crash"),
        (2, "invoke", 2),
        (1, "ok", 1),
        (1, "invoke", 3),
        (2, "ok", 2),
        (1, "ok", 3),
    ]
    assert_well_formed(h, 2)


def test_retired_processes_keep_counting_up() -> None:
    def always_info(c: dict[str, Any]) -> dict[str, Any]:
        return {**c, "type": "info"}

    h = simulate(
        gen.clients(gen.limit(5, counter_fn("w"))),
        concurrency=2,
        complete=always_info,
        latency_ns=10,
    )
    # Both threads take an op at t=0, crash at t=10, continue as p+2, ...
    assert [o["process"] for o in invokes(h)] == [0, 1, 2, 3, 4]
    assert all(o["type"] == "info" for o in h if o["type"] != "invoke")


def test_nemesis_info_keeps_its_process() -> None:
    h = simulate(
        gen.nemesis([{"f": "kill"}, {"f": "kill"}]), complete=lambda c: {**c, "type": "info"}
    )
    assert [o["process"] for o in h] == ["nemesis"] * 4


def test_complete_may_change_value_and_time() -> None:
    h = simulate({"f": "read"}, complete=lambda c: {**c, "value": 5, "time_ns": 42})
    assert h[1] == {"type": "ok", "value": 5, "f": "read", "process": 0, "time_ns": 42}


def test_complete_must_return_a_completion() -> None:
    with pytest.raises(SimulationError):
        simulate({"f": "read"}, complete=lambda c: {**c, "type": "invoke"})


def test_limit_bounds_invocations_and_in_flight_ops_complete() -> None:
    h = simulate(gen.repeat({"f": "x"}), limit=10, concurrency=4)
    assert len(invokes(h)) == 10
    assert len(h) == 20
    assert_well_formed(h, 4)


def test_sleep_keeps_its_thread_busy() -> None:
    h = simulate(gen.clients([gen.sleep(2), {"f": "a"}]), concurrency=1, latency_ns=MS)
    assert fs(h) == ["a"]
    assert invokes(h)[0]["time_ns"] == 2 * SEC
    meta = simulate(gen.clients([gen.sleep(2), {"f": "a"}]), concurrency=1, include_meta=True)
    assert [(o["type"], o["time_ns"]) for o in meta[:2]] == [("sleep", 0), ("sleep", 2 * SEC)]


def test_sleep_on_one_thread_leaves_others_working() -> None:
    h = simulate(gen.clients([gen.sleep(1), {"f": "a"}]), concurrency=2)
    assert invokes(h)[0] == {"type": "invoke", "value": None, "f": "a", "process": 1, "time_ns": 0}


def test_log_is_not_history_but_is_seen_with_meta() -> None:
    g = [gen.log("starting"), {"f": "a"}]
    assert fs(simulate(g)) == ["a"]
    meta = simulate(g, include_meta=True)
    logs = [o for o in meta if o["type"] == "log"]
    assert [(o["value"], o["time_ns"]) for o in logs] == [("starting", 0), ("starting", 0)]


class _AlwaysPending(gen.core.Gen):
    def op(self, test: Any, ctx: Context) -> Any:
        return (PENDING, self)


class _Bad(gen.core.Gen):
    def __init__(self, o: Any) -> None:
        self.o = o

    def op(self, test: Any, ctx: Context) -> Any:
        return (self.o, gen.EMPTY)


def test_pending_with_nothing_in_flight_is_an_error() -> None:
    with pytest.raises(SimulationError, match="pending"):
        simulate(_AlwaysPending())


@pytest.mark.parametrize(
    "bad",
    [
        {"f": "x", "type": "invoke", "process": 0, "time_ns": -1},  # before now
        {"f": "x", "type": "invoke", "process": 9, "time_ns": 0},  # no such process
        {"type": "invoke", "process": 0, "time_ns": 0},  # no f
        "not an op",
    ],
)
def test_malformed_ops_are_rejected(bad: Any) -> None:
    with pytest.raises(SimulationError):
        simulate(_Bad(bad))


def test_a_busy_process_is_rejected() -> None:
    g = [{"f": "a"}, _Bad({"f": "x", "type": "invoke", "process": 0, "time_ns": 0})]
    with pytest.raises(SimulationError, match="free process"):
        simulate(gen.clients(g), concurrency=2)


_SCRIPT = """
import hashlib, json
import harness.generator as gen
r = lambda test, ctx: {"f": "r", "value": ctx.rng.randrange(9)}
g = gen.phases(
    gen.time_limit(0.05, gen.nemesis(gen.cycle([gen.sleep(0.01), {"f": "kill"}]),
                                     gen.stagger(0.001, r))),
    gen.each_thread({"f": "final"}),
    gen.limit(30, gen.reserve(2, r, 1, {"f": "x"}, r)),
)
h = gen.simulate(g, seed=3, concurrency=5, include_meta=True)
print(len(h), hashlib.sha256(json.dumps(h).encode()).hexdigest())
"""


def test_history_does_not_depend_on_the_string_hash_seed() -> None:
    import os
    import subprocess
    import sys

    outs = set()
    for hash_seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        p = subprocess.run(
            [sys.executable, "-c", _SCRIPT],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        outs.add(p.stdout)
    assert len(outs) == 1, outs
    assert int(next(iter(outs)).split()[0]) > 50


def test_complete_may_not_change_the_process() -> None:
    with pytest.raises(SimulationError, match="process"):
        simulate({"f": "read"}, complete=lambda c: {**c, "process": 7})


def test_validate_passes_good_ops_and_rejects_bad_ones() -> None:
    g = gen.validate(gen.clients(gen.limit(5, counter_fn("r"))))
    assert len(invokes(simulate(g))) == 5
    ctx = Context.initial(2)
    with pytest.raises(gen.GeneratorError):
        gen.op(
            gen.validate(_Bad({"f": "x", "type": "invoke", "process": 0, "time_ns": -5})), None, ctx
        )
    with pytest.raises(gen.GeneratorError):
        gen.op(gen.validate(_Bad({"type": "invoke", "process": 0, "time_ns": 0})), None, ctx)
    r = gen.op(gen.validate(_AlwaysPending()), None, ctx)
    assert r is not None and r[0] is PENDING


def test_complete_may_return_only_the_fields_it_changes() -> None:
    h = simulate(
        gen.clients([{"f": "w"}, {"f": "w"}]), concurrency=1, complete=lambda c: {"type": "info"}
    )
    assert [(o["process"], o["type"]) for o in h] == [
        (0, "invoke"),
        (0, "info"),
        (1, "invoke"),
        (1, "info"),
    ]
