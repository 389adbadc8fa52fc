"""A deterministic in-memory 2PC cluster: network, disks and crashes under the test's control.

Pure Python, no I/O. Messages wait in one in-flight list; tests ``deliver``
them (in order or picked by a seeded rng), ``cut``/``heal`` links, ``tick``
nodes, ``crash``/``restart`` them. A crash loses the node's buffered
(unsynced) records and its memory; a restart rebuilds the node from its
durable records with a new boot id. ``deliver(..., crash_after=n)`` crashes
the receiving node in the middle of honouring that step: after its records
were persisted and ``n`` of its messages left (``crash_after=-1``: before
anything was persisted) - the exact crash points of the protocol.

``atomicity_violations()`` is the safety property: every txn's appends are
visible on all the keys it appended to or on none, and a txn the client was
told ``ok`` is visible, one told ``fail`` is not.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .node import TwoPCNode
from .proto import DEFAULT_TIMING, Out, Timing, owner

__all__ = ["SimCluster", "SimDisk"]


@dataclass(slots=True)
class SimDisk:
    durable: list[dict[str, Any]] = field(default_factory=list)
    buffer: list[dict[str, Any]] = field(default_factory=list)

    def write(self, out: Out) -> None:
        self.buffer += out.buffered
        if out.persist:
            self.durable += self.buffer + out.persist
            self.buffer = []


class SimCluster:
    def __init__(
        self,
        names: Sequence[str] = ("n1", "n2", "n3"),
        bugs: Iterable[str] = (),
        timing: Timing = DEFAULT_TIMING,
        seed: int = 0,
    ) -> None:
        self.names = sorted(names)
        self.bugs = tuple(bugs)
        self.timing = timing
        self.rng = random.Random(seed)
        self.disks = {n: SimDisk() for n in self.names}
        self.boots = dict.fromkeys(self.names, 0)
        self.nodes: dict[str, TwoPCNode] = {n: self._boot(n) for n in self.names}
        self.down: set[str] = set()
        self.cuts: set[frozenset[str]] = set()
        self.net: list[dict[str, Any]] = []
        self.replies: dict[Any, dict[str, Any] | None] = {}  # token -> reply (None: no answer)
        self.txns: dict[Any, list[list[Any]]] = {}  # token -> submitted micro-ops

    def _boot(self, name: str) -> TwoPCNode:
        return TwoPCNode(name, self.names, f"b{self.boots[name]}", self.bugs, self.timing,
                         list(self.disks[name].durable))

    def owner(self, key: Any) -> str:
        return owner(key, self.names)

    # -- driving ---------------------------------------------------------------
    def submit(self, node: str, token: Any, mops: list[list[Any]]) -> None:
        self.txns[token] = mops
        self.request(node, token, {"mops": mops})

    def request(self, node: str, token: Any, req: dict[str, Any]) -> None:
        """Submit any client request (a transfer: ``{"transfer": [a, b, n], "initial": m}``)."""
        self.replies[token] = None
        if node in self.down:
            return
        self._honour(node, self.nodes[node].submit(token, req))

    def deliver(self, i: int = 0, crash_after: int | None = None) -> dict[str, Any]:
        """Deliver in-flight message ``i``; optionally crash its receiver mid-step."""
        m = self.net.pop(i)
        dst = m["dst"]
        if dst in self.down or frozenset((m["src"], dst)) in self.cuts:
            return m
        if crash_after == -1:
            self.crash(dst)
            return m
        self._honour(dst, self.nodes[dst].step(m), crash_after)
        return m

    def tick(self, nodes: Iterable[str] | None = None) -> None:
        for n in nodes if nodes is not None else self.names:
            if n not in self.down:
                self._honour(n, self.nodes[n].tick())

    def _honour(self, name: str, out: Out, crash_after: int | None = None) -> None:
        self.disks[name].write(out)
        msgs = out.messages if crash_after is None else out.messages[:crash_after]
        self.net += [dict(m) for m in msgs]
        if crash_after is not None:
            self.crash(name)
            return
        for token, reply in out.replies:
            self.replies[token] = reply

    def crash(self, name: str) -> None:
        self.down.add(name)
        self.disks[name].buffer = []
        self.net = [m for m in self.net if m["dst"] != name]

    def restart(self, name: str) -> None:
        self.boots[name] += 1
        self.nodes[name] = self._boot(name)
        self.down.discard(name)

    def cut(self, a: str, b: str) -> None:
        self.cuts.add(frozenset((a, b)))

    def heal(self) -> None:
        self.cuts.clear()

    def run(self, steps: int) -> None:
        """Deliver messages in a seeded random order, ticking now and then."""
        for _ in range(steps):
            if self.net and self.rng.random() < 0.85:
                self.deliver(self.rng.randrange(len(self.net)))
            else:
                self.tick()

    def settle(self, max_rounds: int = 2000) -> bool:
        """Restart every node, heal, deliver and tick until nothing is in flight or in doubt."""
        for n in sorted(self.down):
            self.restart(n)
        self.heal()
        for _ in range(max_rounds):
            while self.net:
                self.deliver(0)
            if self.quiet():
                return True
            self.tick()
        return False

    def quiet(self) -> bool:
        return not self.net and all(
            not nd.part.txns and not nd.coord.txns for nd in self.nodes.values()
        )

    # -- observation -------------------------------------------------------------
    def value(self, key: Any) -> Any:
        return self.nodes[self.owner(key)].part.store.get(key)

    def balances(self, accounts: Iterable[Any], initial: int) -> dict[Any, int]:
        return {a: initial if self.value(a) is None else int(self.value(a)) for a in accounts}

    def atomicity_violations(self) -> list[str]:
        """Explain every txn whose appends are partly visible, or disagree with its reply."""
        problems = []
        for token, mops in self.txns.items():
            seen = {}
            for f, k, v in mops:
                if f == "append":
                    seen[(k, v)] = v in (self.value(k) or [])
            if not seen:
                continue
            reply = self.replies.get(token)
            vis = set(seen.values())
            if len(vis) > 1:
                problems.append(f"txn {token!r}: partial commit {seen}")
            elif reply is not None and reply.get("ok") and vis == {False}:
                problems.append(f"txn {token!r}: acknowledged ok but not visible")
            elif reply is not None and not reply.get("ok") and vis == {True}:
                problems.append(f"txn {token!r}: told fail ({reply.get('error')}) but visible")
        for n, nd in self.nodes.items():
            for k, v in nd.part.store.items():
                if isinstance(v, list) and len(v) != len(set(map(repr, v))):
                    problems.append(f"{n}: key {k!r} holds a duplicate element: {v}")
        return problems
