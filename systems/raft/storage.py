"""Durable storage for one Raft node: a write-ahead log plus a snapshot file.

``DIR/wal`` is a sequence of records, each ``u32 length | u32 crc32 | JSON``:
``{"hs": [term, vote, commit]}``, ``{"e": [[term, index, data], ...]}`` (the
first entry's index truncates the log) and ``{"snap": [index, term]}`` (a
received snapshot replaced the log). ``DIR/snapshot.json`` holds the latest
snapshot, written to a temporary file, fsynced and renamed.

Group commit: one ``save`` is one ``write`` plus one ``fsync`` for everything a
Ready cycle produced. Recovery replays the log and stops at the first torn or
corrupt record (a SIGKILL mid-write), cutting the file there. The framing,
recovery and atomic rewrite are :class:`systems.common.wal.WAL`'s.

With the no-fsync bug, ``save(sync=False)`` only appends to a process buffer
that ``flush_lazy`` writes out later (no fsync): a SIGKILL loses what was
acknowledged since the last flush.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

from systems.common.wal import WAL, fsync_dir
from systems.common.wal import encode_record as _record

from .types import Entry, HardState, Snapshot

__all__ = ["FileStorage"]


class FileStorage:
    def __init__(self, data_dir: str) -> None:
        os.makedirs(data_dir, exist_ok=True)
        self.dir = data_dir
        self.wal_path = os.path.join(data_dir, "wal")
        self.snap_path = os.path.join(data_dir, "snapshot.json")
        self.hard_state = HardState()
        self.snapshot: Snapshot | None = None
        self.entries: list[Entry] = []  # mirror of the durable log after the snapshot
        self._buffer = bytearray()  # no-fsync bug only
        self._recover()

    @property
    def torn_bytes(self) -> int:
        """Bytes recovery cut from the WAL's torn tail."""
        return self._wal.torn_bytes

    @property
    def fsyncs(self) -> int:
        """Group-commit fsyncs of the WAL (one per synced ``save``)."""
        return self._wal.fsyncs

    # -- recovery ----------------------------------------------------------------
    def _recover(self) -> None:
        if os.path.exists(self.snap_path):
            with open(self.snap_path, encoding="utf-8") as f:
                self.snapshot = Snapshot.from_wire(json.load(f))
        self._wal = WAL(self.wal_path, replay=self._replay)
        if self.snapshot is not None:
            snap = self.snapshot
            at = [e for e in self.entries if e.index == snap.index]
            if at and at[0].term != snap.term:
                self.entries = []  # a crash between snapshot file and WAL record: the log is stale
            self.entries = [e for e in self.entries if e.index > snap.index]
            if self.entries and self.entries[0].index != snap.index + 1:
                self.entries = []

    def _replay(self, rec: dict[str, Any]) -> None:
        if "snap" in rec:
            self.entries = []
        if "e" in rec:
            self._apply_entries([Entry.from_wire(e) for e in rec["e"]])
        if "hs" in rec:
            t, v, c = rec["hs"]
            self.hard_state = HardState(int(t), v, int(c))

    def _apply_entries(self, entries: Sequence[Entry]) -> None:
        if not entries:
            return
        first = entries[0].index
        if self.entries and first <= self.entries[-1].index:
            del self.entries[max(0, first - self.entries[0].index) :]
        self.entries.extend(entries)

    # -- the Storage protocol ----------------------------------------------------
    def load(self) -> tuple[HardState, Snapshot | None, list[Entry]]:
        return self.hard_state, self.snapshot, list(self.entries)

    def save(
        self,
        hard_state: HardState | None,
        entries: Sequence[Entry],
        snapshot: Snapshot | None,
        sync: bool,
    ) -> None:
        out = bytearray()
        if snapshot is not None:
            self._flush_buffer()
            self._write_snapshot(snapshot)
            self.entries = []
            out += _record({"snap": [snapshot.index, snapshot.term]})
        if entries:
            self._apply_entries(entries)
            out += _record({"e": [e.to_wire() for e in entries]})
        if hard_state is not None:
            self.hard_state = hard_state
            hs = hard_state
            out += _record({"hs": [hs.term, hs.vote, hs.commit]})
        if not sync:
            self._buffer += out
            return
        self._flush_buffer()
        self._wal.append_encoded(bytes(out))

    def compact(self, snapshot: Snapshot) -> None:
        """Write the snapshot, then rewrite the log without the entries it covers."""
        self._flush_buffer()
        self._write_snapshot(snapshot)
        self.entries = [e for e in self.entries if e.index > snapshot.index]
        hs = self.hard_state
        records: list[dict[str, Any]] = [{"hs": [hs.term, hs.vote, hs.commit]}]
        if self.entries:
            records.append({"e": [e.to_wire() for e in self.entries]})
        self._wal.rewrite(records)

    def flush_lazy(self) -> None:
        """No-fsync bug: hand the buffered records to the OS (still without fsync)."""
        self._flush_buffer()

    def close(self) -> None:
        self._flush_buffer()
        self._wal.close()

    # -- internals ---------------------------------------------------------------
    def _flush_buffer(self) -> None:
        if self._buffer:
            self._wal.append_encoded(bytes(self._buffer), sync=False)
            self._buffer = bytearray()

    def _write_snapshot(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        tmp = self.snap_path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(snapshot.to_wire(), f, separators=(",", ":"))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.snap_path)
        fsync_dir(self.dir)
