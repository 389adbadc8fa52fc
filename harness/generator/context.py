"""The generator context: what a generator may know about the test right now.

A :class:`Context` is an immutable value.  The interpreter builds one per
question it asks a generator and derives new ones with :meth:`Context.with_time`,
:meth:`Context.busy_thread`, :meth:`Context.free_thread` and
:meth:`Context.retire`.  Thread-restricting combinators derive narrower views
with :meth:`Context.restrict`.

Threads are ints ``0..concurrency-1`` for clients and ``"nemesis"`` for the
nemesis.  Thread ``i`` starts as process ``i``; after an ``info`` completion the
interpreter retires the process and the thread continues as ``p + concurrency``,
so a client process always maps back to thread ``p % concurrency``.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from harness.history import NEMESIS

__all__ = ["Context", "Thread", "Process", "NEMESIS"]

Thread = int | str
Process = int | str

_NEMESIS_ONLY: frozenset[Thread] = frozenset({NEMESIS})


_FIRST_THREADS: tuple[Thread, ...] = (0, 1, 2, 3)


def _thread_key(t: Thread) -> tuple[int, int, str]:
    """Sort order of threads: client ints ascending, then named threads (nemesis)."""
    if type(t) is int:
        return (0, t, "")
    return (1, 0, str(t))


def _lowest(threads: frozenset[Thread]) -> Thread:
    """The lowest-numbered client thread of a non-empty set; named threads last."""
    ints = threads - _NEMESIS_ONLY if NEMESIS in threads else threads
    if ints:
        try:
            return min(ints)
        except TypeError:  # other named threads besides the nemesis
            return min(ints, key=_thread_key)
    return NEMESIS


class _RestrictedWorkers(Mapping[Thread, Process]):
    """A read-only view of a workers mapping limited to some threads (O(1) to build)."""

    __slots__ = ("_base", "_threads")

    def __init__(self, base: Mapping[Thread, Process], threads: frozenset[Thread]) -> None:
        self._base = base
        self._threads = threads

    def __getitem__(self, t: Thread) -> Process:
        if t in self._threads:
            return self._base[t]
        raise KeyError(t)

    def __contains__(self, t: object) -> bool:
        return t in self._threads

    def __iter__(self) -> Iterator[Thread]:
        return iter(sorted(self._threads, key=_thread_key))

    def __len__(self) -> int:
        return len(self._threads)


@dataclass(frozen=True, slots=True)
class Context:
    """Now, the free threads, and each thread's current process.

    ``rng`` is the seeded source of all randomness a generator may use; it is
    shared (not copied) by derived contexts.  ``all_threads`` defaults to the
    keys of ``workers``; ``concurrency`` (the number of client threads of the
    whole test, kept by restricted views) defaults to the number of int threads.
    """

    time_ns: int
    free_threads: frozenset[Thread]
    workers: Mapping[Thread, Process]
    rng: random.Random
    all_threads: frozenset[Thread] = frozenset()
    concurrency: int = -1

    def __post_init__(self) -> None:
        if not self.all_threads and self.workers:
            object.__setattr__(self, "all_threads", frozenset(self.workers))
        if self.concurrency < 0:
            n = sum(1 for t in self.all_threads if type(t) is int)
            object.__setattr__(self, "concurrency", n)

    # Construction ------------------------------------------------------
    @classmethod
    def initial(
        cls,
        concurrency: int,
        seed: int = 0,
        *,
        rng: random.Random | None = None,
        nemesis: bool = True,
        time_ns: int = 0,
    ) -> Context:
        """The context at the start of a test: every thread free, thread i is process i."""
        if concurrency < 0:
            raise ValueError(f"concurrency must be >= 0, got {concurrency}")
        workers: dict[Thread, Process] = {t: t for t in range(concurrency)}
        if nemesis:
            workers[NEMESIS] = NEMESIS
        threads = frozenset(workers)
        return _mk(time_ns, threads, workers, rng or random.Random(seed), threads, concurrency)

    # Queries -----------------------------------------------------------
    def free_processes(self) -> tuple[Process, ...]:
        """Processes of the free threads, in thread order (clients ascending, nemesis last)."""
        w = self.workers
        return tuple(w[t] for t in sorted(self.free_threads, key=_thread_key))

    def some_free_process(self) -> Process | None:
        """The process of a free client thread drawn with ``rng`` (nemesis only if alone), or None.

        Drawing at random (as Jepsen does) spreads ops over every thread, hence
        over every node the threads' clients talk to; the lowest free thread
        would take nearly every op when clients are fast and the rate is low.
        Deterministic under the seed in any process: the free int threads are sorted first.
        """
        free = self.free_threads
        if not free:
            return None
        ints = [t for t in free if type(t) is int]
        # Sorted: a frozenset's order of ints can depend on where a str member (the
        # nemesis) hashed, i.e. on PYTHONHASHSEED; the draw must not.
        ints.sort()
        if ints:
            t: Thread = ints[int(self.rng.random() * len(ints))] if len(ints) > 1 else ints[0]
        else:
            t = _lowest(free)
        w = self.workers
        if type(w) is _RestrictedWorkers:
            w = w._base  # t is free, hence one of ours: skip the view's check
        return w[t]

    def process_to_thread(self, process: Process) -> Thread | None:
        """The thread running ``process`` in this context, or None if it is not one of ours.

        A client process maps to ``process % concurrency`` even after it was
        retired, so events of a retired process still reach the right thread.
        """
        if type(process) is int and self.concurrency > 0:
            t: Thread = process % self.concurrency
            return t if t in self.all_threads else None
        if process in self.all_threads and self.workers.get(process) == process:
            return process
        for t, p in self.workers.items():
            if p == process:
                return t
        return None

    def next_process(self, thread: Thread) -> Process:
        """The process that replaces ``thread``'s current one after an ``info``."""
        p = self.workers[thread]
        if type(p) is int:
            return p + self.concurrency
        return p

    # Derivations ---------------------------------------------------------
    def with_time(self, time_ns: int) -> Context:
        return _mk(
            time_ns, self.free_threads, self.workers, self.rng, self.all_threads, self.concurrency
        )

    def busy_thread(self, thread: Thread) -> Context:
        return _mk(
            self.time_ns,
            self.free_threads - {thread},
            self.workers,
            self.rng,
            self.all_threads,
            self.concurrency,
        )

    def free_thread(self, thread: Thread) -> Context:
        return _mk(
            self.time_ns,
            self.free_threads | {thread},
            self.workers,
            self.rng,
            self.all_threads,
            self.concurrency,
        )

    def with_process(self, thread: Thread, process: Process) -> Context:
        """This context with ``thread`` now running ``process``."""
        workers = dict(self.workers)
        workers[thread] = process
        return _mk(
            self.time_ns, self.free_threads, workers, self.rng, self.all_threads, self.concurrency
        )

    def retire(self, thread: Thread) -> Context:
        """After an ``info`` on ``thread``: its process becomes ``p + concurrency``.

        Call it after the generator was updated with the ``info`` completion.
        The nemesis keeps its process.
        """
        nxt = self.next_process(thread)
        if nxt == self.workers[thread]:
            return self
        return self.with_process(thread, nxt)

    def restrict(self, threads: Iterable[Thread]) -> Context:
        """A view of this context limited to ``threads`` (for on_threads and friends)."""
        allowed = self.all_threads & frozenset(threads)
        return self._restricted(allowed, _RestrictedWorkers(self.workers, allowed))

    def _restricted(self, allowed: frozenset[Thread], workers: Mapping[Thread, Process]) -> Context:
        """restrict() with the thread set and the workers view precomputed (hot path)."""
        return _mk(
            self.time_ns, self.free_threads & allowed, workers, self.rng, allowed, self.concurrency
        )


_new = object.__new__
_slots: Mapping[str, Any] = vars(Context)
_set_time = _slots["time_ns"].__set__
_set_free = _slots["free_threads"].__set__
_set_workers = _slots["workers"].__set__
_set_rng = _slots["rng"].__set__
_set_all = _slots["all_threads"].__set__
_set_conc = _slots["concurrency"].__set__


def _mk(
    time_ns: int,
    free: frozenset[Thread],
    workers: Mapping[Thread, Process],
    rng: random.Random,
    all_threads: frozenset[Thread],
    concurrency: int,
) -> Context:
    """Build a Context without __init__/__post_init__ (the hot path; ~2x faster)."""
    c: Context = _new(Context)
    _set_time(c, time_ns)
    _set_free(c, free)
    _set_workers(c, workers)
    _set_rng(c, rng)
    _set_all(c, all_threads)
    _set_conc(c, concurrency)
    return c
