"""The multi-register and unordered-queue models through the whole checker
(``check_history``), both ways: valid histories pass, invalid ones are caught and the
explanation names the failing op and the state the search reached."""

from __future__ import annotations

from typing import Any

import pytest

from checkers.linearizability import check_history
from harness.history import History, Op

INIT_XY = {"x": 0, "y": 0}

Step = tuple[Any, str, Any, str, Any]  # process, f, invoke value, completion type, completion value


def sequential(*steps: Step) -> History:
    """Each op invoked after the previous one completed."""
    ops: list[Op] = []
    t = 0
    for process, f, inv, typ, val in steps:
        t += 1000
        ops.append(Op(len(ops), t, process, "invoke", f, inv))
        t += 1000
        ops.append(Op(len(ops), t, process, typ, f, val))
    return History(ops)


def concurrent(first: Step, second: Step) -> History:
    """Two ops whose intervals overlap: both invoked, then both completed."""
    (p1, f1, i1, t1, v1), (p2, f2, i2, t2, v2) = first, second
    return History([
        Op(0, 1000, p1, "invoke", f1, i1),
        Op(1, 2000, p2, "invoke", f2, i2),
        Op(2, 3000, p1, t1, f1, v1),
        Op(3, 4000, p2, t2, f2, v2),
    ])


def w(*kvs: tuple[str, int]) -> list[list[Any]]:
    return [["write", k, v] for k, v in kvs]


def r(*kvs: tuple[str, int | None]) -> list[list[Any]]:
    return [["read", k, v] for k, v in kvs]


def invalid(h: History, model: str, init: Any, failed: int | set[int], *words: str) -> None:
    """Caught; the op that could not take effect is ``failed`` (or one of them)."""
    res = check_history(h, model, init, time_budget_s=10)
    assert res.valid is False, res.details
    assert res.details["failed_op"] in (failed if isinstance(failed, set) else {failed})
    text = res.details["explanation"]
    assert f"op {res.details['failed_op']}" in text and "not linearizable" in text, text
    for word in words:
        assert word in text, (word, text)
    assert [a.kind for a in res.anomalies] == ["nonlinearizable"]
    assert res.anomalies[0].explanation == text


def valid(h: History, model: str, init: Any) -> None:
    res = check_history(h, model, init, time_budget_s=10)
    assert res.valid is True, res.details


# -- multi-register ----------------------------------------------------------------------


def test_multi_register_atomic_txns_are_valid() -> None:
    h = sequential(
        (0, "txn", w(("x", 1), ("y", 1)), "ok", w(("x", 1), ("y", 1))),
        (1, "txn", r(("x", None), ("y", None)), "ok", r(("x", 1), ("y", 1))),
        (2, "txn", w(("y", 2)) + r(("y", None)), "ok", w(("y", 2)) + r(("y", 2))),
    )
    valid(h, "multi-register", INIT_XY)
    # a read concurrent with the write may see before or after it, but all of it
    for seen in (0, 1):
        valid(concurrent((0, "txn", w(("x", 1), ("y", 1)), "ok", w(("x", 1), ("y", 1))),
                         (1, "txn", r(("x", None), ("y", None)), "ok", r(("x", seen), ("y", seen)))),
              "multi-register", INIT_XY)


def test_multi_register_fractured_read_is_caught() -> None:
    h = sequential(
        (0, "txn", w(("x", 1), ("y", 1)), "ok", w(("x", 1), ("y", 1))),
        (1, "txn", r(("x", None), ("y", None)), "ok", r(("x", 1), ("y", 0))),
    )
    invalid(h, "multi-register", INIT_XY, 2, "{x=1, y=1}", "[read 'y' 0]")
    # concurrent, still not atomic: half of the write is never a state
    h = concurrent((0, "txn", w(("x", 1), ("y", 1)), "ok", w(("x", 1), ("y", 1))),
                   (1, "txn", r(("x", None), ("y", None)), "ok", r(("x", 1), ("y", 0))))
    res = check_history(h, "multi-register", INIT_XY, time_budget_s=10)
    assert res.valid is False and res.details["explanation"]


