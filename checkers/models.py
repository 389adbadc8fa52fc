"""Sequential models for the linearizability checker (DESIGN §3, issue 3).

A model turns each history operation into a small *compiled op* (a tuple) and
gives a pure ``step(state, op) -> state | INCONSISTENT`` over hashable states
(ints, strings, tuples, frozensets).  The search calls ``step`` millions of
times, so compiled ops are plain tuples whose first item is a one-letter code.

``compile_op(f, value, definite)`` returns the compiled op, or ``None`` when
the op constrains nothing and changes nothing (a read whose value is unknown,
an indeterminate read) and can be dropped before the search.

Nil reads.  Knossos treats a read that returned nil as a read of an unknown
value.  Here a read of ``None`` matches any state when the model's initial
value is not ``None`` (``None`` can then never be a stored value, so it means
"unknown"); when the initial value *is* ``None`` (an etcd key that was never
written, a missing kv key), ``None`` is a real value and a read of it must
match the state exactly, as in Porcupine's etcd model.  A cache register's
read of ``None`` is a miss and matches any state.
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Callable, Hashable, Mapping
from typing import Any, Protocol

__all__ = [
    "ANY_VALUE",
    "Exact",
    "NOTHING",
    "UNSEEN",
    "INCONSISTENT",
    "MODELS",
    "Model",
    "ModelError",
    "Partitioned",
    "freeze",
    "make_model",
]


class _Inconsistent:
    """The result of a step that the model forbids."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "INCONSISTENT"

    def __reduce__(self) -> str:
        return "INCONSISTENT"


INCONSISTENT = _Inconsistent()


class _AnyValue:
    """``produces`` of an op that could store any value (an append)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ANY_VALUE"

    def __reduce__(self) -> str:
        return "ANY_VALUE"


ANY_VALUE = _AnyValue()
NOTHING: Any = ("?nothing?",)  # ``effect`` of an op that places no value


class _Unseen:
    """The value of a definite write that no op ever observes (see prepare._drop_unseen)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<a value nothing reads>"

    def __reduce__(self) -> str:
        return "UNSEEN"


UNSEEN = _Unseen()

COp = tuple[Any, ...]


class ModelError(ValueError):
    """An operation the model does not understand (unknown f or bad value)."""


_SCALARS = frozenset({int, str, bytes})


class Exact:
    """A bool or float as a model value: equal only to the same value of the same type.

    Python has ``True == 1 == 1.0``, but a write of ``true`` and a read of ``1``
    (or ``1.0``) are different values to the system under test.  :func:`freeze`
    wraps bools and floats in this, so the models' ``==`` (and sets, and the
    search's state cache) keep them apart, while ints and strings, the common
    values, stay plain and the search's comparisons as fast as they were.
    """

    __slots__ = ("v",)

    def __init__(self, v: bool | float) -> None:
        self.v = v

    def __eq__(self, other: object) -> bool:
        return type(other) is Exact and type(other.v) is type(self.v) and other.v == self.v

    def __hash__(self) -> int:
        return hash((type(self.v), self.v))

    def __repr__(self) -> str:
        return repr(self.v)

    __str__ = __repr__


