"""The ``membership`` nemesis: nodes join, leave, crash out and flap their registration.

For systems with a ``SystemSpec.membership`` on backends with the
``membership`` capability (:class:`harness.backends.base.ChangesMembership`).
Each ``start-membership`` makes one change, its value ``{"action": A}``:

- ``join`` — the backend starts one more node (``add_node``: a new container
  on the run's network, or a new process) with the system's join arguments;
- ``leave`` — a graceful leave of a node this nemesis added: the node is asked
  to deregister (``{"op": "leave"}``, answered once committed), then the
  backend stops it (SIGTERM) and removes it;
- ``crash`` — a node this nemesis added is SIGKILLed and removed without
  deregistering: the registry's TTL has to expire it;
- ``flap`` — a registered node is dropped from the registry at once and stops
  heart-beating (``{"op": "registration", "on": false, "deregister": true}``:
  a failed health check) while it keeps serving; clients route around it, but
  it still holds what it cached.
  An added node is picked when one is registered (the elastic tier: in the
  cache the nodes the run started with also replicate the store, and delete
  what their log applies), else any.

- ``replace`` — a flap of an added node, then at once a join (a leave when at
  the cap): the orchestrator replacing a cache node whose registration
  lapsed; two changes, recorded as ``{"changes": [flap, join]}`` (a join
  when no added node is registered).

``stop-membership`` brings every flapped node's heartbeat back (it registers
again at once: the ring flips back). The nodes the cluster started with are
never stopped here — in the systems so far they are also the replicated
store, whose membership is fixed — so ``leave``/``crash`` apply to added
nodes, and with none added a ``leave``/``crash`` becomes a ``join`` (and a
``join`` at ``membership_max_added`` live added nodes becomes a ``leave``).

Every completion records what was done and what the registry then said:
``{"action", "node", "mechanism", "epoch", "members", "settled", "change"}``
— ``members``/``epoch`` as read back from the registry (waiting up to
``membership_settle_s`` for the change to show: a crash or a flap shows
only once the TTL ran out; ``settled`` false if it did not show in time),
and ``change`` the system's figures of the step from the members read before
to those read after (keys moved against the ideal, load max/mean).

The schedule (:func:`nemesis.schedule.membership_package`) joins a node,
then repeats replace, two more changes, stop: a node is out of the ring across other changes and
then owns its old keys again — what it takes for an old owner to miss
invalidations that writers send to the owners of their newest two rings
(``stale-owner`` in the cache). The replacement follows the flap at once:
while the flapped node is out with only one change behind it, writers
still invalidate it, so the shorter that window the more of its cache
survives to be served stale when it returns.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from harness.backends.base import ChangesMembership
from nemesis.core import NemesisBase, NemesisError, NemesisOptions
from systems.common import wire

__all__ = ["ACTIONS", "MembershipNemesis"]

ACTIONS = ("join", "leave", "crash", "flap", "replace")
REGISTRY_TIMEOUT_S = 2.5  # a node reads the registry through its own store client (~1.7 s)
POLL_S = 0.2


class MembershipNemesis(NemesisBase):
    faults = frozenset({"membership"})

    def __init__(self, opts: NemesisOptions, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(opts)
        self.added: list[str] = []  # live nodes this nemesis started, oldest first
        self.flapped: set[str] = set()
        self.members: list[str] = []  # the registry's members as last read
        self.ring_change: Callable[[Sequence[str], Sequence[str]], Mapping[str, Any]] | None = None
        self._sleep = sleep
        self._clock = clock

    def setup(self, backend: Any, test: Mapping[str, Any]) -> None:
        super().setup(backend, test)
        caps = backend.capabilities() if hasattr(backend, "capabilities") else frozenset()
        if not isinstance(backend, ChangesMembership) or "membership" not in caps:
            raise NemesisError(f"the {getattr(backend, 'name', '?')} backend cannot add or "
                               "retire nodes (membership)")
        from systems import get_system

        spec = get_system(str(test.get("system")))
        if spec.membership is None:
            raise NemesisError(f"system {spec.name} cannot change membership")
        self.ring_change = spec.membership.ring_change
        self.members = sorted(self.nodes)

    def on_clock(self, sleep: Callable[[float], None], clock: Callable[[], float]) -> None:
        """Wait and read time on another clock (the simulation's)."""
        self._sleep, self._clock, self.sleep = sleep, clock, sleep

    def _backend(self) -> ChangesMembership:
        b = self._need_backend()
        assert isinstance(b, ChangesMembership)
        return b

    # -- talking to nodes -------------------------------------------------------------
    def _ask(self, node: str, msg: dict[str, Any], timeout_s: float | None = None) -> Any:
        timeout_s = REGISTRY_TIMEOUT_S if timeout_s is None else timeout_s
        backend = self._need_backend()
        addr = backend.cluster().get(node)
        if addr is None:
            raise NemesisError(f"node {node} is not in the cluster")
        control = getattr(backend, "control", None)
        if control is not None:  # the simulation: a request on its network, in its time
            reply = control(node, msg, timeout_s)
            if reply is None:
                raise NemesisError(f"{msg.get('op')} at {node}: no answer in {timeout_s:g} s")
        else:
            try:
                reply = wire.request(addr[0], addr[1], msg, timeout_s=timeout_s, control=True)
            except (OSError, ValueError) as e:
                raise NemesisError(f"{msg.get('op')} at {node}: {e!r}") from None
        if not isinstance(reply, dict) or not reply.get("ok"):
            err = reply.get("error") if isinstance(reply, dict) else reply
            raise NemesisError(f"{msg.get('op')} at {node} failed: {err}")
        return reply

    def registry(self, prefer: Sequence[str] = (), deadline: float | None = None
                 ) -> tuple[int, list[str]] | None:
        """(epoch, members) read through the first node that answers; None if none did
        (or ``deadline``, on the nemesis clock, passed: a partition can make every
        node slow to answer, and the nemesis must not stall the other faults)."""
        live = list(self._need_backend().cluster())
        order = [n for n in prefer if n in live] + sorted(n for n in live if n not in prefer)
        for node in order:
            if deadline is not None and self._clock() >= deadline:
                break
            with contextlib.suppress(NemesisError):
                r = self._ask(node, {"op": "registry"})
                return int(r.get("epoch") or 0), sorted(r.get("members") or {})
        return None

    def _settle(self, done: Callable[[list[str]], bool], prefer: Sequence[str]
                ) -> tuple[int | None, list[str] | None, bool]:
        deadline = self._clock() + self.opts.membership_settle_s
        last: tuple[int, list[str]] | None = None
        while True:
            got = self.registry(prefer, deadline)
            if got is not None:
                last = got
                if done(got[1]):
                    return got[0], got[1], True
            if self._clock() >= deadline:
                return (last[0], last[1], False) if last else (None, None, False)
            self._sleep(POLL_S)

    # -- the actions --------------------------------------------------------------------
    def _pick_action(self, want: str) -> str:
        if want not in ACTIONS:
            raise NemesisError(f"unknown membership action {want!r} (one of {', '.join(ACTIONS)})")
        room = len(self.added) < self.opts.membership_max_added
        if want in ("leave", "crash") and not self.added:
            return "join"
        if want == "join" and not room:
            return "leave"
        if want == "flap" and not self._flappable():
            return "join" if room else "leave"
        if want == "replace" and not [n for n in self._flappable() if n in self.added]:
            return "join" if room else "leave"
        return want

    def _flappable(self) -> list[str]:
        live = set(self._need_backend().cluster())
        # keep at least two nodes registered, whatever else is going on
        if len(live - self.flapped) <= 2:
            return []
        return sorted(n for n in self.members if n in live and n not in self.flapped)

    def invoke(self, f: str, value: Any) -> Any:
        if f == "start-membership":
            want = value.get("action", "join") if isinstance(value, Mapping) else (value or "join")
            action = self._pick_action(str(want))
            if action != "replace":
                return self._change(action)
            first = self._change("flap")
            second = self._change("join" if len(self.added) < self.opts.membership_max_added
                                  else "leave")
            return {"action": "replace", "node": first["node"], "changes": [first, second],
                    "epoch": second["epoch"], "members": second["members"],
                    "settled": first["settled"] and second["settled"]}
        if f == "stop-membership":
            nodes = sorted(self.flapped)
            if not nodes:
                return {"action": "rejoin", "nodes": []}
            before = self._before()
            errors = []
            for n in nodes:
                try:
                    self._ask(n, {"op": "registration", "on": True})
                    self.flapped.discard(n)
                except NemesisError as e:  # bring back the others first
                    errors.append(str(e))
            if errors:
                raise NemesisError("; ".join(errors))
            return self._record("rejoin", None, {"nodes": nodes, "mechanism":
                                "registration heartbeat resumed (wire op registration on=true)"},
                                before, lambda m: all(n in m for n in nodes))
        raise NemesisError(f"membership nemesis cannot do {f!r}")

    def _change(self, action: str) -> dict[str, Any]:
        """One change (join, leave, crash or flap) and its record."""
        backend = self._backend()
        before = self._before()
        if action == "join":
            out = backend.add_node()
            node = str(out["node"])
            self.added.append(node)
            return self._record(action, node, out, before, lambda m: node in m)
        if action == "flap":
            candidates = self._flappable()
            added = [n for n in candidates if n in self.added]
            node = self.rng.choice(added or candidates)
            self.flapped.add(node)  # first: a half-done flap is still undone
            self._ask(node, {"op": "registration", "on": False, "deregister": True},
                      timeout_s=5.0)
            return self._record(action, node, {"mechanism": "heartbeat stopped and deregistered, "
                                               "node still serving (wire op registration "
                                               "on=false deregister=true)"},
                                before, lambda m: node not in m, prefer_node=False)
        node = self.rng.choice(self.added)
        if action == "leave":
            self._ask(node, {"op": "leave"}, timeout_s=5.0)
        self.added.remove(node)
        self.flapped.discard(node)
        out = backend.retire_node(node, graceful=action == "leave")
        return self._record(action, node, out, before, lambda m: node not in m,
                            prefer_node=False)

    def _before(self) -> list[str]:
        got = self.registry(deadline=self._clock() + 2 * REGISTRY_TIMEOUT_S)
        if got is not None:
            self.members = got[1]
        return list(self.members)

    def _record(self, action: str, node: str | None, out: Mapping[str, Any], before: list[str],
                done: Callable[[list[str]], bool], prefer_node: bool = True) -> dict[str, Any]:
        prefer = [node] if node is not None and prefer_node else []
        epoch, members, settled = self._settle(done, prefer)
        rec: dict[str, Any] = {"action": action, "node": node, **out, "epoch": epoch,
                               "members": members, "settled": settled}
        if members is not None:
            self.members = members
            if self.ring_change is not None and members != before:
                rec["change"] = {"from": before, **self.ring_change(before, members)}
        return rec

    def teardown(self) -> None:
        for n in sorted(self.flapped):
            with contextlib.suppress(Exception):
                self._ask(n, {"op": "registration", "on": True})
        self.flapped.clear()
