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
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Sequence
from typing import Any

from checkers.models import ANY_VALUE, COp, Model

__all__ = ["Lookahead", "make_lookahead"]

READS_CHECKED = 6  # pending reads looked at per state change


class _Ids:
    """Op ids (in call order, so sorted) and their call positions."""

    __slots__ = ("ids", "calls")

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.calls: list[int] = []

    def any_open(self, limit: int, low: int, rel: int) -> bool:
        """Is some op here, invoked before ``limit``, not yet linearized?"""
        ids, calls = self.ids, self.calls
        k = bisect_left(ids, low)
        while k < len(ids) and calls[k] < limit:
            j = ids[k]
            if not (rel >> (j - low)) & 1:
                return True
            k += 1
        return False


class Lookahead:
    def __init__(
        self,
        rnxt: list[int],
        node_op: list[int],
        end: int,
        ops: Sequence[PartOp_],
        model: Model,
    ) -> None:
        self.rnxt, self.node_op, self.end = rnxt, node_op, end
        self.ret_pos = [o.ret_pos for o in ops]
        self.reads = [o.definite and model.read_only(o.op) for o in ops]
        self.cop = [o.op for o in ops]
        self.mono: Callable[[Any, COp], bool] | None = getattr(model, "monotone", None)
        self.resets = _Ids()
        needs = getattr(model, "needs", None)
        produces = getattr(model, "produces", None)
        self.need: list[Any] | None = None
        self.producers: dict[Any, _Ids] = {}
        self.wild = _Ids()
        self.watch = list(self.reads)  # ops whose needs are checked: reads, and for
        if needs is not None and produces is not None:  # producer models, definite cas too
            self.need = [needs(o.op) if o.definite else ANY_VALUE for o in ops]
            self.watch = [w or v is not ANY_VALUE for w, v in zip(self.reads, self.need, strict=True)]
            for i, o in enumerate(ops):
                v = produces(o.op)
                if v is None:
                    continue
                ids = self.wild if v is ANY_VALUE else self.producers.setdefault(v, _Ids())
                ids.ids.append(i)
                ids.calls.append(o.call_pos)
        self.prod_of: list[_Ids | None] = [None] * len(ops)
        if self.need is not None and produces is not None:
            self.prod_of = _useful_producers(ops, self.need, self.watch, self.producers, produces)
        # watched ops no producer can ever serve: satisfiable only while the state already fits
        self.hopeless = [
            i
            for i, p in enumerate(self.prod_of)
            if self.need is not None
            and self.watch[i]
            and self.need[i] is not ANY_VALUE
            and not self.wild.ids
            and (p is None or not p.ids)
        ]
        if self.mono is not None:
            for i, o in enumerate(ops):
                if model.resets(o.op):  # type: ignore[attr-defined]
                    self.resets.ids.append(i)
                    self.resets.calls.append(o.call_pos)

    def doomed(self, state: Any, low: int, rel: int) -> int:
        """The id of a pending read (among the first few in the list) that ``state``
        leaves unsatisfiable, or -1."""
        rnxt, node_op, end = self.rnxt, self.node_op, self.end
        watch, need, prod, ret_pos = self.watch, self.need, self.prod_of, self.ret_pos
        wild = self.wild if self.wild.ids else None
        for i in self.hopeless:
            if i >= low and not (rel >> (i - low)) & 1 and need[i] != state:  # type: ignore[index]
                return i
        checked = 0
        r = rnxt[0]
        while r != end:
            i = node_op[r]
            if watch[i] and (i >= low and not (rel >> (i - low)) & 1):
                if need is not None and need[i] != state and need[i] is not ANY_VALUE:
                    limit = ret_pos[i]
                    p = prod[i]
                    if (p is None or not p.any_open(limit, low, rel)) and (
                        wild is None or not wild.any_open(limit, low, rel)
                    ):
                        return i
                if self.mono is not None and self.reads[i] and self._mono_fails(i, state, low, rel):
                    return i
                checked += 1
                if checked >= READS_CHECKED:
                    break
            r = rnxt[r]
        return -1

    def _mono_fails(self, i: int, state: Any, low: int, rel: int) -> bool:
        assert self.mono is not None
        if self.resets.ids and self.resets.any_open(self.ret_pos[i], low, rel):
            return False  # an unlinearized reset may come first: anything goes
        return not self.mono(state, self.cop[i])


PartOp_ = Any  # checkers.linear.wgl.PartOp (not imported: search imports this module)


def _useful_producers(
    ops: Sequence[Any],
    need: list[Any],
    watch: list[bool],
    producers: dict[Any, _Ids],
    produces: Callable[[COp], Any],
) -> list[_Ids | None]:
    """For each watched op R, the producers of the value it needs that could be the
    last store before it.

    A producer P is useless to R when some definite store X was invoked after P
    returned and returned before R was invoked: X certainly falls between them,
    so R cannot see P's value (if R sees the value at all, it comes from a later
    producer).  With ``M`` the latest call of a store that returned before R's
    call, P is useful iff it is indeterminate or returned at or after ``M``; and
    only producers invoked before R returned can precede R at all.
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
    info_at = {  # per value: positions (in its producer list) of indeterminate producers
        v: [j for j, i in enumerate(pl.ids) if not ops[i].definite] for v, pl in producers.items()
    }
    out: list[_Ids | None] = [None] * len(ops)
    for i, o in enumerate(ops):
        if not watch[i] or need[i] is ANY_VALUE:
            continue
        plist = producers.get(need[i])
        if plist is None:
            continue
        k = bisect_left(store_rets, o.call_pos)
        m = latest_call[k - 1] if k else -1
        hi = bisect_left(plist.calls, o.ret_pos) if o.definite else len(plist.ids)
        lo = bisect_left(plist.calls, m, 0, hi)
        keep = list(range(lo, hi))  # invoked after M: returned after it too
        j = lo - 1
        while j >= 0:  # invoked before M: useful if still running at M, or indeterminate
            p = ops[plist.ids[j]]
            if not p.definite or p.ret_pos >= m:
                keep.append(j)
            elif p.call_pos < m - longest:
                break  # every earlier definite producer returned before M
            j -= 1
        if j > 0:
            infos = info_at[need[i]]
            keep.extend(infos[: bisect_left(infos, j)])
        keep.sort()
        ids = _Ids()
        ids.ids = [plist.ids[j2] for j2 in keep]
        ids.calls = [plist.calls[j2] for j2 in keep]
        out[i] = ids
    return out


def make_lookahead(
    rnxt: list[int], node_op: list[int], end: int, ops: Sequence[Any], model: Model
) -> Lookahead | None:
    """A Lookahead for models that offer producers or monotonicity, else None.

    ``rnxt`` links the return events still pending, in order (the search keeps it).
    """
    if not (hasattr(model, "needs") or hasattr(model, "monotone")):
        return None
    return Lookahead(rnxt, node_op, end, ops, model)
