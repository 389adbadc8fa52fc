"""Target selection and leader lookup."""

from __future__ import annotations

import random

import pytest

from nemesis.leader import HasLeader, StatusLeader, find_leader, leader_from_statuses
from nemesis.targets import select

NODES = ["n1", "n2", "n3", "n4", "n5"]


@pytest.mark.parametrize(
    ("spec", "count"), [("one", 1), ("minority", 2), ("majority", 3), ("all", 5)]
)
def test_select_sizes(spec: str, count: int) -> None:
    for seed in range(20):
        got = select(spec, NODES, random.Random(seed))
        assert len(got) == count and len(set(got)) == count and set(got) <= set(NODES)
        assert got == sorted(got)


def test_select_leader_falls_back_to_a_random_node() -> None:
    assert select("leader", NODES, random.Random(1), leader="n4") == ["n4"]
    assert select("leader", NODES, random.Random(1), leader=None)[0] in NODES
    assert select("n3", NODES, random.Random(1)) == ["n3"]
    with pytest.raises(ValueError, match="unknown target"):
        select("half", NODES, random.Random(1))


def test_select_is_seeded() -> None:
    a = [select("minority", NODES, random.Random(7)) for _ in range(3)]
    b = [select("minority", NODES, random.Random(7)) for _ in range(3)]
    assert a == b


def test_leader_from_statuses_prefers_highest_term_claim() -> None:
    st = {
        "n1": {"role": "leader", "term": 3, "leader": "n1"},
        "n2": {"role": "leader", "term": 5, "leader": "n2"},
        "n3": {"role": "follower", "term": 5, "leader": "n2"},
    }
    assert leader_from_statuses(st) == "n2"
    assert leader_from_statuses({"n1": {"role": "follower", "leader": "n3"},
                                 "n2": {"role": "follower", "leader": "n3"},
                                 "n3": {"role": "candidate"}}) == "n3"
    assert leader_from_statuses({"n1": {"role": "follower", "leader": None}}) is None
    assert leader_from_statuses({}) is None


def test_find_leader_over_real_sockets() -> None:
    import asyncio
    import threading

    from systems.common import wire

    ports: dict[str, int] = {}
    ready = threading.Event()
    loop = asyncio.new_event_loop()

    async def serve() -> None:
        for node, role in (("n1", "follower"), ("n2", "leader")):
            async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter,
                             node: str = node, role: str = role) -> None:
                await wire.read_frame(r)
                wire.write_frame(w, {"ok": True, "node": node, "ready": True,
                                     "role": role, "term": 2, "leader": "n2"})
                await w.drain()
                w.close()
            srv = await asyncio.start_server(handle, "127.0.0.1", 0)
            ports[node] = srv.sockets[0].getsockname()[1]
        ready.set()

    t = threading.Thread(target=lambda: (loop.run_until_complete(serve()), loop.run_forever()),
                         daemon=True)
    t.start()
    assert ready.wait(5)
    try:
        cluster = {n: ("127.0.0.1", p) for n, p in ports.items()}
        cluster["n3"] = ("127.0.0.1", 1)  # nobody listens: skipped
        assert find_leader(cluster, timeout_s=1.0) == "n2"
        src = StatusLeader(cluster)
        assert isinstance(src, HasLeader)
        assert src.leader() == "n2"
    finally:
        loop.call_soon_threadsafe(loop.stop)
