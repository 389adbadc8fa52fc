"""A targeted nemesis that steers a Raft cluster through Figure 8 of the Raft paper.

Figure 8 is the interleaving in which a leader that counts replicas of an
*earlier term's* entry (breaking §5.4.2) commits it, and a later leader then
overwrites it. Random partitions almost never produce it: it needs four
phases in order, each gated on what the cluster did in the previous one. So
this nemesis watches the nodes' ``status`` (role, term, commit, last index,
last term) and cuts the network, phase by phase, with ordinary grudges. It
also cuts the harness's *clients* off chosen nodes (the pseudo-node
``clients``, see :mod:`harness.netctl`), because which leader gets client
writes is what decides the interleaving. Nothing else is touched: no kills,
no pauses, no clock.

With five nodes, A the leader of term t:

(a) A alone, clients only at A: A appends writes of term t that reach nobody,
    then steps down (CheckQuorum). The other four, without clients, elect B.
(b) Every node alone, clients only at B: B appends writes of its term t' > t
    at the indexes where A holds its term-t entries; they reach nobody either,
    and nobody can hold an election meanwhile.
(c) A as the hub of a star over the three others (so only A can win), no
    clients: A wins term T > t', ships its term-t entries, and a correct
    leader stops there (they are not of term T, and it has no entry of its
    own term to commit). A leader with the bug commits them by counting.
(d) B as the hub of a star over the same three, A cut off: B's last term t'
    beats their t, so B wins and overwrites entries they hold as committed.
    raftkv's invariant (a follower never truncates a committed entry) crashes
    them; with the invariant off, B would apply different commands at the
    same indexes.

Each phase waits for its effect (a leader, appended entries, a commit) with a
deadline; a phase that does not happen ends the attempt ("precondition not
met"), which is what a correct system does at (c). Every phase is recorded in
the op's completion value. The attempt heals when it ends (and ``stop-figure8``
heals again, for the package's usual start/stop shape).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from harness.netctl import CLIENTS
from nemesis import grudge as gr
from nemesis.core import NemesisError
from nemesis.status import Status, StatusNemesis

__all__ = ["Figure8Nemesis", "star", "plan_components"]

FIELDS = ("role", "term", "commit", "last_index", "last_term")


def star(hub: str, spokes: Iterable[str], others: Iterable[str]) -> gr.Grudge:
    """``hub`` hears every spoke and each spoke only the hub; ``others`` hear nobody.

    Only the hub can gather a majority of votes, so the hub is the one
    node that can win an election (when its log is at least as up to date).
    """
    spoke_set = frozenset(spokes)
    everyone = frozenset({hub}) | spoke_set | frozenset(others)
    out: gr.Grudge = {hub: everyone - spoke_set - {hub}}
    for s in spoke_set:
        out[s] = everyone - {s, hub}
    for o in frozenset(others):
        out[o] = everyone - {o}
    return out


def plan_components(grudge: gr.Grudge, clients_at: Iterable[str]) -> gr.Grudge:
    """``grudge`` plus: every node not in ``clients_at`` also drops the harness's clients."""
    allowed = frozenset(clients_at)
    nodes = set(grudge) | {p for ps in grudge.values() for p in ps}
    return {n: frozenset(grudge.get(n, frozenset())) | ({CLIENTS} if n not in allowed else set())
            for n in sorted(nodes)}


