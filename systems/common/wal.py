"""A generic write-ahead log of JSON records with fsync and a torn-tail-tolerant recovery.

The file is a sequence of records ``u32 length | u32 crc32 | JSON object``.
``append(records, sync=True)`` is one ``write`` and one ``fsync`` (group
commit: pass everything a cycle produced at once); ``append_encoded`` does the
same for records already framed by ``encode_record``. Opening a log replays it
into ``records`` (or hands each record to ``replay``) and stops at the first
torn or corrupt record (a SIGKILL in the middle of a write) or the first one
``replay`` rejects, cutting the file there; ``torn_bytes`` says how much was
cut. ``rewrite(records)`` replaces the whole log atomically (temporary file,
fsync, rename, fsync of the directory) - compaction. ``fsync_dir`` is the
directory fsync that makes a rename durable.

Used by the 2PC nodes and by the shared Raft library's ``FileStorage``.

Stdlib only: it runs inside node containers.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["WAL", "encode_record", "fsync_dir"]

# What a ``replay`` callback may raise for a record it cannot use: recovery stops there.
_REJECTED = (ValueError, KeyError, IndexError, TypeError)

_HEAD = struct.Struct(">II")


def encode_record(body: dict[str, Any]) -> bytes:
    raw = json.dumps(body, separators=(",", ":")).encode()
    return _HEAD.pack(len(raw), zlib.crc32(raw)) + raw


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class WAL:
    def __init__(self, path: str, replay: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.path = path
        self.dir = os.path.dirname(os.path.abspath(path))
        os.makedirs(self.dir, exist_ok=True)
        self.records: list[dict[str, Any]] = []  # what recovery read, without ``replay`` (the caller may clear it)
        self.torn_bytes = 0
        self.fsyncs = 0
        self._recover(replay if replay is not None else self.records.append)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def _recover(self, replay: Callable[[dict[str, Any]], None]) -> None:
        if not os.path.exists(self.path):
            return
        with open(self.path, "rb") as f:
            raw = f.read()
        pos = 0
        while pos + _HEAD.size <= len(raw):
            n, crc = _HEAD.unpack_from(raw, pos)
            body = raw[pos + _HEAD.size : pos + _HEAD.size + n]
            if len(body) < n or zlib.crc32(body) != crc:
                break
            try:
                rec = json.loads(body)
                if not isinstance(rec, dict):
                    break
                replay(rec)
            except _REJECTED:
                break
            pos += _HEAD.size + n
        if pos < len(raw):
            self.torn_bytes = len(raw) - pos
            with open(self.path, "r+b") as f:
                f.truncate(pos)
                f.flush()
                os.fsync(f.fileno())

    def append(self, records: Iterable[dict[str, Any]], sync: bool = True) -> None:
        self.append_encoded(b"".join(encode_record(r) for r in records), sync)

    def append_encoded(self, data: bytes, sync: bool = True) -> None:
        if data:
            os.write(self._fd, data)
        if sync:
            os.fsync(self._fd)
            self.fsyncs += 1

    def rewrite(self, records: Iterable[dict[str, Any]]) -> None:
        tmp = self.path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(b"".join(encode_record(r) for r in records))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        fsync_dir(self.dir)
        os.close(self._fd)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)

    def close(self) -> None:
        os.close(self._fd)
