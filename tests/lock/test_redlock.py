"""Redlock, the known-unsafe comparison: its key space (pure) and the client algorithm on
real processes — a majority grants, a lock expires on the wall clock, and a client stall
past the TTL loses an increment, which the lock checker reports."""

from __future__ import annotations

import asyncio
import time

from systems.redlock import make_lock_client
from systems.redlock.store import KeySpace
from tests.raftkv.cluster import LocalCluster


def test_set_nx_px_expires_on_the_clock_and_only_the_owner_deletes():
    ks = KeySpace()
    assert ks.execute({"op": "set", "key": "L", "value": "a", "nx": True, "px": 100}, 1000)[0] == {
        "ok": True, "set": True}
    assert ks.execute({"op": "set", "key": "L", "value": "b", "nx": True, "px": 100}, 1099)[0][
        "set"] is False
    assert ks.execute({"op": "del-if", "key": "L", "value": "b"}, 1050)[0]["deleted"] is False
    assert ks.execute({"op": "set", "key": "L", "value": "b", "nx": True, "px": 100}, 1100)[0][
        "set"] is True, "expired at 1000 + 100 on this node's clock"
    reply, record = ks.execute({"op": "del-if", "key": "L", "value": "b"}, 1101)
    assert reply["deleted"] is True and record == ["del", "L"]


def test_the_append_only_file_replays_live_keys_only():
    ks = KeySpace()
    _, r1 = ks.execute({"op": "set", "key": "L", "value": "a", "px": 100}, 1000)
    _, r2 = ks.execute({"op": "set", "key": "c", "value": 7}, 1000)
    again = KeySpace()
    for rec in (r1, r2):
        again.replay(rec, 1200)
    assert again.keys == {"c": (7, None)}


class RedlockCluster(LocalCluster):
    def argv(self, n: str) -> list[str]:
        argv = super().argv(n)
        argv[argv.index("systems.raftkv.server")] = "systems.redlock.server"
        return argv

    def up(self) -> None:
        for n in self.names:
            self.start(n)
        for n in self.names:
            while self.status(n) is None:
                time.sleep(0.05)


def test_redlock_grants_on_a_majority_and_loses_mutual_exclusion_to_a_stall(tmp_path):
    with RedlockCluster(5, tmp_path) as cl:
        cl.up()

        async def run() -> None:
            a = make_lock_client(cl.addrs, "n1", 3.0)
            b = make_lock_client(cl.addrs, "n2", 3.0)
            try:
                typ, ga, _ = await a.invoke("acquire", {"lock": "L", "ttl_ms": 300})
                assert typ == "ok" and isinstance(ga["token"], str)
                assert (await b.invoke("acquire", {"lock": "L", "ttl_ms": 300}))[:3:2] == (
                    "fail", "held")
                _, ra, _ = await a.invoke("read", {"key": "k", "token": ga["token"]})
                await a.invoke("stall", {"seconds": 0.4})  # past the TTL: the keys expired
                typ, gb, _ = await b.invoke("acquire", {"lock": "L", "ttl_ms": 300})
                assert typ == "ok"
                _, rb, _ = await b.invoke("read", {"key": "k", "token": gb["token"]})
                assert ra["value"] == rb["value"] is None
                assert (await a.invoke("write", {"key": "k", "token": ga["token"], "value": 1}))[0] == "ok"
                assert (await b.invoke("write", {"key": "k", "token": gb["token"], "value": 1}))[0] == "ok"
                assert (await a.invoke("release", {"lock": "L", "token": ga["token"]}))[2] == "not-holder"
                assert (await b.invoke("release", {"lock": "L", "token": gb["token"]}))[0] == "ok"
                assert (await a.invoke("peek", {"key": "k"}))[1]["value"] == 1  # two increments, one left
            finally:
                await a.close()
                await b.close()

        asyncio.run(run())