def freeze(v: Any) -> Any:
    """A hashable copy of a JSON-ish value (lists become tuples, dicts sorted item tuples;
    bools and floats :class:`Exact`, so that ``true``, ``1`` and ``1.0`` stay apart)."""
    if v is None or type(v) in _SCALARS:
        return v
    if type(v) is bool or type(v) is float:
        return Exact(v)
    if isinstance(v, list | tuple):
        return tuple(freeze(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((str(k), freeze(x)) for k, x in v.items()))
    if isinstance(v, set | frozenset):
        return frozenset(freeze(x) for x in v)
    return v


class Model(Protocol):
    """A sequential specification.  ``step`` must be pure and total."""

    name: str

    def initial(self) -> Hashable: ...

    def compile_op(self, f: str, value: Any, definite: bool) -> COp | None: ...

    def step(self, state: Any, op: COp) -> Any: ...

    def read_only(self, op: COp) -> bool: ...

    def describe_op(self, op: COp) -> str: ...

    def describe_state(self, state: Any) -> str: ...


class Partitioned(Protocol):
    """A model whose history splits into independent parts (P-compositionality)."""

    name: str

    def split(self, f: str, value: Any) -> tuple[Hashable, Any]: ...

    def part_model(self, key: Hashable) -> Model: ...


def _pair(value: Any, what: str) -> tuple[Any, Any]:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ModelError(f"{what} expects a value [a, b], got {value!r}")
    return freeze(value[0]), freeze(value[1])


# -- registers ----------------------------------------------------------------

READS = frozenset({"read", "get", "r"})
WRITES = frozenset({"write", "put", "w"})


class Register:
    """A read/write/cas register (``register``, ``cas-register``); see the module doc for nil."""

    def __init__(self, init: Any = None, name: str = "cas-register", cas: bool = True) -> None:
        self.name = name
        self.init = freeze(init)
        self.cas = cas
        self.nil_is_unknown = self.init is not None
        self.append_ok = False

    def initial(self) -> Hashable:
        return self.init  # type: ignore[no-any-return]

    def compile_op(self, f: str, value: Any, definite: bool) -> COp | None:
        if f in READS:
            if not definite or (value is None and self.nil_is_unknown):
                return None
            return ("r", freeze(value))
        if f in WRITES:
            return ("w", freeze(value))
        if f == "cas" and self.cas:
            old, new = _pair(value, "cas")
            return ("c", old, new)
        if f == "append" and self.append_ok:
            return ("a", freeze(value))
        raise ModelError(f"{self.name}: unknown operation {f!r}")

    def step(self, state: Any, op: COp) -> Any:
        code = op[0]
        if code == "r":
            return state if state == op[1] else INCONSISTENT
        if code == "w":
            return op[1]
        if code == "c":
            return op[2] if state == op[1] else INCONSISTENT
        if code == "a":
            if state is None:
                return op[1]
            try:
                return state + op[1]
            except TypeError:
                return INCONSISTENT
        raise ModelError(f"bad op {op!r}")

    def read_only(self, op: COp) -> bool:
        return bool(op[0] == "r")

    def blind(self, op: COp) -> bool:
        """Does the op's effect ignore the state?  (A write: what came before is overwritten.)"""
        return bool(op[0] == "w")

    def needs(self, op: COp) -> Any:
        """The state an op needs to take effect (ANY_VALUE: any will do); for lookahead."""
        if op[0] in ("r", "c"):
            return op[1]
        return ANY_VALUE

    def effect(self, op: COp) -> Any:
        """The value an op places (NOTHING for reads); see prepare._drop_unseen."""
        v = self.produces(op)
        return NOTHING if v is None or v is ANY_VALUE else v

    def observes(self, op: COp) -> tuple[Any, ...]:
        """Values an op reveals or depends on: a read's, a cas's old value."""
        if op[0] in ("r", "c"):
            return (op[1],)
        return ()

    def anonymize(self, op: COp) -> COp:
        """The op storing UNSEEN instead of a value nothing observes."""
        if op[0] == "w":
            return ("w", UNSEEN)
        if op[0] == "c":
            return ("c", op[1], UNSEEN)
        return op

    def produces(self, op: COp) -> Any:
        """The value an op may store: a write's, a cas's new one; ANY_VALUE for appends."""
        code = op[0]
        if code == "w":
            return op[1]
        if code == "c":
            return op[2]
        if code == "a":
            return ANY_VALUE
        return None

    def describe_op(self, op: COp) -> str:
        code = op[0]
        if code == "r":
            return f"read returning {op[1]!r}"
        if code == "w":
            return f"write of {op[1]!r}"
        if code == "c":
            return f"cas from {op[1]!r} to {op[2]!r}"
        return f"append of {op[1]!r}"

    def describe_state(self, state: Any) -> str:
        return f"the value {state!r}"


class CacheRegister(Register):
    """A register whose reads may miss (return nil) at any time."""

    def __init__(self, init: Any = None) -> None:
        super().__init__(init, name="cache-register")
        self.nil_is_unknown = True


class KV:
    """Independent keys, each a register with read/write/cas/get/put/append (partitioned).

    ``value`` is ``[key, v]`` (cas: ``[key, [old, new]]``).  ``init`` is either a
    mapping key -> initial value or one initial value shared by every key
    (Porcupine's kv logs: ``""``, a missing key reads as the empty string).
    """

    name = "kv"

    def __init__(self, init: Any = None) -> None:
        self.init = init

    def split(self, f: str, value: Any) -> tuple[Hashable, Any]:
        if not isinstance(value, list | tuple) or len(value) != 2:
            raise ModelError(f"kv expects a value [key, v], got {value!r}")
        return freeze(value[0]), value[1]

    def part_model(self, key: Hashable) -> Model:
        if isinstance(self.init, Mapping):
            init = self.init.get(key, self.init.get(str(key)))
        else:
            init = self.init
        return AppendRegister(init)


class AppendRegister(Register):
    """A kv key: a register that also appends, so between resets its value only grows."""

    def __init__(self, init: Any = None) -> None:
        super().__init__(init, name="kv")
        self.append_ok = True

    def resets(self, op: COp) -> bool:
        return op[0] in ("w", "c")

    effect = None  # type: ignore[assignment]  # appends build on unseen values: never drop

    def monotone(self, state: Any, read: COp) -> bool:
        """Can a value that only grows by appends go from ``state`` to what ``read`` saw?"""
        want = read[1]
        if state is None or state == want:
            return True
        try:
            return bool(want[: len(state)] == state)
        except TypeError:
            return True


# -- multi-register -------------------------------------------------------------


class MultiRegister:
    """Registers updated by atomic transactions of ``[read k v]`` / ``[write k v]`` micro-ops."""

    name = "multi-register"

    def __init__(self, init: Any = None) -> None:
        items = dict(init) if isinstance(init, Mapping) else {}
        self.keys: dict[Any, int] = {}
        self.init_values: list[Any] = []
        for k in sorted(items, key=repr):
            self.keys[freeze(k)] = len(self.init_values)
            self.init_values.append(freeze(items[k]))

    def initial(self) -> Hashable:
        return tuple(self.init_values)

    def _slot(self, k: Any) -> int:
        k = freeze(k)
        if k not in self.keys:
            self.keys[k] = len(self.init_values)
            self.init_values.append(None)
        return self.keys[k]

    def compile_op(self, f: str, value: Any, definite: bool) -> COp | None:
        if f not in ("txn", "read", "write") or not isinstance(value, list | tuple):
            raise ModelError(f"multi-register: unknown operation {f!r} {value!r}")
        micro: list[tuple[str, int, Any]] = []
        for m in value:
            if not isinstance(m, list | tuple) or len(m) != 3:
                raise ModelError(f"multi-register: bad micro-op {m!r}")
            kind, k, v = str(m[0]), self._slot(m[1]), freeze(m[2])
            if kind in READS:
                if definite and v is not None:
                    micro.append(("r", k, v))
            elif kind in WRITES:
                micro.append(("w", k, v))
            else:
                raise ModelError(f"multi-register: bad micro-op {m!r}")
        if not micro:
            return None
        return ("t", tuple(micro), tuple((str(m[0]), m[1], m[2]) for m in value))

    def step(self, state: Any, op: COp) -> Any:
        cur: list[Any] | None = None
        for kind, k, v in op[1]:
            if kind == "r":
                have = cur[k] if cur is not None else (state[k] if k < len(state) else None)
                if have != v:
                    return INCONSISTENT
            else:
                if cur is None:
                    cur = list(state) + [None] * (len(self.init_values) - len(state))
                cur[k] = v
        return state if cur is None else tuple(cur)

    def read_only(self, op: COp) -> bool:
        return all(m[0] == "r" for m in op[1])

    def describe_op(self, op: COp) -> str:
        return "transaction " + " ".join(f"[{a} {b!r} {c!r}]" for a, b, c in op[2])

    def describe_state(self, state: Any) -> str:
        names = sorted(self.keys, key=self.keys.__getitem__)
        vals = ", ".join(f"{k}={state[i]!r}" for i, k in enumerate(names) if i < len(state))
        return "{" + vals + "}"


# -- mutex, queues, set, counter -------------------------------------------------------


class Mutex:
    """A lock: acquire when free, release when held."""

    name = "mutex"

    def __init__(self, init: Any = None) -> None:
        self.init = bool(init)

    def initial(self) -> Hashable:
        return self.init

    def compile_op(self, f: str, value: Any, definite: bool) -> COp | None:
        if f == "acquire":
            return ("a",)
        if f == "release":
            return ("r",)
        raise ModelError(f"mutex: unknown operation {f!r}")

    def step(self, state: Any, op: COp) -> Any:
        if op[0] == "a":
            return INCONSISTENT if state else True
        return False if state else INCONSISTENT

    def read_only(self, op: COp) -> bool:
        return False

    def describe_op(self, op: COp) -> str:
        return "acquire" if op[0] == "a" else "release"

    def describe_state(self, state: Any) -> str:
        return "held" if state else "free"


_UNKNOWN_VALUE = ("?unknown?",)


class FifoQueue:
    """A FIFO queue: enqueue v; dequeue returns the head (nil: the queue was empty)."""

    name = "fifo-queue"

    def __init__(self, init: Any = None) -> None:
        self.init = tuple(freeze(x) for x in (init or ()))

    def initial(self) -> Hashable:
        return self.init

    def compile_op(self, f: str, value: Any, definite: bool) -> COp | None:
        if f == "enqueue":
            return ("e", freeze(value))
        if f == "dequeue":
            return ("d", freeze(value) if definite else _UNKNOWN_VALUE)
        raise ModelError(f"{self.name}: unknown operation {f!r}")

    def step(self, state: Any, op: COp) -> Any:
        if op[0] == "e":
            return state + (op[1],)
        v = op[1]
        if v is _UNKNOWN_VALUE:
            return state[1:]
        if v is None:
            return state if not state else INCONSISTENT
        return state[1:] if state and state[0] == v else INCONSISTENT

    def read_only(self, op: COp) -> bool:
        return False

    def effect(self, op: COp) -> Any:
        return op[1] if op[0] == "e" else NOTHING

    def observes(self, op: COp) -> tuple[Any, ...]:
        if op[0] == "d" and op[1] is not _UNKNOWN_VALUE and op[1] is not None:
            return (op[1],)
        return ()

    def anonymize(self, op: COp) -> COp:
        return ("e", UNSEEN) if op[0] == "e" else op

    def describe_op(self, op: COp) -> str:
        if op[0] == "e":
            return f"enqueue of {op[1]!r}"
        return "dequeue" if op[1] is _UNKNOWN_VALUE else f"dequeue returning {op[1]!r}"

    def describe_state(self, state: Any) -> str:
        return f"the queue {list(state)!r}"


class UnorderedQueue(FifoQueue):
    """A queue that may deliver its elements in any order (a multiset).

    A dequeue whose outcome is unknown removed *some* element, so the state is
    the set of multisets the queue may hold (each a tuple sorted by repr):
    usually one, more after indeterminate dequeues.  A step maps every
    possibility and keeps the consistent ones.
    """

    name = "unordered-queue"

    def __init__(self, init: Any = None) -> None:
        super().__init__(init)
        self.init = frozenset({tuple(sorted(self.init, key=repr))})  # type: ignore[assignment]

    def step(self, state: Any, op: COp) -> Any:
        out = set()
        for m in state:
            out.update(self._one(m, op))
        return frozenset(out) if out else INCONSISTENT

    @staticmethod
    def _one(m: tuple[Any, ...], op: COp) -> list[tuple[Any, ...]]:
        if op[0] == "e":
            s = list(m)
            insort(s, op[1], key=repr)
            return [tuple(s)]
        v = op[1]
        if v is _UNKNOWN_VALUE:  # removed any one element (or found the queue empty)
            return [m[:k] + m[k + 1 :] for k in range(len(m)) if k == 0 or m[k] != m[k - 1]] or [m]
        if v is None:
            return [m] if not m else []
        if v not in m:
            return []
        k = m.index(v)
        return [m[:k] + m[k + 1 :]]

    def describe_state(self, state: Any) -> str:
        if len(state) == 1:
            return f"the queue holding {sorted(next(iter(state)), key=repr)!r}"
        return f"the queue holding one of {sorted((list(m) for m in state), key=repr)!r}"


class SetModel:
    """A grow-only set: add v; read returns the whole set."""

    name = "set"

    def __init__(self, init: Any = None) -> None:
        self.init = frozenset(freeze(x) for x in (init or ()))

    def initial(self) -> Hashable:
        return self.init

    def compile_op(self, f: str, value: Any, definite: bool) -> COp | None:
        if f == "add":
            return ("a", freeze(value))
        if f == "read":
            if not definite or value is None:
                return None
            return ("r", frozenset(freeze(x) for x in value))
        raise ModelError(f"set: unknown operation {f!r}")

    def step(self, state: Any, op: COp) -> Any:
        if op[0] == "a":
            return state | {op[1]}
        return state if state == op[1] else INCONSISTENT

    def read_only(self, op: COp) -> bool:
        return bool(op[0] == "r")

    def resets(self, op: COp) -> bool:
        return False

    def effect(self, op: COp) -> Any:
        return op[1] if op[0] == "a" else NOTHING

    def observes(self, op: COp) -> tuple[Any, ...]:
        return tuple(op[1]) if op[0] == "r" else ()

    def monotone(self, state: Any, read: COp) -> bool:
        """A grow-only set: every later read includes the current set."""
        return bool(state <= read[1])

    def describe_op(self, op: COp) -> str:
        if op[0] == "a":
            return f"add of {op[1]!r}"
        return f"read of {sorted(op[1], key=repr)!r}"

    def describe_state(self, state: Any) -> str:
        return f"the set {sorted(state, key=repr)!r}"


class Counter:
    """A grow-only counter: add n (n >= 0); read returns the total."""

    name = "counter"

    def __init__(self, init: Any = None) -> None:
        self.init = int(init or 0)

    def initial(self) -> Hashable:
        return self.init

    def compile_op(self, f: str, value: Any, definite: bool) -> COp | None:
        if f in ("add", "incr", "increment"):
            n = 1 if value is None else value
            if type(n) is not int or n < 0:  # (not a bool)
                raise ModelError(f"counter: add expects a non-negative int, got {value!r}")
            return ("a", n)
        if f == "read":
            if not definite or value is None:
                return None
            return ("r", freeze(value))  # a read of true is not a count of 1
        raise ModelError(f"counter: unknown operation {f!r}")

    def step(self, state: Any, op: COp) -> Any:
        if op[0] == "a":
            return state + op[1]
        return state if state == op[1] else INCONSISTENT

    def read_only(self, op: COp) -> bool:
        return bool(op[0] == "r")

    def resets(self, op: COp) -> bool:
        return False

    def monotone(self, state: Any, read: COp) -> bool:
        """A grow-only counter: every later read is at least the current count."""
        try:
            return bool(state <= read[1])
        except TypeError:
            return True

    def describe_op(self, op: COp) -> str:
        return f"add of {op[1]!r}" if op[0] == "a" else f"read of {op[1]!r}"

    def describe_state(self, state: Any) -> str:
        return f"the count {state!r}"


AnyModel = Model | Partitioned

MODELS: dict[str, Callable[[Any], AnyModel]] = {
    "register": lambda init: Register(init, name="register", cas=False),
    "cas-register": lambda init: Register(init, name="cas-register"),
    "multi-register": MultiRegister,
    "kv": KV,
    "mutex": Mutex,
    "fifo-queue": FifoQueue,
    "unordered-queue": UnorderedQueue,
    "set": SetModel,
    "counter": Counter,
    "cache-register": CacheRegister,
}


def make_model(name: str, init: Any = None) -> AnyModel:
    """The model called ``name`` with initial value ``init``; ModelError names the choices."""
    try:
        factory = MODELS[name]
    except KeyError:
        raise ModelError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}") from None
    return factory(init)
