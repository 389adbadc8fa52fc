"""Cycle search and classification on the dependency graph.

Plan (our own Tarjan does the SCCs, see :mod:`checkers.elle.graph`):

1. **cycle-exists** (cheap, always complete): for each model with a spec in
   :data:`CYCLE_EXISTS` (Elle's list), the subgraph whose cycles that model
   forbids — read-uncommitted (PL-1): ww; read-committed (PL-2): ww+wr;
   repeatable-read (PL-2.99) and serializable (PL-3): ww+wr+rw;
   strict-serializable (PL-SS): ww+wr+rw+realtime; the strong(-session)
   read-uncommitted/committed ones add realtime (process) edges; the
   snapshot-isolation family:
   (ww+wr[+process or realtime]) *extended* by one rw hop, i.e. those edges
   plus every composed edge a->c with a->b in them and b-rw->c, whose cycles
   are exactly the cycles with no two adjacent rw edges. A non-trivial SCC
   proves a forbidden cycle exists even when no specific cycle gets
   classified in time. Conversely (Elle's trick) a spec *without* an SCC
   proves that no anomaly its model forbids is a cycle of this graph, so
   those kinds are not searched at all.
2. **Specific cycles**, in Elle's order of severity: G0, G1c, G-single-item,
   G-nonadjacent-item, G2-item, then their ``-process`` and ``-realtime`` variants
   (only kinds some asked model forbids, not ruled out by step 1, and not
   implied by a kind already found). For a kind, the allowed edges form a
   subgraph; every cycle lies in one of its SCCs, so a start edge (an rw for
   G-single/G2-item, a wr for G1c, any for G0) is tried only when both ends
   share an SCC. From the start edge a->b a BFS over (txn, state) — state
   counts rw edges (0/1/2+) and remembers whether a realtime/process edge was
   used — looks for the shortest way back to a that the kind accepts.
   G-single forbids further rw; G-nonadjacent forbids an rw right after an
   rw; G2-item needs two adjacent rw (the closing edge meets the starting
   rw); a variant requires at least one realtime (process) edge.
   **Pruning**: the way back uses only the kind's ``allowed`` edges, so
   inside an SCC we rank txns by the reverse topological order of the
   allowed subgraph's own SCCs; b can reach a only if rank[b] >= rank[a], and
   the BFS never visits a txn ranked below a. For G-single under realtime
   order this turns the search into a walk over the few txns between a stale
   read's writer and its reader.
3. **Classification** of a found cycle uses its edges as Elle does: one rw ->
   G-single-item; several rw -> G2-item if two are adjacent, else
   G-nonadjacent-item;
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

from checkers.core import Anomaly
from checkers.elle import models as cm
from checkers.elle.graph import (
    DATA,
    PROCESS,
    REALTIME,
    REL_NAMES,
    RW,
    WR,
    WW,
    DepGraph,
    strongly_connected,
)

__all__ = [
    "SearchTimeout",
    "Kind",
    "KINDS",
    "CYCLE_EXISTS",
    "classify",
    "cycle_exists",
    "cyclic_nodes",
    "find_cycles",
    "not_cycles",
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
            Kind("G-single-item" + sfx, WW | WR | v, RW, v),
            Kind("G-nonadjacent-item" + sfx, DATA | v, RW, v, nonadjacent=True, min_rw=2),
            Kind("G2-item" + sfx, DATA | v, RW, v, need_adjacent=True, min_rw=2),
        ]
    return out


KINDS = _kinds()


def classify(steps: list[tuple[int, int, int]]) -> str:
    """Elle's name for a cycle given as (a, b, relation) steps.

    Every rw edge of list-append is an *item* anti-dependency (there are no
    predicate reads), so cycles with rw edges get Elle's ``-item`` names."""
    rels = [r for _, _, r in steps]
    rw = rels.count(RW)
    if rw == 1:
        base = "G-single-item"
    elif rw > 1:
        adjacent = any(rels[i] == RW and rels[i - 1] == RW for i in range(len(rels)))
        base = "G2-item" if adjacent else "G-nonadjacent-item"
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


def _search(g: DepGraph, kind: Kind, a: int, b: int, rank: dict[int, int],
            check: Callable[[], None]) -> list[tuple[int, int, int]] | None:
    """Shortest way from b back to a that closes a cycle of this kind (start edge a->b).

    Only txns of ``rank`` (the SCC) ranked at least rank[a] are visited."""
    s0 = _step(kind, 0, kind.start)
    start = (b, s0)
    parent: dict[tuple[int, int], tuple[int, int, int] | None] = {start: None}
    q = deque([start])
    allowed = kind.allowed
    out = g.out
    floor = rank[a]
    n = 0
    while q:
        n += 1
        if n & 1023 == 0:
            check()
        v, st = q.popleft()
        for w, m in out[v].items():
            m &= allowed
            if not m or rank.get(w, -1) < floor:
                continue
            for r in _BITS[m]:
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


