"""Cycle search and classification on the dependency graph.

Plan (networkx does the SCCs; the searches are ours):

1. **cycle-exists** (cheap, always complete): for each asked-or-weaker model,
   the subgraph whose cycles that model forbids — read-uncommitted: ww;
   read-committed: ww+wr; serializable: ww+wr+rw; strict-serializable:
   ww+wr+rw+realtime; the snapshot-isolation family: (ww+wr[+process or
   realtime]) *extended* by one rw hop, i.e. those edges plus every composed
   edge a->c with a->b in them and b-rw->c, whose cycles are exactly the cycles
   with no two adjacent rw edges. A non-trivial SCC proves a forbidden cycle
   exists even when no specific cycle gets classified in time.
2. **Specific cycles**, in Elle's order of severity: G0, G1c, G-single,
   G-nonadjacent, G2-item, then their ``-process`` and ``-realtime`` variants
   (only the kinds some asked model forbids are searched). For a kind,
   the allowed edges form a subgraph; every cycle lies in one of its SCCs, so
   a start edge (an rw for G-single/G2-item, a wr for G1c, any for G0) is tried
   only when both ends share an SCC. From the start edge a->b a BFS over
   (txn, state) — state counts rw edges (0/1/2+) and remembers whether a
   realtime/process edge was used — looks for the shortest way back to a that
   the kind accepts. G-single forbids further rw; G-nonadjacent forbids an rw
   right after an rw; G2-item needs two adjacent rw (the closing edge meets the
   starting rw); a variant requires at least one realtime (process) edge.
3. **Classification** of a found cycle uses its edges as Elle does: one rw ->
   G-single; several rw -> G2-item if two are adjacent, else G-nonadjacent;
   else any wr -> G1c; else G0; plus ``-realtime`` if a realtime edge is used,
   else ``-process`` if a process edge is.

A deadline bounds step 2; when it passes the kinds not searched yet are listed
in a ``cycle-search-timeout`` anomaly and step 1's answer stands.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import networkx as nx

from checkers.core import Anomaly
from checkers.elle.graph import DATA, PROCESS, REALTIME, REL_NAMES, RW, WR, WW, DepGraph
from checkers.elle.models import weaker_or_equal

__all__ = [
    "SearchTimeout",
    "Kind",
    "KINDS",
    "classify",
    "cycle_exists",
    "cyclic_nodes",
    "find_cycles",
]


class SearchTimeout(Exception):
    """The cycle-search deadline passed."""


# Search state, a small int: rw edges so far (0, 1, 2 = "two or more"), then flags.
_RW1, _RW2, _WRS, _VAR, _LAST, _ADJ = 1, 2, 4, 8, 16, 32
_RWN = _RW1 | _RW2


@dataclass(frozen=True)
class Kind:
    name: str
    allowed: int  # relations the way back may use
    start: int  # relation of the first edge
    variant: int  # 0, PROCESS or REALTIME: at least one such edge is required
    nonadjacent: bool = False  # an rw may not follow an rw
    need_adjacent: bool = False  # two rw edges must be adjacent somewhere (wrap included)
    min_rw: int = 0

    def accept(self, st: int) -> bool:
        if self.variant and not st & _VAR:
            return False
        if (st & _RWN) < self.min_rw:
            return False
        if self.nonadjacent and st & _LAST:  # the last edge meets the start rw
            return False
        return not self.need_adjacent or bool(st & (_ADJ | _LAST))


def _kinds() -> list[Kind]:
    out = []
    for v, sfx in ((0, ""), (PROCESS, "-process"), (REALTIME, "-realtime")):
        out += [
            Kind("G0" + sfx, WW | v, WW, v),
            Kind("G1c" + sfx, WW | WR | v, WR, v),
            Kind("G-single" + sfx, WW | WR | v, RW, v),
            Kind("G-nonadjacent" + sfx, DATA | v, RW, v, nonadjacent=True, min_rw=2),
            Kind("G2-item" + sfx, DATA | v, RW, v, need_adjacent=True, min_rw=2),
        ]
    return out


KINDS = _kinds()


def classify(steps: list[tuple[int, int, int]]) -> str:
    """Elle's name for a cycle given as (a, b, relation) steps."""
    rels = [r for _, _, r in steps]
    rw = rels.count(RW)
    if rw == 1:
        base = "G-single"
    elif rw > 1:
        adjacent = any(rels[i] == RW and rels[i - 1] == RW for i in range(len(rels)))
        base = "G2-item" if adjacent else "G-nonadjacent"
    elif WR in rels:
        base = "G1c"
    else:
        base = "G0"
    if REALTIME in rels:
        return base + "-realtime"
    if PROCESS in rels:
        return base + "-process"
    return base


