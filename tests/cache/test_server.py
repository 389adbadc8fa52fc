"""The cache as real processes on 127.0.0.1: nodes register themselves, reads miss then hit,
writes invalidate, and the no-invalidate switch leaves a stale value in the cache."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from systems.cache.client import CacheClient
from tests.raftkv.cluster import LocalCluster


class CacheCluster(LocalCluster):
    def argv(self, n: str) -> list[str]:
        argv = super().argv(n)
        argv[argv.index("systems.raftkv.server")] = "systems.cache.server"
        return argv


async def members(c: CacheClient, want: int) -> None:
    for _ in range(400):  # hang guard only
        await c._refresh()
        if c.rings and len(c.rings[-1][1].nodes) == want:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never saw {want} members: {c.rings[-1:]}")


async def scenario(cl: CacheCluster) -> list[tuple[str, Any, Any]]:
    c = CacheClient(cl.addrs, cl.names[0], 3.0)
    out = []
    try:
        await members(c, len(cl.names))
        out.append(await c.invoke("write", {"key": "k", "value": 1}))
        out.append(await c.invoke("read", {"key": "k"}))
        out.append(await c.invoke("read", {"key": "k"}))
        out.append(await c.invoke("write", {"key": "k", "value": 2}))
        out.append(await c.invoke("read", {"key": "k"}))
        out.append(await c.invoke("store-read", {"key": "k"}))
    finally:
        await c.close()
    return out


def test_miss_fill_hit_and_invalidation(tmp_path: Path) -> None:
    with CacheCluster(3, tmp_path) as cl:
        cl.up()
        w1, r1, r2, w2, r3, s = asyncio.run(scenario(cl))
    assert w1[0] == "ok" and w2[0] == "ok"
    assert r1[0] == "ok" and r1[1]["value"] == 1 and r1[1]["hit"] is False
    assert r2[1] == {"key": "k", "value": 1, "hit": True, "node": r1[1]["node"],
                     "load": {"here": 1, "inflight": 1, "nodes": 3}}
    assert r3[1]["value"] == 2 and r3[1]["hit"] is False  # the write deleted the cached 1
    assert s[1]["value"] == 2


def test_no_invalidate_serves_the_overwritten_value(tmp_path: Path) -> None:
    with CacheCluster(3, tmp_path, bugs=("no-invalidate",)) as cl:
        cl.up()
        _, r1, r2, _, r3, s = asyncio.run(scenario(cl))
    assert r2[1]["hit"] is True
    assert r3[1]["value"] == 1 and r3[1]["hit"] is True and s[1]["value"] == 2
