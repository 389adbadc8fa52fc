"""A targeted nemesis for two-phase commit: lose a commit in flight, then crash its coordinator.

The ``coordinator-crash`` nemesis kills a node caught with decided,
unacknowledged txns, but in Docker a commit already written to a socket still
reaches its participant after the sender dies: the kill would have to land
within about a millisecond of the decision. ``commit-cut`` makes that window
wide and real, in one episode (``start-commit-cut``):

1. **delay** every message a chosen coordinator C sends by ``DELAY_MS``
   (``backend.shape``: a host TCP relay in Docker, netem where the kernel has
   it, the simulated network in the sim), so each of C's commits is in flight
   that long: C shows ``deciding`` >= 1 while txns flow;
2. **cut** one participant P off C (the one with the most commits in flight) (P drops what C sends; the relay drops
   what it still holds for P). Commits C sent in the last ``DELAY_MS`` reach
   the other participants and not P, and C keeps re-sending them to P in vain;
3. after the in-flight commits to the others have landed, **kill** C if it
   still holds decided, unacknowledged txns (its ``status``);
4. once what C sent before dying has drained, **heal** the cut, lift the delay and
   **restart** C.

P is left prepared and in doubt and asks the restarted C. A correct C logged
its decisions before sending any commit and re-drives them; one with the
``no-decision-log`` bug forgot them and answers *abort* (presumed abort), so
P aborts what the others committed: a partial commit. The completion value
says who was C and P, the delay and its mechanism, and whether C was killed
(``killed: null`` when C had nothing in flight: the precondition never held).
``stop-commit-cut`` undoes whatever an interrupted episode left. Needs the
backend's ``partition`` and ``kill``; ``packet`` delay widens the window, and
without it (no delay mechanism) the episode still runs, with a narrow window.
The heal is the backend's: mixed with the ``partition`` nemesis, an episode's
end heals its partition too.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from nemesis.core import NemesisError
from nemesis.faults import undo_all, undo_quietly
from nemesis.status import StatusNemesis

__all__ = ["CommitCutNemesis", "DELAY_MS", "SETTLE_S", "WATCH_S", "pick_participant"]

DELAY_MS = 500.0  # C's messages take this long: the window in which a cut loses a commit
WATCH_S = 2.0  # how long to wait for C to have commits in flight (twice: see below)
WANT_IN_FLIGHT = 2  # cut as soon as one participant has this many (a read-only part of a
# txn shows nothing when lost, so several raise the odds); after WATCH_S, one will do
SETTLE_S = 0.3  # after the cut, beyond DELAY_MS: commits to the other participants land


def _awaited(st: Mapping[str, Any] | None, coordinator: str) -> dict[str, int]:
    """Per participant other than the coordinator, its commits the coordinator has in flight.

    From the ``awaiting_write_ack`` field of a twopc status (commits that write at that
    participant: losing a read-only part changes nothing anyone can see), else
    ``awaiting_ack``; a status with only a ``deciding`` count gives it to the
    pseudo-participant ``"*"`` (any participant will do)."""
    st = st or {}
    per = st.get("awaiting_write_ack", st.get("awaiting_ack"))
    if isinstance(per, Mapping):
        return {str(p): int(n) for p, n in per.items() if p != coordinator and int(n) > 0}
    n = int(st.get("deciding") or 0)
    return {"*": n} if n > 0 else {}


def pick_participant(awaited: Mapping[str, int]) -> str | None:
    """The participant with the most commits in flight (pure; ties: the first by name)."""
    best = max(sorted(awaited.items()), key=lambda kv: kv[1], default=None)
    return best[0] if best is not None and best[1] > 0 else None


class CommitCutNemesis(StatusNemesis):
    faults = frozenset({"commit-cut"})
    poll_s = 0.01

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.down: set[str] = set()
        self.shaped: set[str] = set()
        self.cut = False
        self.delay_mechanism = ""

    def setup(self, backend: Any, test: Mapping[str, Any]) -> None:
        super().setup(backend, test)
        if len(self.nodes) < 2:
            raise NemesisError("--nemesis commit-cut needs at least 2 nodes")
        caps = backend.capabilities()
        probe = getattr(backend, "packet_mechanism", None)
        delay = dict(probe()).get("delay", "") if "packet" in caps and callable(probe) else ""
        self.delay_mechanism = "" if "unsupported" in delay else delay

    def invoke(self, f: str, value: Any) -> Any:
        if f == "start-commit-cut":
            try:
                return self.episode()
            finally:
                self.restore()
        if f == "stop-commit-cut":
            return self.restore()
        raise NemesisError(f"commit-cut nemesis cannot do {f!r}")

    def episode(self) -> dict[str, Any]:
        backend = self._need_backend()
        nodes = sorted(self.nodes)
        c = self.rng.choice(nodes)
        delay_ms = DELAY_MS if self.delay_mechanism else 0.0
        rec: dict[str, Any] = {"coordinator": c, "participant": None, "delay_ms": delay_ms,
                               "mechanism": self.delay_mechanism or "no delay available",
                               "in_flight": {}, "killed": None}
        if delay_ms:
            self.shaped.add(c)  # recorded first: a half-applied shape is still lifted
            backend.shape(c, delay_ms=delay_ms)
        seen: dict[str, int] = {}

        def at_least(n: int) -> bool:
            seen.clear()
            seen.update(_awaited(self.status(c), c))
            return max(seen.values(), default=0) >= n

        if not self.wait(lambda: at_least(WANT_IN_FLIGHT), WATCH_S):
            self.wait(lambda: at_least(1), WATCH_S)
        p = pick_participant(seen)
        if p == "*":
            p = self.rng.choice([n for n in nodes if n != c])
        if p is None:
            return rec  # C had no commit in flight: the precondition never held
        rec["participant"] = p
        self.cut = True
        backend.partition({p: frozenset({c})})
        self.sleep(delay_ms / 1000 + SETTLE_S)
        rec["in_flight"] = after = _awaited(self.status(c), c)
        if after.get(p, after.get("*", 0)) > 0:
            self.down.add(c)  # recorded first: the stop must undo a half-done kill
            backend.kill(c)
            rec["killed"] = c
            # What C sent before dying is still in flight (the relay, the simulated network)
            # for up to the delay: the cut must outlast it, or C's last re-sent commits would
            # reach P after the heal, as if C had logged its decision.
            self.sleep(delay_ms / 1000 + SETTLE_S)
        return rec

    def restore(self) -> list[str]:
        """Heal the cut, lift the delay, restart the killed coordinator; what was restarted.

        Every step is tried; one NemesisError names those that failed."""
        backend = self._need_backend()
        errors: list[str] = []
        restarted: list[str] = []
        try:
            if self.cut:
                backend.heal()
                self.cut = False
        except Exception as e:  # noqa: BLE001 - lift the delay and restart regardless
            errors.append(f"heal: {e}")
        try:
            undo_all(self.shaped, lambda n: backend.shape(n, 0, 0, 0))
        except NemesisError as e:
            errors.append(f"delay: {e}")
        try:
            restarted = undo_all(self.down, backend.start)
        except NemesisError as e:
            errors.append(f"restart: {e}")
        if errors:
            raise NemesisError("; ".join(errors))
        return restarted

    def teardown(self) -> None:
        backend = self.backend
        if backend is None:
            return
        if self.cut:
            with contextlib.suppress(Exception):
                backend.heal()
            self.cut = False
        undo_quietly(self.shaped, lambda n: backend.shape(n, 0, 0, 0))
        undo_quietly(self.down, backend.start)
