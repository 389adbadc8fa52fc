"""Target selectors: which nodes a fault hits (pure; randomness from ``rng``)."""

from __future__ import annotations

import random
from collections.abc import Sequence

__all__ = ["TARGETS", "select"]

TARGETS = ("one", "minority", "majority", "leader", "all")


def select(
    spec: str, nodes: Sequence[str], rng: random.Random, leader: str | None = None
) -> list[str]:
    """The nodes ``spec`` names, sorted.

    ``one``: a random node; ``minority``: a random ⌊(n-1)/2⌋ of them (at least
    one); ``majority``: a random ⌊n/2⌋+1; ``leader`` (alias ``primaries``):
    the leader, or a random node when none is known; ``all``: every node; a
    node name names itself. ``new-leader`` (not drawn by default: the
    ``leader-chase`` package) selects as ``leader`` does here; the kill and pause
    nemeses then also hit the next leader as soon as it is elected.
    """
    ns = list(nodes)
    if not ns:
        return []
    n = len(ns)
    if spec == "one":
        return [rng.choice(ns)]
    if spec == "minority":
        return sorted(rng.sample(ns, max(1, (n - 1) // 2)))
    if spec == "majority":
        return sorted(rng.sample(ns, n // 2 + 1))
    if spec in ("leader", "primaries", "new-leader"):
        return [leader] if leader in ns else [rng.choice(ns)]
    if spec == "all":
        return sorted(ns)
    if spec in ns:
        return [spec]
    raise ValueError(
        f"unknown target {spec!r} (one of {', '.join(TARGETS)}, new-leader or a node name)"
    )
