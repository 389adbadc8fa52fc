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

from collections.abc import Mapping
from typing import Any

from nemesis.core import NemesisError
from nemesis.faults import undo_all, undo_quietly
from nemesis.status import StatusNemesis

__all__ = ["CoordinatorCrashNemesis", "WATCH_S", "pick_victim"]

WATCH_S = 5.0


def pick_victim(statuses: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The node with the most decided-but-unacknowledged txns (pure; None if no node has any)."""
    counts = [(int(st.get("deciding") or 0), node) for node, st in statuses.items()]
    best = max(counts, default=(0, ""))
    return best[1] if best[0] > 0 else None


class CoordinatorCrashNemesis(StatusNemesis):
    faults = frozenset({"coordinator-crash"})
    poll_s = 0.002  # the window is narrow: poll as fast as the nodes answer

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.down: set[str] = set()

    def invoke(self, f: str, value: Any) -> Any:
        backend = self._need_backend()
        if f == "start-coordinator-crash":
            polls = 0

            def caught() -> tuple[str, Any] | None:
                nonlocal polls
                polls += 1
                statuses = self.statuses(n for n in self.nodes if n not in self.down)
                victim = pick_victim(statuses)
                return None if victim is None else (victim, statuses[victim].get("deciding"))

            got = self.wait(caught, WATCH_S)
            if got is None:
                return {"killed": None, "polls": polls}
            victim, deciding = got
            self.down.add(victim)  # recorded first: the stop must undo a half-done kill
            backend.kill(victim)
            return {"killed": victim, "deciding": deciding, "polls": polls}
        if f == "stop-coordinator-crash":
            return undo_all(self.down, backend.start)
        raise NemesisError(f"coordinator-crash nemesis cannot do {f!r}")

    def teardown(self) -> None:
        if self.backend is not None:
            undo_quietly(self.down, self.backend.start)
