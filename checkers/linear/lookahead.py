"""Lookahead pruning: after a state change, can the pending reads still be satisfied?

When the search linearizes an op that changes the state, the first few reads
still waiting in the event list are checked.  A read that no longer can be
satisfied dooms the new search state at once, instead of after the search has
tried every subset and order of the ops before the read's return.

Two kinds of models take part (each optional, found by attribute):

* *producers* — ``needs(op) -> value | ANY_VALUE`` and ``produces(op) ->
  value | ANY_VALUE | None``: a register read of v (or a cas from v) can
  take effect only if the state is v now or some op not yet linearized,
  invoked before it returned, can store v (a write of v, a cas to v; an
  append could store anything);
* *monotone* — ``monotone(state, read) -> bool`` and ``resets(op) -> bool``:
  where the state only grows (appends, adds) except through resets (put,
  write, cas), a pending read must see an extension of the current state
  unless a reset not yet linearized could come before it.

Linearized sets are those of :mod:`checkers.linear.plan`: definite changes as
``(wl, wr)``, definite reads as ``(rl, rr)``, indeterminate ops as counts per
class (``ic``).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Sequence
from typing import Any

from checkers.linear.plan import INFO, Plan, R
from checkers.models import ANY_VALUE, COp, Model

__all__ = ["Lookahead", "make_lookahead"]

READS_CHECKED = 6  # pending reads looked at per state change


class _Ids:
    """Definite changes (their indices among changes, ascending) and their call positions,
    plus classes of indeterminate ops."""

    __slots__ = ("ids", "calls", "classes")

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.calls: list[int] = []
        self.classes: list[int] = []

    def any_open(self, limit: int, wl: int, wr: int, ic: tuple[int, ...], cc: list[list[int]]) -> bool:
        """Is some op here, invoked before ``limit``, not yet linearized?"""
        ids, calls = self.ids, self.calls
        k = bisect_left(ids, wl)
        while k < len(ids) and calls[k] < limit:
            if not (wr >> (ids[k] - wl)) & 1:
                return True
            k += 1
        for c in self.classes:
            h = ic[c]
            if h < len(cc[c]) and cc[c][h] < limit:
                return True
        return False

    def count_open(
        self, limit: int, wl: int, wr: int, ic: tuple[int, ...], cc: list[list[int]], want: int
    ) -> bool:
        """Are at least ``want`` ops here, invoked before ``limit``, not yet linearized?"""
        n = 0
        for c in self.classes:
            n += max(0, bisect_left(cc[c], limit) - ic[c])
        if n >= want:
            return True
        ids, calls = self.ids, self.calls
        k = bisect_left(ids, wl)
        while k < len(ids) and calls[k] < limit:
            if not (wr >> (ids[k] - wl)) & 1:
                n += 1
                if n >= want:
                    return True
            k += 1
        return False

    def __bool__(self) -> bool:
        return bool(self.ids or self.classes)


class Lookahead:
    def __init__(self, pl: Plan, ops: Sequence[Any], model: Model) -> None:
        self.rnxt, self.node_op, self.end = pl.rnxt, pl.node_op, pl.end
        self.kind, self.index, self.cc = pl.kind, pl.index, pl.class_calls
        self.ret_pos = [o.ret_pos for o in ops]
        self.reads = [o.definite and pl.kind[i] == R for i, o in enumerate(ops)]
        self.cop = [o.op for o in ops]
        self.mono: Callable[[Any, COp], bool] | None = getattr(model, "monotone", None)
        self.resets = _Ids()
        needs = getattr(model, "needs", None)
        produces = getattr(model, "produces", None)
        self.need: list[Any] | None = None
        self.prod_of: list[_Ids | None] = [None] * len(ops)
        self.wild = _Ids()
        self.consumes: list[Any] = [None] * len(ops)  # definite op -> the value it uses up
        self.all_prod: dict[Any, _Ids] = {}  # value -> every op that may store it
        self.watch = list(self.reads)  # ops whose needs are checked: reads, and for
        if needs is not None and produces is not None:  # producer models, definite cas too
            self.need = [needs(o.op) if o.definite else ANY_VALUE for o in ops]
            self.watch = [w or v is not ANY_VALUE for w, v in zip(self.reads, self.need, strict=True)]
            self._producers(pl, ops, produces)
        # watched ops no producer can ever serve: satisfiable only while the state already fits
        self.hopeless = [
            i
            for i, p in enumerate(self.prod_of)
            if self.need is not None
            and self.watch[i]
            and self.need[i] is not ANY_VALUE
            and not self.wild
            and (p is None or not p)
        ]
        if self.mono is not None:
            for i, o in enumerate(ops):
                if model.resets(o.op):  # type: ignore[attr-defined]
                    _add(self.resets, pl, i, o.call_pos)

    def _producers(self, pl: Plan, ops: Sequence[Any], produces: Callable[[COp], Any]) -> None:
        assert self.need is not None
        definite: dict[Any, list[int]] = {}  # value -> op ids of definite producers
        info: dict[Any, set[int]] = {}  # value -> classes of indeterminate producers
        for i, o in enumerate(ops):
            v = produces(o.op)
            if v is None:
                continue
            if v is ANY_VALUE:
                _add(self.wild, pl, i, o.call_pos)
            else:
                _add(self.all_prod.setdefault(v, _Ids()), pl, i, o.call_pos)
                if o.definite:
                    definite.setdefault(v, []).append(i)
                else:
                    info.setdefault(v, set()).add(pl.index[i])
            n = self.need[i]
            if o.definite and n is not ANY_VALUE and v is not ANY_VALUE and v != n:
                self.consumes[i] = n
        info_classes = {v: sorted(cs) for v, cs in info.items()}
        no_classes: list[int] = []
        useful = _useful_producers(ops, self.need, self.watch, definite, produces)
        for i, ids in enumerate(useful):
            if not self.watch[i] or self.need[i] is ANY_VALUE:
                continue
            p = _Ids()
            p.ids = [pl.index[j] for j in ids]
            p.calls = [ops[j].call_pos for j in ids]
            p.classes = info_classes.get(self.need[i], no_classes)  # shared, never changed
            self.prod_of[i] = p

    def _linearized(self, i: int, wl: int, wr: int, rl: int, rr: int) -> bool:
        k = self.index[i]
        if self.kind[i] == R:
            return k < rl or bool((rr >> (k - rl)) & 1)
        return k < wl or bool((wr >> (k - wl)) & 1)

    def doomed(
        self, state: Any, wl: int, wr: int, rl: int, rr: int, ic: tuple[int, ...], done: int
    ) -> int:
        """The id of a pending read (among the first few in the list) that ``state``
        leaves unsatisfiable, or -1.  ``done``: the op just linearized (its return
        is still in the list)."""
        rnxt, node_op, end = self.rnxt, self.node_op, self.end
        watch, need, prod, ret_pos = self.watch, self.need, self.prod_of, self.ret_pos
        wild = self.wild if self.wild else None
        cc = self.cc
        for i in self.hopeless:
            if need[i] != state and not self._linearized(i, wl, wr, rl, rr):  # type: ignore[index]
                return i
        checked = 0
        used: dict[Any, int] = {}  # value -> pending ops seen so far that use it up
        consumes = self.consumes
        r = rnxt[0]
        while r != end:
            i = node_op[r]  # in the list: not linearized, but for ``done``
            if watch[i] and i != done:
                v = consumes[i]
                if v is not None and wild is None:
                    k = used[v] = used.get(v, 0) + 1
                    prods = self.all_prod.get(v)
                    if k > 1 and (
                        prods is None or not prods.count_open(ret_pos[i], wl, wr, ic, cc, k - (state == v))
                    ):
                        return i
                if need is not None and need[i] != state and need[i] is not ANY_VALUE:
                    limit = ret_pos[i]
                    p = prod[i]
                    if (p is None or not p.any_open(limit, wl, wr, ic, cc)) and (
                        wild is None or not wild.any_open(limit, wl, wr, ic, cc)
                    ):
                        return i
                if self.mono is not None and self.reads[i] and self._mono_fails(i, state, wl, wr, ic):
                    return i
                checked += 1
                if checked >= READS_CHECKED:
                    break
            r = rnxt[r]
        return -1

    def _mono_fails(self, i: int, state: Any, wl: int, wr: int, ic: tuple[int, ...]) -> bool:
        assert self.mono is not None
        if self.resets and self.resets.any_open(self.ret_pos[i], wl, wr, ic, self.cc):
            return False  # an unlinearized reset may come first: anything goes
        return not self.mono(state, self.cop[i])


def _add(ids: _Ids, pl: Plan, i: int, call_pos: int) -> None:
    """Add op ``i`` (a definite change, or an indeterminate op's class) to ``ids``."""
    if pl.kind[i] == INFO:
        if pl.index[i] not in ids.classes:
            ids.classes.append(pl.index[i])
        return
    if pl.kind[i] == R:
        return  # reads produce nothing and reset nothing
    ids.ids.append(pl.index[i])
    ids.calls.append(call_pos)


def _useful_producers(
    ops: Sequence[Any],
    need: list[Any],
    watch: list[bool],
    producers: dict[Any, list[int]],
    produces: Callable[[COp], Any],
) -> list[list[int]]:
    """For each watched op R, the definite producers of the value it needs that could be
    the last store before it.

    A producer P is useless to R when some definite store X was invoked after P
    returned and returned before R was invoked: X certainly falls between them,
    so R cannot see P's value (if R sees the value at all, it comes from a later
    producer).  With ``M`` the latest call of a store that returned before R's
    call, P is useful iff it returned at or after ``M``; and only producers
    invoked before R returned can precede R at all.  (Indeterminate producers
    are always useful; the lookahead keeps them by class.)
    """
    stores = sorted(
        (o.ret_pos, o.call_pos)
        for o in ops
        if o.definite and (v := produces(o.op)) is not None and v is not ANY_VALUE
    )
    store_rets = [r for r, _ in stores]
    latest_call: list[int] = []
    best = -1
    for _, call in stores:
        best = max(best, call)
        latest_call.append(best)
    longest = max((o.ret_pos - o.call_pos for o in ops if o.definite), default=0)
    calls_of = {v: [ops[i].call_pos for i in ids] for v, ids in producers.items()}
    out: list[list[int]] = [[] for _ in ops]
    for i, o in enumerate(ops):
        if not watch[i] or need[i] is ANY_VALUE:
            continue
        plist = producers.get(need[i])
        if plist is None:
            continue
        calls = calls_of[need[i]]
        k = bisect_left(store_rets, o.call_pos)
        m = latest_call[k - 1] if k else -1
        hi = bisect_left(calls, o.ret_pos) if o.definite else len(plist)
        lo = bisect_left(calls, m, 0, hi)
        keep = list(range(lo, hi))  # invoked after M: returned after it too
        j = lo - 1
        while j >= 0:  # invoked before M: useful if still running at M
            p = ops[plist[j]]
            if p.ret_pos >= m:
                keep.append(j)
            elif p.call_pos < m - longest:
                break  # every earlier producer returned before M
            j -= 1
        keep.sort()
        out[i] = [plist[j2] for j2 in keep]
    return out


def make_lookahead(pl: Plan, ops: Sequence[Any], model: Model) -> Lookahead | None:
    """A Lookahead for models that offer producers or monotonicity, else None."""
    if not (hasattr(model, "needs") or hasattr(model, "monotone")):
        return None
    return Lookahead(pl, ops, model)
