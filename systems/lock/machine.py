"""The lock service's replicated state machine (pure): leases, fencing tokens, the resource.

Commands (``Entry.data``) are dicts; client commands carry a session
``(c, s)`` like raftkv's (a retried command with the same seq returns the
remembered answer and does not apply twice):

- ``acquire {lock, holder, ttl}`` — free lock: granted, the **fencing token is
  the Raft index of this entry** (strictly increasing across all grants, so
  per lock too); held lock: ``held``.
- ``renew {lock, token}`` — the holder's lease starts over (a new
  *generation*: the index of the renew entry); otherwise ``not-holder``.
- ``release {lock, token}`` — only the holder's token frees the lock
  (``release-any`` bug: any token does).
- ``expire {lock, token, gen}`` — proposed by the leader when its lease clock
  ran out; frees the lock only if that lease is still the current one
  (same token and generation), so a renew that committed first wins.
- ``read {key, token}`` / ``write {key, value, token}`` — the protected
  resource. Each key remembers the highest token it has seen; an operation
  with a lower token is refused ``fenced`` (``no-fencing`` bug: never). A
  read fences too: a read-modify-write's read under token t must keep any
  older holder from writing after it (fencing writes alone would let an old
  holder's write land between the new holder's read and write, losing an
  increment).

Lease *time* is not here: the state is the same on every replica and only
changes through entries. With the ``wall-clock-lease`` bug the proposing
leader stamps ``wall`` (its wall clock, ms) into acquire and renew, and the
lease records ``expires_wall = wall + ttl``; an acquire of a held lock whose
stamp is past that expiry takes the lock over.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from systems.raft.types import Entry

__all__ = ["Lease", "LockMachine", "MACHINE_BUGS"]

Reply = dict[str, Any]

MACHINE_BUGS = {
    "no-fencing": "The protected resource accepts any token, so a client whose lease "
    "expired while it stalled overwrites the next holder's work (lost increments).",
    "release-any": "release frees the lock whatever token it carries, so a stale holder's "
    "release ends the next holder's lease and a third client is granted the lock while "
    "the second still holds it.",
}


@dataclass(frozen=True, slots=True)
class Lease:
    holder: str
    token: int  # the index of the grant
    ttl_ms: int
    gen: int  # the index of the latest grant or renew of this lease
    expires_wall: int | None = None  # wall-clock-lease bug only

    def to_wire(self) -> list[Any]:
        return [self.holder, self.token, self.ttl_ms, self.gen, self.expires_wall]

    @staticmethod
    def from_wire(raw: list[Any]) -> Lease:
        exp = raw[4]
        return Lease(str(raw[0]), int(raw[1]), int(raw[2]), int(raw[3]), None if exp is None else int(exp))


def _int(x: Any, default: int = 0) -> int:
    try:
        return int(x)
    except (TypeError, ValueError):
        return default


class LockMachine:
    def __init__(self, fencing: bool = True, check_release_token: bool = True) -> None:
        self.fencing = fencing  # False only with the no-fencing bug
        self.check_release_token = check_release_token  # False only with release-any
        self.leases: dict[str, Lease] = {}
        self.resources: dict[str, tuple[Any, int]] = {}  # key -> (value, highest token seen)
        self.sessions: dict[str, tuple[int, Reply]] = {}
        self.fenced = 0  # resource operations refused for a stale token (for the report)

    # -- the library's StateMachine protocol -------------------------------------------
    def apply(self, entry: Entry) -> Reply | None:
        cmd = entry.data
        if not isinstance(cmd, dict):
            return None  # the leader's no-op
        if cmd.get("op") == "expire":
            self._expire(cmd)
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
        """Unfenced reads: ``["lock", name]`` (the lease) or ``["peek", key]`` (the value)."""
        kind, name = (query[0], str(query[1])) if isinstance(query, list) and len(query) == 2 else ("", "")
        if kind == "lock":
            lease = self.leases.get(name)
            return {"ok": True, "lease": None if lease is None else lease.to_wire()}
        if kind == "peek":
            value, highest = self.resources.get(name, (None, 0))
            return {"ok": True, "value": value, "highest": highest}
        return {"ok": False, "error": "bad-query"}

    def snapshot(self) -> Any:
        return {
            "leases": {k: v.to_wire() for k, v in self.leases.items()},
            "resources": {k: [v, h] for k, (v, h) in self.resources.items()},
            "sessions": {c: [s, r] for c, (s, r) in self.sessions.items()},
            "fenced": self.fenced,
        }

    def restore(self, image: Any) -> None:
        image = image if isinstance(image, dict) else {}
        self.leases = {k: Lease.from_wire(v) for k, v in image.get("leases", {}).items()}
        self.resources = {k: (v[0], int(v[1])) for k, v in image.get("resources", {}).items()}
        self.sessions = {c: (int(v[0]), v[1]) for c, v in image.get("sessions", {}).items()}
        self.fenced = int(image.get("fenced", 0))

    # -- commands ----------------------------------------------------------------------
    def _run(self, cmd: dict[str, Any], index: int) -> Reply:
        op = cmd.get("op")
        if op == "acquire":
            return self._acquire(cmd, index)
        if op == "renew":
            return self._renew(cmd, index)
        if op == "release":
            return self._release(cmd)
        if op in ("read", "write"):
            return self._resource(op, cmd)
        return {"ok": False, "error": "bad-command"}

    def _acquire(self, cmd: dict[str, Any], index: int) -> Reply:
        name = str(cmd.get("lock"))
        ttl = max(1, _int(cmd.get("ttl"), 1000))
        wall = cmd.get("wall")
        cur = self.leases.get(name)
        taken_over = (
            cur is not None
            and cur.expires_wall is not None
            and wall is not None
            and _int(wall) >= cur.expires_wall
        )
        if cur is not None and not taken_over:
            return {"ok": False, "error": "held", "holder": cur.holder, "token": cur.token}
        expires = None if wall is None else _int(wall) + ttl
        self.leases[name] = Lease(str(cmd.get("holder")), index, ttl, index, expires)
        return {"ok": True, "token": index, "ttl": ttl}

    def _renew(self, cmd: dict[str, Any], index: int) -> Reply:
        name = str(cmd.get("lock"))
        cur = self.leases.get(name)
        if cur is None or cur.token != _int(cmd.get("token"), -1):
            return {"ok": False, "error": "not-holder"}
        wall = cmd.get("wall")
        expires = None if wall is None else _int(wall) + cur.ttl_ms
        self.leases[name] = Lease(cur.holder, cur.token, cur.ttl_ms, index, expires)
        return {"ok": True, "token": cur.token}

    def _release(self, cmd: dict[str, Any]) -> Reply:
        name = str(cmd.get("lock"))
        cur = self.leases.get(name)
        if cur is None:
            return {"ok": False, "error": "not-holder"}
        if self.check_release_token and cur.token != _int(cmd.get("token"), -1):
            return {"ok": False, "error": "not-holder"}
        del self.leases[name]
        return {"ok": True}

    def _expire(self, cmd: dict[str, Any]) -> None:
        name = str(cmd.get("lock"))
        cur = self.leases.get(name)
        if cur is not None and cur.token == _int(cmd.get("token"), -1) and cur.gen == _int(cmd.get("gen"), -1):
            del self.leases[name]

    def _resource(self, op: str, cmd: dict[str, Any]) -> Reply:
        key = str(cmd.get("key"))
        token = _int(cmd.get("token"), -1)
        value, highest = self.resources.get(key, (None, 0))
        if self.fencing and token < highest:
            self.fenced += 1
            return {"ok": False, "error": "fenced", "highest": highest}
        if op == "write":
            value = cmd.get("value")
        self.resources[key] = (value, max(highest, token))
        return {"ok": True, "value": value} if op == "read" else {"ok": True}
