"""From a history to the parts the search checks (P-compositionality).

Only client ops count.  Each invocation is paired with the next event of its
process; ``fail`` ops did not happen and are dropped; ``info`` completions and
invocations that never completed are indeterminate.  A model that partitions
(``kv``) splits the ops by key; each key is a part with its own sub-model.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, replace
from typing import Any, Protocol, runtime_checkable

from checkers.linear.wgl import Part, PartOp
from checkers.models import NOTHING as _NOTHING
from checkers.models import Model, ModelError, Partitioned, freeze
from harness.history import FAIL, INVOKE, NEMESIS, OK, Op

__all__ = ["Prepared", "prepare"]


@runtime_checkable
class _Splits(Protocol):
    def split(self, f: str, value: Any) -> tuple[Hashable, Any]: ...


@dataclass(frozen=True, slots=True)
class Prepared:
    parts: tuple[tuple[Part, Model], ...]
    client_ops: int  # client invocations in the history


def _pairs(ops: Iterable[Op]) -> Iterable[tuple[int, Op, int, Op | None]]:
    """(call position, invoke, return position, completion) for every client invocation."""
    open_: dict[Any, tuple[int, Op]] = {}
    done: list[tuple[int, Op, int, Op | None]] = []
    for pos, o in enumerate(ops):
        if o.process == NEMESIS:
            continue
        if o.type == INVOKE:
            prior = open_.pop(o.process, None)
            if prior is not None:  # a process invoked twice: the first never completed
                done.append((prior[0], prior[1], -1, None))
            open_[o.process] = (pos, o)
        else:
            inv = open_.pop(o.process, None)
            if inv is not None:
                done.append((inv[0], inv[1], pos, o))
    done.extend((p, o, -1, None) for p, o in open_.values())
    done.sort(key=lambda t: t[0])
    return done


def _split(splitter: Partitioned, inv: Op, comp: Op | None, definite: bool) -> tuple[Hashable, Any]:
    """(key, value) of a partitioned op: the key from the invocation; the value from the
    completion when it is ok, whether it repeats the key (``[k, v]``) or not (``v``)."""
    key, value = splitter.split(inv.f, inv.value)
    if definite and comp is not None and comp.value is not None:
        done = comp.value
        if isinstance(done, list | tuple) and len(done) == 2 and freeze(done[0]) == key:
            return key, done[1]
        return key, done
    return key, value


def _value(inv: Op, comp: Op | None) -> Any:
    if comp is not None and comp.type == OK and comp.value is not None:
        return comp.value
    return inv.value


def prepare(ops: Iterable[Op], model: Model | Partitioned) -> Prepared:
    """Split and compile a history; raises ModelError naming the op the model rejects."""
    by_key: dict[Hashable, list[PartOp]] = {}
    models: dict[Hashable, Model] = {}
    n_client = 0
    splitter: Partitioned | None = model if isinstance(model, _Splits) else None
    whole: Model | None = None if splitter is not None else model  # type: ignore[assignment]
    for call_pos, inv, ret_pos, comp in _pairs(ops):
        n_client += 1
        if comp is not None and comp.type == FAIL:
            continue
        definite = comp is not None and comp.type == OK
        value = _value(inv, comp)
        key: Hashable = None
        try:
            if splitter is not None:
                key, value = _split(splitter, inv, comp, definite)
            sub = models.get(key)
            if sub is None:
                sub = models[key] = splitter.part_model(key) if splitter is not None else whole  # type: ignore[assignment]
            assert sub is not None
            cop = sub.compile_op(inv.f, value, definite)
        except ModelError as e:
            raise ModelError(f"op {inv.index} ({inv.f} {inv.value!r}): {e}") from None
        if cop is None:
            continue
        by_key.setdefault(key, []).append(
            PartOp(
                index=inv.index,
                call_pos=call_pos,
                ret_pos=ret_pos if definite else -1,
                op=cop,
                definite=definite,
                process=inv.process,
                call_ns=inv.time_ns,
                ret_ns=comp.time_ns if comp is not None and definite else -1,
            )
        )
    parts = tuple(
        (Part(key if splitter is not None else None, _drop_unseen(pops, models[key])), models[key])
        for key, pops in by_key.items()
    )
    return Prepared(parts, n_client)


def _drop_unseen(ops: list[PartOp], model: Model) -> tuple[PartOp, ...]:
    """Drop indeterminate ops whose effect no op ever observes; blur definite ones.

    An indeterminate write (enqueue, add) of a value that no read, cas or
    dequeue ever sees can only get in the way: any linearization that
    includes it stays valid without it (and without the indeterminate op, if
    any, that consumed it), and it may never have happened.  A *definite*
    write of such a value must still be placed, but which unseen value it
    stored cannot matter (nothing compares it to anything but seen values), so
    models that can (``anonymize(op)``) replace it by one shared marker:
    states that differ only in unseen values become one (queue tails in any
    order, registers holding values nobody reads).  Models opt in with
    ``effect(op)`` (the value an op places) and ``observes(op)``.
    """
    effect = getattr(model, "effect", None)
    observes = getattr(model, "observes", None)
    if effect is None or observes is None:
        return tuple(ops)
    anonymize = getattr(model, "anonymize", None)
    seen: set[Any] = set()
    for o in ops:
        seen.update(observes(o.op))
    keep = []
    for o in ops:
        placed = effect(o.op)
        if placed is not _NOTHING and placed not in seen:
            if not o.definite:
                continue
            if anonymize is not None:
                o = replace(o, op=anonymize(o.op), orig=o.op)
        keep.append(o)
    return tuple(keep)
