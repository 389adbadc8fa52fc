"""The interpreter on simulated time: the runner's generator, clients and nemesis, one process.

It follows the same recipe as :class:`harness.interpreter.Interpreter` (and
:func:`harness.generator.simulate`): ask the generator, wait (here: run the
world's events) until the op is due or a completion arrives, invoke, record
the invocation before the op is "sent", retire a process after ``info``, feed
every event back to the generator. Time is the world's clock, so a run is a
pure function of the seed and the options.

Client ops run as the adapter's sim clients: ``async`` objects whose only
awaits are on :class:`SimIO` actions. The interpreter drives each op's
coroutine by hand (``send``), turning each awaited action into world events;
an op that is not done after ``op_timeout_s`` is abandoned as ``info
timeout``, as the real interpreter's ``asyncio.timeout`` does.

Nemesis ops run synchronously inside the world (they take no simulated time)
and complete as ``info``. A node whose core raises is recorded as a nemesis
``crash`` pair, held back while a nemesis op is open, as the runner does.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Generator, Mapping
from typing import Any

from harness import generator as g
from harness.history import INFO, NEMESIS, Op
from harness.opbook import OpBook
from harness.sim.adapter import CallResult
from harness.sim.world import World

__all__ = ["SimInterpreter", "SimStuck"]

log = logging.getLogger("faultbox.sim")
_NS = 1_000_000_000


class SimStuck(RuntimeError):
    """The generator waits for something while nothing can happen (a generator bug)."""


class _Action:
    """An awaitable that hands one action tuple to whoever drives the coroutine."""

    __slots__ = ("action",)

    def __init__(self, action: tuple[Any, ...]) -> None:
        self.action = action

    def __await__(self) -> Generator[tuple[Any, ...], Any, Any]:
        return (yield self.action)


class _IO:
    """What a sim client sees: the world's clock and network (adapter.SimIO)."""

    __slots__ = ("world",)

    def __init__(self, world: World) -> None:
        self.world = world

    def now(self) -> float:
        return self.world.now_ns / _NS

    def call(self, node: str, msg: dict[str, Any], timeout_s: float) -> _Action:
        return _Action(("call", node, msg, timeout_s))

    def sleep(self, seconds: float) -> _Action:
        return _Action(("sleep", seconds))


class _OpRun:
    """One client op in flight: its coroutine and whether it already finished."""

    __slots__ = ("thread", "inv", "coro", "done", "step")

    def __init__(self, thread: int, inv: Op, coro: Any) -> None:
        self.thread = thread
        self.inv = inv
        self.coro = coro
        self.done = False
        self.step = 0  # bumped on every resume: stale timers and replies are ignored


