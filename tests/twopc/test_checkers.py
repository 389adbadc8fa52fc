"""The atomicity and bank checkers (both ways), and the append/bank workloads' generators."""

from __future__ import annotations

from typing import Any

from checkers.atomicity import check_atomicity
from checkers.bank import BankChecker
from harness.generator import simulate
from harness.history import History, Op
from workloads import WorkloadOptions, get_workload
from workloads.append import AppendOps

MS = 1_000_000


class Builder:
    """Ops as (process, f, invocation value, invoke ms, completion ms, type, completion value)."""

    def __init__(self) -> None:
        self.events: list[tuple[int, int, Op]] = []

    def op(self, p: int, f: str, value: Any, t0: int, t1: int | None, typ: str = "ok",
           out: Any = None) -> Builder:
        n = len(self.events)
        self.events.append((t0 * MS, n, Op(-1, t0 * MS, p, "invoke", f, value)))
        if t1 is not None:
            self.events.append((t1 * MS, n + 1, Op(-1, t1 * MS, p, typ, f,
                                                    value if out is None else out)))
        return self

    def txn(self, p: int, t0: int, t1: int | None, mops: list[list[Any]], typ: str = "ok",
            reads: dict[Any, list[Any]] | None = None) -> Builder:
        done = [[f, k, (reads or {}).get(k, v) if f == "r" else v] for f, k, v in mops]
        return self.op(p, "txn", [[f, k, None if f == "r" else v] for f, k, v in mops], t0, t1,
                       typ, done if typ == "ok" else None)

    def history(self) -> History:
        return History([o for _, _, o in sorted(self.events, key=lambda x: (x[0], x[1]))],
                       reindex=True)


def final_reads(b: Builder, t0: int, lists: dict[Any, list[Any]]) -> Builder:
    return b.txn(9, t0, t0 + 5, [["r", k, None] for k in lists], reads=lists)


def test_atomic_history_is_valid() -> None:
    b = Builder().txn(0, 0, 10, [["append", 1, 1], ["append", 2, 1]])
    b.txn(1, 5, 20, [["append", 1, 2], ["append", 3, 2]], typ="info")  # never happened
    b.txn(2, 5, 20, [["append", 2, 3]], typ="fail")
    b.txn(3, 30, 40, [["r", 1, None]], reads={1: [1]})
    r = check_atomicity(final_reads(b, 50, {1: [1], 2: [1], 3: []}).history())
    assert r.valid is True and r.anomalies == ()
    assert r.details["txns"] == 5


def test_partial_commit_names_the_txn_and_the_keys() -> None:
    b = Builder().txn(0, 0, 10, [["append", 1, 7], ["append", 2, 7]])
    b.txn(1, 12, 14, [["r", 1, None]], reads={1: [7]})
    h = final_reads(b, 50, {1: [7], 2: []}).history()
    r = check_atomicity(h)
    assert r.valid is False and [a.kind for a in r.anomalies] == ["partial-commit"]
    a = r.anomalies[0]
    t = a.data["txn"]
    assert h[t].f == "txn" and h[t].type == "ok" and t in a.ops
    assert a.data["visible"] == ["1"] and a.data["missing"] == ["2"]
    assert "missing from key 2" in a.explanation and "visible on key 1" in a.explanation


def test_partial_commit_of_an_info_txn_is_caught_too() -> None:
    b = Builder().txn(0, 0, 10, [["append", 1, 7], ["append", 2, 7]], typ="info")
    r = check_atomicity(final_reads(b, 50, {1: [7], 2: []}).history())
    assert [a.kind for a in r.anomalies] == ["partial-commit"]


def test_a_read_before_the_txn_completed_does_not_judge_it() -> None:
    b = Builder().txn(0, 0, 100, [["append", 1, 7], ["append", 2, 7]])
    b.txn(1, 10, 20, [["r", 1, None], ["r", 2, None]], reads={1: [7], 2: []})
    r = check_atomicity(b.history())
    assert r.valid is True and r.details["unjudged-txns"] == 1


