"""The coordinator-crash nemesis against a fake backend and fake status replies."""

from __future__ import annotations

from typing import Any

import pytest

import nemesis
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
    assert res["killed"] is None and res["polls"] == int(WATCH_S / 0.5) and b.killed == []


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