class SimInterpreter(OpBook):
    stuck = SimStuck
    def __init__(
        self,
        test: Mapping[str, Any],
        world: World,
        concurrency: int,
        open_client: Callable[[int, Any, str], Any],
        sink: Callable[[Op], None],
        nemesis: Any = None,
        op_timeout_s: float = 3.0,
        seed: int = 0,
        node_of: Callable[[int], str | None] | None = None,
    ) -> None:
        super().__init__(test, concurrency, seed, node_of)
        self.world = world
        self.open_client = open_client  # (thread, io, client_id) -> client
        self.sink = sink
        self.nemesis = nemesis
        self.op_timeout_ns = int(op_timeout_s * _NS)
        self.io = _IO(world)
        self._opened = 0
        world.on_crash = self.record_crash

    # -- recording -------------------------------------------------------------------
    def now_ns(self) -> int:
        return self.world.now_ns

    def _emit(self, op: Op) -> None:
        self.sink(op)

    # -- the loop --------------------------------------------------------------------
    def run(self, gen: Any) -> None:
        """Run ``gen`` until it is exhausted and every op it started is done."""
        test = self.test
        gen = g.lift(gen)
        while True:
            gen = self._complete_done(gen)
            now = self.world.now_ns
            self.ctx = self.ctx.with_time(now)
            res = gen.op(test, self.ctx)
            if res is None:
                if not self._inflight:
                    return
                self._wait(None)
                continue
            o, gen_next = res
            if not isinstance(o, dict):  # PENDING
                if not self._inflight:
                    raise SimStuck(f"generator is pending with nothing in flight: {gen!r:.200}")
                self._wait(None)
                continue
            at = int(o.get("time_ns", now))
            if at > now and self._wait(at):
                continue  # a completion came first: ask the old generator again
            gen = self._invoke(gen_next, o)

    def _wait(self, until_ns: int | None) -> bool:
        """Run world events until a completion is queued (True) or ``until_ns`` is reached."""
        world = self.world
        while not self._done:
            t = world.next_time()
            if t is None or (until_ns is not None and t > until_ns):
                if until_ns is None:
                    raise SimStuck("waiting for a completion, but nothing is scheduled")
                world.now_ns = max(world.now_ns, until_ns)
                return False
            world.step()
        return True

    def _start_meta(self, thread: Any, event: dict[str, Any], delay_s: float) -> None:
        delay_ns = int(round(delay_s * _NS))
        if delay_ns > 0:
            self.world.at(self.world.now_ns + delay_ns, self._finish, thread, event)
        else:
            self._finish(thread, event)

    def _start_op(self, thread: Any, inv: Op) -> None:
        if inv.process == NEMESIS:
            self._nemesis_op(thread, inv)
        else:
            self._client_op(int(thread), inv)

    def _retired(self, thread: int) -> None:
        self.clients.pop(thread, None)

    def _finish(self, thread: Any, completion: dict[str, Any]) -> None:
        self._done.append((thread, completion))

    # -- nemesis -----------------------------------------------------------------------
    def _nemesis_op(self, thread: Any, inv: Op) -> None:
        _NemesisRun(self, thread, inv).start()

    # -- clients -------------------------------------------------------------------------
    def _client_op(self, thread: int, inv: Op) -> None:
        client = self.clients.get(thread)
        if client is None:
            self._opened += 1
            client = self.clients[thread] = self.open_client(thread, self.io, f"c{self._opened}")
        run = _OpRun(thread, inv, client.invoke(inv.f, inv.value))
        self.world.at(self.world.now_ns + self.op_timeout_ns, self._op_timeout, run)
        self._resume(run, run.step, None)

    def _op_timeout(self, run: _OpRun) -> None:
        if not run.done:
            run.coro.close()
            self._end(run, INFO, run.inv.value, "timeout")

    def _end(self, run: _OpRun, kind: str, value: Any, error: Any) -> None:
        run.done = True
        inv = run.inv
        self._finish(run.thread, {"process": inv.process, "type": kind, "f": inv.f,
                                  "value": value, "node": inv.node, "error": error})

    def _resume(self, run: _OpRun, step: int, value: Any) -> None:
        if run.done or step != run.step:
            return
        run.step += 1
        try:
            action = run.coro.send(value)
        except StopIteration as stop:
            kind, v, error = stop.value
            self._end(run, kind, v, error)
            return
        except Exception as e:  # noqa: BLE001 - a client bug is an indeterminate op
            self._end(run, INFO, run.inv.value, f"{type(e).__name__}: {e}")
            return
        world = self.world
        step = run.step
        if action[0] == "sleep":
            world.at(world.now_ns + max(0, int(action[1] * _NS)), self._resume, run, step, None)
            return
        _, node, msg, timeout_s = action

        def answer(result: CallResult) -> None:
            world.cancel(token)
            self._resume(run, step, result)

        token = world.call(node, msg, answer)
        world.at(world.now_ns + max(1, int(timeout_s * _NS)), answer, ("lost", "timeout"))


class _NemesisRun:
    """One nemesis op, run in its own OS thread in strict alternation with the interpreter.

    Most nemesis ops return at once. One that waits (figure8 steering phase by
    phase) calls ``world.nemesis_sleep``: its thread parks, a world event is
    set for the wake-up time, and the interpreter goes on — clients keep
    invoking ops meanwhile, as with the real interpreter's worker thread.
    Exactly one of the two threads runs at any moment (two semaphores hand
    control back and forth), so the run stays deterministic.
    """

    def __init__(self, interp: SimInterpreter, thread: Any, inv: Op) -> None:
        self.interp = interp
        self.world = interp.world
        self.thread = thread
        self.inv = inv
        self.go = threading.Semaphore(0)
        self.back = threading.Semaphore(0)
        self.outcome: tuple[Any, Any] | None = None
        self.mark = len(self.world.fault_log)
        self.start_ns = self.world.now_ns

    def start(self) -> None:
        threading.Thread(target=self._body, name="sim-nemesis", daemon=True).start()
        self._run()

    def _body(self) -> None:
        self.go.acquire()
        error = None
        nemesis = self.interp.nemesis
        try:
            if nemesis is None:
                raise RuntimeError("a nemesis op was generated but the test has no nemesis")
            value = nemesis.invoke(self.inv.f, self.inv.value)
        except Exception as e:  # noqa: BLE001 - recorded, the run goes on
            value, error = self.inv.value, f"{type(e).__name__}: {e}"
        self.outcome = (value, error)
        self.back.release()

    def _sleep(self, seconds: float) -> None:  # in the nemesis thread
        self.world.at(self.world.now_ns + max(1, int(seconds * _NS)), self._run)
        self.back.release()
        self.go.acquire()

    def _run(self) -> None:  # in the interpreter's thread: let the nemesis run until it parks
        self.world.sleeper = self._sleep
        self.go.release()
        self.back.acquire()
        self.world.sleeper = None
        if self.outcome is None:
            return
        value, error = self.outcome
        end = self.world.now_ns
        log = self.world.fault_log
        if end > self.start_ns:  # the op let time pass (figure8): a replay holds as long
            for i in range(self.mark, len(log)):
                log[i] = (*log[i][:3], end)
        self.interp._finish(self.thread, {"process": NEMESIS, "type": INFO, "f": self.inv.f,
                                          "value": value, "error": error})
