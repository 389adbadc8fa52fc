"""Property tests: generated histories are linearizable; one corrupted read is caught."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checkers.linear.synth import overwritten_values, random_register_history
from checkers.linearizability import check_history
from harness.history import OK, History

PROPS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

shapes = st.tuples(
    st.integers(min_value=1, max_value=120),  # ops
    st.integers(min_value=1, max_value=8),  # concurrency
    st.sampled_from([0.0, 0.1, 0.3]),  # indeterminate fraction
    st.integers(min_value=0, max_value=2**32),  # seed
    st.sampled_from([2, 5, 50]),  # distinct values
)


@PROPS
@given(shapes)
def test_generated_histories_are_linearizable(shape: tuple[int, int, float, int, int]) -> None:
    n, c, p, seed, values = shape
    h = random_register_history(n, c, p, seed=seed, values=values)
    r = check_history(h, "cas-register", 0, time_budget_s=20)
    assert r.valid is True, r.details


def _ok_reads(h: History) -> list[int]:
    return [i for i, o in enumerate(h) if o.type == OK and o.f == "read"]


@PROPS
@given(shapes, st.data())
def test_read_of_a_value_never_written_is_caught(shape: tuple[int, int, float, int, int], data: st.DataObject) -> None:
    n, c, p, seed, values = shape
    h = random_register_history(n, c, p, seed=seed, values=values)
    reads = _ok_reads(h)
    if not reads:
        return
    i = data.draw(st.sampled_from(reads))
    ops = list(h)
    ops[i] = ops[i].with_(value=1000 + values)  # outside the value range: never written
    r = check_history(History(ops), "cas-register", 0, time_budget_s=20)
    assert r.valid is False
    inv = h.invocation(i)
    assert inv is not None and r.details["failed_op"] is not None
    assert r.details["failed_op"] in r.details["part_ops"]


@PROPS
@given(shapes, st.data())
def test_read_of_an_overwritten_value_is_caught(shape: tuple[int, int, float, int, int], data: st.DataObject) -> None:
    n, c, p, seed, values = shape
    h = random_register_history(n, c, p, seed=seed, values=values)
    choices = []
    for i in _ok_reads(h):
        inv = h.invocation(i)
        assert inv is not None
        stale = [v for v in overwritten_values(h, inv.index, init=0) if v != h[i].value]
        if stale:
            choices.append((i, stale))
    if not choices:
        return
    i, stale = data.draw(st.sampled_from(choices))
    v = data.draw(st.sampled_from(stale))
    ops = list(h)
    ops[i] = ops[i].with_(value=v)
    r = check_history(History(ops), "cas-register", 0, time_budget_s=20)
    assert r.valid is False, (i, v)