_BITS = [[b for b in (WW, WR, RW, PROCESS, REALTIME) if m & b] for m in range(32)]

# _reach keeps one bitset per condensed component: up to n^2/2 bits for an SCC of
# n txns (a realtime chain of 100k txns took 1.2 GB). Above this size the G-single
# search goes without the prefilter: plain BFS per start edge, which the deadline bounds.
REACH_MAX = 20_000


def _step(kind: Kind, st: int, r: int) -> int:
    """The state after taking an edge of relation r, or -1 if the kind forbids it."""
    if r == RW:
        if st & _LAST:
            if kind.nonadjacent:
                return -1
            st |= _ADJ
        n = min(2, (st & _RWN) + 1)
        return (st & ~_RWN) | n | _LAST
    st &= ~_LAST
    if r == WR:
        st |= _WRS
    if r == kind.variant:
        st |= _VAR
    return st


def _search(g: DepGraph, kind: Kind, a: int, b: int, nodes: set[int],
            check: Callable[[], None]) -> list[tuple[int, int, int]] | None:
    """Shortest way from b back to a that closes a cycle of this kind (start edge a->b)."""
    s0 = _step(kind, 0, kind.start)
    start = (b, s0)
    parent: dict[tuple[int, int], tuple[int, int, int] | None] = {start: None}
    q = deque([start])
    allowed = kind.allowed
    adj = g.adj
    n = 0
    while q:
        n += 1
        if n & 1023 == 0:
            check()
        v, st = q.popleft()
        for w, m in adj.get(v, {}).items():
            if w not in nodes:
                continue
            for r in _BITS[m & allowed]:
                ns = _step(kind, st, r)
                if ns < 0:
                    continue
                key = (w, ns)
                if key in parent:
                    continue
                parent[key] = (v, st, r)
                if w == a:
                    if kind.accept(ns):
                        return [(a, b, kind.start), *_path(parent, key)]
                else:
                    q.append(key)
    return None


def _path(parent: dict[tuple[int, int], tuple[int, int, int] | None],
          key: tuple[int, int]) -> list[tuple[int, int, int]]:
    steps = []
    cur = key
    while (p := parent[cur]) is not None:
        pv, pst, pr = p
        steps.append((pv, cur[0], pr))
        cur = (pv, pst)
    steps.reverse()
    return steps


def _reach(g: DepGraph, mask: int, nodes: set[int]) -> Callable[[int, int], bool]:
    """reaches(x, y): is there a path x -> y using only ``mask`` edges inside ``nodes``?

    Condensation of that subgraph plus one reachability bitset per component,
    filled in reverse topological order: exact, and cheap next to a failed BFS.
    """
    sub = g.nx_graph(mask, nodes)
    cond = nx.condensation(sub)
    member = cond.graph["mapping"]
    bits: dict[int, int] = {}
    for c in reversed(list(nx.topological_sort(cond))):
        r = 1 << c
        for d in cond.successors(c):
            r |= bits[d]
        bits[c] = r

    def reaches(x: int, y: int) -> bool:
        return bool(bits[member[x]] >> member[y] & 1)

    return reaches


def explain_cycle(g: DepGraph, name: str, steps: list[tuple[int, int, int]]) -> Anomaly:
    first = steps[0][0]
    because = "; ".join(g.explain(a, b, r) for a, b, r in steps)
    ops = tuple(dict.fromkeys(a for a, _, _ in steps))
    return Anomaly(
        name,
        f"{name} cycle: {because}; so T{first} < T{first}, which no order of these txns allows",
        ops,
        {"cycle": [*ops, first], "steps": [
            {"from": a, "to": b, "type": REL_NAMES[r]} for a, b, r in steps
        ]},
    )


def cyclic_nodes(g: DepGraph) -> tuple[set[int], int]:
    """(txns on some cycle of the whole graph, size of its largest SCC).

    Every cycle either search can find lies among these txns, so both take
    this set (computed once: on a long history the whole graph is the big one).
    """
    cyclic: set[int] = set()
    largest = 0
    for comp in nx.strongly_connected_components(g.nx_graph(DATA | PROCESS | REALTIME)):
        if len(comp) > 1:
            cyclic |= comp
            largest = max(largest, len(comp))
    return cyclic, largest


