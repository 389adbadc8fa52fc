"""Targeted nemeses watch the nodes' ``status`` replies; this is the shared watching.

A targeted nemesis (figure8, coordinator-crash, commit-cut) acts when the
cluster reaches a state, so it polls every node's ``{"op": "status"}`` over the
control port (probes pass the faults that cut the harness's clients). In the
simulation the world injects its own ``status``, ``clock`` and ``sleep``
(:meth:`StatusNemesis.attach`), so the same nemesis runs on simulated time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from nemesis.core import NemesisBase, NemesisOptions
from systems.common import wire

__all__ = ["Status", "StatusNemesis", "STATUS_TIMEOUT_S"]

Status = dict[str, Any]
STATUS_TIMEOUT_S = 0.3


class StatusNemesis(NemesisBase):
    """A nemesis that observes nodes: ``status``, ``statuses`` and ``wait`` (poll until true)."""

    poll_s = 0.02  # between two polls of :meth:`wait`

    def __init__(
        self,
        opts: NemesisOptions,
        status: Callable[[str], Mapping[str, Any] | None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(opts)
        self.attach(status, clock, sleep)

    def attach(
        self,
        status: Callable[[str], Mapping[str, Any] | None] | None,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
    ) -> None:
        """Observe through ``status`` (None: ask the node over the wire) on ``clock``/``sleep``."""
        self._status_fn = status
        self.clock = clock
        self.sleep = sleep

    def status(self, node: str) -> Status | None:
        """``node``'s status reply, or None when it does not answer (down, paused, cut)."""
        if self._status_fn is not None:
            got = self._status_fn(node)
            return dict(got) if got is not None else None
        host, port = self._need_backend().cluster()[node]
        try:
            st = wire.request(host, port, {"op": "status"}, timeout_s=STATUS_TIMEOUT_S, control=True)
        except (OSError, ValueError):
            return None
        return st if isinstance(st, dict) else None

    def statuses(self, nodes: Iterable[str]) -> dict[str, Status]:
        """The status of every node of ``nodes`` that answers."""
        out = {}
        for n in nodes:
            st = self.status(n)
            if st is not None:
                out[n] = st
        return out

    def wait(self, what: Callable[[], Any], timeout_s: float) -> Any:
        """Poll ``what()`` until it is truthy (returned) or ``timeout_s`` passes (None)."""
        deadline = self.clock() + timeout_s
        while True:
            got = what()
            if got:
                return got
            if self.clock() >= deadline:
                return None
            self.sleep(self.poll_s)