def test_lost_commit_is_caught() -> None:
    b = Builder().txn(0, 0, 10, [["append", 1, 7], ["append", 2, 7]])
    r = check_atomicity(final_reads(b, 50, {1: [], 2: []}).history())
    assert [a.kind for a in r.anomalies] == ["lost-commit"]


def test_not_list_append_is_unknown() -> None:
    h = Builder().op(0, "txn", [["w", 1, 2]], 0, 1).history()
    assert check_atomicity(h).valid == "unknown"


BANK = BankChecker(("a0", "a1", "a2"), 10)


def bank_read(b: Builder, t0: int, balances: dict[str, int], typ: str = "ok") -> Builder:
    return b.op(0, "read", {"accounts": ["a0", "a1", "a2"], "initial": 10}, t0, t0 + 1, typ,
                balances)


def test_bank_checker_passes_conserved_totals() -> None:
    b = Builder().op(1, "transfer", {"from": "a0", "to": "a1", "amount": 3, "initial": 10}, 0, 2)
    bank_read(b, 5, {"a0": 7, "a1": 13, "a2": 10})
    bank_read(b, 8, {"a0": 0, "a1": 0, "a2": 99}, typ="fail")  # failed reads say nothing
    r = BANK.check({}, b.history(), None)
    assert r.valid is True and r.details["reads"] == 1 and r.details["expected-total"] == 30


def test_bank_checker_reports_wrong_totals_with_the_reads() -> None:
    b = Builder()
    bank_read(b, 0, {"a0": 7, "a1": 10, "a2": 10})
    bank_read(b, 5, {"a0": 12, "a1": -2, "a2": 20})
    bank_read(b, 9, {"a0": 10, "a1": 10})
    h = b.history()
    r = BANK.check({}, h, None)
    assert r.valid is False
    kinds = [a.kind for a in r.anomalies]
    assert kinds == ["wrong-total", "negative-balance", "unexpected-accounts"]
    wrong = r.anomalies[0]
    assert "sums to 27, not 30" in wrong.explanation and "a0=7" in wrong.explanation
    assert h[wrong.ops[0]].f == "read" and h[wrong.ops[0]].type == "ok"
    assert r.details["wrong-totals"] == {"27": 1}


def test_bank_checker_without_reads_is_unknown() -> None:
    assert BANK.check({}, Builder().history(), None).valid == "unknown"


def test_append_generator_spans_keys_with_unique_elements() -> None:
    ops = [o for o in simulate(AppendOps(8), seed=3, limit=400) if o["type"] == "invoke"]
    assert len(ops) == 400
    sizes = [len(o["value"]) for o in ops]
    assert min(sizes) >= 1 and max(sizes) == 4
    assert sum(s >= 2 for s in sizes) > 0.8 * len(sizes)
    elems = [m[2] for o in ops for m in o["value"] if m[0] == "append"]
    assert len(elems) == len(set(elems)) and elems
    for o in ops:
        keys = [m[1] for m in o["value"]]
        assert len(keys) == len(set(keys)) and all(0 <= k < 8 for k in keys)


def test_bank_and_append_workloads_build() -> None:
    opts = WorkloadOptions(keys=5)
    bank = get_workload("bank", opts)
    ops = [o for o in simulate(bank.generator, seed=1, limit=200) if o["type"] == "invoke"]
    transfers = [o["value"] for o in ops if o["f"] == "transfer"]
    assert transfers and all(t["from"] != t["to"] and 1 <= t["amount"] <= 5 for t in transfers)
    assert any(o["f"] == "read" for o in ops)
    app = get_workload("append", opts)
    assert set(app.checker.checkers) >= {"elle", "atomicity", "stats", "crash"}  # type: ignore[attr-defined]
