"""A targeted nemesis for two-phase commit: kill a coordinator in the middle of its decisions.

The most dangerous instant of 2PC is after the coordinator decided to commit
and before every participant has acknowledged: some participants committed,
the others are prepared and in doubt. ``start-coordinator-crash`` watches the
nodes' ``status`` (the ``deciding`` count: txns decided commit, acks still
missing) and SIGKILLs the first node seen holding such txns, the one with the
most of them when several do. A correct system re-drives its logged
decisions after the restart; one that lost them (the ``no-decision-log``
bug) presumes abort and leaves partial commits behind.

The watch lasts at most ``WATCH_S``; when no node was caught deciding, the
op completes with ``{"killed": null}`` and nothing was touched (the
precondition never held). ``stop-coordinator-crash`` restarts the killed
node. Needs the backend's ``kill`` capability and a ``status`` reply with a
``deciding`` field (systems.twopc).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from typing import Any

from nemesis.core import NemesisBase, NemesisError, NemesisOptions
from systems.common import wire

__all__ = ["CoordinatorCrashNemesis", "WATCH_S", "pick_victim"]

WATCH_S = 5.0
POLL_S = 0.002
STATUS_TIMEOUT_S = 0.3

Status = Mapping[str, Any]


def pick_victim(statuses: Mapping[str, Status]) -> str | None:
    """The node with the most decided-but-unacknowledged txns (pure; None if no node has any)."""
    counts = [(int(st.get("deciding") or 0), node) for node, st in statuses.items()]
    best = max(counts, default=(0, ""))
    return best[1] if best[0] > 0 else None


class CoordinatorCrashNemesis(NemesisBase):
    faults = frozenset({"coordinator-crash"})

    def __init__(
        self,
        opts: NemesisOptions,
        status: Callable[[str], Status | None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(opts)
        self._status_fn = status
        self.clock = clock
        self.sleep = sleep
        self.down: set[str] = set()

    def status(self, node: str) -> Status | None:
        if self._status_fn is not None:
            return self._status_fn(node)
        host, port = self._need_backend().cluster()[node]
        try:
            st = wire.request(host, port, {"op": "status"}, timeout_s=STATUS_TIMEOUT_S, control=True)
        except (OSError, ValueError):
            return None
        return st if isinstance(st, dict) else None

    def invoke(self, f: str, value: Any) -> Any:
        backend = self._need_backend()
        if f == "start-coordinator-crash":
            deadline = self.clock() + WATCH_S
            polls = 0
            while self.clock() < deadline:
                polls += 1
                live = [n for n in self.nodes if n not in self.down]
                statuses = {n: st for n in live if (st := self.status(n)) is not None}
                victim = pick_victim(statuses)
                if victim is not None:
                    self.down.add(victim)  # recorded first: the stop must undo a half-done kill
                    backend.kill(victim)
                    return {"killed": victim, "deciding": statuses[victim].get("deciding"),
                            "polls": polls}
                self.sleep(POLL_S)
            return {"killed": None, "polls": polls}
        if f == "stop-coordinator-crash":
            nodes = sorted(self.down)
            errors = []
            for n in nodes:
                try:
                    backend.start(n)
                    self.down.discard(n)
                except Exception as e:  # noqa: BLE001 - bring back the others first
                    errors.append(f"{n}: {e}")
            if errors:
                raise NemesisError("; ".join(errors))
            return nodes
        raise NemesisError(f"coordinator-crash nemesis cannot do {f!r}")

    def teardown(self) -> None:
        for n in sorted(self.down):
            with contextlib.suppress(Exception):
                self._need_backend().start(n)
        self.down.clear()
