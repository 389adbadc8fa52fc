"""The replicated state machine: a key-value map with client sessions (pure).

Commands (``Entry.data``) are dicts ``{"op": put|cas|delete|append, "k": key,
..., "c": client id, "s": seq}``. A session remembers, per client, the last
seq applied and its result, so a retried command (same client, same seq)
returns the remembered result instead of applying twice (§6.3 of Ongaro's
thesis). A client runs one command at a time, so an older seq is answered
with ``stale-seq`` and not applied.
"""

from __future__ import annotations

from typing import Any

__all__ = ["KVStore", "apply_command"]

Result = dict[str, Any]


def apply_command(data: dict[str, Any], cmd: dict[str, Any]) -> Result:
    """Run one command against ``data`` (mutated in place); returns the client's answer."""
    op = cmd.get("op")
    key = str(cmd.get("k"))
    if op == "put":
        data[key] = cmd.get("v")
        return {"ok": True}
    if op == "cas":
        cur = data.get(key)
        if cur != cmd.get("old"):
            return {"ok": False, "error": "cas-mismatch", "value": cur}
        data[key] = cmd.get("new")
        return {"ok": True}
    if op == "delete":
        existed = key in data
        data.pop(key, None)
        return {"ok": True, "existed": existed}
    if op == "append":
        cur = data.get(key)
        data[key] = (cur if isinstance(cur, str) else "") + str(cmd.get("v"))
        return {"ok": True, "value": data[key]}
    return {"ok": False, "error": "bad-command"}


class KVStore:
    def __init__(self, dedup: bool = True) -> None:
        self.dedup = dedup  # False only with the no-dedup bug switch
        self.data: dict[str, Any] = {}
        self.sessions: dict[str, tuple[int, Result]] = {}

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def apply(self, cmd: Any) -> Result | None:
        """Apply a committed entry's command; None for the leader's no-op."""
        if not isinstance(cmd, dict):
            return None
        client, seq = cmd.get("c"), cmd.get("s")
        if client is None or seq is None:
            return apply_command(self.data, cmd)
        client, seq = str(client), int(seq)
        last = self.sessions.get(client)
        if self.dedup and last is not None:
            if seq == last[0]:
                return last[1]
            if seq < last[0]:
                return {"ok": False, "error": "stale-seq"}
        result = apply_command(self.data, cmd)
        self.sessions[client] = (seq, result)
        return result

    def snapshot(self) -> dict[str, Any]:
        return {
            "data": dict(self.data),
            "sessions": {c: [s, r] for c, (s, r) in self.sessions.items()},
        }

    def restore(self, image: Any) -> None:
        image = image if isinstance(image, dict) else {}
        self.data = dict(image.get("data", {}))
        self.sessions = {c: (int(v[0]), v[1]) for c, v in image.get("sessions", {}).items()}
