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
        self.prod_of: list[_Ids | None] = [
            self.producers.get(v) if self.need is not None and w else None
            for v, w in zip(self.need or [None] * len(ops), self.watch, strict=True)
        ]
        # watched ops no producer can ever serve: satisfiable only while the state already fits
        self.hopeless = [
            i
            for i, p in enumerate(self.prod_of)
            if self.need is not None
            and self.watch[i]
            and self.need[i] is not ANY_VALUE
            and not self.wild.ids
            and (p is None or p.calls[0] >= self.ret_pos[i])
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


def make_lookahead(
    rnxt: list[int], node_op: list[int], end: int, ops: Sequence[Any], model: Model
) -> Lookahead | None:
    """A Lookahead for models that offer producers or monotonicity, else None.

    ``rnxt`` links the return events still pending, in order (the search keeps it).
    """
    if not (hasattr(model, "needs") or hasattr(model, "monotone")):
        return None
    return Lookahead(rnxt, node_op, end, ops, model)
