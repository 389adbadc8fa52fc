"""The queue checker: valid histories pass, each anomaly class is caught and explained.

The property test builds histories from a model of a partitioned log: a send
appends at its invocation (so appends respect real time), consumers poll
contiguous runs from their positions, groups commit what they were
delivered and a joining member resumes from the group's commit; a final
drain reads every partition from 0. Such histories are valid by construction.
"""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from checkers.queue import KINDS, QueueChecker, check_queue
from harness.history import History, Op


class H:
    """Sequential history builder: each call appends an invoke and its completion."""

    def __init__(self) -> None:
        self.ops: list[Op] = []
        self.t = 0

    def _ev(self, p: int, typ: str, f: str, value: Any) -> int:
        self.t += 1_000_000
        self.ops.append(Op(len(self.ops), self.t, p, typ, f, value))
        return len(self.ops) - 1

    def invoke(self, p: int, f: str, value: Any) -> int:
        return self._ev(p, "invoke", f, value)

    def complete(self, p: int, f: str, value: Any, typ: str = "ok") -> int:
        return self._ev(p, typ, f, value)

    def send(self, p: int, v: Any, part: int, off: int, typ: str = "ok") -> int:
        self.invoke(p, "send", [v, v])
        return self.complete(p, "send", [part, off] if typ == "ok" else None, typ)

    def poll(self, p: int, msgs: dict[int, list[list[Any]]], group: str | None = None,
             drain: bool = False) -> int:
        self.invoke(p, "poll", {"group": group, "drain": drain})
        return self.complete(p, "poll", {str(k): v for k, v in msgs.items()})

    def join(self, p: int) -> None:
        self.invoke(p, "join", None)
        self.complete(p, "join", [0])

    def commit(self, p: int, group: str, offsets: dict[int, int]) -> None:
        v = {"group": group, "offsets": {str(k): o for k, o in offsets.items()}}
        self.invoke(p, "commit", v)
        self.complete(p, "commit", v)

    def history(self) -> History:
        return History(self.ops)


def kinds(r: Any) -> list[str]:
    return sorted({a.kind for a in r.anomalies})


def only(r: Any, kind: str) -> Any:
    assert r.valid is False
    hits = [a for a in r.anomalies if a.kind == kind]
    assert hits, kinds(r)
    return hits[0]


def base() -> H:
    h = H()
    for i in range(4):
        h.send(0, f"v{i}", 0, i)
    return h


# -- valid -------------------------------------------------------------------------


def test_sends_polled_and_drained_are_valid_with_counts():
    h = base()
    h.send(0, "w", 1, 0, "info")
    h.poll(1, {0: [[0, "v0"], [1, "v1"]]}, group="g")
    h.commit(1, "g", {0: 2})
    h.poll(1, {0: [[2, "v2"], [3, "v3"]]}, group="g")
    h.poll(2, {0: [[0, "v0"], [1, "v1"], [2, "v2"], [3, "v3"]], 1: []}, drain=True)
    r = check_queue(h.history())
    assert r.valid is True and r.anomalies == ()
    d = r.details
    assert (d["sends_ok"], d["sends_info"], d["polls_ok"], d["commits_ok"]) == (4, 1, 3, 1)
    assert d["partitions"] == 1 and d["drained"] is True and d["messages_polled"] == 8
    assert all(n == 0 for n in d["counts"].values())


def test_redelivery_after_a_join_is_allowed():
    h = base()
    h.poll(1, {0: [[0, "v0"], [1, "v1"]]}, group="g")
    h.join(1)
    h.poll(1, {0: [[0, "v0"], [1, "v1"], [2, "v2"], [3, "v3"]]}, group="g")
    h.poll(1, {0: [[0, "v0"], [1, "v1"], [2, "v2"], [3, "v3"]]}, drain=True)
    assert check_queue(h.history()).valid is True


def test_no_drain_is_unknown():
    h = base()
    r = check_queue(h.history())
    assert r.valid == "unknown" and "drain" in r.details["reason"]


def test_info_send_that_shows_up_is_fine():
    h = H()
    h.send(0, "a", 0, 0, "info")
    h.poll(1, {0: [[0, "a"]]}, drain=True)
    assert check_queue(h.history()).valid is True


# -- each class, caught and explained ------------------------------------------------


def test_inconsistent_offsets():
    h = base()
    i = h.poll(1, {0: [[0, "v0"], [1, "x"], [2, "v2"], [3, "v3"]]}, drain=True)
    a = only(check_queue(h.history()), "inconsistent-offsets")
    assert a.data["partition"] == 0 and a.data["offset"] == 1 and i in a.ops
    assert "'v1'" in a.explanation and "'x'" in a.explanation


