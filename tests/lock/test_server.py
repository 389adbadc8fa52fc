"""The lock service as real processes: the client's error table, fencing, and a lease
that outlives its leader (SIGKILL) ending through the next leader."""

from __future__ import annotations

import asyncio
import time

from systems.common.wire import request
from systems.lock import make_lock_client

from .cluster import LockCluster

TTL_MS = 800


def test_acquire_fence_release_and_a_lease_that_outlives_its_leader(tmp_path):
    with LockCluster(3, tmp_path) as cl:
        cl.up()

        async def run() -> None:
            a = make_lock_client(cl.addrs, cl.names[0], 3.0)
            b = make_lock_client(cl.addrs, cl.names[1], 3.0)
            try:
                typ, got, _ = await a.invoke("acquire", {"lock": "L", "ttl_ms": TTL_MS})
                assert typ == "ok" and isinstance(got["token"], int)
                ta = got["token"]
                t0 = time.monotonic()
                typ, _, err = await b.invoke("acquire", {"lock": "L", "ttl_ms": TTL_MS})
                assert (typ, err) == ("fail", "held")
                typ, got, _ = await a.invoke("read", {"key": "k", "token": ta})
                assert typ == "ok" and got["value"] is None
                cl.kill(cl.wait_leader())  # the lease's leader dies; the next one inherits it
                cl.wait_leader()
                while True:  # b gets the lock only after a's TTL (counted from a's grant)
                    typ, got, err = await b.invoke("acquire", {"lock": "L", "ttl_ms": TTL_MS})
                    if typ == "ok":
                        break
                    assert err in ("held", "not-leader", "no-leader", "timeout", "unreachable"), err
                    await asyncio.sleep(0.05)
                assert time.monotonic() - t0 >= TTL_MS / 1000
                tb = got["token"]
                assert tb > ta
                assert (await b.invoke("read", {"key": "k", "token": tb}))[0] == "ok"
                typ, _, err = await a.invoke("write", {"key": "k", "token": ta, "value": 1})
                assert (typ, err) == ("fail", "fenced")
                typ, _, err = await a.invoke("release", {"lock": "L", "token": ta})
                assert (typ, err) == ("fail", "not-holder")
                assert (await b.invoke("write", {"key": "k", "token": tb, "value": 1}))[0] == "ok"
                assert (await b.invoke("renew", {"lock": "L", "token": tb}))[0] == "ok"
                assert (await b.invoke("release", {"lock": "L", "token": tb}))[0] == "ok"
                typ, got, _ = await a.invoke("peek", {"key": "k"})
                assert (typ, got["value"]) == ("ok", 1)
            finally:
                await a.close()
                await b.close()

        asyncio.run(run())
        st = request(*cl.addrs[cl.wait_leader()], {"op": "status"})
        assert st["fenced"] >= 1 and st["locks"] == 0
