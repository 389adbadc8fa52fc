"""What the real interpreter and the simulation's share: the op book-keeping around a generator.

Both drive a pure generator (``harness.generator``) the same way; they differ
only in how time passes and how an op is carried out (asyncio tasks against
real nodes, or events of the simulated world). :class:`OpBook` holds the
common part, so a rule about the history (indices, the generator context,
retiring a process after an ``info``, crash pairs held back while a nemesis
op is open) is written once:

* ``_record`` numbers an op, tracks whether a nemesis invocation is open, and
  hands the op to ``_emit``;
* ``_invoke`` turns a generator op into a recorded invocation (or a meta event:
  ``sleep``/``log``) and starts it through ``_start_meta`` / ``_start_op``;
* ``_complete`` records a completion, updates the generator and retires the
  process of an indeterminate client op (its op may still take effect);
* ``record_crash`` / ``_flush_crashes`` write a node that died on its own as an
  invoke/info pair of the nemesis process, never inside an open nemesis op.

Subclasses give ``now_ns``, ``_emit``, ``_start_meta``, ``_start_op`` and
``_retired``.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable, Mapping
from typing import Any

from harness import generator as g
from harness.history import INFO, INVOKE, NEMESIS, Op

__all__ = ["OpBook", "CRASH"]

log = logging.getLogger("faultbox.interpreter")

CRASH = "crash"  # f of the nemesis op pair recording a node that died on its own


class OpBook:
    stuck: type[Exception] = RuntimeError  # raised for an op no thread can run

    def __init__(
        self,
        test: Mapping[str, Any],
        concurrency: int,
        seed: int,
        node_of: Callable[[int], str | None] | None,
    ) -> None:
        self.test = test
        self.concurrency = concurrency
        self.node_of = node_of or (lambda thread: None)
        self.index = 0
        self.ctx = g.Context.initial(concurrency, seed)
        self.clients: dict[int, Any] = {}
        self._done: collections.deque[tuple[Any, dict[str, Any]]] = collections.deque()
        self._inflight = 0  # ops started whose completion the loop has not yet processed
        self._nemesis_open = False  # a nemesis invocation is recorded, its completion not yet
        self._crashes: collections.deque[dict[str, Any]] = collections.deque()

    # -- what a subclass gives ---------------------------------------------------------
    def now_ns(self) -> int:
        raise NotImplementedError

    def _emit(self, op: Op) -> None:
        raise NotImplementedError

    def _start_meta(self, thread: Any, event: dict[str, Any], delay_s: float) -> None:
        """Queue ``event``'s completion after ``delay_s`` (``sleep``) or at once."""
        raise NotImplementedError

    def _start_op(self, thread: Any, inv: Op) -> None:
        """Carry out a recorded invocation (nemesis or client); its completion comes to ``_done``."""
        raise NotImplementedError

    def _retired(self, thread: int) -> None:
        """The client of a retired process is no longer used (close it)."""
        raise NotImplementedError

    # -- recording -----------------------------------------------------------------------
    def _record(self, **fields: Any) -> Op:
        op = Op(index=self.index, **fields)
        self.index += 1
        if op.process == NEMESIS:
            self._nemesis_open = op.type == INVOKE
        self._emit(op)
        return op

    def record_crash(self, crash: Mapping[str, Any]) -> None:
        """Record a node that died on its own: now, or right after the open nemesis op completes."""
        self._crashes.append(
            {"node": crash.get("node"), "exit_code": crash.get("exit_code"),
             "log": list(crash.get("log") or ())}
        )
        self._flush_crashes()

    def _flush_crashes(self, force: bool = False) -> None:
        if self._nemesis_open and not force:
            return
        while self._crashes:
            c = self._crashes.popleft()
            self._record(time_ns=self.now_ns(), process=NEMESIS, type=INVOKE, f=CRASH,
                         value=c["node"])
            self._record(time_ns=self.now_ns(), process=NEMESIS, type=INFO, f=CRASH, value=c)

    # -- ops -------------------------------------------------------------------------------
    def _invoke(self, gen: g.Generator, o: dict[str, Any]) -> g.Generator:
        process = o["process"]
        thread = self.ctx.process_to_thread(process)
        if thread is None:
            raise self.stuck(f"generator emitted an op for process {process!r}, which no thread runs")
        kind = o.get("type", INVOKE)
        now = self.now_ns()
        self._inflight += 1
        if kind in g.META_TYPES:
            event = dict(o, time_ns=now)
            if kind == "log":
                log.info("%s", o.get("value"))
            self.ctx = self.ctx.with_time(now).busy_thread(thread)
            gen = gen.update(self.test, self.ctx, event)
            self._start_meta(thread, event, float(o.get("value") or 0) if kind == "sleep" else 0.0)
            return gen
        node = self.node_of(thread) if isinstance(thread, int) else None
        inv = self._record(
            time_ns=now, process=process, type=INVOKE, f=o["f"], value=o.get("value"), node=node
        )
        self.ctx = self.ctx.with_time(now).busy_thread(thread)
        gen = gen.update(self.test, self.ctx, inv)
        self._start_op(thread, inv)
        return gen

    def _complete(self, gen: g.Generator, thread: Any, c: dict[str, Any]) -> g.Generator:
        now = self.now_ns()
        if c["type"] in g.META_TYPES:
            self.ctx = self.ctx.with_time(now).free_thread(thread)
            return gen.update(self.test, self.ctx, dict(c, time_ns=now))
        op = self._record(time_ns=now, **c)
        self._flush_crashes()
        self.ctx = self.ctx.with_time(now).free_thread(thread)
        gen = gen.update(self.test, self.ctx, op)
        if op.type == INFO and isinstance(op.process, int):
            # Retire the process: its op may still take effect at any time.
            self.ctx = self.ctx.retire(thread)
            self._retired(thread)
        return gen

    def _complete_done(self, gen: g.Generator) -> g.Generator:
        """Process every queued completion."""
        while self._done:
            self._inflight -= 1
            gen = self._complete(gen, *self._done.popleft())
        return gen
