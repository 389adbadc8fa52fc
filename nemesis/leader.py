"""Leader awareness: which node leads, asked through the systems' ``status`` op."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from systems.common import wire
from systems.common.spec import Addr

__all__ = ["HasLeader", "StatusLeader", "find_leader", "leader_from_statuses"]


@runtime_checkable
class HasLeader(Protocol):
    """Anything that can name the current leader (None when there is none or it is unknown)."""

    def leader(self) -> str | None: ...


def leader_from_statuses(statuses: Mapping[str, Mapping[str, Any]]) -> str | None:
    """Pick the leader from ``status`` replies (pure).

    A node that says ``role == "leader"`` wins, the highest ``term`` first
    (a deposed leader may not know yet); else the node most replies name in
    their ``leader`` field; else None.
    """
    claims = [
        (int(st.get("term") or 0), node)
        for node, st in statuses.items()
        if st.get("role") == "leader"
    ]
    if claims:
        return max(claims)[1]
    named = Counter(
        str(st["leader"]) for st in statuses.values() if st.get("leader") in statuses
    )
    if named:
        return named.most_common(1)[0][0]
    return None


def find_leader(cluster: Mapping[str, Addr], timeout_s: float = 0.5) -> str | None:
    """Ask every node for ``{"op": "status"}``; nodes that do not answer are skipped."""
    statuses: dict[str, Mapping[str, Any]] = {}
    for node, (host, port) in cluster.items():
        try:
            st = wire.request(host, port, {"op": "status"}, timeout_s=timeout_s, control=True)
        except (OSError, ValueError):
            continue
        if isinstance(st, dict) and st.get("ok", True):
            statuses[node] = st
    return leader_from_statuses(statuses)


class StatusLeader:
    """:class:`HasLeader` over a cluster map, asking the nodes' status each time."""

    def __init__(self, cluster: Mapping[str, Addr], timeout_s: float = 0.5) -> None:
        self.cluster = dict(cluster)
        self.timeout_s = timeout_s

    def leader(self) -> str | None:
        return find_leader(self.cluster, self.timeout_s)
