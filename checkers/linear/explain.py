"""A counterexample in plain words: which op could not be linearized, and why."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import replace
from typing import Any

from checkers.linear.wgl import Outcome, Part, PartOp
from checkers.models import INCONSISTENT, Model

__all__ = ["explain"]


def _t(ns: int, pos: int) -> str:
    """A time, or the event number when the history has no clock (time_ns == position)."""
    if ns == pos:
        return f"event {pos}"
    return f"t={ns / 1e9:.6f} s"


def _who(o: PartOp, model: Model) -> str:
    span = f"invoked at {_t(o.call_ns, o.call_pos)}"
    if o.definite:
        span += f", completed at {_t(o.ret_ns, o.ret_pos)}"
    else:
        span += ", never known to complete"
    return f"op {o.index} (process {o.process}, {model.describe_op(o.op)}; {span})"


def _stores(o: PartOp) -> tuple[bool, Any]:
    """(does the op store a value, which) for register ops: writes and cas."""
    code = o.op[0]
    if code == "w":
        return True, o.op[1]
    if code == "c" and len(o.op) == 3:
        return True, o.op[2]
    return False, None


def _overwriter(part: Part, after_pos: int, read: PartOp, value: Any) -> PartOp | None:
    """A definite store of another value invoked after ``after_pos``, done before the read began."""
    for x in part.ops:
        stores, v = _stores(x)
        if stores and x.definite and v != value and x.call_pos > after_pos and x.ret_pos < read.call_pos:
            return x
    return None


def _overwritten(part: Part, model: Model, read: PartOp, writers: list[PartOp]) -> str:
    """If every store of the value was certainly overwritten before the read began, say how."""
    value = read.op[1]
    if any(not w.definite for w in writers):
        return ""
    pairs: list[tuple[str, PartOp]] = []
    if value == getattr(model, "init", object()):
        x = _overwriter(part, -1, read, value)
        if x is None:
            return ""
        pairs.append(("the initial value", x))
    for w in writers:
        x = _overwriter(part, w.ret_pos, read, value)
        if x is None:
            return ""
        pairs.append((f"op {w.index} (completed at {_t(w.ret_ns, w.ret_pos)})", x))
    shown = "; ".join(
        f"{what} by op {x.index} ({model.describe_op(x.op)}, completed at {_t(x.ret_ns, x.ret_pos)})"
        for what, x in pairs[:3]
    )
    more = f"; and {len(pairs) - 3} more" if len(pairs) > 3 else ""
    return (
        f" Every write of {value!r} was overwritten before the read began: {shown}{more}."
    )


def _register_detail(part: Part, model: Model, failed: PartOp) -> str:
    """Where the value a register read returned could have come from."""
    if failed.op[0] != "r" or not hasattr(model, "init") or any(o.op[0] == "a" for o in part.ops):
        return ""  # not a register read (appends build values: no single writer to name)
    value = failed.op[1]
    writers = [o for o in part.ops if _stores(o) == (True, value)]
    if not writers:
        if value == getattr(model, "init", object()):
            return (
                f" The read returned the initial value {value!r}, but a write that "
                "changed it must have taken effect before the read."
            )
        return f" No operation ever wrote {value!r}, and it is not the initial value."
    before = [w for w in writers if failed.ret_pos < 0 or w.call_pos < failed.ret_pos]
    if not before:
        first = writers[0]
        return (
            f" Every write of {value!r} was invoked only after the read had completed "
            f"(the first at {_t(first.call_ns, first.call_pos)}): the read saw the future."
        )
    certain = _overwritten(part, model, failed, before)
    if certain:
        return certain
    shown = ", ".join(f"op {w.index} at {_t(w.call_ns, w.call_pos)}" for w in before[:4])
    more = f" and {len(before) - 4} more" if len(before) > 4 else ""
    return (
        f" The writes of {value!r} that could precede it ({shown}{more}) cannot be placed so "
        "that the read sees one of them: each is overwritten, or ordered after the read, in "
        "every order that respects real time and the other operations' results."
    )


def _as_recorded(part: Part, model: Model, outcome: Outcome) -> tuple[Part, Any]:
    """The part with its ops as recorded (not blurred), and the state the longest
    prefix really leaves (replayed with those ops)."""
    if all(o.orig is None for o in part.ops):
        return part, outcome.failed_state
    real = Part(part.key, tuple(o if o.orig is None else replace(o, op=o.orig) for o in part.ops))
    state = model.initial()
    for i in outcome.partials[0] if outcome.partials else []:
        state = model.step(state, real.ops[i].op)
        if state is INCONSISTENT:
            return real, outcome.failed_state
    return real, state


def explain(part: Part, model: Model, outcome: Outcome, key: Hashable | None) -> str:
    """One paragraph: the op that could not be linearized and what the model held then."""
    part, failed_state = _as_recorded(part, model, outcome)
    where = "" if key is None else f" on key {key!r}"
    head = (
        f"The history{where} is not linearizable: no order of its {len(part.ops)} operations "
        "respects both real time and the model."
    )
    if outcome.failed is None:
        return head
    failed = part.ops[outcome.failed]
    longest = outcome.partials[0] if outcome.partials else []
    state = model.describe_state(failed_state)
    if longest:
        last = part.ops[longest[-1]]
        body = (
            f" The search got furthest with {len(longest)} operation"
            f"{'s' if len(longest) != 1 else ''} in a consistent order, "
            f"ending with op {last.index} ({model.describe_op(last.op)}) and leaving {state}."
        )
        changer = next((part.ops[i] for i in reversed(longest) if not model.read_only(part.ops[i].op)), None)
        if changer is not None and changer is not last:
            body = body[:-1] + f" (as op {changer.index}, {model.describe_op(changer.op)}, set it)."
    else:
        body = f" Even from the initial state, {state},"
    body = body.rstrip(",.") + (
        f"; {_who(failed, model)} then had to take effect before its completion, and neither "
        "it nor any other operation that may go next could."
    )
    return head + body + _register_detail(part, model, failed)
