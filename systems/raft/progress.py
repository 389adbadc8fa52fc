"""What a leader knows about each follower's log (etcd-io/raft's Progress, simplified).

States: ``probe`` (one append per heartbeat until a match is found),
``replicate`` (optimistic pipelining: ``next`` advances as appends are sent),
``snapshot`` (an InstallSnapshot is in flight; nothing else is sent until an
answer or the next heartbeat answer, which drops back to probe).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Progress", "PROBE", "REPLICATE", "SNAPSHOT"]

PROBE = "probe"
REPLICATE = "replicate"
SNAPSHOT = "snapshot"


@dataclass(slots=True)
class Progress:
    match: int = 0
    next: int = 1
    state: str = PROBE
    paused: bool = False
    recent_active: bool = True
    pending_snapshot: int = 0

    def become_probe(self) -> None:
        if self.state == SNAPSHOT:
            self.next = max(self.match + 1, self.pending_snapshot + 1)
        else:
            self.next = self.match + 1
        self.state = PROBE
        self.paused = False
        self.pending_snapshot = 0

    def become_replicate(self) -> None:
        self.state = REPLICATE
        self.next = self.match + 1
        self.paused = False

    def become_snapshot(self, index: int) -> None:
        self.state = SNAPSHOT
        self.pending_snapshot = index
        self.paused = True

    def maybe_update(self, index: int) -> bool:
        """An append up to ``index`` succeeded; False if that is old news."""
        updated = index > self.match
        if updated:
            self.match = index
            self.paused = False
        self.next = max(self.next, index + 1)
        return updated

    def maybe_decr_to(self, rejected: int, match_hint: int) -> bool:
        """An append whose previous index was ``rejected`` failed; False if stale."""
        if self.state == REPLICATE:
            if rejected <= self.match:
                return False
            self.next = self.match + 1
            return True
        if self.next - 1 != rejected:
            return False
        self.next = max(min(rejected, match_hint + 1), self.match + 1)
        self.paused = False
        return True

    def is_paused(self) -> bool:
        return self.state in (PROBE, SNAPSHOT) and self.paused