class Figure8Nemesis(StatusNemesis):
    """``start-figure8`` runs one attempt (a)-(d) and returns what each phase saw."""

    faults = frozenset({"figure8"})

    def setup(self, backend: Any, test: Mapping[str, Any]) -> None:
        super().setup(backend, test)
        if len(self.nodes) < 5:
            raise NemesisError(f"--nemesis {self.fault} needs at least 5 nodes, not "
                               f"{len(self.nodes)}")

    def status(self, node: str) -> Status | None:
        """A Raft node's status, or None when it does not answer or is not a Raft node."""
        st = super().status(node)
        return st if st is not None and all(k in st for k in FIELDS) else None

    def leader_among(self, nodes: Sequence[str]) -> tuple[str, Status] | None:
        sts = self.statuses(nodes)
        leaders = [(st["term"], n) for n, st in sts.items() if st.get("role") == "leader"]
        if not leaders:
            return None
        _, n = max(leaders)
        return n, sts[n]

    def cut(self, grudge: gr.Grudge, clients_at: Iterable[str]) -> dict[str, list[str]]:
        g = plan_components(grudge, clients_at)
        self._need_backend().partition(g)
        return gr.grudge_to_json(g)

    def begin(self) -> tuple[list[dict[str, Any]], Callable[[str], dict[str, Any]],
                             tuple[str, Status] | None]:
        """A steered attempt's phase log, its ``end(outcome)`` (the completion value), and
        the leader it starts from (None: none within 3 s)."""
        phases: list[dict[str, Any]] = []

        def end(outcome: str) -> dict[str, Any]:
            return {"outcome": outcome, "phases": phases}

        return phases, end, self.wait(lambda: self.leader_among(sorted(self.nodes)), 3.0)

    # -- the attempt -------------------------------------------------------------
    def attempt(self) -> dict[str, Any]:
        nodes = sorted(self.nodes)
        phases, end, found = self.begin()
        if found is None:
            return end("no leader to start from")
        a, st_a = found
        rest = [n for n in nodes if n != a]
        # (a) A alone with the clients; the rest elect B without clients.
        g = self.cut(gr.isolate(nodes, a), [a])
        stepped = self.wait(lambda: (s := self.status(a)) is not None and s["role"] != "leader" and s, 1.5)
        found_b = self.wait(lambda: self.leader_among(rest), 2.0)
        phases.append({"phase": "a", "A": a, "term": st_a["term"], "grudge": g,
                       "A_after": _brief(stepped), "B": found_b and found_b[0]})
        if found_b is None:
            return end("precondition not met at (a): the other nodes elected no leader")
        b, st_b = found_b
        b0 = int(st_b["last_index"])
        # (b) B alone with the clients: its writes of term t' reach nobody.
        trio = [n for n in rest if n != b][:3]
        spare = [n for n in rest if n not in trio and n != b]
        g = self.cut(gr.complete_grudge([[n] for n in nodes]), [b])  # nobody can elect
        got_b = self.wait(lambda: (s := self.status(b)) is not None and s["role"] != "leader" and s, 1.5)
        st_a2 = self.status(a)
        phases.append({"phase": "b", "B": b, "term": st_b["term"], "B_last_before": b0,
                       "grudge": g, "B_after": _brief(got_b), "A": _brief(st_a2)})
        if not got_b or got_b["last_index"] <= b0 or got_b["last_term"] <= (st_a2 or {}).get("last_term", 0):
            return end("precondition not met at (b): B appended no entry of its term")
        if st_a2 is None or st_a2["last_index"] <= b0:
            return end("precondition not met at (b): A holds no entry where B's new ones start")
        conflict = b0 + 1
        # (c) A is the only node that can win; no clients anywhere.
        g = self.cut(star(a, trio, [b] + spare), [])
        led = self.wait(lambda: (s := self.status(a)) is not None and s["role"] == "leader" and s, 2.0)
        committed = led and self.wait(
            lambda: len(sts := self.statuses(trio)) == len(trio)
            and all(s.get("commit", 0) >= conflict for s in sts.values()), 2.5)
        phases.append({"phase": "c", "grudge": g, "A_after": _brief(led),
                       "trio": {n: _brief(s) for n, s in self.statuses(trio).items()}})
        if not led:
            return end("precondition not met at (c): A did not win (its log is behind)")
        if not committed:
            return end(f"no commit at (c): A did not commit index {conflict} (the §5.4.2 rule held)")
        # (d) B is the only node that can win; it overwrites what the trio committed.
        g = self.cut(star(b, trio, [a] + spare), [])
        won = self.wait(lambda: (s := self.status(b)) is not None and s["role"] == "leader" and s, 3.0)
        self.wait(lambda: len(self.statuses(trio)) < len(trio), 2.0)
        after = {n: _brief(self.status(n)) for n in trio}
        phases.append({"phase": "d", "grudge": g, "B_after": _brief(won), "trio": after})
        down = sorted(n for n, s in after.items() if s is None)
        if down:
            return end(f"committed index {conflict} overwritten: {', '.join(down)} stopped answering")
        return end("B did not overwrite the committed entries" if won else "B did not win at (d)")

    fault = "figure8"  # a steered schedule on this class names its own op pair

    def heal(self) -> None:
        """Undo what an attempt did to the network (a subclass undoes more)."""
        self._need_backend().heal()

    def invoke(self, f: str, value: Any) -> Any:
        self._need_backend()
        if f == f"start-{self.fault}":
            # One attempt is a whole episode: heal when it ends, however it ends, so
            # clients are not left cut off every node until the stop op.
            try:
                return self.attempt()
            finally:
                with contextlib.suppress(Exception):
                    self.heal()
        if f == f"stop-{self.fault}":
            self.heal()
            return "healed"
        raise NemesisError(f"{self.fault} nemesis cannot do {f!r}")

    def teardown(self) -> None:
        if self.backend is not None:
            with contextlib.suppress(Exception):
                self.heal()


def _brief(st: Mapping[str, Any] | None | bool) -> dict[str, Any] | None:
    if not isinstance(st, Mapping):
        return None
    return {k: st[k] for k in FIELDS if k in st}