def test_duplicate():
    h = base()
    i = h.poll(1, {0: [[0, "v0"], [1, "v1"], [2, "v2"], [3, "v3"], [4, "v1"]]}, drain=True)
    a = only(check_queue(h.history()), "duplicate")
    assert a.data["value"] == "v1" and [0, 4] in a.data["positions"] and i in a.ops


def test_lost_write():
    h = base()
    i = h.poll(1, {0: [[0, "v0"], [2, "v2"], [3, "v3"]]}, drain=True)
    r = check_queue(h.history())
    a = only(r, "lost-write")
    assert a.data["offset"] == 1 and a.data["value"] == "v1" and i in a.ops
    assert r.details["lost"] == 1 and "never polled" in a.explanation
    assert "int-poll-skip" in kinds(r)  # the drain jumped from 0 to 2


def test_unseen_tail_and_unseen_after_being_polled():
    h = base()
    h.poll(2, {0: [[0, "v0"], [1, "v1"]]})
    h.poll(1, {0: [[1, "v1"], [2, "v2"]]}, drain=True)  # v0 polled once, gone; v3 never seen
    r = check_queue(h.history())
    assert kinds(r) == ["unseen"]
    vals = sorted(a.data["value"] for a in r.anomalies if a.kind == "unseen")
    assert vals == ["v0", "v3"] and r.details["unseen"] == 2


def test_nonmonotonic_send():
    h = H()
    h.send(0, "a", 0, 5)
    i = h.send(0, "b", 0, 3)
    h.poll(1, {0: [[3, "b"], [5, "a"]]}, drain=True)
    r = check_queue(h.history())
    a = only(r, "nonmonotonic-send")
    assert a.data["offsets"] == [5, 3] and i in a.ops
    assert "partition-order" in kinds(r)


def test_partition_order_across_producers():
    h = H()
    h.send(0, "a", 0, 1)
    i = h.send(1, "b", 0, 0)
    h.poll(2, {0: [[0, "b"], [1, "a"]]}, drain=True)
    r = check_queue(h.history())
    a = only(r, "partition-order")
    assert a.data["offsets"] == [1, 0] and i in a.ops
    assert "nonmonotonic-send" not in kinds(r)


def test_concurrent_sends_may_land_in_either_order():
    h = H()
    h.invoke(0, "send", ["a", "a"])
    h.invoke(1, "send", ["b", "b"])
    h.complete(0, "send", [0, 1])
    h.complete(1, "send", [0, 0])
    h.poll(2, {0: [[0, "b"], [1, "a"]]}, drain=True)
    assert check_queue(h.history()).valid is True


def test_nonmonotonic_poll():
    h = base()
    h.poll(1, {0: [[0, "v0"], [1, "v1"], [2, "v2"]]})
    i = h.poll(1, {0: [[1, "v1"], [2, "v2"], [3, "v3"]]})
    h.poll(2, {0: [[0, "v0"], [1, "v1"], [2, "v2"], [3, "v3"]]}, drain=True)
    a = only(check_queue(h.history()), "nonmonotonic-poll")
    assert a.data["offsets"] == [2, 1] and i in a.ops


def test_poll_skip_within_a_consumer():
    h = base()
    h.poll(1, {0: [[0, "v0"]]})
    i = h.poll(1, {0: [[2, "v2"], [3, "v3"]]})
    h.poll(2, {0: [[0, "v0"], [1, "v1"], [2, "v2"], [3, "v3"]]}, drain=True)
    a = only(check_queue(h.history()), "poll-skip")
    assert a.data["offsets"] == [0, 2] and i in a.ops


def test_poll_skip_of_a_group_across_a_rebalance():
    # member 1 got 0..1, the commit went to 3 (commit-ahead), member 2 resumed there
    h = base()
    h.poll(1, {0: [[0, "v0"], [1, "v1"]]}, group="g")
    h.commit(1, "g", {0: 3})
    h.join(2)
    i = h.poll(2, {0: [[3, "v3"]]}, group="g")
    h.poll(3, {0: [[0, "v0"], [1, "v1"], [2, "v2"], [3, "v3"]]}, drain=True)
    r = check_queue(h.history())
    a = only(r, "poll-skip")
    assert a.data["group"] == "g" and a.data["offsets"] == [2, 2] and i in a.ops
    assert "no member" in a.explanation
    # the evidence that offset 2 exists is its send's acknowledgement, long before the drain
    send_ack = next(o.index for o in h.history() if o.f == "send" and o.type == "ok"
                    and o.value == [0, 2])
    assert a.ops[0] == send_ack, a.ops


