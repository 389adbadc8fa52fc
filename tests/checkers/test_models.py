"""The sequential models: pure steps over hashable states."""

from __future__ import annotations

from typing import Any

import pytest

from checkers.models import INCONSISTENT, MODELS, ModelError, freeze, make_model

BAD = INCONSISTENT


def run(name: str, init: Any, ops: list[tuple[str, Any]], key: Any = None) -> Any:
    """Apply definite ops in order; the final state or INCONSISTENT."""
    m: Any = make_model(name, init)
    if hasattr(m, "split"):
        m = m.part_model(key)
    s = m.initial()
    hash(s)
    for f, v in ops:
        c = m.compile_op(f, v, True)
        if c is None:
            continue
        s = m.step(s, c)
        if s is BAD:
            return BAD
        hash(s)
    return s


def test_registry_names() -> None:
    assert set(MODELS) == {
        "register", "cas-register", "multi-register", "kv", "mutex", "fifo-queue",
        "unordered-queue", "set", "counter", "cache-register",
    }  # fmt: skip
    with pytest.raises(ModelError, match="unknown model 'nope'"):
        make_model("nope")


def test_register_and_cas() -> None:
    assert run("cas-register", 0, [("write", 3), ("read", 3), ("cas", [3, 4]), ("read", 4)]) == 4
    assert run("cas-register", 0, [("write", 3), ("read", 2)]) is BAD
    assert run("cas-register", 0, [("cas", [1, 2])]) is BAD
    assert run("register", 0, [("write", [1, 2]), ("read", [1, 2])]) == (1, 2)
    with pytest.raises(ModelError):
        make_model("register", 0).compile_op("cas", [0, 1], True)  # type: ignore[union-attr]
    with pytest.raises(ModelError, match="expects a value"):
        make_model("cas-register", 0).compile_op("cas", 5, True)  # type: ignore[union-attr]


def test_nil_reads() -> None:
    # initial value not nil: a nil read is a read of unknown value (Knossos)
    assert run("cas-register", 0, [("write", 3), ("read", None)]) == 3
    # initial value nil: nil is a real value, "never written" (Porcupine's etcd model)
    assert run("cas-register", None, [("read", None), ("write", 1)]) == 1
    assert run("cas-register", None, [("write", 1), ("read", None)]) is BAD
    # a cache register's nil read is a miss: always allowed
    assert run("cache-register", None, [("write", 1), ("read", None), ("read", 1)]) == 1
    assert run("cache-register", None, [("write", 1), ("read", 2)]) is BAD
    # indeterminate reads are dropped
    assert make_model("cas-register", 0).compile_op("read", 5, False) is None  # type: ignore[union-attr]


def test_kv_partitions_and_append() -> None:
    kv: Any = make_model("kv", {"a": 1})
    assert kv.split("read", ["a", 1]) == ("a", 1)
    assert kv.part_model("a").initial() == 1 and kv.part_model("b").initial() is None
    assert run("kv", "", [("append", "x"), ("append", "y"), ("get", "xy"), ("put", "z")], "k") == "z"
    assert run("kv", "", [("get", "")], "k") == ""
    assert run("kv", "", [("append", "x"), ("get", "")], "k") is BAD
    with pytest.raises(ModelError):
        kv.split("read", 5)


def test_multi_register() -> None:
    init = {"x": 0, "y": 0}
    ok = [("txn", [["write", "x", 1], ["read", "y", 0]]), ("txn", [["read", "x", 1], ["read", "y", None]])]
    assert run("multi-register", init, ok) == (1, 0)
    assert run("multi-register", init, [("txn", [["write", "x", 1]]), ("txn", [["read", "x", 0]])]) is BAD
    m: Any = make_model("multi-register", init)
    assert m.read_only(m.compile_op("txn", [["read", "x", 0]], True))
    assert not m.read_only(m.compile_op("txn", [["write", "x", 0]], True))
    assert m.compile_op("txn", [["read", "x", None]], True) is None  # constrains nothing
    with pytest.raises(ModelError):
        m.compile_op("txn", [["incr", "x", 1]], True)


def test_mutex() -> None:
    assert run("mutex", None, [("acquire", None), ("release", None), ("acquire", None)]) is True
    assert run("mutex", None, [("acquire", None), ("acquire", None)]) is BAD
    assert run("mutex", None, [("release", None)]) is BAD


