"""Grudge algebra: pure functions describing who drops whose packets (DESIGN §3).

A grudge maps a node to the set of nodes it *drops packets from*. Nodes
absent from the map (or mapped to an empty set) hear everyone. Every
function here is pure: node lists in, a fresh ``dict[str, frozenset[str]]``
out, randomness only through the ``rng`` argument.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Iterable, Mapping, Sequence

__all__ = [
    "Grudge",
    "complete_grudge",
    "bisect",
    "isolate",
    "isolate_one",
    "majorities_ring",
    "bridge",
    "leader_minority",
    "one_way",
    "is_symmetric",
    "views",
    "grudge_to_json",
]

Grudge = dict[str, frozenset[str]]


def complete_grudge(components: Iterable[Collection[str]]) -> Grudge:
    """Each node drops packets from every node outside its own component."""
    comps = [frozenset(c) for c in components]
    everyone = frozenset().union(*comps) if comps else frozenset()
    seen: set[str] = set()
    for c in comps:
        if c & seen:
            raise ValueError(f"components overlap on {sorted(c & seen)}")
        seen |= c
    return {n: everyone - c for c in comps for n in sorted(c)}


def bisect(nodes: Sequence[str]) -> Grudge:
    """Two halves that cannot talk; the first half is the smaller (a minority)."""
    mid = len(nodes) // 2
    return complete_grudge([nodes[:mid], nodes[mid:]])


def isolate(nodes: Sequence[str], node: str) -> Grudge:
    """``node`` alone on one side, everyone else on the other."""
    if node not in nodes:
        raise ValueError(f"{node!r} is not one of {list(nodes)}")
    return complete_grudge([[node], [n for n in nodes if n != node]])


def isolate_one(nodes: Sequence[str], rng: random.Random) -> Grudge:
    """Isolate one node chosen with ``rng``."""
    return isolate(nodes, rng.choice(list(nodes)))


def majorities_ring(nodes: Sequence[str], rng: random.Random) -> Grudge:
    """Nodes on a shuffled ring; each hears only its ring neighbours within distance k.

    k is the least distance whose window (2k+1 nodes) holds a majority, so
    every node sees a majority, yet with five or more nodes no node sees
    everyone and different nodes see different majorities. Ring distance is
    symmetric, so the grudge is too.
    """
    ring = list(nodes)
    rng.shuffle(ring)
    n = len(ring)
    majority = n // 2 + 1
    k = majority // 2  # 2k + 1 >= majority
    pos = {node: i for i, node in enumerate(ring)}
    out: Grudge = {}
    for a in ring:
        far = {
            b
            for b in ring
            if min((pos[a] - pos[b]) % n, (pos[b] - pos[a]) % n) > k
        }
        out[a] = frozenset(far)
    return out


def bridge(nodes: Sequence[str]) -> Grudge:
    """Two halves that cannot talk, joined by one middle node that hears both."""
    mid = len(nodes) // 2
    left, middle, right = list(nodes[:mid]), nodes[mid], list(nodes[mid + 1 :])
    out: Grudge = {n: frozenset(right) for n in left}
    out.update({n: frozenset(left) for n in right})
    out[middle] = frozenset()
    return out


def leader_minority(nodes: Sequence[str], leader: str, rng: random.Random) -> Grudge:
    """The leader kept with a minority of followers: it, plus ⌊(n-1)/2⌋ - 1 random
    others, on one side; the majority on the other elects a new leader while the
    old one still has followers to replicate to (and, without CheckQuorum, to lead)."""
    if leader not in nodes:
        raise ValueError(f"{leader!r} is not one of {list(nodes)}")
    others = [n for n in nodes if n != leader]
    keep = rng.sample(others, max(0, (len(nodes) - 1) // 2 - 1))
    side = [leader, *sorted(keep)]
    return complete_grudge([side, [n for n in nodes if n not in side]])


def one_way(src_group: Collection[str], dst_group: Collection[str]) -> Grudge:
    """Asymmetric: every node of ``dst_group`` drops what ``src_group`` sends it."""
    src = frozenset(src_group)
    return {d: src - {d} for d in sorted(dst_group)}


def is_symmetric(grudge: Mapping[str, Collection[str]]) -> bool:
    """True when a drops from b exactly when b drops from a."""
    for a, drops in grudge.items():
        for b in drops:
            if a not in grudge.get(b, ()):
                return False
    return True


def views(nodes: Iterable[str], grudge: Mapping[str, Collection[str]]) -> dict[str, frozenset[str]]:
    """For each node, the nodes it hears (itself included)."""
    ns = frozenset(nodes)
    return {n: ns - frozenset(grudge.get(n, ())) for n in ns}


def grudge_to_json(grudge: Mapping[str, Collection[str]]) -> dict[str, list[str]]:
    """A JSON-friendly grudge (sorted lists, empty entries dropped) for the history."""
    return {n: sorted(d) for n, d in sorted(grudge.items()) if d}
