"""The coordinator-crash and commit-cut nemeses against fake backends and status replies."""

from __future__ import annotations

from typing import Any

import pytest

import nemesis
from nemesis.commit_cut import DELAY_MS, CommitCutNemesis, pick_participant
from nemesis.coordinator_crash import WATCH_S, CoordinatorCrashNemesis, pick_victim
from nemesis.core import NemesisError, NemesisOptions


class FakeBackend:
    def __init__(self) -> None:
        self.killed: list[str] = []
        self.started: list[str] = []

    def cluster(self) -> dict[str, tuple[str, int]]:
        return {n: ("127.0.0.1", 1) for n in ("n1", "n2", "n3")}

    def kill(self, node: str) -> None:
        self.killed.append(node)

    def start(self, node: str) -> None:
        self.started.append(node)


def test_pick_victim_takes_the_node_with_most_decisions_in_flight() -> None:
    assert pick_victim({"n1": {"deciding": 0}, "n2": {"deciding": 0}}) is None
    assert pick_victim({"n1": {"deciding": 1}, "n2": {"deciding": 3}, "n3": {}}) == "n2"
    assert pick_victim({}) is None


def make(replies: list[dict[str, dict[str, Any] | None]]) -> tuple[CoordinatorCrashNemesis, FakeBackend]:
    """Status replies round by round (one dict per poll round); time advances per sleep."""
    t = [0.0]
    rounds = iter(replies)
    current: dict[str, Any] = {}

    def status(node: str) -> dict[str, Any] | None:
        nonlocal current
        if node == "n1":
            current = next(rounds, {})
        return current.get(node)

    def sleep(s: float) -> None:
        t[0] += 0.5

    nem = CoordinatorCrashNemesis(NemesisOptions(), status=status, clock=lambda: t[0], sleep=sleep)
    b = FakeBackend()
    nem.setup(b, {"nodes": ["n1", "n2", "n3"], "seed": 1})
    return nem, b


def test_kills_the_node_caught_deciding_and_restarts_it() -> None:
    idle = {"n1": {"deciding": 0}, "n2": {"deciding": 0}, "n3": {"deciding": 0}}
    busy = {"n1": {"deciding": 0}, "n2": None, "n3": {"deciding": 2}}
    nem, b = make([idle, idle, busy])
    res = nem.invoke("start-coordinator-crash", None)
    assert res == {"killed": "n3", "deciding": 2, "polls": 3} and b.killed == ["n3"]
    assert nem.invoke("stop-coordinator-crash", None) == ["n3"] and b.started == ["n3"]
    assert nem.invoke("stop-coordinator-crash", None) == []


def test_touches_nothing_when_no_node_is_ever_deciding() -> None:
    idle = {"n1": {"deciding": 0}, "n2": {"deciding": 0}, "n3": {"deciding": 0}}
    nem, b = make([idle] * 100)
    res = nem.invoke("start-coordinator-crash", None)
    # polled every 0.5 s, the last time at the deadline
    assert res["killed"] is None and res["polls"] == int(WATCH_S / 0.5) + 1 and b.killed == []


def test_teardown_restarts_and_bad_ops_are_refused() -> None:
    nem, b = make([{"n1": {"deciding": 1}}])
    nem.invoke("start-coordinator-crash", None)
    nem.teardown()
    assert b.started == ["n1"]
    with pytest.raises(NemesisError):
        nem.invoke("start-kill", None)


def test_package_is_registered_and_needs_kill() -> None:
    pkg = nemesis.PACKAGES["coordinator-crash"](NemesisOptions(interval_s=1.0))
    assert pkg.needs == frozenset({"kill"}) and pkg.bands[0].start_f == "start-coordinator-crash"


# -- commit-cut ------------------------------------------------------------------------


class CutBackend(FakeBackend):
    """Records every fault call in order; in-flight commits follow the cut (see ``status``)."""

    def __init__(self, delay: bool = True, stuck: bool = True) -> None:
        super().__init__()
        self.calls: list[tuple[Any, ...]] = []
        self.delay, self.stuck, self.cut = delay, stuck, False

    def capabilities(self) -> frozenset[str]:
        return frozenset({"kill", "partition", "packet"})

    def packet_mechanism(self) -> dict[str, str]:
        return {"delay": "relay" if self.delay else "unsupported: no relay", "loss": "x"}

    def shape(self, node: str, delay_ms: float = 0, loss: float = 0, dup: float = 0) -> None:
        self.calls.append(("shape", node, delay_ms))

    def partition(self, grudge: dict[str, frozenset[str]]) -> None:
        self.cut = True
        self.calls.append(("partition", {k: sorted(v) for k, v in grudge.items()}))

    def heal(self) -> None:
        self.cut = False
        self.calls.append(("heal",))

    def kill(self, node: str) -> None:
        super().kill(node)
        self.calls.append(("kill", node))

    def start(self, node: str) -> None:
        super().start(node)
        self.calls.append(("start", node))

    def status(self, node: str) -> dict[str, Any]:
        # Before the cut, the coordinator awaits acks from the other two (1 and 2 txns) and
        # from itself; after it, only the cut-off participant's commits are still missing.
        a, b = (n for n in ("n1", "n2", "n3") if n != node)
        if not self.cut:
            return {"deciding": 2, "awaiting_ack": {a: 1, b: 2, node: 5}}
        return {"deciding": 1, "awaiting_ack": {b: 2} if self.stuck else {}}


