"""One queue partition's replicated state machine (pure): its log, producers, coordinated groups.

Every partition of a topic is its own Raft group (see README.md for why);
this machine is what each group replicates. It plays two roles, as Kafka's
partitions and its ``__consumer_offsets`` coordinator do:

- **The partition's log.** ``append {pid, seq, key, value}`` puts a message
  at the next offset (offsets are dense: 0, 1, 2, …). The **idempotent
  producer**: each producer id remembers its last sequence number and the
  offset it got; a copy of an already-applied ``(pid, seq)`` (a retry)
  answers that offset again and appends nothing (``no-idempotence`` bug: it
  appends again). A seq below the last one is refused ``stale-seq``.
- **The coordinator of the consumer groups that hash to it**
  (``coordinator(group, partitions)``). ``join {group, member}`` adds a
  member and starts a new *generation*; ``leave`` and ``expire`` (proposed
  by the leader when a member's session timed out, carrying the generation
  it joined in so a stale expiry cannot evict a member that joined again)
  remove one and start a new generation. Assignment is Kafka's *range*
  assignor over the sorted live members. ``commit {group, member,
  generation, offsets}`` stores the group's next offsets durably in this log
  — only from a current member of the current generation, otherwise
  ``rebalance`` (definite: nothing stored) (``commit-ahead`` bug: the offset
  stored is ``COMMIT_AHEAD`` past the one committed, as if the consumer's
  prefetch position were committed instead of what it delivered).

Reads (``query``): ``["fetch", offset, max]`` → messages from ``offset``;
``["group", group]`` → generation, members, assignment and committed offsets.
"""

from __future__ import annotations

import zlib
from typing import Any

from systems.raft.types import Entry

__all__ = ["QueueMachine", "MACHINE_BUGS", "COMMIT_AHEAD", "coordinator", "range_assign"]

Reply = dict[str, Any]

COMMIT_AHEAD = 5

MACHINE_BUGS = {
    "no-idempotence": "The partition forgets producer sequence numbers, so a retried send "
    "(same producer id and seq) is appended a second time: duplicates.",
    "commit-ahead": f"A group commit stores the offset {COMMIT_AHEAD} past the one the "
    "consumer committed (its prefetch position, not what it delivered), so after a "
    "rebalance the next owner skips messages nobody in the group received.",
}


def coordinator(group: str, partitions: int) -> int:
    """The partition whose Raft group coordinates ``group`` (stable across processes)."""
    return zlib.crc32(group.encode()) % partitions


def range_assign(members: list[str], partitions: int) -> dict[str, list[int]]:
    """Kafka's range assignor: sorted members get contiguous runs, the first ones one more."""
    ms = sorted(members)
    out: dict[str, list[int]] = {}
    if not ms:
        return out
    per, extra = divmod(partitions, len(ms))
    start = 0
    for i, m in enumerate(ms):
        n = per + (1 if i < extra else 0)
        out[m] = list(range(start, start + n))
        start += n
    return out


def _int(x: Any, default: int = -1) -> int:
    try:
        return int(x)
    except (TypeError, ValueError):
        return default


class _Group:
    __slots__ = ("generation", "members", "offsets")

    def __init__(self, generation: int = 0, members: dict[str, int] | None = None,
                 offsets: dict[str, int] | None = None) -> None:
        self.generation = generation
        self.members: dict[str, int] = members or {}  # member -> generation it joined in
        self.offsets: dict[str, int] = offsets or {}  # partition (str) -> next offset

    def to_wire(self) -> list[Any]:
        return [self.generation, dict(self.members), dict(self.offsets)]


