"""The WAL, the node's snapshot, and real twopc processes killed with SIGKILL."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from systems.common.wal import WAL
from systems.twopc import make_append_client, make_bank_client
from systems.twopc.node import TwoPCNode
from systems.twopc.sim import SimCluster

from .cluster import TwoPCCluster


def test_the_wal_tolerates_a_torn_tail_and_rewrites_atomically(tmp_path: Any) -> None:
    w = WAL(str(tmp_path / "wal"))
    w.append([{"a": 1}, {"b": 2}])
    w.append([{"c": 3}])
    w.close()
    path = tmp_path / "wal"
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size - 2)  # a SIGKILL in the middle of the last write
    w2 = WAL(str(path))
    assert w2.records == [{"a": 1}, {"b": 2}] and w2.torn_bytes > 0
    w2.append([{"d": 4}])
    w2.rewrite([{"snap": 1}, {"d": 4}])
    w2.append([{"e": 5}], sync=False)
    w2.close()
    assert WAL(str(path)).records == [{"snap": 1}, {"d": 4}, {"e": 5}]


def test_a_node_rebuilt_from_its_snapshot_equals_the_node() -> None:
    c = SimCluster()
    for i in range(12):
        c.submit(c.names[i % 3], f"T{i}", [["append", i % 5, i], ["append", (i + 2) % 5, 100 + i]])
    c.run(60)  # some txns prepared, some decided, some done
    for n in c.names:
        nd = c.nodes[n]
        again = TwoPCNode(n, c.names, "x", records=nd.snapshot())
        assert again.part.store == nd.part.store
        assert {t: p.writes for t, p in again.part.txns.items()} == {
            t: p.writes for t, p in nd.part.txns.items() if p.state == "prepared"}
        assert again.part.locks == {k: {t: m for t, m in h.items() if nd.part.txns[t].state
                                        == "prepared"} for k, h in nd.part.locks.items()
                                    if any(nd.part.txns[t].state == "prepared" for t in h)}
        assert set(again.coord.txns) == {t for t, x in nd.coord.txns.items() if x.phase == "commit"}


async def _append_worker(cl: TwoPCCluster, w: int, stop: asyncio.Event,
                         done: list[tuple[str, Any]]) -> None:
    rng = random.Random(w)
    client = make_append_client(cl.addrs, cl.names[w % len(cl.names)], 1.5)
    i = 0
    try:
        while not stop.is_set():
            i += 1
            mops = [["append", k, f"{w}-{i}-{k}"] for k in rng.sample(range(6), rng.randint(1, 3))]
            typ, _, _ = await client.invoke("txn", mops)
            done.append((typ, mops))
            if typ == "info":
                await client.close()
                client = make_append_client(cl.addrs, cl.names[i % len(cl.names)], 1.5)
    finally:
        await client.close()


@pytest.mark.slow
def test_sigkills_never_break_atomicity_and_in_doubt_txns_resolve(tmp_path: Any) -> None:
    rng = random.Random(7)
    with TwoPCCluster(3, tmp_path) as cl:
        cl.up()

        async def run() -> list[tuple[str, Any]]:
            done: list[tuple[str, Any]] = []
            stop = asyncio.Event()
            tasks = [asyncio.create_task(_append_worker(cl, w, stop, done)) for w in range(6)]
            for _ in range(4):
                await asyncio.sleep(0.7)
                victim = rng.choice(cl.names)
                await asyncio.to_thread(cl.kill, victim)
                await asyncio.sleep(0.3)
                await asyncio.to_thread(cl.start, victim)
            stop.set()
            await asyncio.gather(*tasks)
            return done

        done = asyncio.run(run())
        statuses = cl.wait_settled()
        assert all(s["in_doubt"] == 0 for s in statuses)

        async def final() -> dict[Any, list[Any]]:
            client = make_append_client(cl.addrs, "n1", 5.0)
            typ, got, err = await client.invoke("txn", [["r", k, None] for k in range(6)])
            await client.close()
            assert typ == "ok", err
            return {k: v for _, k, v in got}

        lists = asyncio.run(final())
    oks = [m for t, m in done if t == "ok"]
    assert len(oks) > 20, "the cluster served txns"
    for typ, mops in done:
        seen = [v in lists[k] for _, k, v in mops]
        assert len(set(seen)) == 1, f"partial commit of {mops}: {seen}"
        if typ == "ok":
            assert all(seen)
        if typ == "fail":
            assert not any(seen)


def test_bank_transfers_conserve_the_total_on_real_processes(tmp_path: Any) -> None:
    accounts = [f"a{i}" for i in range(4)]
    with TwoPCCluster(3, tmp_path) as cl:
        cl.up()

        async def run() -> dict[str, Any]:
            clients = [make_bank_client(cl.addrs, n, 2.0) for n in cl.names]
            rng = random.Random(3)

            async def worker(c: Any) -> None:
                for _ in range(15):
                    a, b = rng.sample(accounts, 2)
                    await c.invoke("transfer", {"from": a, "to": b, "amount": rng.randint(1, 6),
                                                "initial": 10})

            await asyncio.gather(*(worker(c) for c in clients))
            typ, got, _ = await clients[0].invoke("read", {"accounts": accounts, "initial": 10})
            for c in clients:
                await c.close()
            assert typ == "ok"
            return dict(got)

        balances = asyncio.run(run())
        st = cl.status("n1")
    assert sum(balances.values()) == 40 and min(balances.values()) >= 0, balances
    assert st is not None and st["decided_commits"] + st["decided_aborts"] > 0