def make_cut(b: CutBackend) -> CommitCutNemesis:
    t = [0.0]

    def sleep(s: float) -> None:
        t[0] += s

    nem = CommitCutNemesis(NemesisOptions(), status=b.status, clock=lambda: t[0], sleep=sleep)
    nem.setup(b, {"nodes": ["n1", "n2", "n3"], "seed": 1})
    return nem


def test_pick_participant_takes_the_one_with_most_commits_in_flight() -> None:
    assert pick_participant({"n2": 1, "n3": 2}) == "n3"
    assert pick_participant({"n2": 2, "n3": 2}) == "n2"
    assert pick_participant({}) is None and pick_participant({"n2": 0}) is None


def test_commit_cut_delays_cuts_kills_then_heals_and_restarts_in_order() -> None:
    b = CutBackend()
    nem = make_cut(b)
    res = nem.invoke("start-commit-cut", None)
    c = res["coordinator"]
    p = max(n for n in ("n1", "n2", "n3") if n != c)  # the one with 2 commits in flight
    assert res["participant"] == p and res["killed"] == c and res["in_flight"] == {p: 2}
    assert res["delay_ms"] == DELAY_MS and res["mechanism"] == "relay"
    assert b.calls == [("shape", c, DELAY_MS), ("partition", {p: [c]}), ("kill", c),
                       ("heal",), ("shape", c, 0), ("start", c)]
    assert nem.invoke("stop-commit-cut", None) == []  # the episode left nothing behind


def test_commit_cut_kills_nobody_when_no_commit_to_the_cut_participant_is_stuck() -> None:
    b = CutBackend(stuck=False)
    res = make_cut(b).invoke("start-commit-cut", None)
    assert res["killed"] is None and b.killed == []
    assert [k[0] for k in b.calls] == ["shape", "partition", "heal", "shape"]


def test_commit_cut_without_a_delay_mechanism_cuts_without_shaping() -> None:
    b = CutBackend(delay=False)
    res = make_cut(b).invoke("start-commit-cut", None)
    assert res["delay_ms"] == 0 and res["mechanism"] == "no delay available"
    assert [k[0] for k in b.calls] == ["partition", "kill", "heal", "start"]


def test_commit_cut_restores_after_a_failed_kill_and_names_the_failure() -> None:
    b = CutBackend()

    def kill(node: str) -> None:
        raise RuntimeError("engine said no")

    b.kill = kill  # type: ignore[method-assign]
    nem = make_cut(b)
    with pytest.raises(RuntimeError, match="engine said no"):
        nem.invoke("start-commit-cut", None)
    # healed, delay lifted, and the (maybe half-killed) coordinator started again
    assert [k[0] for k in b.calls] == ["shape", "partition", "heal", "shape", "start"]
    assert not nem.down and not nem.shaped and not nem.cut


def test_commit_cut_package_needs_partition_and_kill() -> None:
    pkg = nemesis.PACKAGES["commit-cut"](NemesisOptions(interval_s=1.0))
    assert pkg.needs == frozenset({"partition", "kill"})
    assert pkg.bands[0].start_f == "start-commit-cut"


def test_commit_cut_settles_for_one_commit_in_flight_and_cuts_nothing_without_any() -> None:
    def one_in_flight(node: str) -> dict[str, Any]:  # never the two it would rather have
        return {"awaiting_write_ack": {max(n for n in ("n1", "n2", "n3") if n != node): 1}}

    one = CutBackend()
    one.status = one_in_flight  # type: ignore[method-assign]
    res = make_cut(one).invoke("start-commit-cut", None)
    assert res["participant"] is not None and res["killed"] == res["coordinator"]
    none = CutBackend()
    none.status = lambda node: {"deciding": 0, "awaiting_write_ack": {}}  # type: ignore[method-assign]
    res = make_cut(none).invoke("start-commit-cut", None)
    assert res["participant"] is None and res["killed"] is None
    assert [k[0] for k in none.calls] == ["shape", "shape"]  # the delay on and off, nothing else
