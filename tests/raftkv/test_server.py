"""Real processes on 127.0.0.1: SIGKILL at any moment never loses an acknowledged write."""

from __future__ import annotations

import asyncio
import os
import random

import pytest

from systems.raftkv import make_kv_client
from systems.raftkv.storage import FileStorage
from systems.raftkv.types import Entry, HardState

from .cluster import LocalCluster


def test_the_wal_tolerates_a_torn_last_record(tmp_path):
    st = FileStorage(str(tmp_path))
    st.save(HardState(1, "n1", 0), [Entry(1, 1, "a"), Entry(1, 2, "b")], None, sync=True)
    st.save(HardState(1, "n1", 2), [Entry(1, 3, "c")], None, sync=True)
    st.close()
    wal = tmp_path / "wal"
    size = wal.stat().st_size
    with open(wal, "r+b") as f:
        f.truncate(size - 3)  # a SIGKILL in the middle of the last write
    st2 = FileStorage(str(tmp_path))
    hs, snap, entries = st2.load()
    # the entries record survived; the hard-state record written after it was torn
    assert [e.index for e in entries] == [1, 2, 3] and hs == HardState(1, "n1", 0)
    assert st2.torn_bytes > 0
    st2.save(None, [Entry(2, 3, "d")], None, sync=True)  # appending after the cut works
    st2.save(HardState(2, "n1", 3), [], None, sync=False)  # buffered: no fsync
    assert st2.fsyncs == 1
    st2.close()
    assert [e.data for e in FileStorage(str(tmp_path)).load()[2]] == ["a", "b", "d"]


def test_the_wal_truncates_on_conflict_and_survives_compaction(tmp_path):
    from systems.raftkv.types import Snapshot

    st = FileStorage(str(tmp_path))
    st.save(None, [Entry(1, i, i) for i in range(1, 6)], None, sync=True)
    st.save(None, [Entry(2, 4, "x")], None, sync=True)
    st.compact(Snapshot(2, 1, {"data": {"k": 1}, "sessions": {}}))
    st.close()
    hs, snap, entries = FileStorage(str(tmp_path)).load()
    assert snap is not None and snap.index == 2
    assert [(e.index, e.data) for e in entries] == [(3, 3), (4, "x")]


async def _writer(cluster: LocalCluster, wid: int, stop: asyncio.Event, acked: dict) -> None:
    client = make_kv_client(cluster.addrs, cluster.names[wid % len(cluster.names)], 1.5)
    i = 0
    try:
        while not stop.is_set():
            i += 1
            key = f"w{wid}-{i}"
            typ, _, _ = await client.invoke("write", [key, i])
            if typ == "ok":
                acked[key] = i
            elif typ == "info":  # a retired process gets a fresh client (harness rule)
                await client.close()
                client = make_kv_client(cluster.addrs, cluster.names[i % len(cluster.names)], 1.5)
    finally:
        await client.close()


@pytest.mark.slow
def test_no_acknowledged_write_is_lost_across_sigkills(tmp_path):
    rng = random.Random(int(os.environ.get("FAULTBOX_SEED", "0")))
    # frequent compaction so restarted nodes recover from snapshots and catch up
    # through InstallSnapshot over the wire
    with LocalCluster(3, tmp_path, extra=("--snapshot-every", "40")) as cl:
        cl.up()

        async def run() -> dict:
            acked: dict = {}
            stop = asyncio.Event()
            writers = [asyncio.create_task(_writer(cl, w, stop, acked)) for w in range(4)]
            for _ in range(4):
                await asyncio.sleep(0.6)
                victim = cl.leader() if rng.random() < 0.6 else rng.choice(cl.names)
                victim = victim or rng.choice(cl.names)
                cl.kill(victim)
                await asyncio.sleep(0.3)
                cl.start(victim)
            await asyncio.sleep(0.5)
            stop.set()
            await asyncio.gather(*writers)
            return acked

        acked = asyncio.run(run())
        assert len(acked) > 20, "the cluster made progress under kills"
        cl.down()  # SIGKILL everyone at once, then recover from disk only
        cl.up()

        async def verify() -> list:
            client = make_kv_client(cl.addrs, "n1", 3.0)
            missing = []
            for key, v in acked.items():
                typ, got, _ = await client.invoke("read", [key, None])
                if typ != "ok" or got != [key, v]:
                    missing.append((key, v, typ, got))
            await client.close()
            return missing

        assert asyncio.run(verify()) == []
        snaps = [n for n in cl.names if (tmp_path / n / "snapshot.json").exists()]
        assert snaps, "compaction ran on some node"


@pytest.mark.slow
def test_no_fsync_server_loses_acknowledged_writes_when_all_nodes_are_killed(tmp_path):
    """The real shell's no-fsync switch: acknowledged writes still sit in a process
    buffer; SIGKILL of every node within the lazy-flush period loses them."""
    with LocalCluster(3, tmp_path, bugs=("no-fsync",)) as cl:
        cl.up()

        async def write_some() -> dict:
            client = make_kv_client(cl.addrs, cl.wait_leader(), 2.0)
            acked = {}
            for i in range(20):
                typ, _, _ = await client.invoke("write", [f"k{i}", i])
                if typ == "ok":
                    acked[f"k{i}"] = i
            await client.close()
            return acked

        acked = asyncio.run(write_some())
        assert len(acked) >= 10
        cl.down()  # immediately: well inside the 2 s lazy flush period
        cl.up()

        async def count_lost() -> int:
            client = make_kv_client(cl.addrs, "n1", 2.0)
            lost = 0
            for key, v in acked.items():
                typ, got, _ = await client.invoke("read", [key, None])
                lost += typ == "ok" and got != [key, v]
            await client.close()
            return lost

        assert asyncio.run(count_lost()) > 0, "no-fsync must lose acknowledged writes"
