"""The queue server as real processes on 127.0.0.1: P partition groups on one port, sends
acknowledged after a quorum, fetches, group ops at the coordinator partition, and every
partition's log surviving SIGKILL of its leader (recovery from the per-partition WALs)."""

from __future__ import annotations

import time
from typing import Any

from systems.common.wire import request
from systems.queue.machine import coordinator
from tests.raftkv.cluster import LocalCluster

P = 3


class QueueCluster(LocalCluster):
    def __init__(self, *args: Any, partitions: int = P, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.partitions = partitions

    def argv(self, n: str) -> list[str]:
        argv = super().argv(n)
        argv[argv.index("systems.raftkv.server")] = "systems.queue.server"
        return argv + ["--partitions", str(self.partitions)]

    def part_leader(self, p: int, timeout_s: float = 10.0) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for n in self.procs:
                st = self.status(n)
                if st and st["partitions"][p]["role"] == "leader":
                    return n
            time.sleep(0.05)
        raise TimeoutError(f"no leader for partition {p}")

    def call(self, p: int, msg: dict[str, Any], tries: int = 100) -> dict[str, Any]:
        """At partition p's leader, retried (same fields: sends carry pid/seq) until ok."""
        r: dict[str, Any] = {}
        for _ in range(tries):
            n = self.part_leader(p)
            try:
                r = request(*self.addrs[n], {**msg, "partition": p}, timeout_s=2.0)
            except OSError:
                r = {"ok": False, "error": "unreachable"}
            if r.get("ok"):
                return r
            time.sleep(0.05)
        raise AssertionError(f"{msg} never succeeded: {r}")


def test_sends_fetches_groups_and_recovery_after_killing_a_leader(tmp_path):
    with QueueCluster(3, tmp_path) as cl:
        cl.up()
        for i in range(6):
            p = i % P
            r = cl.call(p, {"op": "send", "pid": "x", "seq": i, "key": i, "value": f"v{i}"})
            assert r["offset"] == i // P
        # a retry of an acknowledged send answers its offset again
        again = cl.call(0, {"op": "send", "pid": "x", "seq": 3, "key": 3, "value": "v3"})
        assert again == {**again, "offset": 1, "dup": True}
        g = coordinator("g", P)
        j = cl.call(g, {"op": "join", "group": "g", "member": "a"})
        assert j["mine"] == [0, 1, 2] and j["generation"] == 1
        c = cl.call(g, {"op": "commit", "group": "g", "member": "a", "generation": 1,
                        "offsets": {"1": 2}})
        assert c["ok"]
        victim = cl.part_leader(1)
        cl.kill(victim)
        cl.start(victim)  # same data directory: recovers every partition's log
        for p in range(P):
            r = cl.call(p, {"op": "fetch", "offset": 0, "max": 10})
            assert [m[2] for m in r["messages"]] == [f"v{i}" for i in range(p, 6, P)]
        view = cl.call(g, {"op": "group", "group": "g"})
        assert view["offsets"] == {"1": 2} and view["members"] == ["a"]
        cl.kill(next(n for n in cl.names if n != victim))  # a minority down: still serves
        r = cl.call(2, {"op": "send", "pid": "x", "seq": 9, "key": 9, "value": "v9"})
        assert r["offset"] == 2
        deadline = time.monotonic() + 20  # a loose hang guard: the restarted node catches up
        while True:
            st = request(*cl.addrs[victim], {"op": "status"})
            if st["partitions"][2]["messages"] == 3 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert len(st["partitions"]) == P and st["partitions"][2]["messages"] == 3