def test_int_nonmonotonic_poll():
    h = base()
    i = h.poll(1, {0: [[0, "v0"], [2, "v2"], [1, "v1"], [3, "v3"]]}, drain=True)
    a = only(check_queue(h.history()), "int-nonmonotonic-poll")
    assert a.data["offsets"] == [2, 1] and i in a.ops


def test_int_poll_skip_uses_the_version_order():
    # offsets 0, 10, 20 with nothing between: no skip; skipping 10 is one
    h = H()
    for i, off in enumerate([0, 10, 20]):
        h.send(0, f"v{i}", 0, off)
    h.poll(1, {0: [[0, "v0"], [10, "v1"], [20, "v2"]]}, drain=True)
    assert check_queue(h.history()).valid is True
    h.poll(2, {0: [[0, "v0"], [20, "v2"]]})
    a = only(check_queue(h.history()), "int-poll-skip")
    assert a.data["offsets"] == [0, 20]


def test_malformed_values():
    h = H()
    h.invoke(0, "send", ["a", "a"])
    h.complete(0, "send", "nope")
    h.invoke(1, "poll", None)
    h.complete(1, "poll", [1, 2])
    r = check_queue(h.history())
    assert kinds(r) == ["malformed"] and len(r.anomalies) == 2


def test_anomalies_are_capped_per_kind_but_counted():
    h = H()
    for i in range(30):
        h.send(0, i, 0, i)
    h.poll(1, {0: [[0, 0]]}, drain=True)
    r = QueueChecker(max_anomalies=5).check({}, h.history(), None)
    assert r.details["counts"]["unseen"] == 29 and r.details["truncated"]["unseen"] == 24
    assert len([a for a in r.anomalies if a.kind == "unseen"]) == 5


def test_every_kind_is_listed():
    assert len(set(KINDS)) == len(KINDS) == 11


# -- property: model histories are valid; breaking them is caught ----------------------


def model_history(seed: int, n: int, parts: int) -> H:
    rnd = random.Random(seed)
    h = H()
    logs: list[list[str]] = [[] for _ in range(parts)]
    pending: dict[int, tuple[str, int, int]] = {}  # producer -> (value, part, offset)
    committed: dict[int, int] = dict.fromkeys(range(parts), 0)
    pos: dict[int, dict[int, int]] = {c: dict(committed) for c in (10, 11)}
    k = 0
    for _ in range(n):
        r = rnd.random()
        if r < 0.45:
            p = rnd.randrange(3)
            if p in pending:
                v, part, off = pending.pop(p)
                h.complete(p, "send", [part, off])
            else:
                part = rnd.randrange(parts)
                v = f"m{k}"
                k += 1
                h.invoke(p, "send", [part, v])
                logs[part].append(v)
                pending[p] = (v, part, len(logs[part]) - 1)
        elif r < 0.8:
            c = rnd.choice((10, 11))
            msgs: dict[int, list[list[Any]]] = {}
            for part in range(parts):
                start, stop = pos[c][part], min(len(logs[part]), pos[c][part] + rnd.randint(0, 3))
                if stop > start:
                    msgs[part] = [[o, logs[part][o]] for o in range(start, stop)]
                    pos[c][part] = stop
            h.poll(c, msgs, group="g")
        elif r < 0.92:
            c = rnd.choice((10, 11))
            part = rnd.randrange(parts)
            committed[part] = max(committed[part], pos[c][part])
            h.commit(c, "g", {part: committed[part]})
        else:
            c = rnd.choice((10, 11))
            h.join(c)
            pos[c] = dict(committed)
    for p in pending:
        h.complete(p, "send", None, "info")
    h.poll(20, {part: [[o, v] for o, v in enumerate(log)] for part, log in enumerate(logs)},
           drain=True)
    return h


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32), st.integers(0, 120), st.integers(1, 3))
def test_model_histories_are_valid(seed: int, n: int, parts: int):
    r = check_queue(model_history(seed, n, parts).history())
    assert r.valid is True, r.anomalies[:3]


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32), st.integers(20, 120))
def test_dropping_a_message_from_the_drain_is_caught(seed: int, n: int):
    h = model_history(seed, n, 2)
    drain = h.ops[-1]
    msgs = {k: list(v) for k, v in drain.value.items()}
    acked = {tuple(o.value) for o in h.ops if o.f == "send" and o.type == "ok"}
    victims = [(k, i) for k, ms in msgs.items() for i, (off, _) in enumerate(ms)
               if (int(k), off) in acked]
    if not victims:
        return
    k, i = victims[random.Random(seed).randrange(len(victims))]
    del msgs[k][i]
    h.ops[-1] = drain.with_(value=msgs)
    r = check_queue(h.history())
    assert r.valid is False
    assert {"unseen", "lost-write", "int-poll-skip"} & set(kinds(r))
