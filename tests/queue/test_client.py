"""The queue client against real processes: its ops recorded as a history and judged by the
queue checker (valid), with a rebalance (a second member joins) and a node killed midway."""

from __future__ import annotations

import asyncio
from typing import Any

from checkers.queue import check_queue
from systems.queue.client import make_queue_client, partition_of
from tests.queue.test_checker import H
from tests.queue.test_server import P, QueueCluster


class Recorder:
    def __init__(self) -> None:
        self.h = H()

    async def op(self, proc: int, client: Any, f: str, value: Any) -> tuple[str, Any, Any]:
        self.h.invoke(proc, f, value)
        typ, out, err = await client.invoke(f, value)
        self.h.complete(proc, f, out, typ)
        return typ, out, err


def test_producers_and_a_rebalancing_group_make_a_valid_history(tmp_path):
    with QueueCluster(3, tmp_path) as cl:
        cl.up()
        for p in range(P):
            cl.part_leader(p)

        async def run() -> Recorder:
            rec = Recorder()
            prod = make_queue_client(cl.addrs, "n1", 6.0)
            a = make_queue_client(cl.addrs, "n2", 6.0)
            b = make_queue_client(cl.addrs, "n3", 6.0)
            drain = make_queue_client(cl.addrs, "n1", 6.0)
            try:
                for i in range(12):
                    typ, out, _ = await rec.op(0, prod, "send", [i, f"v{i}"])
                    assert typ == "ok" and out[0] == partition_of(i, P)
                assert (await rec.op(10, a, "join", {"group": "g"}))[1] == list(range(P))
                typ, got, _ = await rec.op(10, a, "poll", {"group": "g", "drain": False,
                                                           "max": 2})
                assert typ == "ok" and sum(len(m) for m in got.values()) >= 1
                assert (await rec.op(10, a, "commit", {"group": "g"}))[0] == "ok"
                await rec.op(11, b, "join", {"group": "g"})
                typ, _, err = await rec.op(10, a, "poll", {"group": "g", "drain": False})
                assert (typ, err) == ("fail", "rebalance")
                typ, mine, _ = await rec.op(10, a, "join", {"group": "g"})
                assert typ == "ok" and len(mine) < P
                cl.kill("n3")
                for i in range(12, 18):
                    await rec.op(0, prod, "send", [i, f"v{i}"])
                for _ in range(3):
                    await rec.op(10, a, "poll", {"group": "g", "drain": False, "max": 3})
                    await rec.op(10, a, "commit", {"group": "g"})
                typ, got, _ = await rec.op(20, drain, "poll", {"group": None, "drain": True})
                assert typ == "ok" and sum(len(m) for m in got.values()) == 18
            finally:
                for c in (prod, a, b, drain):
                    await c.close()
            return rec

        rec = asyncio.run(run())
        r = check_queue(rec.h.history())
        assert r.valid is True, [x.explanation for x in r.anomalies]
        assert r.details["sends_ok"] == 18 and r.details["assignments"] >= 3
