"""The pieces of the linearizability search that make it fast: each tested on its own,
plus state counts (deterministic, unlike times) that would grow if one stopped working."""

from __future__ import annotations

from typing import Any

from checkers.linear.lookahead import make_lookahead
from checkers.linear.plan import nested_twins, plan
from checkers.linear.synth import random_register_history
from checkers.linear.wgl import PartOp, _dominated
from checkers.linearizability import check_history
from checkers.models import make_model
from harness.history import History, Op


def H(*events: tuple[Any, str, str, Any]) -> History:
    return History([Op(i, (i + 1) * 1_000_000, p, t, f, v) for i, (p, t, f, v) in enumerate(events)])


def test_nested_twins_name_identical_ops_inside_an_op() -> None:
    ops = [
        PartOp(0, 0, 10, ("w", 1), True),
        PartOp(1, 1, 5, ("w", 1), True),  # inside op 0, identical: op 0 waits for it
        PartOp(2, 2, 4, ("w", 2), True),  # inside op 0 but another op
        PartOp(3, 3, 12, ("w", 1), True),  # overlaps op 0 without nesting
        PartOp(4, 6, -1, ("w", 1), False),  # indeterminate: never nested
    ]
    nested = nested_twins(ops)
    assert nested[0] == ((1, 1),)
    assert nested[1:] == [(), (), (), ()]


def test_consumers_of_a_value_need_as_many_producers() -> None:
    # state 2; one write of 0 and two cas from 0: each cas uses up the 0, so the second
    # can never go, although each alone has a producer
    m = make_model("cas-register", 2)
    ops = [
        PartOp(0, 0, 20, ("w", 0), True),
        PartOp(1, 1, 10, ("c", 0, 1), True),
        PartOp(2, 2, 11, ("c", 0, 1), True),
    ]
    look = make_lookahead(plan(ops, m), ops, m)  # type: ignore[arg-type]
    assert look is not None
    assert look.doomed(2, 0, 0, 0, 0, (), -1) == 2
    assert look.doomed(0, 0, 0, 0, 0, (), -1) == -1  # the state itself is the other 0
    h = H(
        (0, "invoke", "write", 0), (1, "invoke", "cas", [0, 1]), (2, "invoke", "cas", [0, 1]),
        (1, "ok", "cas", [0, 1]), (2, "ok", "cas", [0, 1]), (0, "ok", "write", 0),
    )
    r = check_history(h, "cas-register", 2)
    assert r.valid is False and r.details["failed_op"] in (1, 2)


def test_indeterminate_ops_of_a_class_are_counted() -> None:
    # a read of 5 before and after a write of 6: only indeterminate writes store 5
    def hist(info_writes: int) -> History:
        ev: list[tuple[Any, str, str, Any]] = []
        for p in range(info_writes):
            ev += [(10 + p, "invoke", "write", 5), (10 + p, "info", "write", 5)]
        ev += [
            (0, "invoke", "read", None), (0, "ok", "read", 5),
            (1, "invoke", "write", 6), (1, "ok", "write", 6),
            (0, "invoke", "read", None), (0, "ok", "read", 5),
        ]
        return H(*ev)

    assert check_history(hist(2), "cas-register", 0).valid is True
    one = check_history(hist(1), "cas-register", 0)
    assert one.valid is False and "read returning 5" in one.details["explanation"]


def test_dominance_keeps_the_state_with_more_reads() -> None:
    entries: list[tuple[int, int]] = []
    assert not _dominated(entries, 3, 0b1010)  # reads 0-2, 4, 6
    assert _dominated(entries, 3, 0b0010)  # a subset: dominated
    assert _dominated(entries, 2, 0b100)  # reads 0-1, 4: a subset
    assert not _dominated(entries, 4, 0)  # reads 0-3: 3 is new
    assert not _dominated(entries, 5, 0b11)  # 0-4, 5, 6: a superset of both
    assert entries == [(5, 0b11)]  # the dominated ones are forgotten


def test_concurrent_histories_take_few_states() -> None:
    # state counts are deterministic; these grew 10-100x without the candidate order,
    # the read dominance and the indeterminate classes
    for n, conc, info, most in ((1000, 50, 0.0, 10_000), (10_000, 50, 0.1, 50_000)):
        h = random_register_history(n, conc, info, seed=n + conc)
        r = check_history(h, "cas-register", 0, time_budget_s=600)
        assert r.valid is True
        assert r.details["states_explored"] < most, (n, conc, info, r.details["states_explored"])