def find_cycles(g: DepGraph, wanted: Iterable[str], deadline: float, per_kind: int,
                cyclic: set[int]) -> tuple[list[Anomaly], list[str]]:
    """Specific cycles of the wanted kinds among ``cyclic`` (see :func:`cyclic_nodes`):
    (anomalies, kinds not finished)."""
    def check() -> None:
        if time.monotonic() > deadline:
            raise SearchTimeout

    rel_mask = 0
    for m in (x for out in g.adj.values() for x in out.values()):
        rel_mask |= m
    found: list[Anomaly] = []
    kinds = [k for k in KINDS if k.name in set(wanted)]
    unfinished = [k.name for k in kinds]
    if not cyclic:
        return found, []
    seen_cycles: set[frozenset[int]] = set()
    try:
        for kind in kinds:
            if kind.variant and not rel_mask & kind.variant:
                unfinished.remove(kind.name)
                continue
            check()
            sub = g.nx_graph(kind.allowed | kind.start, cyclic)
            n = 0
            for comp in nx.strongly_connected_components(sub):
                if len(comp) < 2 or n >= per_kind:
                    continue
                check()
                back = (_reach(g, kind.allowed & ~RW, comp)
                        if kind.start == RW and not kind.allowed & RW and len(comp) <= REACH_MAX
                        else None)
                for a in comp:
                    hit = None
                    for b, m in g.adj.get(a, {}).items():
                        if m & kind.start and b in comp and (back is None or back(b, a)):
                            hit = _search(g, kind, a, b, comp, check)
                            if hit:
                                break
                    if hit:
                        name = classify(hit)
                        key = frozenset(x for x, _, _ in hit)
                        if key not in seen_cycles:
                            seen_cycles.add(key)
                            found.append(explain_cycle(g, name, hit))
                            n += 1
                        break
            unfinished.remove(kind.name)
    except SearchTimeout:
        pass
    return found, unfinished


def _extension(g: DepGraph, base: int, nodes: set[int]) -> tuple[Any, list[set[int]]]:
    """Edges of ``base`` plus a->c for a-base->b-rw->c: cycles here have no adjacent rw.

    A composed edge back to its own start (a-base->b-rw->a) is a two-txn cycle
    with one rw, a G-single. As a self-loop it would be invisible to the SCC
    test (a singleton), so such pairs are returned apart as ``{a, b}``.
    """
    sub = g.nx_graph(base, nodes)
    rw_out = {a: [b for b, m in out.items() if m & RW and b in nodes]
              for a, out in g.adj.items() if a in nodes}
    extra = []
    pairs: list[set[int]] = []
    for a, b in sub.edges():
        for c in rw_out.get(b, ()):
            if c == a:
                pairs.append({a, b})
            else:
                extra.append((a, c))
    sub.add_edges_from(extra)
    return sub, pairs


CYCLE_EXISTS: list[tuple[str, int, bool]] = [  # (model, edges, extended by one rw hop)
    ("read-uncommitted", WW, False),
    ("read-committed", WW | WR, False),
    ("snapshot-isolation", WW | WR, True),
    ("serializable", DATA, False),
    ("strong-session-snapshot-isolation", WW | WR | PROCESS, True),
    ("strong-session-serializable", DATA | PROCESS, False),
    ("strong-snapshot-isolation", WW | WR | REALTIME, True),
    ("strict-serializable", DATA | REALTIME, False),
]


def cycle_exists(g: DepGraph, models: set[str], skip: Callable[[str], bool],
                 cyclic: set[int]) -> list[Anomaly]:
    """One ``<model>-cycle-exists`` per model (weakest first) whose forbidden subgraph has an SCC.

    ``skip(model)`` says a model is already ruled out (by an earlier answer);
    ``cyclic`` is :func:`cyclic_nodes`'s set.
    """
    out: list[Anomaly] = []
    if not cyclic:
        return out
    done: list[str] = []  # models this loop already ruled out: stronger ones are redundant
    for model, mask, ext in CYCLE_EXISTS:
        if model not in models or skip(model) or any(d in weaker_or_equal([model]) for d in done):
            continue
        sub, pairs = _extension(g, mask, cyclic) if ext else (g.nx_graph(mask, cyclic), [])
        sccs = [c for c in nx.strongly_connected_components(sub) if len(c) > 1] + pairs
        if not sccs:
            continue
        scc = min(sccs, key=len)
        rels = "+".join(REL_NAMES[b] for b in _BITS[mask]) + (" then rw" if ext else "")
        sample = sorted(scc)[:8]
        out.append(Anomaly(
            f"{model}-cycle-exists",
            f"the {rels} dependencies among {len(scc)} txns (e.g. "
            f"{', '.join(f'T{t}' for t in sample)}) form a cycle, which {model} forbids",
            tuple(sorted(scc)),
            {"not": model, "scc-size": len(scc), "subgraph": rels},
        ))
        done.append(model)
    return out

