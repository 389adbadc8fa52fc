"""The queue checker and the linearizability checker's fifo-queue model judge the same
single-partition, single-consumer histories alike (valid ones and broken ones)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checkers.linearizability import check_history
from checkers.queue import as_queue_ops, check_queue
from tests.queue.test_checker import H


def history(seed: int, n: int, mutate: str = "") -> H:
    """One producer (0) and one consumer (1) taking turns; the consumer polls one message."""
    rnd = random.Random(seed)
    h = H()
    log: list[str] = []
    pos = 0
    polled: list[tuple[int, str]] = []
    for i in range(n):
        if rnd.random() < 0.5:
            v = f"v{i}"
            h.invoke(0, "send", [v, v])
            log.append(v)
            h.complete(0, "send", [0, len(log) - 1])
        else:
            msgs = [[pos, log[pos]]] if pos < len(log) else []
            pos += len(msgs)
            polled += [(o, v) for o, v in msgs]
            h.poll(1, {0: msgs})
    if mutate and len(polled) >= 3:
        # rewrite one single-message poll: skip ahead (lost) or repeat the previous (duplicate)
        polls = [k for k, o in enumerate(h.ops) if o.f == "poll" and o.type == "ok" and
                 o.value.get("0")]
        k = polls[len(polls) // 2]
        off = h.ops[k].value["0"][0][0]
        new = off + 1 if mutate == "skip" else off - 1
        if 0 <= new < len(log):
            h.ops[k] = h.ops[k].with_(value={"0": [[new, log[new]]]})
    h.poll(2, {0: [[o, v] for o, v in enumerate(log)]}, drain=True)
    return h


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32), st.integers(0, 40))
def test_valid_histories_pass_both(seed: int, n: int) -> None:
    hist = history(seed, n).history()
    assert check_queue(hist).valid is True
    assert check_history(as_queue_ops(hist), "fifo-queue").valid is True


@pytest.mark.parametrize("mutate", ["skip", "repeat"])
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32), n=st.integers(12, 40))
def test_broken_histories_fail_both(mutate: str, seed: int, n: int) -> None:
    h = history(seed, n, mutate)
    clean = history(seed, n)
    if [o.value for o in h.ops] == [o.value for o in clean.ops]:
        return  # too few polls to break
    hist = h.history()
    assert check_queue(hist).valid is False
    assert check_history(as_queue_ops(hist), "fifo-queue").valid is False


def test_multi_message_polls_are_refused_by_the_translation() -> None:
    h = H()
    h.send(0, "a", 0, 0)
    h.send(0, "b", 0, 1)
    h.poll(1, {0: [[0, "a"], [1, "b"]]})
    with pytest.raises(ValueError, match="at most one"):
        as_queue_ops(h.history())
