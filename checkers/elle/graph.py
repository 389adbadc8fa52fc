"""The dependency graph between ok/info txns, with typed edges and their reasons.

Edges (Adya's direct dependencies, inferred from the version orders):

* ``ww`` T1 -> T2: T2 appended the element right after T1's element of a key.
* ``wr`` T1 -> T2: T2 read a list whose last element T1 appended.
* ``rw`` T1 -> T2: T1 read a key in the state just before T2's append.
* ``process`` T1 -> T2: T2 is the next txn of T1's process.
* ``realtime`` T1 -> T2: T1 completed before T2 was invoked. Kept sparse with
  a *frontier*: walking the history in order, every invocation links from the
  txns completed and not yet superseded; a completing txn supersedes the ones
  it was linked from. Every pair (a completed before b began) stays reachable
  (by induction on completion order) with O(n * concurrency) edges instead of
  O(n^2). ``info`` txns never complete, so they never precede anything.

An append nobody read is placed after the last observed element of its key
(see :mod:`checkers.elle.infer`), which gives it ww and rw in-edges but no
out-edges on that key. Edges carry a bit mask of their relations; for each
(a, b, relation) the first reason seen is kept to explain cycles.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from checkers.elle.infer import INIT, Analysis, Txn, _fmt
from harness.history import OK

__all__ = [
    "WW",
    "WR",
    "RW",
    "PROCESS",
    "REALTIME",
    "DATA",
    "REL_NAMES",
    "DepGraph",
    "build_graph",
]

WW, WR, RW, PROCESS, REALTIME = 1, 2, 4, 8, 16
DATA = WW | WR | RW
REL_NAMES = {WW: "ww", WR: "wr", RW: "rw", PROCESS: "process", REALTIME: "realtime"}


@dataclass
class DepGraph:
    txns: dict[int, Txn]
    adj: dict[int, dict[int, int]] = field(default_factory=dict)  # a -> b -> relation mask
    why: dict[tuple[int, int, int], tuple[Any, ...]] = field(default_factory=dict)

    def link(self, a: int, b: int, rel: int, why: tuple[Any, ...] = ()) -> None:
        if a == b:
            return
        out = self.adj.setdefault(a, {})
        m = out.get(b, 0)
        if not m & rel:
            out[b] = m | rel
            if why:
                self.why[(a, b, rel)] = why

    def edge_count(self) -> int:
        return sum(len(v) for v in self.adj.values())

    def nx_graph(self, mask: int, nodes: Iterable[int] | None = None) -> Any:
        """A networkx DiGraph of the edges having any relation in ``mask``."""
        g = nx.DiGraph()
        keep = None if nodes is None else set(nodes)
        if keep is not None:
            g.add_nodes_from(keep)
        for a, out in self.adj.items():
            if keep is not None and a not in keep:
                continue
            for b, m in out.items():
                if m & mask and (keep is None or b in keep):
                    g.add_edge(a, b)
        return g

    def explain(self, a: int, b: int, rel: int) -> str:
        w = self.why.get((a, b, rel), ())
        if rel == WW:
            k, prev, v = w
            return (f"T{a} appended {_fmt(prev)} to key {_fmt(k)} and T{b} appended {_fmt(v)} "
                    f"after it, so T{a} < T{b} (ww)")
        if rel == WR:
            k, v = w
            return f"T{b} read key {_fmt(k)} and saw T{a}'s append of {_fmt(v)}, so T{a} < T{b} (wr)"
        if rel == RW:
            k, prev, v = w
            seen = "it empty" if prev is INIT else f"it ending in {_fmt(prev)}"
            return (f"T{a} read key {_fmt(k)} and saw {seen}, without T{b}'s append of {_fmt(v)}, "
                    f"so T{a} < T{b} (rw)")
        if rel == PROCESS:
            return (f"T{a} and T{b} ran one after the other on process "
                    f"{self.txns[a].process}, so T{a} < T{b} (process)")
        return (f"T{a} completed (op {a}) before T{b} was invoked (op {self.txns[b].invoke}), "
                f"so T{a} < T{b} (realtime)")


def build_graph(an: Analysis, process: bool, realtime: bool) -> DepGraph:
    g = DepGraph(an.txns)
    for t in an.txns.values():
        for f, k, v in t.mops:
            if f == "r":
                if v:  # wr: who appended the last element we saw
                    w = an.writer.get(k, {}).get(v[-1])
                    if w is not None:
                        g.link(w, t.id, WR, (k, v[-1]))
                continue
            prev = _previous(an, k, v)
            if prev is not INIT:  # ww: who appended the element just before ours
                w = an.writer.get(k, {}).get(prev)
                if w is not None:
                    g.link(w, t.id, WW, (k, prev, v))
            for r in an.readers.get(k, {}).get(prev, ()):  # rw: who read the state before ours
                g.link(r, t.id, RW, (k, prev, v))
    if process:
        last: dict[Any, int] = {}
        for t in sorted(an.txns.values(), key=lambda t: t.invoke):
            if t.process in last:
                g.link(last[t.process], t.id, PROCESS)
            last[t.process] = t.id
    if realtime:
        _realtime(g, an.txns.values())
    return g


def _previous(an: Analysis, k: Hashable, v: Hashable) -> Hashable:
    """The element appended to k just before v (INIT if v was first)."""
    i = an.pos.get(k, {}).get(v)
    order = an.order.get(k, ())
    if i is None:  # never observed: after every observed element
        return order[-1] if order else INIT
    return order[i - 1] if i > 0 else INIT


def _realtime(g: DepGraph, txns: Iterable[Txn]) -> None:
    events: list[tuple[int, int, Txn]] = []  # (history index, 0 invoke / 1 complete, txn)
    for t in txns:
        events.append((t.invoke, 0, t))
        if t.type == OK:
            events.append((t.id, 1, t))
    events.sort(key=lambda e: (e[0], e[1]))
    frontier: set[int] = set()
    preds: dict[int, list[int]] = {}
    for _, kind, t in events:
        if kind == 0:
            preds[t.id] = list(frontier)
            for a in preds[t.id]:
                g.link(a, t.id, REALTIME)
        else:
            frontier.difference_update(preds.pop(t.id, ()))
            frontier.add(t.id)
