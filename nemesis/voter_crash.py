"""voter-crash: a voter crashes between granting its vote and hearing from the leader it
elected, then meets a second candidate of the same term.

Raft's Election Safety (one leader per term) rests on every voter remembering, across a
crash, the vote it gave in its current term: ``votedFor`` must be durable before the
vote leaves. A store that loses it lets one voter elect two leaders of one term. Random
kills almost never land in the window that shows it — after the vote, before the new
leader's first append reaches the voter (its log would then outvote the second
candidate) — and there must be a second candidate of that very term nearby. This
nemesis steers there, watching the nodes' ``status`` (role, term) like figure8:

1. The leader L of term t is found; clients are cut off everywhere for a moment, so
   every follower holds the same log (where the backend can cut clients beside a
   delay: not through Docker's delay relay, where clients reach every node throughout).
2. L and one follower C2 are isolated, each alone; the other three form a group whose
   sends are delayed (``DELAY_MS``). The group elects C1 with both other votes
   (three nodes); the moment C1 shows as leader of term T, one of its voters V is
   killed, the network becomes {V, C2, L} | {C1, X}, and V restarts at once: C1's
   first append to V, still delayed in flight, is dropped, so V's log is the one C2
   holds too.
3. In {V, C2, L} the nemesis waits for a leader. C2 never heard of V's new term T; if
   V's vote survived its crash, C2's (pre)vote for T is refused and only a later term
   can win. If it did not, C2 wins term T too — two leaders of one term, which the
   divergence checker's ``two-leaders`` rule reports from the nodes' status.

Each phase waits with a deadline; an attempt that does not get there ends early. The
completion value records every phase. The attempt heals the network and the delays
when it ends; ``stop-voter-crash`` heals again. Needs at least 5 nodes and the
``partition``, ``kill`` and ``packet`` capabilities.
"""

from __future__ import annotations

from typing import Any

from nemesis import grudge as gr
from nemesis.figure8 import Figure8Nemesis, _brief

__all__ = ["VoterCrashNemesis"]

SETTLE_S = 0.1  # clients cut everywhere: in-flight appends reach every follower
# The group's sends are delayed this much: enough that the new leader's first append is
# still in flight when the nemesis sees it elected, short enough (a round trip well under
# the 150 ms election timeout) that the election is not split into many terms.
DELAY_MS = 30.0


def _clients_cuttable_beside_delays(backend: Any) -> bool:
    """False where delays go through a host relay, which listens where the clients come
    from (cutting one cuts the other: ``netfaults.CLIENTS_VS_RELAY``)."""
    mechanism = getattr(backend, "packet_mechanism", None)
    return mechanism is None or "relay" not in str(mechanism().get("delay", ""))


class VoterCrashNemesis(Figure8Nemesis):
    """``start-voter-crash`` runs one attempt and returns what each phase saw."""

    faults = frozenset({"voter-crash"})
    fault = "voter-crash"
    poll_s = 0.005  # the window after a vote is one delayed round trip

    def __init__(self, opts: Any) -> None:
        super().__init__(opts)
        self.shaped: set[str] = set()

    def lift_delays(self) -> None:
        backend = self._need_backend()
        for n in sorted(self.shaped):
            backend.shape(n, 0, 0, 0)
        self.shaped.clear()

    def heal(self) -> None:
        """Lift the delays, then the partition."""
        try:
            self.lift_delays()
        finally:
            super().heal()

    def attempt(self) -> dict[str, Any]:
        backend = self._need_backend()
        nodes = sorted(self.nodes)
        phases, end, found = self.begin()
        if found is None:
            return end("no leader to start from")
        lead, st = found
        t = int(st["term"])
        # Clients are cut where the backend can cut them beside a delay (no new entries: the
        # followers catch up, and the two leaders of term T show in status before a node's
        # own assert fires). Where delays go through a host relay (Docker without netem)
        # clients and relay come from one address, so clients reach every node throughout;
        # a write the isolated L takes only makes its log the longer one, which a forgotten
        # vote lets win term T as well as C2.
        free = [] if _clients_cuttable_beside_delays(backend) else nodes
        self.cut({n: frozenset() for n in nodes}, free)
        self.sleep(SETTLE_S)
        followers = [n for n in nodes if n != lead]
        c2 = self.rng.choice(followers)
        group = [n for n in followers if n != c2]
        g = self.cut(gr.complete_grudge([[lead], [c2], group]), free)
        for n in group:
            self.shaped.add(n)
            backend.shape(n, DELAY_MS, 0, 0)

        elected = self.wait(lambda: self.leader_among(group), 3.0)
        voters = [n for n in group if elected is None or n != elected[0]]
        v = self.rng.choice(voters) if elected is not None else None
        phases.append({"phase": "vote", "leader": lead, "term": t, "C2": c2, "group": group,
                       "grudge": g, "elected": elected and elected[0], "voter": v})
        if elected is None or v is None:
            return end("precondition not met: the group elected no leader")
        st_v = self.status(v)
        backend.kill(v)
        rest = [n for n in group if n != v]
        try:  # the voter comes back even if the cut or lifting the delays fails
            g = self.cut(gr.complete_grudge([[v, c2, lead], rest]), free)
            self.lift_delays()
        finally:
            backend.start(v)
        term = int(st_v["term"]) if st_v else t + 1
        won = self.wait(lambda: self.leader_among([v, c2, lead]), 2.0)
        other = self.leader_among(rest)
        phases.append({"phase": "second", "voter": _brief(st_v), "grudge": g,
                       "leader": won and {"node": won[0], **(_brief(won[1]) or {})},
                       "other_side": other and {"node": other[0], **(_brief(other[1]) or {})}})
        if won is None:
            return end("no leader among the crashed voter, C2 and the old leader")
        if int(won[1]["term"]) == term:
            return end(f"{won[0]} won term {term}, the term {v} had voted in before its crash")
        return end(f"{won[0]} won term {won[1]['term']}, not {term}: {v}'s vote held")

