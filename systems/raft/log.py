"""The in-memory Raft log of one node: a snapshot prefix plus entries after it.

Indices start at 1; index 0 with term 0 is the empty prefix every log shares.
``stable`` is the last index known durable (persisted by the shell); entries
after it are handed out by ``unstable_entries`` until ``stable_to`` is called.
"""

from __future__ import annotations

from collections.abc import Sequence

from .types import Entry, Snapshot

__all__ = ["RaftLog"]


class RaftLog:
    def __init__(
        self,
        snapshot: Snapshot | None = None,
        entries: Sequence[Entry] = (),
        committed: int = 0,
    ) -> None:
        self.snapshot = snapshot if snapshot is not None else Snapshot(0, 0, None)
        self.entries: list[Entry] = [e for e in entries if e.index > self.snapshot.index]
        for k, e in enumerate(self.entries):
            assert e.index == self.snapshot.index + 1 + k, "recovered log has a gap"
        self.stable = self.last_index()
        # A hard state may name a commit index beyond a log that lost its tail
        # (only with the no-fsync bug); never trust more than the log holds.
        self.committed = max(self.snapshot.index, min(committed, self.last_index()))
        self.applied = self.snapshot.index
        self.pending_snapshot: Snapshot | None = None

    # -- queries ---------------------------------------------------------------
    def last_index(self) -> int:
        return self.entries[-1].index if self.entries else self.snapshot.index

    def last_term(self) -> int:
        return self.entries[-1].term if self.entries else self.snapshot.term

    def term(self, index: int) -> int | None:
        """The term at ``index``, or None when compacted away or beyond the end."""
        if index == self.snapshot.index:
            return self.snapshot.term
        if index < self.snapshot.index or index > self.last_index():
            return None
        return self.entries[index - self.snapshot.index - 1].term

    def entry(self, index: int) -> Entry | None:
        if index <= self.snapshot.index or index > self.last_index():
            return None
        return self.entries[index - self.snapshot.index - 1]

    def slice(self, lo: int, hi: int) -> list[Entry]:
        """Entries with lo <= index < hi (lo must be past the snapshot)."""
        assert lo > self.snapshot.index, "slice reaches into the snapshot"
        off = self.snapshot.index + 1
        return self.entries[lo - off : max(lo, hi) - off]

    def match_term(self, index: int, term: int) -> bool:
        t = self.term(index)
        return t is not None and t == term

    def is_up_to_date(self, last_index: int, last_term: int) -> bool:
        """§5.4.1: a candidate's log is at least as up to date as ours."""
        return last_term > self.last_term() or (
            last_term == self.last_term() and last_index >= self.last_index()
        )

    def find_conflict(self, entries: Sequence[Entry]) -> int:
        for e in entries:
            if not self.match_term(e.index, e.term):
                return e.index
        return 0

    def find_conflict_by_term(self, index: int, term: int) -> tuple[int, int]:
        """The largest index <= ``index`` whose term is <= ``term``, with that term.

        Used for fast backtracking: every entry between the answer and ``index``
        has a larger term, so none of them can match the other log.
        """
        index = min(index, self.last_index())
        while index > self.snapshot.index:
            t = self.term(index)
            assert t is not None
            if t <= term:
                return index, t
            index -= 1
        if index == self.snapshot.index:
            return index, self.snapshot.term
        return index, 0

    def unstable_entries(self) -> list[Entry]:
        return self.entries[self.stable - self.snapshot.index :] if self.entries else []

    def next_committed(self) -> list[Entry]:
        lo = max(self.applied, self.snapshot.index) + 1
        return self.slice(lo, self.committed + 1) if self.committed >= lo else []

    # -- changes ---------------------------------------------------------------
    def append(self, entries: Sequence[Entry]) -> int:
        """Append (truncating any conflicting suffix first); returns the new last index."""
        if not entries:
            return self.last_index()
        first = entries[0].index
        assert first > self.committed, f"truncating committed entry {first} <= {self.committed}"
        assert first > self.snapshot.index, "appending into the snapshot"
        del self.entries[first - self.snapshot.index - 1 :]
        assert first == self.last_index() + 1, "append leaves a gap"
        self.entries.extend(entries)
        self.stable = min(self.stable, first - 1)
        return self.last_index()

    def maybe_append(
        self, prev_index: int, prev_term: int, commit: int, entries: Sequence[Entry]
    ) -> int | None:
        """AppendEntries receiver rules 2-5; None when the consistency check fails."""
        if not self.match_term(prev_index, prev_term):
            return None
        last_new = prev_index + len(entries)
        conflict = self.find_conflict(entries)
        if conflict:
            self.append(entries[conflict - prev_index - 1 :])
        self.commit_to(min(commit, last_new))
        return last_new

    def commit_to(self, index: int) -> None:
        if index > self.committed:
            assert index <= self.last_index(), "commit beyond the log"
            self.committed = index

    def stable_to(self, index: int) -> None:
        self.stable = max(self.stable, min(index, self.last_index()))

    def applied_to(self, index: int) -> None:
        assert index <= self.committed, "applying an uncommitted entry"
        assert index >= self.applied, "applied index went back"
        self.applied = index

    def restore(self, snapshot: Snapshot) -> None:
        """Replace the log with a received snapshot (InstallSnapshot rule 6-8)."""
        assert snapshot.index > self.committed, "snapshot older than the commit index"
        self.snapshot = snapshot
        self.entries = []
        self.committed = snapshot.index
        self.stable = snapshot.index
        self.pending_snapshot = snapshot

    def compact(self, index: int, data: object, digest: str = "") -> Snapshot:
        """Discard entries up to ``index`` (already applied) behind a snapshot of ``data``."""
        assert index <= self.applied, "compacting past the applied index"
        if index <= self.snapshot.index:
            return self.snapshot
        t = self.term(index)
        assert t is not None
        self.entries = self.entries[index - self.snapshot.index :]
        self.snapshot = Snapshot(index, t, data, digest)
        return self.snapshot
