"""Backend contract: how the harness controls nodes (DESIGN §3).

Backends are blocking objects (the docker SDK and paramiko are blocking);
the runner calls them from worker threads. A backend that cannot do a fault
lists only what it can in ``capabilities``; the runner refuses, at setup,
a nemesis that needs more.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from systems.common.spec import Addr, SystemSpec

__all__ = [
    "Backend", "BackendError", "ChangesMembership", "Grudge", "CAPABILITIES", "CRASH_LOG_LINES",
    "next_node_name",
]

# kill: SIGKILL + restart on same data; pause: freeze/thaw; partition: grudges;
# clock: per-node offset/rate; packet: loss/delay/dup; membership: add and retire
# nodes while the test runs (``ChangesMembership``).
CAPABILITIES = frozenset({"kill", "pause", "partition", "clock", "packet", "membership"})

Grudge = Mapping[str, frozenset[str]]  # node -> nodes it drops packets from
CRASH_LOG_LINES = 15  # how much of a crashed node's output a crash record carries


class BackendError(RuntimeError):
    """A backend could not do what was asked; the message is one line for the user."""


@runtime_checkable
class Backend(Protocol):
    name: str

    def capabilities(self) -> frozenset[str]: ...

    def up(
        self,
        system: SystemSpec,
        nodes: list[str],
        run_dir: Path,
        bugs: tuple[str, ...] = (),
        seed: int = 0,
    ) -> None:
        """Start every node and return once each answers ``status`` (or raise BackendError)."""

    def down(self) -> None:
        """Stop and remove everything ``up`` made. Idempotent; must never raise."""

    def cluster(self) -> Mapping[str, Addr]:
        """node -> address the harness's clients use."""

    def start(self, node: str) -> None: ...

    def kill(self, node: str) -> None: ...

    def pause(self, node: str) -> None: ...

    def resume(self, node: str) -> None: ...

    def partition(self, grudge: Grudge) -> None: ...

    def heal(self) -> None: ...

    def clock(self, node: str, offset_s: float, rate: float = 1.0) -> None: ...

    def shape(self, node: str, delay_ms: float = 0, loss: float = 0, dup: float = 0) -> None: ...

    def crashes(self) -> list[dict[str, Any]]:
        """Nodes that exited on their own since the last call, each once per exit.

        A node the backend killed (``kill``) or took down (``down``) is never
        reported: those exits are the harness's faults, not findings. ``start``
        clears the mark. Each record is ``{"node", "exit_code" (int or None),
        "log" (the node's last ~CRASH_LOG_LINES lines of output)}``. Polled about
        once a second while a test runs, so it must be cheap and must not raise
        for a node that is simply gone.
        """

    def collect_logs(self, dest: Path) -> None:
        """Copy each node's logs to ``dest/<node>/``."""


@runtime_checkable
class ChangesMembership(Protocol):
    """The optional ``membership`` capability: nodes started and retired mid-run.

    A backend that has it lists ``"membership"`` in ``capabilities()`` (only
    when the system it runs has a ``SystemSpec.membership``). ``add_node``
    starts one more node of the running system with the system's join
    arguments, waits until it answers ``status`` and returns ``{"node", "addr",
    "mechanism"}``; from then on ``cluster()`` includes it and ``down()``
    removes it. ``retire_node`` stops a node for good (``graceful``: SIGTERM,
    else SIGKILL), keeps its log for ``collect_logs`` and drops it from
    ``cluster()``; its exit is never reported as a crash; it returns
    ``{"node", "mechanism"}``. The nemesis records both in the history.
    """

    def add_node(self) -> dict[str, Any]: ...

    def retire_node(self, node: str, graceful: bool) -> dict[str, Any]: ...


def next_node_name(taken: set[str]) -> str:
    """``n<k>`` for the smallest k above every ``n<i>`` in ``taken`` (names are never reused)."""
    k = max((int(t[1:]) for t in taken if t[:1] == "n" and t[1:].isdigit()), default=0)
    return f"n{k + 1}"
