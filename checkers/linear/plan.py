"""A part compiled for the search: the event list, op kinds and the indeterminate-op classes.

The search keeps three sets of linearized ops, each numbered on its own:

* *changes* — definite ops that are not read-only, kept as ``(wl, wr)``: every
  change numbered below ``wl`` is linearized, bit k of ``wr`` says whether
  change ``wl + k`` is;
* *reads* — definite read-only ops, kept the same way as ``(rl, rr)``;
* *indeterminate ops*, grouped in *classes* of identical compiled ops and kept
  as a tuple of counts: the ops of a class are linearized in call order (two
  identical ops that never return can be swapped in any linearization, and the
  earlier-invoked one may go wherever the later one may), so the first
  ``count`` of each class are the linearized ones.

Numbering each set on its own keeps the sets small however long the history:
indeterminate ops never return and many are never linearized, which in one
shared numbering would pin the low-water mark at the first of them.  It also
lets the memo compare states by dominance (see :mod:`checkers.linear.wgl`).

Only definite ops sit in the event list.  An indeterminate op may go once
every definite op that returned before its call is linearized, that is, once
its call precedes the first return still in the list.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from checkers.models import COp, Model

__all__ = ["Plan", "plan", "twin_chains", "nested_twins", "NEVER"]

NEVER = -1
W, R, INFO = 0, 1, 2  # kinds: definite change, definite read, indeterminate


def twin_chains(ops: Sequence[Any]) -> list[int]:
    """For each op, the id of an identical op that must be linearized before it (or -1).

    Two ops with the same compiled op whose intervals do not nest (A invoked
    before B and A returned no later than B; indeterminate ops return at
    infinity) can be swapped in any linearization without changing a state or
    breaking real-time order, so some valid linearization, if any exists, has
    A first.  Ops are grouped in chains of non-nesting intervals and each
    must follow its predecessor in the chain.
    """
    prev = [NEVER] * len(ops)
    ends: dict[COp, list[int]] = {}  # op -> ids that end a chain
    for i, o in enumerate(ops):
        ret = o.ret_pos if o.definite else 1 << 62
        tails = ends.setdefault(o.op, [])
        best = -1
        for j, t in enumerate(tails):
            tr = ops[t].ret_pos if ops[t].definite else 1 << 62
            if tr <= ret and (best < 0 or ops[tails[best]].call_pos < ops[t].call_pos):
                best = j
        if best >= 0:
            prev[i] = tails[best]
            tails[best] = i
        elif len(tails) < 8:
            tails.append(i)
    return prev


def nested_twins(ops: Sequence[Any], limit: int = 16) -> list[tuple[tuple[int, int], ...]]:
    """For each definite op A, the identical definite ops nested in it: (op id, call position).

    If both A and a B nested in it (invoked after A, returned before A) may go
    next, linearizing A there is never needed: in any linearization placing A
    there and B later, the two can be swapped (B may go where A went; A, whose
    interval covers B's, may go where B went) without changing a state.  So the
    search skips A while such a B is still pending and may go.  (With the
    twin chains, identical ops are always tried earliest return first.)
    """
    out: list[tuple[tuple[int, int], ...]] = [()] * len(ops)
    groups: dict[COp, list[int]] = {}
    for i, o in enumerate(ops):
        if o.definite:
            groups.setdefault(o.op, []).append(i)
    for ids in groups.values():
        n = len(ids)
        for k, a in enumerate(ids):
            ret = ops[a].ret_pos
            found: list[tuple[int, int]] = []
            k2 = k + 1
            while k2 < n and len(found) < limit:
                ob = ops[ids[k2]]
                if ob.call_pos > ret:
                    break
                if ob.ret_pos < ret:
                    found.append((ids[k2], ob.call_pos))
                k2 += 1
            if found:
                out[a] = tuple(found)
    return out


@dataclass(slots=True)
class Plan:
    """Per list node (0 head, ``end`` tail): links and what the loop reads; per op: kind."""

    nxt: list[int]
    prv: list[int]
    node_op: list[int]  # node -> op id (-1 for head/tail)
    match: list[int]  # call node -> its return node; return node -> -1
    end: int
    rnxt: list[int]  # the return nodes alone, linked the same way
    rprv: list[int]
    ret_at: list[int]  # return node -> history position of the return; end -> "never"
    cop: list[Any]  # node -> compiled op
    is_read: list[bool]  # node -> a definite read-only op
    kidx: list[int]  # node -> index among its kind (changes or reads)
    twin: list[int]  # node -> twin predecessor's index among its kind, or -1
    nested: list[tuple[tuple[int, int], ...]]  # node -> nested twins (index among its kind, call)
    blind: list[bool]  # node -> blind (may not directly follow an indeterminate op)
    rank: list[int]  # node -> the order candidates are tried in: reads, then by deadline
    kind: list[int]  # op id -> W, R or INFO
    index: list[int]  # op id -> index among its kind; for INFO: its class
    classes: list[list[int]]  # class -> op ids in call order
    class_calls: list[list[int]]  # class -> their call positions
    class_cop: list[COp]
    class_blind: list[bool]


def _event_order(ops: Sequence[Any]) -> list[tuple[int, int, int]]:
    """Events (position, 0 call / 1 return, op id) of the definite ops in list order.

    Which calls may go next depends only on which returns precede them, so the
    calls between two consecutive returns may be tried in any order: the op
    that must return first is tried first (it is the likelier to have taken
    effect early).
    """
    events: list[tuple[int, int, int]] = []
    for i, o in enumerate(ops):
        if o.definite:
            events.append((o.call_pos, 0, i))
            events.append((o.ret_pos, 1, i))
    events.sort()
    out: list[tuple[int, int, int]] = []
    block: list[tuple[int, int, int]] = []
    for ev in events:
        if ev[1] == 0:
            block.append(ev)
            continue
        if len(block) > 1:
            block.sort(key=lambda c: ops[c[2]].ret_pos)
        out.extend(block)
        block.clear()
        out.append(ev)
    out.extend(block)
    return out


def _kinds(ops: Sequence[Any], model: Model) -> tuple[list[int], list[int], list[list[int]], list[COp]]:
    kind = [0] * len(ops)
    index = [0] * len(ops)
    counts = [0, 0]
    by_cop: dict[COp, int] = {}
    classes: list[list[int]] = []
    class_cop: list[COp] = []
    for i, o in enumerate(ops):
        if not o.definite:
            c = by_cop.get(o.op)
            if c is None:
                c = by_cop[o.op] = len(classes)
                classes.append([])
                class_cop.append(o.op)
            classes[c].append(i)
            kind[i], index[i] = INFO, c
            continue
        k = R if model.read_only(o.op) else W
        kind[i], index[i] = k, counts[k]
        counts[k] += 1
    return kind, index, classes, class_cop


def _rank(o: Any, kind: int, blind: bool) -> int:
    """Candidates are tried reads first (they change nothing), then ops that need the
    state (they can go only while it lasts), then blind ones; each earliest deadline first."""
    return (0 if kind == R else 2 if blind else 1) << 50 | int(o.ret_pos)


def plan(ops: Sequence[Any], model: Model) -> Plan:
    """Compile a part's ops (in call order) for :func:`checkers.linear.wgl.search`."""
    kind, index, classes, class_cop = _kinds(ops, model)
    events = _event_order(ops)
    m = len(events)
    end = m + 1
    nxt = list(range(1, m + 2)) + [end]
    prv = [0] + list(range(0, m + 1))
    node_op = [-1] * (m + 2)
    match = [0] * (m + 2)
    ret_at = [1 << 62] * (m + 2)
    ret_node: dict[int, int] = {}
    for k, (pos, kd, i) in enumerate(events, start=1):
        node_op[k] = i
        if kd == 1:
            match[k] = -1
            ret_node[i] = k
            ret_at[k] = pos
    for k in range(1, m + 1):
        if match[k] == 0:
            match[k] = ret_node[node_op[k]]
    rnxt = [end] * (m + 2)
    rprv = [0] * (m + 2)
    last = 0
    for k in range(1, m + 1):
        if match[k] == -1:
            rnxt[last] = k
            rprv[k] = last
            last = k
    rnxt[last] = end
    rprv[end] = last
    definite = [i for i, o in enumerate(ops) if o.definite]
    chain = twin_chains([ops[i] for i in definite])
    twin_of = [NEVER] * len(ops)
    for j, p in enumerate(chain):
        if p != NEVER:
            twin_of[definite[j]] = index[definite[p]]  # identical ops: the same kind
    nest = nested_twins(ops)
    blind_of = getattr(model, "blind", None)

    def is_blind(c: COp) -> bool:
        return blind_of is not None and bool(blind_of(c))

    op_blind = [is_blind(o.op) for o in ops]

    op_rank = [_rank(o, kind[i], op_blind[i]) for i, o in enumerate(ops)]

    return Plan(
        nxt=nxt,
        prv=prv,
        node_op=node_op,
        match=match,
        end=end,
        rnxt=rnxt,
        rprv=rprv,
        ret_at=ret_at,
        cop=[ops[i].op if i >= 0 else None for i in node_op],
        is_read=[i >= 0 and kind[i] == R for i in node_op],
        kidx=[index[i] if i >= 0 else 0 for i in node_op],
        twin=[twin_of[i] if i >= 0 else NEVER for i in node_op],
        nested=[tuple((index[b], c) for b, c in nest[i]) if i >= 0 else () for i in node_op],
        blind=[i >= 0 and op_blind[i] for i in node_op],
        rank=[-1 if i < 0 else op_rank[i] for i in node_op],

        kind=kind,
        index=index,
        classes=classes,
        class_calls=[[ops[i].call_pos for i in c] for c in classes],
        class_cop=class_cop,
        class_blind=[is_blind(c) for c in class_cop],
    )
