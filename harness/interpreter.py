"""The interpreter: runs a generator against clients and a nemesis, recording every op.

One asyncio loop owns the generator and the context (which threads are free,
which process each thread runs as). Each client op runs as its own task with
a per-op deadline; its completion is queued back to the loop, recorded, and
fed to the generator. The shape follows Jepsen's interpreter:

* an op whose completion is ``info`` retires its process: the thread goes on
  as process ``p + concurrency`` with a freshly opened client;
* the invocation is written to the history before the op is sent;
* no op is ever retried by the harness;
* ``stop()`` (Ctrl-C, SIGTERM) stops asking the generator for ops, waits up to
  one op timeout (capped by ``drain_s``) for outstanding ops, then abandons them: their invocations
  stay unpaired, which checkers read as indeterminate.

Nemesis ops run in a worker thread (backends block) and complete as ``info``,
as in Jepsen. ``sleep`` and ``log`` ops from the generator are not recorded.

Node crashes the runner detects (``record_crash``) are written as a nemesis
pair, invoke ``crash`` then ``info crash``. Pairing is positional per process,
so a crash is held back while a nemesis op is open and written right after its
completion; the generator is never told (it did not ask for the op).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from harness import generator as g
from harness.history import INFO, NEMESIS, HistoryWriter, Op
from harness.opbook import CRASH, OpBook
from systems.common.spec import SystemClient

__all__ = ["Interpreter", "NemesisLike", "ClientOpener", "CRASH"]

log = logging.getLogger("faultbox.interpreter")

ClientOpener = Callable[[int], SystemClient]  # thread -> a fresh client for it
_IDLE_POLL_S = 0.001


class NemesisLike(Protocol):
    def invoke(self, f: str, value: Any) -> Any: ...


class Interpreter(OpBook):
    def __init__(
        self,
        test: Mapping[str, Any],
        concurrency: int,
        open_client: ClientOpener,
        writer: HistoryWriter,
        nemesis: NemesisLike | None = None,
        op_timeout_s: float = 5.0,
        seed: int = 0,
        on_op: Callable[[Op], None] | None = None,
        node_of: Callable[[int], str | None] | None = None,
        drain_s: float = 5.0,
        nemesis_timeout_s: float = 120.0,
    ) -> None:
        super().__init__(test, concurrency, seed, node_of)
        self.open_client = open_client
        self.writer = writer
        self.nemesis = nemesis
        self.op_timeout_s = op_timeout_s
        self.drain_s = drain_s
        self.nemesis_timeout_s = nemesis_timeout_s
        self.on_op = on_op
        self.t0_ns = time.monotonic_ns()
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False

    # ------------------------------------------------------------------
    def now_ns(self) -> int:
        return time.monotonic_ns() - self.t0_ns

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    @property
    def stopping(self) -> bool:
        return self._stopping

    def _emit(self, op: Op) -> None:
        self.writer.write(op)
        if self.on_op is not None:
            self.on_op(op)

    # ------------------------------------------------------------------
    async def run(self, gen: Any) -> None:
        """Run ``gen`` until it is exhausted (or ``stop()``) and every op it started is done."""
        test = self.test
        gen = g.lift(gen)  # once: successors are generators already
        while True:
            gen = self._complete_done(gen)
            if self._stopping:
                await self._drain()
                return
            now = self.now_ns()
            self.ctx = self.ctx.with_time(now)
            res = gen.op(test, self.ctx)
            if res is None:
                if not self._inflight:
                    return
                await self._wait(None)
                continue
            o, gen_next = res
            if not isinstance(o, dict):  # PENDING: nothing to do until something completes
                await self._wait(None if self._inflight else _IDLE_POLL_S)
                continue
            at = int(o.get("time_ns", now))
            if at > now:
                # Sleep until the op is due, unless a completion arrives first:
                # then ask again (generators are pure, so asking twice is safe).
                if await self._wait((at - now) / 1e9):
                    continue
            gen = self._invoke(gen_next, o)

    def _start_meta(self, thread: Any, event: dict[str, Any], delay_s: float) -> None:
        self._spawn(self._sleep_op(thread, event, delay_s))

    def _start_op(self, thread: Any, inv: Op) -> None:
        if inv.process == NEMESIS:
            self._spawn(self._nemesis_op(thread, inv))
        else:
            self._spawn(self._client_op(int(thread), inv))

    def _retired(self, thread: int) -> None:
        old = self.clients.pop(thread, None)
        if old is not None:
            self._spawn(self._close(old))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _wait(self, timeout_s: float | None) -> bool:
        """Wait for a completion (True) or the timeout (False)."""
        if self._done or self._stopping:
            return True
        self._wake.clear()
        if timeout_s is None:
            await self._wake.wait()
            return True
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._wake.wait()
                return True
        return bool(self._done)

    def _finish(self, thread: Any, completion: dict[str, Any]) -> None:
        self._done.append((thread, completion))
        self._wake.set()

    # ------------------------------------------------------------------
    async def _client_op(self, thread: int, inv: Op) -> None:
        client = self.clients.get(thread)
        try:
            if client is None:
                client = self.clients[thread] = self.open_client(thread)
            async with asyncio.timeout(self.op_timeout_s):
                kind, value, error = await client.invoke(inv.f, inv.value)
        except TimeoutError:
            kind, value, error = INFO, inv.value, "timeout"
        except Exception as e:  # noqa: BLE001 - a client bug is an indeterminate op
            kind, value, error = INFO, inv.value, f"{type(e).__name__}: {e}"
        self._finish(
            thread,
            {"process": inv.process, "type": kind, "f": inv.f, "value": value,
             "node": inv.node, "error": error},
        )

    async def _nemesis_op(self, thread: Any, inv: Op) -> None:
        assert self.nemesis is not None, "a nemesis op was generated but the test has no nemesis"
        error = None
        try:
            async with asyncio.timeout(self.nemesis_timeout_s):
                value = await asyncio.to_thread(self.nemesis.invoke, inv.f, inv.value)
        except TimeoutError:
            value, error = inv.value, f"nemesis op took longer than {self.nemesis_timeout_s:g} s"
        except Exception as e:  # noqa: BLE001 - recorded, the run goes on
            value, error = inv.value, f"{type(e).__name__}: {e}"
        self._finish(
            thread,
            {"process": NEMESIS, "type": INFO, "f": inv.f, "value": value, "error": error},
        )

    async def _sleep_op(self, thread: Any, event: dict[str, Any], delay_s: float) -> None:
        if delay_s > 0:
            await asyncio.sleep(delay_s)
        self._finish(thread, dict(event))

    async def _close(self, client: SystemClient) -> None:
        with contextlib.suppress(Exception):
            await client.close()

    async def _drain(self) -> None:
        """Wait up to one op timeout (at most ``drain_s``) for outstanding ops, then abandon them."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=min(self.op_timeout_s + 0.5, self.drain_s))
        while self._done:
            thread, c = self._done.popleft()
            if c["type"] not in g.META_TYPES:
                self._record(time_ns=self.now_ns(), **c)
                self._flush_crashes()
        for t in list(self._tasks):
            t.cancel()

    # ------------------------------------------------------------------
    def flush_crashes(self) -> None:
        """After ``run``: write held-back crashes even if a nemesis op was abandoned.

        An abandoned invocation never gets a completion, so a pair written after
        it cannot be mistaken for one; it stays unpaired (indeterminate).
        """
        self._flush_crashes(force=True)

    async def close_clients(self) -> None:
        for c in list(self.clients.values()):
            await self._close(c)
        self.clients.clear()
