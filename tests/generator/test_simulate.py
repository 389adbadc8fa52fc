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
    crashed_on = set()
    for seed in range(8):
        h = simulate(gen.clients(ops), seed=seed, concurrency=2, complete=complete, latency_ns=10)
        # t=0: the crash goes to one client process c, w1 to the other one o; t=10: the
        # crash completes first (info), so thread c continues as process c + 2 and takes
        # w2; then w1 completes and thread o (still process o) takes w3.
        c = h[0]["process"]
        assert c in (0, 1)
        o = 1 - c
        assert [(op["process"], op["type"], op["value"]) for op in h] == [
            (c, "invoke", "crash"),
            (o, "invoke", 1),
            (c, "info", "crash"),
            (c + 2, "invoke", 2),
            (o, "ok", 1),
            (o, "invoke", 3),
            (c + 2, "ok", 2),
            (o, "ok", 3),
        ]
        assert_well_formed(h, 2)
        crashed_on.add(c)
    assert crashed_on == {0, 1}, "the seeds cover a crash on either thread"


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
    ps = [o["process"] for o in invokes(h)]
    assert sorted(ps[:2]) == [0, 1] and sorted(ps[2:4]) == [2, 3] and ps[4] in (4, 5)
    for thread in (0, 1):
        mine = [p for p in ps if p % 2 == thread]
        assert mine == [thread + 2 * k for k in range(len(mine))], "p -> p + concurrency"
    assert all(o["type"] == "info" for o in h if o["type"] != "invoke")


def test_nemesis_info_keeps_its_process() -> None:
    h = simulate(
        gen.nemesis([{"f": "kill"}, {"f": "kill"}]), complete=lambda c: {**c, "type": "info"}
    )
    assert [o["process"] for o in h] == ["nemesis"] * 4


def test_complete_may_change_value_and_time() -> None:
    h = simulate({"f": "read"}, complete=lambda c: {**c, "value": 5, "time_ns": 42})
    p = h[0]["process"]
    assert p in (0, 1, 2)
    assert h[1] == {"type": "ok", "value": 5, "f": "read", "process": p, "time_ns": 42}


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
    for seed in range(4):
        h = simulate(gen.clients([gen.sleep(1), {"f": "a"}]), seed=seed, include_meta=True)
        sleeper = h[0]
        assert (sleeper["type"], sleeper["time_ns"]) == ("sleep", 0)
        a = invokes(h)[0]
        assert a["time_ns"] == 0, "the op does not wait for the sleeping thread"
        assert a["process"] in (0, 1, 2) and a["process"] != sleeper["process"]


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


class _OnProcess(gen.core.Gen):
    """Emits one op for a fixed process, now, whether or not that process is free."""

    def __init__(self, process: Any) -> None:
        self.process = process

    def op(self, test: Any, ctx: Context) -> Any:
        o = {"f": "x", "value": None, "type": "invoke", "process": self.process}
        return ({**o, "time_ns": ctx.time_ns}, gen.EMPTY)


def test_a_busy_process_is_rejected() -> None:
    # Alone, an op on process 0 is fine; a second one while the first is in flight
    # (thread 1 is still free, so the generator is asked again) is not.
    assert [o["process"] for o in invokes(simulate(_OnProcess(0), concurrency=2))] == [0]
    g = [_OnProcess(0), _OnProcess(0)]
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


def _process_counts(seed: int, n_ops: int = 1000) -> dict[Any, int]:
    # A fast client (1 ms) at a low rate (an op every ~10 ms): every thread is
    # free at nearly every op, so picking the lowest one would take them all.
    g = gen.stagger(0.01, gen.repeat({"f": "r"}))
    h = simulate(g, seed=seed, concurrency=5, latency_ns=MS, limit=n_ops)
    counts: dict[Any, int] = {}
    for o in invokes(h):
        counts[o["process"]] = counts.get(o["process"], 0) + 1
    return counts


def test_ops_spread_over_every_client_thread() -> None:
    counts = _process_counts(seed=0)
    assert sum(counts.values()) == 1000
    assert set(counts) == {0, 1, 2, 3, 4}, "never the nemesis while a client is free"
    for p, n in counts.items():
        assert n >= 100, f"process {p} got only {n} of 1000 ops: {counts}"


def test_same_seed_same_processes() -> None:
    def procs(seed: int) -> list[Any]:
        g = gen.clients(gen.stagger(0.01, gen.limit(200, counter_fn("r"))))
        return [o["process"] for o in invokes(simulate(g, seed=seed, concurrency=5))]

    assert procs(11) == procs(11)
    assert procs(11) != procs(12)