def explain_cycle(g: DepGraph, name: str, steps: list[tuple[int, int, int]]) -> Anomaly:
    ids = [g.txns[a].id for a, _, _ in steps]
    because = "; ".join(g.explain(a, b, r) for a, b, r in steps)
    ops = tuple(dict.fromkeys(ids))
    return Anomaly(
        name,
        f"{name} cycle: {because}; so T{ids[0]} < T{ids[0]}, which no order of these txns allows",
        ops,
        {"cycle": [*ops, ids[0]], "steps": [
            {"from": g.txns[a].id, "to": g.txns[b].id, "type": REL_NAMES[r]} for a, b, r in steps
        ]},
    )


def cyclic_nodes(g: DepGraph) -> tuple[set[int], int]:
    """(txns on some cycle of the whole graph, size of its largest SCC).

    Every cycle either search can find lies among these txns, so both take
    this set (computed once: on a long history the whole graph is the big one).
    Kahn's peeling first removes every txn with no cycle upstream (all of
    them in a valid history, for about half Tarjan's cost); Tarjan runs on the
    rest, which is closed under successors.
    """
    out = g.out
    n = len(out)
    indeg = [0] * n
    for d in out:
        for w in d:
            indeg[w] += 1
    stack = [v for v in range(n) if not indeg[v]]
    peeled = 0
    while stack:
        v = stack.pop()
        peeled += 1
        for w in out[v]:
            indeg[w] -= 1
            if not indeg[w]:
                stack.append(w)
    cyclic: set[int] = set()
    largest = 0
    if peeled == n:
        return cyclic, largest
    rest = [v for v in range(n) if indeg[v] > 0]
    for comp in strongly_connected(n, out.__getitem__, rest):
        if len(comp) > 1:
            cyclic.update(comp)
            largest = max(largest, len(comp))
    return cyclic, largest


def _rank(g: DepGraph, mask: int, comp: set[int]) -> dict[int, int]:
    """Txn -> index of its SCC in the ``mask`` subgraph of comp (reverse topological)."""
    rank: dict[int, int] = {}
    for i, c in enumerate(strongly_connected(len(g.out), g.succ(mask, comp), comp)):
        for v in c:
            rank[v] = i
    return rank


def _search_kind(g: DepGraph, kind: Kind, cyclic: set[int], per_kind: int,
                 check: Callable[[], None]) -> list[list[tuple[int, int, int]]]:
    found: list[list[tuple[int, int, int]]] = []
    out = g.out
    for comp_l in strongly_connected(len(out), g.succ(kind.allowed | kind.start, cyclic), cyclic):
        if len(comp_l) < 2 or len(found) >= per_kind:
            continue
        check()
        comp = set(comp_l)
        rank = _rank(g, kind.allowed, comp)
        for a in comp_l:
            ra = rank[a]
            hit = None
            for b, m in out[a].items():
                if m & kind.start and rank.get(b, -1) >= ra:
                    hit = _search(g, kind, a, b, rank, check)
                    if hit:
                        break
            if hit:
                found.append(hit)
                break
    return found


def find_cycles(g: DepGraph, wanted: Iterable[str], deadline: float, per_kind: int,
                cyclic: set[int]) -> tuple[list[Anomaly], list[str]]:
    """Specific cycles of the wanted kinds among ``cyclic`` (see :func:`cyclic_nodes`):
    (anomalies, kinds not finished). A kind implied by one already found is skipped."""
    def check() -> None:
        if time.monotonic() > deadline:
            raise SearchTimeout

    wanted = set(wanted)
    kinds = [k for k in KINDS if k.name in wanted]
    unfinished = [k.name for k in kinds]
    found: list[Anomaly] = []
    if not cyclic:
        return found, []
    rel_mask = g.rel_mask()
    implied: set[str] = set()
    seen_cycles: set[frozenset[int]] = set()
    try:
        for kind in kinds:
            if (kind.variant and not rel_mask & kind.variant) or kind.name in implied:
                unfinished.remove(kind.name)
                continue
            check()
            for hit in _search_kind(g, kind, cyclic, per_kind, check):
                key = frozenset(x for x, _, _ in hit)
                if key not in seen_cycles:
                    seen_cycles.add(key)
                    name = classify(hit)
                    found.append(explain_cycle(g, name, hit))
                    implied |= cm.implied_anomalies([name]) - {name}
            unfinished.remove(kind.name)
    except SearchTimeout:
        pass
    return found, unfinished


