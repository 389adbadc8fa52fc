"""Real lock-service processes on 127.0.0.1 (raftkv's LocalCluster, another server module)."""

from __future__ import annotations

from tests.raftkv.cluster import LocalCluster


class LockCluster(LocalCluster):
    def argv(self, n: str) -> list[str]:
        argv = super().argv(n)
        argv[argv.index("systems.raftkv.server")] = "systems.lock.server"
        return argv
