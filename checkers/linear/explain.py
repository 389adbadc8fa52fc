"""A counterexample in plain words: which op could not be linearized, and why."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from checkers.linear.search import Outcome, Part, PartOp
from checkers.models import Model

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


def _writers(part: Part, value: Any) -> list[PartOp]:
    found = []
    for o in part.ops:
        code = o.op[0]
        if (code == "w" and o.op[1] == value) or (code == "c" and len(o.op) == 3 and o.op[2] == value):
            found.append(o)
    return found


def _register_detail(part: Part, model: Model, failed: PartOp) -> str:
    """Where the value a register read returned could have come from."""
    if failed.op[0] != "r" or not hasattr(model, "init"):
        return ""
    value = failed.op[1]
    writers = _writers(part, value)
    if not writers:
        if value == getattr(model, "init", object()):
            return (
                f" The read returned the initial value {value!r}, but a write that "
                "changed it must have taken effect before the read."
            )
        return f" No operation ever wrote {value!r}, and it is not the initial value."
    later = [w for w in writers if w.call_pos > failed.ret_pos >= 0]
    if later and len(later) == len(writers):
        return (
            f" Every write of {value!r} was invoked only after the read had completed "
            f"(the first at {_t(later[0].call_ns, later[0].call_pos)}): the read saw the future."
        )
    shown = ", ".join(f"op {w.index} at {_t(w.call_ns, w.call_pos)}" for w in writers[:4])
    more = f" and {len(writers) - 4} more" if len(writers) > 4 else ""
    return (
        f" The writes of {value!r} ({shown}{more}) cannot be placed so that the read sees "
        "one of them: each is overwritten, or ordered after the read, in every order that "
        "respects real time and the other operations' results."
    )


def explain(part: Part, model: Model, outcome: Outcome, key: Hashable | None) -> str:
    """One paragraph: the op that could not be linearized and what the model held then."""
    where = "" if key is None else f" on key {key!r}"
    if outcome.failed is None:
        return f"The history{where} is not linearizable: not even its first operation can take effect."
    failed = part.ops[outcome.failed]
    longest = outcome.partials[0] if outcome.partials else []
    head = f"The history{where} is not linearizable: {_who(failed, model)} cannot take effect."
    if longest:
        last = part.ops[longest[-1]]
        order = (
            f" The longest order found that respects real time and the model linearizes "
            f"{len(longest)} of the part's {len(part.ops)} operations, ending with op "
            f"{last.index} ({model.describe_op(last.op)}), and leaves "
            f"{model.describe_state(outcome.failed_state)};"
        )
    else:
        order = f" In the initial state, {model.describe_state(outcome.failed_state)},"
    order += (
        f" from there no operation that may go next can take effect, and op {failed.index} "
        "must take effect before the operations that follow it."
    )
    return head + order + _register_detail(part, model, failed)
