"""One Redlock node's key space (pure): Redis's ``SET key value NX PX ttl``, compare-and-
delete, ``GET`` and ``SET`` — keys expire on the node's **wall clock**, as Redis's do.

Time is passed in (``now_ms``, the node's wall clock in ms); the server reads
``time.time``, which the clock nemesis skews. The append-only file's records
are produced and replayed here too: ``["set", key, value, expires_at_ms|None]``
and ``["del", key]``; a replayed key whose expiry has passed is dropped.
"""

from __future__ import annotations

from typing import Any

__all__ = ["KeySpace"]

Reply = dict[str, Any]


class KeySpace:
    def __init__(self) -> None:
        self.keys: dict[str, tuple[Any, int | None]] = {}  # key -> (value, expires at ms)

    def _live(self, key: str, now_ms: int) -> tuple[Any, int | None] | None:
        cur = self.keys.get(key)
        if cur is not None and cur[1] is not None and cur[1] <= now_ms:
            del self.keys[key]
            return None
        return cur

    def execute(self, cmd: dict[str, Any], now_ms: int) -> tuple[Reply, list[Any] | None]:
        """Run one command; (reply, AOF record or None)."""
        op = cmd.get("op")
        key = str(cmd.get("key"))
        if op == "get":
            cur = self._live(key, now_ms)
            return {"ok": True, "value": None if cur is None else cur[0]}, None
        if op == "set":
            cur = self._live(key, now_ms)
            if cmd.get("nx") and cur is not None:
                return {"ok": True, "set": False}, None
            px = cmd.get("px")
            expires = now_ms + int(px) if isinstance(px, int) and px > 0 else None
            self.keys[key] = (cmd.get("value"), expires)
            return {"ok": True, "set": True}, ["set", key, cmd.get("value"), expires]
        if op == "del-if":
            cur = self._live(key, now_ms)
            if cur is None or cur[0] != cmd.get("value"):
                return {"ok": True, "deleted": False}, None
            del self.keys[key]
            return {"ok": True, "deleted": True}, ["del", key]
        return {"ok": False, "error": f"unknown op {op!r}"}, None

    def replay(self, record: Any, now_ms: int) -> None:
        if not isinstance(record, list) or not record:
            return
        if record[0] == "set" and len(record) == 4:
            exp = record[3]
            if exp is None or int(exp) > now_ms:
                self.keys[str(record[1])] = (record[2], None if exp is None else int(exp))
            else:
                self.keys.pop(str(record[1]), None)
        elif record[0] == "del" and len(record) == 2:
            self.keys.pop(str(record[1]), None)
