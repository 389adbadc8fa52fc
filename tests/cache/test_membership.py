"""Membership changes mid-run: the ring's change figures, the checker's rows, the
local backend adding and retiring real cache processes driven by the membership
nemesis, and systems/backends that cannot change membership refusing it."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from checkers.cache import check_cache, membership_changes
from harness.backends.base import ChangesMembership, next_node_name
from harness.backends.local import LocalBackend
from harness.errors import UsageError
from harness.history import History, Op
from harness.options import Options, validate
from nemesis import NemesisOptions
from nemesis.membership import MembershipNemesis
from systems import get_system
from systems.cache import Ring, moved_share, ring_change
from systems.cache.client import CacheClient
from tests.harness.test_local_backend import _alive

REPO = Path(__file__).resolve().parents[2]


def test_ring_change_figures_against_the_ideal() -> None:
    five = [f"n{i}" for i in range(1, 6)]
    join = ring_change(five, [*five, "n6"])
    assert join["joined"] == ["n6"] and join["left"] == []
    assert join["ideal"] == pytest.approx(1 / 6, abs=1e-4)
    assert 0.9 < join["moved_over_ideal"] < 1.1  # type: ignore[operator]
    leave = ring_change(five, five[1:])
    assert leave["left"] == ["n1"] and leave["ideal"] == pytest.approx(0.2)
    assert 0.9 < leave["moved_over_ideal"] < 1.1  # type: ignore[operator]
    assert 1.0 <= leave["load_max_over_mean"] < 1.1  # type: ignore[operator]
    # exact on the hash space: no movement without a change, all of it from nothing
    assert moved_share(Ring(five), Ring(list(reversed(five)))) == 0.0
    assert moved_share(Ring([]), Ring(["n1"])) == 1.0
    # a join moves keys only to the newcomer: the share moved is the newcomer's span
    ring = Ring([*five, "n6"])
    assert moved_share(Ring(five), ring) == pytest.approx(ring.spans()["n6"] / 2**32)


def _nemesis_op(index: int, t: float, f: str, value: Any) -> Op:
    return Op(index, int(t * 1e9), "nemesis", "info", f, value)


def test_checker_reports_one_row_per_membership_change() -> None:
    change = {"from": ["n1", "n2"], **ring_change(["n1", "n2"], ["n1", "n2", "n3"])}
    ops = [
        Op(0, 0, "nemesis", "invoke", "start-membership", {"action": "join"}),
        _nemesis_op(1, 0.5, "start-membership", {
            "action": "join", "node": "n3", "epoch": 12, "members": ["n1", "n2", "n3"],
            "settled": True, "change": change}),
        Op(2, int(0.6e9), "nemesis", "invoke", "stop-membership", None),
        _nemesis_op(3, 0.7, "stop-membership", {"action": "rejoin", "nodes": []}),
    ]
    flap = {"action": "flap", "node": "n1", "epoch": 20, "members": ["n2", "n3"],
            "change": ring_change(["n1", "n2", "n3"], ["n2", "n3"])}
    join = {"action": "join", "node": "n4", "epoch": 25, "members": ["n2", "n3", "n4"],
            "change": ring_change(["n2", "n3"], ["n2", "n3", "n4"])}
    replace = [Op(4, int(0.8e9), "nemesis", "invoke", "start-membership", {"action": "replace"}),
               _nemesis_op(5, 1.0, "start-membership", {"action": "replace", "node": "n1",
                                                         "changes": [flap, join]})]
    rows = membership_changes(History([*ops, *replace]))
    assert [(r["action"], r["epoch"], r["op"]) for r in rows] == [
        ("join", 12, 1), ("flap", 20, 5), ("join", 25, 5)]  # one row per step of a replace
    assert rows[1]["left"] == ["n1"] and rows[2]["joined"] == ["n4"]
    rows = membership_changes(History(ops))
    assert len(rows) == 1  # the stop changed nothing: no row
    row = rows[0]
    assert row["action"] == "join" and row["epoch"] == 12 and row["joined"] == ["n3"]
    assert row["ideal"] == pytest.approx(1 / 3, abs=1e-4) and row["moved"] > 0
    details = check_cache(History(ops), require_final=False).details
    assert details["membership_changes"] == 1
    assert details["moved_over_ideal_max"] == row["moved_over_ideal"]
    assert "membership" not in check_cache(History(ops[2:]), require_final=False).details


def test_next_node_name_never_reuses_a_name() -> None:
    assert next_node_name({"n1", "n2", "n3"}) == "n4"
    assert next_node_name({"n1", "n7", "x"}) == "n8"
    assert next_node_name(set()) == "n1"


def test_systems_and_backends_that_cannot_change_membership_refuse_it() -> None:
    systems = {n: get_system(n) for n in ("raftkv", "cache")}
    base = dict(workload="register", nemesis=("membership",))
    with pytest.raises(UsageError, match="system raftkv cannot change membership"):
        validate(Options(system="raftkv", **base), systems, ["register", "cache"],  # type: ignore[arg-type]
                 ["membership"])
    # the simulation adds nodes through an adapter's join_node: the cache has one, raftkv not
    validate(Options(system="cache", workload="cache", nemesis=("membership",), backend="sim"),
             systems, ["cache"], ["membership"])
    from harness.sim import World, load_adapter

    assert "membership" in World(load_adapter("cache"), ["n1"], 0).capabilities()
    plain = World(load_adapter("raftkv"), ["n1"], 0)
    assert "membership" not in plain.capabilities()
    with pytest.raises(Exception, match="cannot add nodes"):
        plain.add_node()
    r = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--system", "raftkv",
                        "--workload", "register", "--nemesis", "membership", "--backend", "local"],
                       cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "raftkv cannot change membership" in lines[0], r.stderr


async def _routes_to(cluster: dict[str, tuple[str, int]], node: str) -> bool:
    """A client opened on the original cluster map reaches a node that joined later."""
    c = CacheClient(cluster, "n1", 3.0)
    try:
        await c._refresh(force=True)
        ring = c.rings[-1][1]
        key = next(k for k in (f"key-{i}" for i in range(10_000)) if ring.lookup(k) == node)
        assert (await c.invoke("write", {"key": key, "value": 1}))[0] == "ok"
        kind, value, _ = await c.invoke("read", {"key": key})
        return kind == "ok" and value["node"] == node and value["value"] == 1
    finally:
        await c.close()


async def _fed(cluster: dict[str, tuple[str, int]], joiner: tuple[str, int]) -> bool:
    """A joined node caches ``fed``; a put of it commits with no ``cdel`` (a writer that
    timed out): the joiner's heartbeat brings the delete (store.py's feed) within ~1 s."""
    from systems.common import wire
    from systems.raft.client import RaftClient

    def ask(msg: dict[str, Any]) -> Any:
        return wire.request(joiner[0], joiner[1], msg, timeout_s=2.0)

    miss = ask({"op": "cget", "key": "fed", "since": 0})
    assert ask({"op": "cset", "key": "fed", "value": "old", "lease": miss["lease"],
                "epoch": 1})["stored"] is True
    store = RaftClient(cluster, "n1", 3.0)
    try:
        reply, _, _ = await store.session({"op": "put", "key": "fed", "value": "new"})
        assert reply is not None and reply.get("ok"), reply
    finally:
        await store.close()
    for _ in range(40):  # heartbeats every 0.5 s; give it 4 s on a busy machine
        if not ask({"op": "cget", "key": "fed", "since": 0})["hit"]:
            return True
        await asyncio.sleep(0.1)
    return False


@pytest.mark.slow
def test_local_backend_adds_and_retires_cache_nodes(tmp_path: Path) -> None:
    backend = LocalBackend(ready_timeout_s=15)
    assert isinstance(backend, ChangesMembership)
    backend.up(get_system("cache"), ["n1", "n2", "n3"], tmp_path, seed=3)
    nem = MembershipNemesis(NemesisOptions(membership_settle_s=10.0))
    pids: dict[str, int] = {}
    try:
        assert "membership" in backend.capabilities()
        original = dict(backend.cluster())
        nem.setup(backend, {"system": "cache", "nodes": ["n1", "n2", "n3"], "seed": 3})
        for _ in range(100):  # until every node registered itself (hang guard only)
            got = nem.registry()
            if got is not None and got[1] == ["n1", "n2", "n3"]:
                break
            time.sleep(0.1)
        joined = nem.invoke("start-membership", {"action": "join"})
        assert joined["node"] == "n4" and joined["settled"] is True
        assert "n4" in joined["members"] and "n4" in backend.cluster()
        assert joined["change"]["joined"] == ["n4"] and joined["change"]["from"] == [
            "n1", "n2", "n3"]
        pids["n4"] = backend.pid("n4") or 0
        assert asyncio.run(_routes_to(original, "n4"))
        assert asyncio.run(_fed(original, backend.cluster()["n4"]))

        rep = nem.invoke("start-membership", {"action": "replace"})  # flap, then a join
        flap, join = rep["changes"]
        assert flap["action"] == "flap" and flap["settled"] is True
        assert flap["node"] not in flap["members"] and flap["change"]["left"] == [flap["node"]]
        assert flap["node"] in backend.cluster()  # still serving, just unregistered
        assert join["action"] == "join" and join["node"] == "n5" and "n5" in rep["members"]
        pids["n5"] = backend.pid("n5") or 0
        back = nem.invoke("stop-membership", None)
        assert back["nodes"] == [flap["node"]] and flap["node"] in back["members"]

        crash = nem.invoke("start-membership", {"action": "crash"})
        gone = crash["node"]
        assert gone in ("n4", "n5") and crash["settled"] is True  # expired by the TTL
        assert gone not in crash["members"] and gone not in backend.cluster()
        assert not _alive(pids[gone]) and backend.crashes() == []  # retired is no crash
        left = nem.invoke("start-membership", {"action": "leave"})
        assert left["node"] == ({"n4", "n5"} - {gone}).pop() and left["settled"] is True
        assert left["change"]["left"] == [left["node"]] and left["node"] not in left["members"]
        assert not _alive(pids[left["node"]])
        again = nem.invoke("start-membership", {"action": "crash"})  # none added: a join
        assert again["action"] == "join" and again["node"] == "n6"  # names are not reused

        backend.collect_logs(tmp_path / "logs")
        for n in ("n4", "n5"):
            assert "listening on" in (tmp_path / "logs" / n / "server.log").read_text()
    finally:
        nem.teardown()
        backend.down()
    assert not any(_alive(p) for p in pids.values())


class _SilentBackend:
    """Nodes that accept connections and never answer (as under a partition)."""

    name = "fake"

    def __init__(self, n: int) -> None:
        import socket

        self.socks = []
        self.nodes: dict[str, tuple[str, int]] = {}
        for i in range(1, n + 1):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            s.listen(8)
            self.socks.append(s)
            self.nodes[f"n{i}"] = s.getsockname()
        self.added: list[str] = []

    def capabilities(self) -> frozenset[str]:
        return frozenset({"membership"})

    def cluster(self) -> dict[str, tuple[str, int]]:
        return dict(self.nodes)

    def add_node(self) -> dict[str, Any]:
        name = next_node_name(set(self.nodes))
        self.nodes[name] = self.nodes["n1"]
        self.added.append(name)
        return {"node": name, "addr": "x:1", "mechanism": "fake"}

    def retire_node(self, node: str, graceful: bool) -> dict[str, Any]:
        self.nodes.pop(node)
        return {"node": node, "mechanism": "fake"}

    def close(self) -> None:
        for s in self.socks:
            s.close()


def test_a_registry_nobody_answers_bounds_the_op_and_records_it_unsettled(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import nemesis.membership as nm

    monkeypatch.setattr(nm, "REGISTRY_TIMEOUT_S", 0.3)
    backend = _SilentBackend(8)
    nem = MembershipNemesis(NemesisOptions(membership_settle_s=1.0))
    try:
        nem.setup(backend, {"system": "cache", "nodes": list(backend.nodes), "seed": 1})
        t0 = time.monotonic()
        rec = nem.invoke("start-membership", {"action": "crash"})  # none added: a join
        took = time.monotonic() - t0
        assert rec["action"] == "join" and rec["node"] == "n9" and rec["settled"] is False
        assert rec["members"] is None and "change" not in rec
        # before-read (≤ 2 timeouts) + settle (1 s, then at most one more timeout): not
        # one timeout per node per read (9 nodes: 2.7 s a read, over 5 s in all)
        assert took < 3.0, took
        assert backend.added == ["n9"]
    finally:
        backend.close()
