"""The cache's source of truth and service registry: one state machine on the shared Raft.

**Choice.** A dedicated role: a small Raft group (the store nodes) runs
``StoreMachine``, which holds both the durable KV the cache fronts and the
registry of cache nodes (the consul pattern, kept in the replicated store).
It is a state machine of its own on ``systems/raft`` (as ``systems/lock``
is), not a copy of raftkv.

Commands (``Entry.data``; client commands carry a session ``(c, s)``: a
retried command returns the remembered answer and never applies twice):

- ``put {key, value}`` — the store write; answers ``{ok, index}``.
- ``register {node, addr, ttl, seen?}`` — a cache node's heartbeat: registers it or
  renews its registration (a new *generation*, the entry's index). A node
  that was not a member makes a **membership change**. With ``seen`` (a
  cache-only node's, see "Invalidation from the log") the answer also
  carries that node's **invalidation feed**: ``upto`` (this entry's index)
  and ``changed``, the keys put at an index in ``(max(seen, joined), upto]``
  (``None`` when more than ``FEED_MAX`` of them: flush everything). Only
  puts since the node's current join: what it cached before that, the
  moved-range rule drops (its ``since`` includes its join epoch, node.py).
- ``deregister {node}`` — a graceful leave; a membership change.
- ``expire {node, gen}`` — proposed by the leader when a registration's TTL
  ran out on its monotonic clock (``StoreNode``); removes the node only if
  that registration is still current (a heartbeat that committed first
  wins); a membership change.

The **membership epoch** is the Raft index of the last membership change:
every replica agrees on it, it only grows, and a client that sees epoch E
has the members as of E. Queries (ReadIndex): ``["get", key]`` and
``["members"]`` → ``{epoch, members: {node: addr}, joined: {node: index}}``,
where ``joined`` is the index of the register that made each node a member
(its latest join): the cache node's items filled before it are from an
earlier membership of that node (``node.py``'s moved-range rule).

**Invalidation from the log.** Every node is a store replica *and* a cache
node, so each replica deletes the key of every ``put`` it applies from its own
cache core (``on_change``; a snapshot restore flushes it) — the in-process
form of memcache's commit-log invalidation daemons (mcsqueal). The writer's
``cdel`` stays the prompt path; this one is the reliable one: a writer that
times out or dies between its put and its ``cdel`` cannot leave the cache
stale forever, and a replica that missed puts deletes when it catches up.
Cache nodes that joined mid-run are no replicas: they get the same deletes
through their heartbeat, the feed above (the machine keeps the index of each
key's last put, ``written``), once per ``HEARTBEAT_S`` while they reach the
leader (``node.apply_feed``).

Heartbeat timing follows the lock service's lease rule (systems/lock/node.py):
the leader gives each registration generation a deadline of *its* now + TTL
when it first sees it; a new leader extends every registration by a full TTL
from its takeover (once it applied its election no-op); expiries are
re-proposed every ``EXPIRE_RETRY_MS`` until they land.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from systems.raft.node import RAFT_BUGS, NodeConfig, RaftNode, Storage
from systems.raft.types import LEADER, Entry, Rng

__all__ = ["StoreMachine", "StoreNode", "Member", "COMMANDS", "STORE_BUGS", "EXPIRE_RETRY_MS",
           "FEED_MAX"]

Reply = dict[str, Any]
EXPIRE_RETRY_MS = 500
FEED_MAX = 256  # more keys changed than this since a node's last feed: it flushes instead
STORE_BUGS: dict[str, str] = dict(RAFT_BUGS)

COMMANDS = {
    "put": ("key", "value"),
    "register": ("node", "addr", "ttl", "seen"),
    "deregister": ("node",),
}


@dataclass(frozen=True, slots=True)
class Member:
    addr: str
    ttl_ms: int
    gen: int  # index of the latest register of this node
    joined: int = 0  # index of the register that made it a member (its latest join)


def _int(x: Any, default: int = 0) -> int:
    try:
        return int(x)
    except (TypeError, ValueError):
        return default


class StoreMachine:
    def __init__(self) -> None:
        # Told of every applied change: the key of a put, None after a restore (anything may
        # have changed). The cache shells delete/flush their local cache core with it.
        self.on_change: Callable[[str | None], None] | None = None
        self.data: dict[str, Any] = {}
        self.written: dict[str, int] = {}  # key -> index of its last put (the feed)
        self.members: dict[str, Member] = {}
        self.epoch = 0
        self.sessions: dict[str, tuple[int, Reply]] = {}

    # -- the library's StateMachine protocol -------------------------------------------
    def apply(self, entry: Entry) -> Reply | None:
        cmd = entry.data
        if not isinstance(cmd, dict):
            return None  # the leader's no-op
        if cmd.get("op") == "expire":
            self._expire(cmd, entry.index)
            return None
        client, seq = cmd.get("c"), cmd.get("s")
        if client is None or seq is None:
            return {"ok": False, "error": "bad-request"}
        client, seq = str(client), _int(seq)
        last = self.sessions.get(client)
        if last is not None:
            if seq == last[0]:
                return last[1]
            if seq < last[0]:
                return {"ok": False, "error": "stale-seq"}
        result = self._run(cmd, entry.index)
        self.sessions[client] = (seq, result)
        return result

    def query(self, query: Any) -> Reply:
        if isinstance(query, list) and len(query) == 2 and query[0] == "get":
            return {"ok": True, "value": self.data.get(str(query[1]))}
        if query == ["members"]:
            return {"ok": True, "epoch": self.epoch,
                    "members": {n: m.addr for n, m in sorted(self.members.items())},
                    "joined": {n: m.joined for n, m in sorted(self.members.items())}}
        return {"ok": False, "error": "bad-query"}

    def snapshot(self) -> Any:
        return {
            "data": dict(self.data),
            "written": dict(self.written),
            "members": {n: [m.addr, m.ttl_ms, m.gen, m.joined]
                        for n, m in self.members.items()},
            "epoch": self.epoch,
            "sessions": {c: [s, r] for c, (s, r) in self.sessions.items()},
        }

    def restore(self, image: Any) -> None:
        image = image if isinstance(image, dict) else {}
        self.data = dict(image.get("data", {}))
        self.written = {k: int(i) for k, i in image.get("written", {}).items()}
        self.members = {n: Member(str(v[0]), int(v[1]), int(v[2]), int(v[-1]))
                        for n, v in image.get("members", {}).items()}
        self.epoch = int(image.get("epoch", 0))
        self.sessions = {c: (int(v[0]), v[1]) for c, v in image.get("sessions", {}).items()}
        if self.on_change is not None:
            self.on_change(None)

    # -- commands ----------------------------------------------------------------------
    def _run(self, cmd: dict[str, Any], index: int) -> Reply:
        op = cmd.get("op")
        if op == "put":
            key = str(cmd.get("key"))
            self.data[key] = cmd.get("value")
            self.written[key] = index
            if self.on_change is not None:
                self.on_change(key)
            return {"ok": True, "index": index}
        if op == "register":
            node = str(cmd.get("node"))
            old = self.members.get(node)
            ttl = max(1, _int(cmd.get("ttl"), 3000))
            joined = index if old is None else old.joined
            self.members[node] = Member(str(cmd.get("addr")), ttl, index, joined)
            if old is None:
                self.epoch = index
            reply: Reply = {"ok": True, "epoch": self.epoch, "gen": index}
            if "seen" in cmd:  # a cache-only node: its invalidation feed (this membership only)
                floor = max(_int(cmd.get("seen")), joined)
                changed = sorted(k for k, i in self.written.items() if i > floor)
                reply.update(upto=index, changed=changed if len(changed) <= FEED_MAX else None)
            return reply
        if op == "deregister":
            if self.members.pop(str(cmd.get("node")), None) is not None:
                self.epoch = index
            return {"ok": True, "epoch": self.epoch}
        return {"ok": False, "error": "bad-command"}

    def _expire(self, cmd: dict[str, Any], index: int) -> None:
        node = str(cmd.get("node"))
        cur = self.members.get(node)
        if cur is not None and cur.gen == _int(cmd.get("gen"), -1):
            del self.members[node]
            self.epoch = index


class StoreNode(RaftNode):
    """The library's Raft node with ``StoreMachine`` and registration expiry on the leader.

    The shell (or the simulation) calls ``set_clock(mono_ms)`` before every ``tick()``."""

    BUGS: ClassVar[dict[str, str]] = STORE_BUGS

    def __init__(self, node_id: str, peers: Iterable[str], storage: Storage, rng: Rng,
                 bugs: Iterable[str] = (), config: NodeConfig | None = None,
                 ctx_prefix: str = "", expire_retry_ms: int = EXPIRE_RETRY_MS) -> None:
        self.store = StoreMachine()
        super().__init__(node_id, peers, storage, rng, self.store, frozenset(bugs), config,
                         ctx_prefix)
        self.expire_retry_ms = expire_retry_ms
        self.mono_ms = 0
        self.deadlines: dict[str, tuple[int, int]] = {}  # leader only: node -> (gen, deadline)

    def set_clock(self, mono_ms: int) -> None:
        assert mono_ms >= self.mono_ms, "the monotonic clock went back"
        self.mono_ms = mono_ms

    def tick(self) -> None:
        super().tick()
        self._time_registrations()

    def waiter_key(self, data: Any, index: int, term: int) -> Hashable:
        if isinstance(data, dict) and "c" in data:
            return (str(data.get("c")), int(data.get("s", -1)))
        return (index, term)

    def request(self, token: Any, msg: dict[str, Any]) -> bool:
        """A client request as the wire carries it; False when it is not a store op.
        Session commands go through the log; ``get {key}`` and ``members`` are ReadIndex reads."""
        op = msg.get("op")
        fields = COMMANDS.get(op) if isinstance(op, str) else None
        if fields is not None:
            if "c" not in msg or "s" not in msg:
                self._reply(token, {"ok": False, "error": "bad-request"})
                return True
            self.propose(token, {"op": op, **{k: msg[k] for k in (*fields, "c", "s")
                                              if k in msg}})
        elif op == "get":
            self.read(token, ["get", str(msg.get("key"))])
        elif op == "members":
            self.read(token, ["members"])
        else:
            return False
        return True

    def status(self) -> dict[str, Any]:
        return {**super().status(), "members": len(self.store.members),
                "epoch": self.store.epoch}

    def _time_registrations(self) -> None:
        core = self.core
        if core.role != LEADER:
            self.deadlines = {}
            return
        if core.log.applied < core.read_floor:
            return  # entries of earlier terms not all applied: registrations not all known
        members = self.store.members
        for node in [n for n in self.deadlines if n not in members]:
            del self.deadlines[node]
        for node, m in members.items():
            d = self.deadlines.get(node)
            if d is None or d[0] != m.gen:
                self.deadlines[node] = (m.gen, self.mono_ms + m.ttl_ms)
            elif self.mono_ms >= d[1]:
                self.core.propose({"op": "expire", "node": node, "gen": m.gen})
                self.deadlines[node] = (m.gen, self.mono_ms + self.expire_retry_ms)