def test_fifo_queue() -> None:
    assert run("fifo-queue", None, [("enqueue", 1), ("enqueue", 2), ("dequeue", 1)]) == (2,)
    assert run("fifo-queue", None, [("enqueue", 1), ("enqueue", 2), ("dequeue", 2)]) is BAD
    assert run("fifo-queue", None, [("dequeue", None)]) == ()
    assert run("fifo-queue", None, [("enqueue", 1), ("dequeue", None)]) is BAD
    q: Any = make_model("fifo-queue", [7])
    assert q.step(q.initial(), q.compile_op("dequeue", None, False)) == ()  # unknown dequeue takes the head


def test_unordered_queue() -> None:
    one = frozenset
    assert run("unordered-queue", None, [("enqueue", 1), ("enqueue", 2), ("dequeue", 2)]) == one({(1,)})
    assert run("unordered-queue", None, [("enqueue", 1), ("dequeue", 3)]) is BAD
    assert run("unordered-queue", None, [("enqueue", 1), ("enqueue", 1), ("dequeue", 1)]) == one({(1,)})
    # an indeterminate dequeue removed one of the elements present then, not a later one
    q: Any = make_model("unordered-queue", None)
    s = q.initial()
    for f, v, definite in [("enqueue", "a", True), ("dequeue", None, False), ("enqueue", "b", True)]:
        s = q.step(s, q.compile_op(f, v, definite))
    assert s == one({("b",)})
    assert q.step(s, q.compile_op("dequeue", "a", True)) is BAD
    s2 = q.step(q.step(q.initial(), ("e", 1)), ("e", 2))
    assert q.step(s2, q.compile_op("dequeue", None, False)) == one({(1,), (2,)})
    assert "one of" in q.describe_state(one({(1,), (2,)}))


def test_set_and_counter() -> None:
    assert run("set", None, [("add", 1), ("add", 2), ("read", [2, 1])]) == frozenset({1, 2})
    assert run("set", None, [("add", 1), ("read", [])]) is BAD
    assert run("counter", 0, [("add", 2), ("add", 3), ("read", 5)]) == 5
    assert run("counter", 0, [("add", 2), ("read", 1)]) is BAD
    with pytest.raises(ModelError, match="non-negative"):
        run("counter", 0, [("add", -1)])


def test_freeze_and_descriptions() -> None:
    assert freeze({"b": [1, {"c": 2}], "a": 1}) == (("a", 1), ("b", (1, (("c", 2),))))
    for name in MODELS:
        m: Any = make_model(name, None)
        if hasattr(m, "split"):
            m = m.part_model("k")
        assert isinstance(m.describe_state(m.initial()), str)


@pytest.mark.parametrize(("one", "other"), [(True, 1), (False, 0), (1.0, 1), (True, 1.0), (0.0, False)])
def test_values_python_equates_stay_apart(one: Any, other: Any) -> None:
    """true, 1 and 1.0 are different values to a system: a write of one and a read of the
    other is inconsistent in every model that compares values (and the same value reads back)."""
    assert one == other  # Python merges them; the models must not
    for name, init in (("register", None), ("cas-register", None), ("kv", None), ("cache-register", None)):
        assert run(name, init, [("write", one), ("read", other)], key="k") is BAD, name
        assert run(name, init, [("write", one), ("read", one)], key="k") is not BAD, name
    assert run("cas-register", None, [("write", one), ("cas", [other, 5])]) is BAD
    assert run("cas-register", None, [("write", one), ("cas", [one, 5])]) == 5
    assert run("multi-register", {"x": one}, [("txn", [["read", "x", other]])]) is BAD
    assert run("multi-register", {"x": one}, [("txn", [["read", "x", one]])]) is not BAD
    assert run("set", None, [("add", one), ("read", [other])]) is BAD
    assert run("set", None, [("add", one), ("read", [one])]) is not BAD
    assert run("fifo-queue", None, [("enqueue", one), ("dequeue", other)]) is BAD
    assert run("fifo-queue", None, [("enqueue", one), ("dequeue", one)]) == ()
    assert freeze([one]) != freeze([other]) and len({freeze(one), freeze(other)}) == 2
    assert repr(freeze(one)) == repr(one)


def test_counter_reads_and_adds_are_ints_not_bools() -> None:
    assert run("counter", 0, [("add", 1), ("read", True)]) is BAD
    assert run("counter", 0, [("add", 1), ("read", 1)]) == 1
    with pytest.raises(ModelError, match="non-negative int"):
        run("counter", 0, [("add", True)])