class QueueMachine:
    def __init__(self, partitions: int = 1, idempotent: bool = True,
                 commit_ahead: bool = False) -> None:
        assert partitions >= 1
        self.partitions = partitions
        self.idempotent = idempotent  # False only with no-idempotence
        self.commit_ahead = commit_ahead
        self.log: list[list[Any]] = []  # offset -> [key, value]
        self.producers: dict[str, tuple[int, int]] = {}  # pid -> (last seq, its offset)
        self.groups: dict[str, _Group] = {}
        self.duplicates_refused = 0

    # -- the library's StateMachine protocol ---------------------------------------------
    def apply(self, entry: Entry) -> Reply | None:
        cmd = entry.data
        if not isinstance(cmd, dict):
            return None  # the leader's no-op
        op = cmd.get("op")
        if op == "append":
            return self._append(cmd)
        if op in ("join", "leave", "expire", "commit"):
            g = str(cmd.get("group"))
            group = self.groups.setdefault(g, _Group())
            if op == "commit":
                return self._commit(group, cmd)
            if op == "expire":
                self._expire(group, cmd)
                return None
            return self._membership(g, group, op, str(cmd.get("member")))
        return {"ok": False, "error": "bad-command"}

    def query(self, query: Any) -> Reply:
        if not isinstance(query, list) or not query:
            return {"ok": False, "error": "bad-query"}
        if query[0] == "fetch" and len(query) == 3:
            start, n = max(0, _int(query[1], 0)), max(0, _int(query[2], 0))
            return {"ok": True, "messages": self.fetch(start, n), "high": len(self.log)}
        if query[0] == "group" and len(query) == 2:
            return self.group_view(str(query[1]))
        return {"ok": False, "error": "bad-query"}

    def snapshot(self) -> Any:
        # A copy: the library keeps the image in memory and may send it to a lagging
        # follower much later; an alias of the live log would carry later entries with it.
        return {
            "log": [list(m) for m in self.log],
            "producers": {p: list(v) for p, v in self.producers.items()},
            "groups": {g: v.to_wire() for g, v in self.groups.items()},
        }

    def restore(self, image: Any) -> None:
        image = image if isinstance(image, dict) else {}
        self.log = [list(m) for m in image.get("log", [])]
        self.producers = {p: (int(v[0]), int(v[1])) for p, v in image.get("producers", {}).items()}
        self.groups = {g: _Group(int(v[0]), {m: int(j) for m, j in v[1].items()},
                                 {p: int(o) for p, o in v[2].items()})
                       for g, v in image.get("groups", {}).items()}

    # -- reads ---------------------------------------------------------------------------
    def fetch(self, start: int, n: int) -> list[list[Any]]:
        return [[o, m[0], m[1]] for o, m in enumerate(self.log[start:start + n], start)]

    def group_view(self, g: str) -> Reply:
        group = self.groups.get(g, _Group())
        return {"ok": True, "generation": group.generation, "members": sorted(group.members),
                "assignment": range_assign(list(group.members), self.partitions),
                "offsets": dict(group.offsets)}

    # -- commands ------------------------------------------------------------------------
    def _append(self, cmd: dict[str, Any]) -> Reply:
        pid, seq = str(cmd.get("pid")), _int(cmd.get("seq"))
        last = self.producers.get(pid)
        if self.idempotent and last is not None:
            if seq == last[0]:
                self.duplicates_refused += 1
                return {"ok": True, "offset": last[1], "dup": True}
            if seq < last[0]:
                return {"ok": False, "error": "stale-seq"}
        offset = len(self.log)
        self.log.append([cmd.get("key"), cmd.get("value")])
        self.producers[pid] = (seq, offset)
        return {"ok": True, "offset": offset}

    def _membership(self, g: str, group: _Group, op: str, member: str) -> Reply:
        if op == "join":
            if member not in group.members:
                group.generation += 1
                group.members[member] = group.generation
        elif member in group.members:
            group.generation += 1
            del group.members[member]
        view = self.group_view(g)
        return {**view, "mine": view["assignment"].get(member, [])}

    def _expire(self, group: _Group, cmd: dict[str, Any]) -> None:
        member = str(cmd.get("member"))
        if group.members.get(member) == _int(cmd.get("joined")):
            group.generation += 1
            del group.members[member]

    def _commit(self, group: _Group, cmd: dict[str, Any]) -> Reply:
        member = str(cmd.get("member"))
        if member not in group.members or _int(cmd.get("generation")) != group.generation:
            return {"ok": False, "error": "rebalance", "generation": group.generation}
        offsets = cmd.get("offsets")
        if not isinstance(offsets, dict):
            return {"ok": False, "error": "bad-command"}
        ahead = COMMIT_AHEAD if self.commit_ahead else 0
        for p, o in offsets.items():
            group.offsets[str(p)] = max(0, _int(o, 0)) + ahead
        return {"ok": True, "generation": group.generation}
