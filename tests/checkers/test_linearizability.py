"""The linearizability search: semantics of ok/fail/info, partitions, counterexamples, budgets."""

from __future__ import annotations

import random
import time
from typing import Any

import pytest

import checkers.linear.wgl as search_mod
from checkers.core import UNKNOWN, Checker
from checkers.linear.synth import random_kv_history, random_register_history
from checkers.linear.wgl import PartOp, twin_chains
from checkers.linearizability import Linearizable, check_history
from harness.formats import load_history
from harness.history import History, Op
from tests import peer_data

PORCUPINE = peer_data.corpus("porcupine")  # in the repo: never skipped


def H(*events: tuple[Any, str, str, Any]) -> History:
    """A history from (process, type, f, value) tuples, one time unit (1 ms) apart."""
    return History(
        [Op(i, (i + 1) * 1_000_000, p, t, f, v) for i, (p, t, f, v) in enumerate(events)]
    )


def verdict(h: History, model: str = "cas-register", init: Any = 0, **kw: Any) -> Any:
    return check_history(h, model, init, **kw).valid


def test_sequential_register() -> None:
    h = H((0, "invoke", "write", 1), (0, "ok", "write", 1), (1, "invoke", "read", None), (1, "ok", "read", 1))
    assert verdict(h) is True


def test_stale_read_is_invalid_with_explanation() -> None:
    h = H(
        (0, "invoke", "write", 1), (0, "ok", "write", 1),
        (0, "invoke", "write", 2), (0, "ok", "write", 2),
        (1, "invoke", "read", None), (1, "ok", "read", 1),
    )  # fmt: skip
    r = check_history(h, "cas-register", 0)
    assert r.valid is False
    d = r.details
    assert d["failed_op"] == 4 and d["failing_key"] is None
    assert d["partial_linearizations"][0] == [0, 2]
    assert d["part_ops"] == [0, 2, 4]
    assert "op 4" in d["explanation"] and "read returning 1" in d["explanation"]
    assert "the value 2" in d["explanation"] and "t=0.005000 s" in d["explanation"]
    assert "Every write of 1 was overwritten before the read began: op 0" in d["explanation"]
    assert "by op 2 (write of 2, completed at t=0.004000 s)" in d["explanation"]
    assert r.anomalies[0].ops == (4,) and r.anomalies[0].explanation == d["explanation"]
    for k in ("model", "states_explored", "check_seconds", "ops"):
        assert k in d
    assert d["ops"] == 3


def test_concurrent_read_may_see_either() -> None:
    for seen in (0, 1):
        h = H((0, "invoke", "write", 1), (1, "invoke", "read", None), (1, "ok", "read", seen), (0, "ok", "write", 1))
        assert verdict(h) is True
    h = H((0, "invoke", "write", 1), (1, "invoke", "read", None), (1, "ok", "read", 2), (0, "ok", "write", 1))
    r = check_history(h, "cas-register", 0)
    assert r.valid is False and "No operation ever wrote 2" in r.details["explanation"]


def test_fail_did_not_happen_and_info_may_have() -> None:
    failed = H((0, "invoke", "write", 5), (0, "fail", "write", 5), (1, "invoke", "read", None), (1, "ok", "read", 5))
    assert verdict(failed) is False
    info = H((0, "invoke", "write", 5), (0, "info", "write", 5), (1, "invoke", "read", None), (1, "ok", "read", 5))
    assert verdict(info) is True
    pending = H((0, "invoke", "write", 5), (1, "invoke", "read", None), (1, "ok", "read", 5))
    assert verdict(pending) is True  # never completed: indeterminate
    # once an info write is seen, it stays visible
    flip = H(
        (0, "invoke", "write", 5), (0, "info", "write", 5),
        (1, "invoke", "read", None), (1, "ok", "read", 5),
        (1, "invoke", "read", None), (1, "ok", "read", 0),
    )  # fmt: skip
    assert verdict(flip) is False


def test_info_may_never_take_effect() -> None:
    h = H(
        (0, "invoke", "acquire", None), (0, "info", "acquire", None),
        (1, "invoke", "acquire", None), (1, "ok", "acquire", None),
        (1, "invoke", "release", None), (1, "ok", "release", None),
    )  # fmt: skip
    assert verdict(h, "mutex", None) is True
    h2 = H(
        (1, "invoke", "acquire", None), (1, "ok", "acquire", None),
        (2, "invoke", "acquire", None), (2, "ok", "acquire", None),
    )  # fmt: skip
    assert verdict(h2, "mutex", None) is False