def _extension(g: DepGraph, base: int, nodes: set[int]) -> tuple[Callable[[int], list[int]],
                                                                 list[set[int]]]:
    """Successors over ``base`` plus a->c for a-base->b-rw->c: cycles here have no adjacent rw.

    A composed edge back to its own start (a-base->b-rw->a) is a two-txn cycle
    with one rw, a G-single. As a self-loop it would be invisible to the SCC
    test (a singleton), so such pairs are collected apart as ``{a, b}``.
    """
    out = g.out
    pairs: list[set[int]] = []

    def succ(a: int) -> list[int]:
        res = []
        for b, m in out[a].items():
            if not m & base or b not in nodes:
                continue
            res.append(b)
            for c, mc in out[b].items():
                if mc & RW and c in nodes:
                    if c == a:
                        pairs.append({a, b})
                    else:
                        res.append(c)
        return res

    return succ, pairs


CYCLE_EXISTS: list[tuple[str, int, bool]] = [  # (model, edges, extended by one rw hop), Elle's order
    ("read-uncommitted", WW, False),
    ("read-committed", WW | WR, False),
    ("snapshot-isolation", WW | WR, True),
    ("repeatable-read", DATA, False),  # item rw only: all of ours
    ("serializable", DATA, False),
    ("strong-session-read-uncommitted", WW | PROCESS, False),
    ("strong-session-read-committed", WW | WR | PROCESS, False),
    ("strong-session-snapshot-isolation", WW | WR | PROCESS, True),
    ("strong-session-serializable", DATA | PROCESS, False),
    ("strong-read-uncommitted", WW | REALTIME, False),
    ("strong-read-committed", WW | WR | REALTIME, False),
    ("strong-snapshot-isolation", WW | WR | REALTIME, True),
    ("strict-serializable", DATA | REALTIME, False),
]


def _cycle_sccs(g: DepGraph, mask: int, ext: bool, cyclic: set[int]) -> list[set[int]]:
    succ: Callable[[int], Iterable[int]]
    if ext:
        succ, pairs = _extension(g, mask, cyclic)
    else:
        succ, pairs = g.succ(mask, cyclic), []
    comps = strongly_connected(len(g.out), succ, cyclic)
    return [set(c) for c in comps if len(c) > 1] + pairs


def cycle_exists(g: DepGraph, cyclic: set[int]) -> dict[str, set[int]]:
    """Model -> the smallest SCC of its forbidden subgraph, for every CYCLE_EXISTS
    model whose subgraph has one. ``cyclic`` is :func:`cyclic_nodes`'s set."""
    out: dict[str, set[int]] = {}
    if not cyclic:
        return out
    for model, mask, ext in CYCLE_EXISTS:
        if any(d in cm.weaker_or_equal([model]) for d in out):
            out[model] = out[next(d for d in out if d in cm.weaker_or_equal([model]))]
            continue  # a weaker model's cycle is a cycle of this one's subgraph too
        sccs = _cycle_sccs(g, mask, ext, cyclic)
        if sccs:
            out[model] = min(sccs, key=len)
    return out


def not_cycles(exists: dict[str, set[int]]) -> set[str]:
    """Cycle kinds that cannot be in the graph: forbidden by a spec'd model with no SCC."""
    possible = {m for m, _, _ in CYCLE_EXISTS if m not in exists}
    names = {k.name for k in KINDS}
    return names & cm.prohibited(possible) if possible else set()


def cycle_exists_anomalies(g: DepGraph, exists: dict[str, set[int]], models: set[str],
                           skip: Callable[[str], bool]) -> list[Anomaly]:
    """One ``<canonical model>-cycle-exists`` per model of ``models`` (weakest first) with an SCC.

    ``skip(model)`` says a model is already ruled out (by an earlier answer);
    a model stronger than one reported here is redundant and left out.
    """
    out: list[Anomaly] = []
    done: list[str] = []
    for model, mask, ext in CYCLE_EXISTS:
        scc = exists.get(model)
        if (scc is None or model not in models or skip(model)
                or any(d in cm.weaker_or_equal([model]) for d in done)):
            continue
        rels = "+".join(REL_NAMES[b] for b in _BITS[mask]) + (" then rw" if ext else "")
        ids = sorted(g.txns[v].id for v in scc)
        out.append(Anomaly(
            cm.cycle_exists_name(model),
            f"the {rels} dependencies among {len(scc)} txns (e.g. "
            f"{', '.join(f'T{t}' for t in ids[:8])}) form a cycle, which {model} forbids",
            tuple(ids),
            {"not": model, "scc-size": len(scc), "subgraph": rels},
        ))
        done.append(model)
    return out
