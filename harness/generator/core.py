"""The generator protocol, lifting of plain data, and the leaf generators.

Ownership rule: the op dict a generator returns is fresh and belongs to the
caller; wrapping combinators may change it in place (e.g. set ``time_ns``).
Leaves copy the user's dict every time, so a dict literal is never mutated.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping
from typing import Any, Final, Protocol, runtime_checkable

from harness.generator.context import Context
from harness.history import INVOKE, Op

__all__ = [
    "PENDING",
    "Pending",
    "OpDict",
    "Event",
    "OpResult",
    "Generator",
    "GeneratorError",
    "lift",
    "op",
    "update",
    "event_get",
    "EMPTY",
    "Gen",
    "needs_update",
    "fill",
]

OpDict = dict[str, Any]
Event = Op | Mapping[str, Any]


class Pending:
    """Type of the :data:`PENDING` sentinel: no op right now, ask again later."""

    __slots__ = ()
    _instance: Pending | None = None

    def __new__(cls) -> Pending:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "PENDING"

    def __reduce__(self) -> str:
        return "PENDING"


PENDING: Final = Pending()


class GeneratorError(ValueError):
    """A generator was built from, or produced, something malformed."""


@runtime_checkable
class Generator(Protocol):
    """A pure generator of operations (the shape of jepsen.generator)."""

    def op(self, test: Any, ctx: Context) -> OpResult:
        """None when exhausted; (PENDING, gen) when no op now; (op, next_gen) otherwise."""
        ...

    def update(self, test: Any, ctx: Context, event: Event) -> Generator:
        """The generator after seeing an event (an invocation or a completion)."""
        ...


OpResult = tuple[OpDict | Pending, Generator] | None


def event_get(event: Event, key: str) -> Any:
    """A field of an event given as a history Op or as a dict (missing → None)."""
    if type(event) is dict:
        return event.get(key)
    if isinstance(event, Mapping):
        return event.get(key)
    return getattr(event, key, None)


def needs_update(gen: Generator) -> bool:
    """False only for generators that promise ``update`` returns themselves unchanged."""
    return bool(getattr(gen, "needs_update", True))


class Gen:
    """Base class of faultbox's generators.

    ``needs_update = False`` declares that ``update`` is the identity, which
    lets wrappers skip forwarding events (the hot path forwards two events per
    op through every level otherwise).
    """

    __slots__ = ()
    needs_update: bool = True

    def op(self, test: Any, ctx: Context) -> OpResult:
        raise NotImplementedError

    def update(self, test: Any, ctx: Context, event: Event) -> Generator:
        return self


class _Nil(Gen):
    """The exhausted generator."""

    __slots__ = ()
    needs_update = False

    def op(self, test: Any, ctx: Context) -> OpResult:
        return None

    def __repr__(self) -> str:
        return "EMPTY"


EMPTY: Final[Generator] = _Nil()


def fill(d: Mapping[str, Any], process: object, time_ns: int) -> OpDict:
    """A fresh invocation from a user's op map: type defaults to invoke, value to None."""
    return {"type": INVOKE, "value": None, **d, "process": process, "time_ns": time_ns}


class OnceOp(Gen):
    """A dict lifted: emits it once (filled in) on some free thread, then is exhausted."""

    __slots__ = ("d",)
    needs_update = False

    def __init__(self, d: Mapping[str, Any]) -> None:
        self.d = d

    def op(self, test: Any, ctx: Context) -> OpResult:
        p = ctx.some_free_process()
        if p is None:
            return (PENDING, self)
        return (
            {"type": INVOKE, "value": None, **self.d, "process": p, "time_ns": ctx.time_ns},
            EMPTY,
        )

    def __repr__(self) -> str:
        return f"OnceOp({self.d!r})"


class FnGen(Gen):
    """A callable lifted: ``fn(test, ctx)`` is called for every op until it returns None.

    The callable is only called when a free thread exists.  If it returns
    something other than a dict, that is lifted and run to exhaustion before
    the callable is called again.
    """

    __slots__ = ("fn",)
    needs_update = False

    def __init__(self, fn: Callable[[Any, Context], Any]) -> None:
        self.fn = fn

    def op(self, test: Any, ctx: Context) -> OpResult:
        p = ctx.some_free_process()
        if p is None:
            return (PENDING, self)
        x = self.fn(test, ctx)
        if type(x) is dict:
            return (
                {"type": INVOKE, "value": None, **x, "process": p, "time_ns": ctx.time_ns},
                self,
            )
        if x is None:
            return None
        return Seq(lift(x), (self,), 0, True).op(test, ctx)

    def __repr__(self) -> str:
        return f"FnGen({getattr(self.fn, '__name__', self.fn)!r})"


class Seq(Gen):
    """Generators one after another: ``head`` now, then ``rest[i:]``.

    Only the current head sees updates (as in Jepsen).  Successors share
    ``rest``, so a long list costs O(1) per op.
    """

    __slots__ = ("head", "rest", "i", "needs_update")

    def __init__(
        self, head: Generator, rest: tuple[Generator, ...], i: int, nu: bool = True
    ) -> None:
        self.head = head
        self.rest = rest
        self.i = i
        # Conservative: true if any element (not only those left) wants updates.
        self.needs_update = nu

    def op(self, test: Any, ctx: Context) -> OpResult:
        head, rest, i = self.head, self.rest, self.i
        n = len(rest)
        while True:
            r = head.op(test, ctx)
            if r is not None:
                o, nxt = r
                if nxt is head and head is self.head:
                    return (o, self)
                if o is PENDING:
                    return (PENDING, Seq(head, rest, i, self.needs_update))
                return (o, Seq(nxt, rest, i, self.needs_update))
            if i >= n:
                return None
            head = rest[i]
            i += 1

    def update(self, test: Any, ctx: Context, event: Event) -> Generator:
        if not self.needs_update:
            return self
        h = self.head.update(test, ctx, event)
        return self if h is self.head else Seq(h, self.rest, self.i, True)

    def __repr__(self) -> str:
        return f"Seq({self.head!r}, +{len(self.rest) - self.i})"


def lift(x: Any) -> Generator:
    """Make a generator of plain data.

    None → exhausted; dict → that op once; list/tuple → each element in order;
    a Generator → itself; a callable ``fn(test, ctx)`` → called per op.
    """
    if isinstance(x, Gen):
        return x
    if x is None:
        return EMPTY
    if isinstance(x, dict):
        return OnceOp(x)
    if isinstance(x, (list, tuple)):
        gens = tuple(lift(e) for e in x)
        if not gens:
            return EMPTY
        return Seq(gens[0], gens, 1, builtins.any(needs_update(g) for g in gens))
    if isinstance(x, Generator):
        return x
    if callable(x):
        return FnGen(x)
    raise GeneratorError(f"cannot use {type(x).__name__} {x!r:.80} as a generator")


def op(gen: Any, test: Any, ctx: Context) -> OpResult:
    """Ask ``gen`` (lifted first) for its next op."""
    return lift(gen).op(test, ctx)


def update(gen: Any, test: Any, ctx: Context, event: Event) -> Generator:
    """Tell ``gen`` (lifted first) about an event."""
    return lift(gen).update(test, ctx, event)
