"""One queue partition's Raft node without I/O: the library's node, the queue machine, sessions.

A queue server hosts one ``QueueNode`` per partition (one Raft group per
partition). ``request(token, msg)`` maps the wire ops onto the Raft node:

- ``send {pid, seq, key, value}`` — proposed; answered once applied with the
  offset (``acks-leader`` bug: answered at once with the offset the entry
  will get if it commits, before any follower holds it).
- ``fetch {offset, max}`` — a ReadIndex read of the partition's messages
  (``stale-fetch`` bug: answered at once from this node's own Raft log,
  uncommitted tail included, whatever its role — a deposed leader keeps
  serving entries that the new leader overwrites).
- ``join``/``leave {group, member}``, ``commit {group, member, generation,
  offsets}`` — proposed to the group's coordinator partition.
- ``heartbeat {group, member}`` — leader only: renews the member's session
  and answers the group's applied view (generation, assignment), so a
  member learns it must rebalance; ``group {group}`` is its ReadIndex read.

**Sessions are timed in ticks by the coordinator's leader** (the lock
service's rule): the leader gives each member it sees a deadline of its now +
``session_timeout_ticks`` (a new leader, once it has applied its election
no-op, gives every member a full timeout from its takeover); each heartbeat
renews it; at the deadline the leader proposes ``expire {group, member,
joined}`` every ``expire_retry_ticks`` until it lands. Followers keep none.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any, ClassVar

from systems.raft.node import RAFT_BUGS, NodeConfig, RaftNode, Storage
from systems.raft.types import LEADER, Rng

from .machine import MACHINE_BUGS, QueueMachine

__all__ = ["BUGS", "QueueNode", "SESSION_TIMEOUT_TICKS", "EXPIRE_RETRY_TICKS"]

SESSION_TIMEOUT_TICKS = 60
EXPIRE_RETRY_TICKS = 20

BUGS: dict[str, str] = {
    **RAFT_BUGS,
    **MACHINE_BUGS,
    "acks-leader": "A send is acknowledged as soon as the leader appended it, before a "
    "quorum holds it (acks=1), so a leader failover loses acknowledged messages.",
    "stale-fetch": "Any node answers fetches at once from its own Raft log, uncommitted "
    "tail included, so a deposed leader serves messages that were never committed and "
    "offsets that now hold other messages.",
}


class QueueNode(RaftNode):
    BUGS: ClassVar[dict[str, str]] = BUGS

    def __init__(
        self,
        node_id: str,
        peers: Iterable[str],
        storage: Storage,
        rng: Rng,
        partitions: int = 1,
        bugs: Iterable[str] = (),
        config: NodeConfig | None = None,
        ctx_prefix: str = "",
        session_timeout_ticks: int = SESSION_TIMEOUT_TICKS,
        expire_retry_ticks: int = EXPIRE_RETRY_TICKS,
    ) -> None:
        bugs = frozenset(bugs)
        self.queue = QueueMachine(partitions, idempotent="no-idempotence" not in bugs,
                                  commit_ahead="commit-ahead" in bugs)
        super().__init__(node_id, peers, storage, rng, self.queue, bugs, config, ctx_prefix)
        self.session_timeout_ticks = session_timeout_ticks
        self.expire_retry_ticks = expire_retry_ticks
        # leader only: (group, member) -> (generation joined, deadline tick)
        self.sessions: dict[tuple[str, str], tuple[int, int]] = {}
        self.expires_proposed = 0

    # -- inputs --------------------------------------------------------------------------
    def tick(self) -> None:
        super().tick()
        self._time_sessions()

    def waiter_key(self, data: Any, index: int, term: int) -> Hashable:
        if isinstance(data, dict) and data.get("op") == "append":
            return ("append", str(data.get("pid")), data.get("seq"))
        return (index, term)

    def request(self, token: Any, msg: dict[str, Any]) -> bool:
        """A client request as the wire carries it; False when it is not a queue op."""
        op = msg.get("op")
        if op == "send":
            self._send(token, msg)
        elif op == "fetch":
            self._fetch(token, msg)
        elif op in ("join", "leave"):
            self.propose(token, {"op": op, "group": str(msg.get("group")),
                                 "member": str(msg.get("member"))})
        elif op == "commit":
            self.propose(token, {"op": "commit", **{k: msg.get(k) for k in
                                                    ("group", "member", "generation", "offsets")}})
        elif op == "heartbeat":
            self._heartbeat(token, str(msg.get("group")), str(msg.get("member")))
        elif op == "group":
            self.read(token, ["group", str(msg.get("group"))])
        else:
            return False
        return True

    def status(self) -> dict[str, Any]:
        return {**super().status(), "messages": len(self.queue.log),
                "groups": len(self.queue.groups), "sessions": len(self.sessions)}

    # -- ops -------------------------------------------------------------------------------
    def _send(self, token: Any, msg: dict[str, Any]) -> None:
        cmd = {"op": "append", "pid": str(msg.get("pid")), "seq": msg.get("seq"),
               "key": msg.get("key"), "value": msg.get("value")}
        if "acks-leader" not in self.bugs:
            return self.propose(token, cmd)
        if self.core.role != LEADER or self.core.propose(cmd) is None:
            return self._reply(token, self.not_leader())
        offset = len(self._local_log()) - 1
        self._reply(token, {"ok": True, "offset": offset})

    def _fetch(self, token: Any, msg: dict[str, Any]) -> None:
        try:
            start, n = max(0, int(msg.get("offset", 0))), max(0, int(msg.get("max", 100)))
        except (TypeError, ValueError):
            return self._reply(token, {"ok": False, "error": "bad-request"})
        if "stale-fetch" not in self.bugs:
            return self.read(token, ["fetch", start, n])
        log = self._local_log()
        msgs = [[o, m[0], m[1]] for o, m in enumerate(log[start:start + n], start)]
        self._reply(token, {"ok": True, "messages": msgs, "high": len(log)})

    def _local_log(self) -> list[list[Any]]:
        """The applied messages plus the appends in this node's unapplied Raft log tail."""
        log = self.core.log
        tail = [e.data for e in log.slice(log.applied + 1, log.last_index() + 1)]
        return self.queue.log + [[d.get("key"), d.get("value")] for d in tail
                                 if isinstance(d, dict) and d.get("op") == "append"]

    def _heartbeat(self, token: Any, group: str, member: str) -> None:
        if self.core.role != LEADER:
            return self._reply(token, self.not_leader())
        g = self.queue.groups.get(group)
        joined = None if g is None else g.members.get(member)
        if joined is None:
            return self._reply(token, {"ok": False, "error": "unknown-member"})
        self.sessions[(group, member)] = (joined, self.now_ticks + self.session_timeout_ticks)
        view = self.queue.group_view(group)
        self._reply(token, {**view, "mine": view["assignment"].get(member, [])})

    # -- session timing (leader) -------------------------------------------------------------
    def _time_sessions(self) -> None:
        core = self.core
        if core.role != LEADER:
            self.sessions = {}
            return
        if core.log.applied < core.read_floor:
            return  # earlier terms' entries not all applied: members not all known yet
        now = self.now_ticks
        live = {(g, m): j for g, grp in self.queue.groups.items() for m, j in grp.members.items()}
        for k in [k for k in self.sessions if live.get(k) != self.sessions[k][0]]:
            del self.sessions[k]
        for (g, m), joined in live.items():
            s = self.sessions.get((g, m))
            if s is None:
                self.sessions[(g, m)] = (joined, now + self.session_timeout_ticks)
            elif now >= s[1]:
                core.propose({"op": "expire", "group": g, "member": m, "joined": joined})
                self.expires_proposed += 1
                self.sessions[(g, m)] = (joined, now + self.expire_retry_ticks)