def test_cas_and_nemesis_ops_ignored() -> None:
    h = H(
        ("nemesis", "info", "kill", None),
        (0, "invoke", "cas", [0, 3]), (0, "ok", "cas", [0, 3]),
        ("nemesis", "info", "start", None),
        (1, "invoke", "read", None), (1, "ok", "read", 3),
    )  # fmt: skip
    r = check_history(h, "cas-register", 0)
    assert r.valid is True and r.details["ops"] == 2


def test_kv_parts_and_smallest_failing_key() -> None:
    h = H(
        (0, "invoke", "write", ["a", 1]), (0, "ok", "write", ["a", 1]),
        (1, "invoke", "read", ["a", None]), (1, "ok", "read", ["a", 1]),
        (2, "invoke", "write", ["b", 1]), (2, "ok", "write", ["b", 1]),
        (2, "invoke", "read", ["b", None]), (2, "ok", "read", ["b", 7]),
    )  # fmt: skip
    r = check_history(h, "kv", None)
    assert r.valid is False
    assert r.details["failing_key"] == "b" and r.details["parts"] == 2
    assert r.details["part_ops"] == [4, 6] and "on key 'b'" in r.details["explanation"]


def test_kv_completion_may_omit_the_key() -> None:
    ok = H((0, "invoke", "write", ["a", 1]), (0, "ok", "write", ["a", 1]), (1, "invoke", "read", ["a", None]), (1, "ok", "read", 1))
    assert verdict(ok, "kv", None) is True
    bad = H((0, "invoke", "write", ["a", 1]), (0, "ok", "write", ["a", 1]), (1, "invoke", "read", ["a", None]), (1, "ok", "read", 2))
    assert verdict(bad, "kv", None) is False


def test_porcupine_kv_semantics() -> None:
    h = H(
        (0, "invoke", "append", ["k", "x"]), (0, "ok", "append", ["k", "x"]),
        (1, "invoke", "get", ["k", None]), (1, "ok", "get", ["k", "x"]),
        (2, "invoke", "get", ["j", None]), (2, "ok", "get", ["j", ""]),
    )  # fmt: skip
    assert verdict(h, "kv", "") is True
    # appends in the wrong order: "yx" was never the value
    bad = H(
        (0, "invoke", "append", ["k", "x"]), (0, "ok", "append", ["k", "x"]),
        (0, "invoke", "append", ["k", "y"]), (0, "ok", "append", ["k", "y"]),
        (1, "invoke", "get", ["k", None]), (1, "ok", "get", ["k", "yx"]),
    )  # fmt: skip
    r = check_history(bad, "kv", "")
    assert r.valid is False and r.details["failed_op"] == 4
    assert "read returning 'yx'" in r.details["explanation"]
    assert "never wrote" not in r.details["explanation"]  # appends build values


def test_checker_protocol_and_model_error() -> None:
    c = Linearizable("cas-register", 0, time_budget_s=5)
    assert isinstance(c, Checker)
    h = H((0, "invoke", "write", 1), (0, "ok", "write", 1))
    assert c.check({}, h, None).valid is True
    r = Linearizable("mutex").check({}, h, None)
    assert r.valid == UNKNOWN and "unknown operation 'write'" in r.details["reason"]
    assert check_history(History([]), "cas-register").valid is True


def test_twin_chains_order_identical_ops() -> None:
    ops = [
        PartOp(0, 0, -1, ("w", 1), False),
        PartOp(1, 1, 5, ("w", 1), True),
        PartOp(2, 2, -1, ("w", 1), False),
        PartOp(3, 3, 4, ("w", 1), True),  # nested inside op 1: not chained after it
        PartOp(4, 6, 7, ("w", 2), True),  # another op: another chain
    ]
    prev = twin_chains(ops)
    # op 1 nests inside op 0 (which never returns); op 2 follows op 1; op 3 nests in both
    assert prev == [-1, -1, 1, -1, -1]


def adversarial(n_procs: int = 50, rounds: int = 2, seed: int = 7) -> History:
    """50 concurrent processes, nine in ten of them indeterminate cas ops over five values,
    a few reads, and a final read of 7 that only a chain of cas ops from 5 could produce,
    and nothing ever produces 5: refuting it means trying every subset and order of the
    indeterminate ops (no producer check can tell, as the chain's ops exist)."""
    rng = random.Random(seed)
    ev: list[tuple[Any, str, str, Any]] = []
    for r in range(rounds):
        casv: dict[int, list[int]] = {}
        for p in range(n_procs):
            pid = r * n_procs + p
            if p % 10 == 0:
                ev.append((pid, "invoke", "read", None))
            else:
                casv[pid] = [rng.randrange(5), rng.randrange(5)] if p > 2 else [4 + p, 5 + p]
                ev.append((pid, "invoke", "cas", casv[pid]))
        for p in range(n_procs):
            pid = r * n_procs + p
            if p % 10 == 0:
                ev.append((pid, "ok", "read", rng.randrange(5)))
            else:
                ev.append((pid, "info", "cas", casv[pid]))
    base = rounds * n_procs
    ev += [(base, "invoke", "read", None), (base, "ok", "read", 7)]
    return H(*ev)


