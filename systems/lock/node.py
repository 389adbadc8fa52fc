"""One lock-service node without I/O: the library's Raft node, the lock machine, lease timing.

The shell (or the simulation) calls ``set_clock(mono_ms, wall_ms)`` before
every ``tick()``: ``mono_ms`` is the process's monotonic clock, ``wall_ms`` its
wall clock (used only by the ``wall-clock-lease`` bug). The core stays pure.

Leases are timed by the **leader's monotonic clock** and end through a
committed ``expire`` entry, so every replica agrees on when a lease ended:

- The leader gives each lease it sees (a grant or renew it applies, or one it
  inherited) a deadline of *its* now + TTL, at the first tick after it saw
  it. That is never earlier than the holder's own view (the holder counts its
  TTL from when it *sent* the request, which is before any node applied it).
- A new leader therefore extends every outstanding lease by one full TTL from
  when it took over (etcd's rule): it cannot know when the old leader started
  them. It acts only once it has applied its own election no-op, i.e. every
  entry committed before its term.
- At the deadline the leader proposes ``expire {lock, token, gen}``; it
  applies only if that lease is still current (a renew that committed first
  wins); the proposal is repeated every ``expire_retry_ms`` until it lands.
- Followers keep no deadlines; a node that loses leadership forgets them.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any, ClassVar

from systems.raft.node import RAFT_BUGS, NodeConfig, RaftNode, Storage
from systems.raft.types import LEADER, Rng

from .machine import MACHINE_BUGS, LockMachine

__all__ = ["BUGS", "LockNode", "EXPIRE_RETRY_MS", "COMMANDS"]

EXPIRE_RETRY_MS = 500

# The session commands on the wire and the fields each carries (plus ``c`` and ``s``).
COMMANDS = {
    "acquire": ("lock", "holder", "ttl"),
    "renew": ("lock", "token"),
    "release": ("lock", "token"),
    "read": ("key", "token"),
    "write": ("key", "value", "token"),
}

BUGS: dict[str, str] = {
    **RAFT_BUGS,
    **MACHINE_BUGS,
    "wall-clock-lease": "Lease expiry is decided by the leader's wall clock (an absolute "
    "expiry stamped into the log, no extension on a leader change), so a clock that jumps "
    "forward ends leases early and the lock is granted to a second client.",
}


class LockNode(RaftNode):
    BUGS: ClassVar[dict[str, str]] = BUGS

    def __init__(
        self,
        node_id: str,
        peers: Iterable[str],
        storage: Storage,
        rng: Rng,
        bugs: Iterable[str] = (),
        config: NodeConfig | None = None,
        ctx_prefix: str = "",
        expire_retry_ms: int = EXPIRE_RETRY_MS,
    ) -> None:
        bugs = frozenset(bugs)
        self.locks = LockMachine(
            fencing="no-fencing" not in bugs, check_release_token="release-any" not in bugs
        )
        super().__init__(node_id, peers, storage, rng, self.locks, bugs, config, ctx_prefix)
        self.wall_clock = "wall-clock-lease" in bugs
        self.expire_retry_ms = expire_retry_ms
        self.mono_ms = 0
        self.wall_ms = 0
        # leader only: lock -> (token, gen, deadline on this node's monotonic clock)
        self.deadlines: dict[str, tuple[int, int, int]] = {}
        self.expires_proposed = 0

    # -- inputs --------------------------------------------------------------------------
    def set_clock(self, mono_ms: int, wall_ms: int) -> None:
        assert mono_ms >= self.mono_ms, "the monotonic clock went back"
        self.mono_ms = mono_ms
        self.wall_ms = wall_ms

    def tick(self) -> None:
        super().tick()
        self._time_leases()

    def waiter_key(self, data: Any, index: int, term: int) -> Hashable:
        if isinstance(data, dict) and "c" in data:
            return (str(data.get("c")), int(data.get("s", -1)))
        return (index, term)

    def command(self, token: Any, cmd: dict[str, Any]) -> None:
        """Propose a session command (acquire, renew, release, read, write)."""
        if "c" not in cmd or "s" not in cmd:
            return self._reply(token, {"ok": False, "error": "bad-request"})
        if self.wall_clock and cmd.get("op") in ("acquire", "renew"):
            cmd = {**cmd, "wall": self.wall_ms}
        self.propose(token, cmd)

    def request(self, token: Any, msg: dict[str, Any]) -> bool:
        """A client request as the wire carries it; False when it is not a lock op.

        Session commands go through the log; ``peek {key}`` and ``lease {lock}``
        are linearizable reads (ReadIndex)."""
        op = msg.get("op")
        fields = COMMANDS.get(op) if isinstance(op, str) else None
        if fields is not None:
            cmd: dict[str, Any] = {"op": op}
            for k in (*fields, "c", "s"):
                if k in msg:
                    cmd[k] = msg[k]
            self.command(token, cmd)
        elif op == "peek":
            self.read(token, ["peek", str(msg.get("key"))])
        elif op == "lease":
            self.read(token, ["lock", str(msg.get("lock"))])
        else:
            return False
        return True

    def status(self) -> dict[str, Any]:
        return {**super().status(), "locks": len(self.locks.leases), "fenced": self.locks.fenced}

    # -- lease timing (leader) -------------------------------------------------------------
    def _time_leases(self) -> None:
        core = self.core
        if core.role != LEADER:
            self.deadlines = {}
            return
        if core.log.applied < core.read_floor:
            return  # earlier terms' entries not all applied: leases not all known yet
        now = self.mono_ms
        leases = self.locks.leases
        for name in [n for n in self.deadlines if n not in leases]:
            del self.deadlines[name]
        for name, lease in leases.items():
            if self.wall_clock:
                if lease.expires_wall is not None and self.wall_ms >= lease.expires_wall:
                    self._propose_expiry(name, lease.token, lease.gen)
                continue
            d = self.deadlines.get(name)
            if d is None or d[0] != lease.token or d[1] != lease.gen:
                self.deadlines[name] = (lease.token, lease.gen, now + lease.ttl_ms)
            elif now >= d[2]:
                self._propose_expiry(name, lease.token, lease.gen)

    def _propose_expiry(self, name: str, token: int, gen: int) -> None:
        d = self.deadlines.get(name)
        if self.wall_clock and d is not None and d[:2] == (token, gen) and self.mono_ms < d[2]:
            return  # proposed recently
        self.core.propose({"op": "expire", "lock": name, "token": token, "gen": gen})
        self.expires_proposed += 1
        self.deadlines[name] = (token, gen, self.mono_ms + self.expire_retry_ms)