def test_multi_register_stale_read_after_an_indeterminate_write_is_caught() -> None:
    h = sequential(
        (0, "txn", w(("x", 5)), "info", None),  # may take effect any time, or never
        (1, "txn", r(("x", None)), "ok", r(("x", 5))),
    )
    valid(h, "multi-register", INIT_XY)
    h = sequential(
        (0, "txn", w(("x", 5)), "info", None),
        (1, "txn", r(("x", None)), "ok", r(("x", 5))),
        (2, "txn", r(("x", None)), "ok", r(("x", 0))),  # x went back: no write of 0
    )
    invalid(h, "multi-register", INIT_XY, 4, "[read 'x' 0]")


def test_multi_register_read_of_a_value_never_written_is_caught() -> None:
    h = sequential((0, "txn", r(("x", None)), "ok", r(("x", 9))))
    invalid(h, "multi-register", INIT_XY, 0, "[read 'x' 9]")


# -- unordered queue ---------------------------------------------------------------------


def test_unordered_queue_any_delivery_order_is_valid() -> None:
    h = sequential(
        (0, "enqueue", 1, "ok", 1),
        (0, "enqueue", 2, "ok", 2),
        (1, "dequeue", None, "ok", 2),
        (1, "dequeue", None, "ok", 1),
        (1, "dequeue", None, "ok", None),  # empty
    )
    valid(h, "unordered-queue", None)
    assert check_history(h, "fifo-queue", None).valid is False  # the same order breaks FIFO


@pytest.mark.parametrize(
    ("name", "steps", "failed", "words"),
    [
        ("duplicate delivery", [(0, "enqueue", 1, "ok", 1), (1, "dequeue", None, "ok", 1),
                                (2, "dequeue", None, "ok", 1)], 4, ["holding []"]),
        ("never enqueued", [(0, "enqueue", 1, "ok", 1), (1, "dequeue", None, "ok", 7)], 2,
         ["holding [1]", "dequeue returning 7"]),
        ("empty while holding", [(0, "enqueue", 1, "ok", 1), (1, "dequeue", None, "ok", None)], 2,
         ["holding [1]"]),
        ("lost after indeterminate dequeue", [(0, "enqueue", "a", "ok", "a"),
                                              (1, "dequeue", None, "info", None),
                                              (2, "dequeue", None, "ok", "a"),
                                              (3, "dequeue", None, "ok", "a")],
         {4, 6}, []),  # either dequeue of a can be the one left without an a
    ],
)
def test_unordered_queue_anomalies_are_caught_and_explained(
    name: str, steps: list[Step], failed: int | set[int], words: list[str]
) -> None:
    invalid(sequential(*steps), "unordered-queue", None, failed, *words)


def test_unordered_queue_indeterminate_dequeue_may_have_taken_either() -> None:
    h = sequential(
        (0, "enqueue", "a", "ok", "a"),
        (0, "enqueue", "b", "ok", "b"),
        (1, "dequeue", None, "info", None),  # removed a, or b, or nothing
        (2, "dequeue", None, "ok", "b"),
        (2, "dequeue", None, "ok", None),  # then the info dequeue took a
    )
    valid(h, "unordered-queue", None)


@pytest.mark.parametrize(("written", "read"), [(True, 1), (1, True), (1.0, 1), (1, 1.0)])
def test_a_read_of_an_equal_value_of_another_type_is_caught(written: Any, read: Any) -> None:
    """Through check_history: a register written ``true`` that reads back ``1`` (Python's
    ``True == 1``) is not linearizable; the same value read back is."""
    h = sequential((0, "write", written, "ok", written), (1, "read", None, "ok", read))
    invalid(h, "cas-register", None, 2, "read")
    ok = sequential((0, "write", written, "ok", written), (1, "read", None, "ok", written))
    assert check_history(ok, "cas-register", None, time_budget_s=10).valid is True
    kv = sequential((0, "write", ["k", written], "ok", ["k", written]), (1, "read", ["k", None], "ok", ["k", read]))
    assert check_history(kv, "kv", None, time_budget_s=10).valid is False