def test_adversarial_history_returns_unknown_within_budget() -> None:
    h = adversarial()
    t0 = time.monotonic()
    r = check_history(h, "cas-register", 0, time_budget_s=0.5)
    elapsed = time.monotonic() - t0
    assert r.valid == UNKNOWN  # never a hang: the state space is far beyond 0.5 s
    assert elapsed < 5
    assert "time budget of 0.5 s" in r.details["reason"]
    assert r.details["states_explored"] > 0


def test_unknown_when_time_runs_out() -> None:
    h = random_register_history(3000, 50, 0.5, seed=3)
    r = check_history(h, "cas-register", 0, time_budget_s=0.2)
    if r.valid != UNKNOWN:  # a fast machine may finish: then the answer must be right
        assert r.valid is True, r.details
        return
    assert "time budget" in r.details["reason"] and r.details["check_seconds"] < 3  # hang guard


def test_memory_budget() -> None:
    r = check_history(adversarial(), "cas-register", 0, time_budget_s=20, memory_budget_mb=1)
    assert r.valid == UNKNOWN and "memory budget of 1 MB" in r.details["reason"]
    assert r.details["check_seconds"] < 5


def test_parallel_parts_agree_with_sequential(monkeypatch: pytest.MonkeyPatch) -> None:
    import checkers.linearizability as lin

    monkeypatch.setattr(lin, "FIRST_STATE_CAP", 20)  # every part reaches the worker pool
    monkeypatch.setattr(search_mod, "CHECK_EVERY", 0xF)
    pooled: list[int] = []
    real = lin._batch_parallel
    monkeypatch.setattr(lin, "_batch_parallel", lambda todo, *a: (pooled.append(len(todo)), real(todo, *a)))
    h = random_kv_history(keys=4, n_per_key=500, concurrency=5, seed=1)
    seq = check_history(h, "kv", 0, processes=1)
    par = check_history(h, "kv", 0, processes=2)
    assert seq.valid is True and par.valid is True
    ops = list(h)
    last_read = max(i for i, o in enumerate(ops) if o.f == "read" and o.type == "ok" and o.value[0] == "k2")
    ops[last_read] = ops[last_read].with_(value=["k2", 424242])
    bad = History(ops)
    for procs in (1, 2):
        r = check_history(bad, "kv", 0, processes=procs)
        assert r.valid is False and r.details["failing_key"] == "k2"
        assert r.details["failed_op"] == bad.invocation(last_read).index  # type: ignore[union-attr]
    assert pooled and pooled[0] == 4  # the second pass ran all four parts in workers


def test_invalid_etcd_log_is_explained() -> None:
    lh = load_history(PORCUPINE / "jepsen" / "etcd_000.log")
    r = check_history(lh.history, lh.model or "", lh.init)
    assert r.valid is False
    text = r.details["explanation"]
    assert f"op {r.details['failed_op']}" in text and "read returning" in text
    assert "event " in text  # the log has no clock: positions are named instead
    # the diagnosis pass (no lookahead) walks far into the history before failing
    assert len(r.details["partial_linearizations"][0]) >= 20


def _die_on_k1(args: Any) -> Any:
    import os

    if args[1].key == "k1":
        os._exit(3)  # a worker killed mid-check (OOM killer, signal)
    import checkers.linearizability as lin

    return lin._search_job_real(args)  # type: ignore[attr-defined]


def test_dead_worker_gives_unknown_not_a_hang(monkeypatch: pytest.MonkeyPatch) -> None:
    import checkers.linearizability as lin

    monkeypatch.setattr(lin, "FIRST_STATE_CAP", 20)
    monkeypatch.setattr(search_mod, "CHECK_EVERY", 0xF)
    monkeypatch.setattr(lin, "WORKER_GRACE_S", 0.5)
    monkeypatch.setattr(lin, "_search_job_real", lin._search_job, raising=False)
    monkeypatch.setattr(lin, "_search_job", _die_on_k1)
    h = random_kv_history(keys=3, n_per_key=300, concurrency=5, seed=2)
    t0 = time.monotonic()
    r = check_history(h, "kv", 0, processes=2, time_budget_s=1.0)
    assert time.monotonic() - t0 < 10
    assert r.valid == UNKNOWN and "did not answer" in r.details["reason"]
