"""The dependency graph between ok/info txns, with typed edges, and its SCCs.

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
out-edges on that key.

Representation (for speed at 100k txns): nodes are the dense indices
``Txn.n``; ``out[a]`` maps a successor to a bit mask of relations. No reason
is stored per edge: :meth:`DepGraph.explain` recomputes why an edge exists
from the two txns' micro-ops, which is only done for the few edges of a
reported cycle. :func:`strongly_connected` is an iterative Tarjan over plain
lists (networkx is not used on the hot path).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass

from checkers.elle.infer import INIT, Analysis, Txn, fmt
from harness.history import FAIL, OK

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
    "strongly_connected",
]

WW, WR, RW, PROCESS, REALTIME = 1, 2, 4, 8, 16
DATA = WW | WR | RW
REL_NAMES = {WW: "ww", WR: "wr", RW: "rw", PROCESS: "process", REALTIME: "realtime"}

Succ = Callable[[int], Iterable[int]]


@dataclass
class DepGraph:
    an: Analysis
    out: list[dict[int, int]]  # a -> b -> relation mask

    @property
    def txns(self) -> list[Txn]:
        return self.an.txns

    def edge_count(self) -> int:
        return sum(map(len, self.out))

    def rel_mask(self) -> int:
        m = 0
        for d in self.out:
            for x in d.values():
                m |= x
            if m == DATA | PROCESS | REALTIME:
                break
        return m

    def succ(self, mask: int, nodes: set[int] | None = None) -> Succ:
        """Successor function of the subgraph with edges in ``mask`` (inside ``nodes``)."""
        out = self.out
        if nodes is None:
            return lambda v: [w for w, m in out[v].items() if m & mask]
        return lambda v: [w for w, m in out[v].items() if m & mask and w in nodes]

    def name(self, n: int) -> str:
        return f"T{self.an.txns[n].id}"

    def explain(self, a: int, b: int, rel: int) -> str:
        ta, tb = self.an.txns[a], self.an.txns[b]
        A, B = f"T{ta.id}", f"T{tb.id}"
        if rel == PROCESS:
            return f"{A} and {B} ran one after the other on process {ta.process}, so {A} < {B} (process)"
        if rel == REALTIME:
            return (f"{A} completed (op {ta.id}) before {B} was invoked (op {tb.invoke}), "
                    f"so {A} < {B} (realtime)")
        an = self.an
        for f, k, v in tb.mops:
            if rel == WR and f == "r" and v and an.writer(k, v[-1]) is ta:
                return f"{B} read key {fmt(k)} and saw {A}'s append of {fmt(v[-1])}, so {A} < {B} (wr)"
            if f != "append":
                continue
            prev = an.previous(k, v)
            if rel == WW and prev is not INIT and an.writer(k, prev) is ta:
                return (f"{A} appended {fmt(prev)} to key {fmt(k)} and {B} appended {fmt(v)} "
                        f"after it, so {A} < {B} (ww)")
            if rel == RW and a in an.readers.get(k, {}).get(prev, ()):
                seen = "it empty" if prev is INIT else f"it ending in {fmt(prev)}"
                return (f"{A} read key {fmt(k)} and saw {seen}, without {B}'s append of {fmt(v)}, "
                        f"so {A} < {B} (rw)")
        return f"{A} < {B} ({REL_NAMES[rel]})"


def build_graph(an: Analysis, process: bool, realtime: bool) -> DepGraph:
    txns = an.txns
    out: list[dict[int, int]] = [{} for _ in txns]
    appender, readers, order, pos = an.appender, an.readers, an.order, an.pos
    none: dict[Hashable, Txn] = {}
    for t in txns:
        i = t.n
        for f, k, v in t.mops:
            if f == "r":
                if v:  # wr: who appended the last element we saw
                    w = appender.get(k, none).get(v[-1])
                    if w is not None and w.type != FAIL and w.n != i:
                        d = out[w.n]
                        d[i] = d.get(i, 0) | WR
                continue
            o = order.get(k)
            if o is None:
                prev = INIT
            else:
                j = pos[k].get(v)
                prev = o[-1] if j is None else (o[j - 1] if j else INIT)
            if prev is not INIT:  # ww: who appended the element just before ours
                w = appender[k].get(prev)
                if w is not None and w.type != FAIL and w.n != i:
                    d = out[w.n]
                    d[i] = d.get(i, 0) | WW
            rk = readers.get(k)
            if rk is not None:  # rw: who read the state just before ours
                for r in rk.get(prev, ()):
                    if r != i:
                        d = out[r]
                        d[i] = d.get(i, 0) | RW
    if process:
        last: dict[object, int] = {}
        for t in sorted(txns, key=lambda t: t.invoke):
            p = last.get(t.process)
            if p is not None:
                d = out[p]
                d[t.n] = d.get(t.n, 0) | PROCESS
            last[t.process] = t.n
    if realtime:
        _realtime(out, txns)
    return DepGraph(an, out)


def _realtime(out: list[dict[int, int]], txns: list[Txn]) -> None:
    """Walk invocations and completions in history order (two sorted lists merged)."""
    inv = sorted(txns, key=lambda t: t.invoke)
    comp = sorted((t for t in txns if t.type == OK), key=lambda t: t.id)
    comp.append(Txn(1 << 62, 0, OK, None, []))  # a sentinel completing after everything
    frontier: set[int] = set()
    preds: dict[int, list[int]] = {}
    j = 0
    nxt = comp[0]
    for t in inv:
        while nxt.id < t.invoke:
            c = nxt.n
            frontier.difference_update(preds.pop(c, ()))
            frontier.add(c)
            j += 1
            nxt = comp[j]
        i = t.n
        p = preds[i] = list(frontier)
        for a in p:
            d = out[a]
            d[i] = d.get(i, 0) | REALTIME


def strongly_connected(n: int, succ: Succ, nodes: Iterable[int] | None = None) -> list[list[int]]:
    """Tarjan's SCCs (iterative) of the graph on ``nodes`` (default 0..n-1).

    Components come out in reverse topological order: if a reaches b and they
    lie in different components, a's component comes later in the list.
    """
    index = [-1] * n
    low = [0] * n
    onstack = bytearray(n)
    stack: list[int] = []
    comps: list[list[int]] = []
    counter = 0
    for root in range(n) if nodes is None else nodes:
        if index[root] >= 0:
            continue
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        onstack[root] = 1
        work = [(root, iter(succ(root)))]
        while work:
            v, it = work[-1]
            for w in it:
                if index[w] < 0:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    onstack[w] = 1
                    work.append((w, iter(succ(w))))
                    break
                if onstack[w] and index[w] < low[v]:
                    low[v] = index[w]
            else:
                work.pop()
                if work:
                    u = work[-1][0]
                    if low[v] < low[u]:
                        low[u] = low[v]
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        onstack[w] = 0
                        comp.append(w)
                        if w == v:
                            break
                    comps.append(comp)
    return comps
