"""The generator DSL: pure, seeded generators of operations in the shape of jepsen.generator.

A generator is anything :func:`lift` accepts: ``None`` (exhausted), a dict
(one op, emitted once), a list/tuple (its elements in order), a callable
``fn(test, ctx) -> op dict | None`` (called per op until it returns None), or
a :class:`Generator` object with ``op(test, ctx)`` and
``update(test, ctx, event)``.  ``op`` returns None when exhausted,
``(PENDING, gen)`` when it has nothing to emit now, or ``(op, next_gen)``
where op carries ``f``, ``value``, ``type`` ("invoke" unless a special op),
``process`` (a free process of ctx) and ``time_ns`` (never before
``ctx.time_ns``; the interpreter waits until then).

Decisions (what the interpreter must honour; :func:`simulate` does):

* **sleep** is Jepsen's: ``sleep(dt_s)`` emits one op
  ``{"type": "sleep", "f": "sleep", "value": dt_s}`` on a free thread; the
  interpreter keeps that thread busy for ``dt_s`` seconds and then completes
  the op with type ``sleep`` (an update event, not a history op).  So
  ``nemesis(cycle([sleep(5), {"f": "start"}]))`` idles the nemesis only, and
  ``phases(..., sleep(5), ...)`` pauses everything (phases wait for all
  threads).  **log** ``{"type": "log", "f": "log", "value": msg}`` is written
  to the run log and completes at once.  Neither goes into the history.
* **An op the interpreter does not dispatch is dropped with its successor**:
  the interpreter re-asks the *old* generator (e.g. after a completion
  arrived while it waited for an op's time).  The successor that comes with
  PENDING may be kept or dropped; both are correct for these generators.
* **Randomness** comes only from ``ctx.rng``; every ask may draw from it, so a
  run is reproducible given the same sequence of asks (simulate: same seed →
  same history; a real run: same choices up to timing).
* A dict or callable op gets ``type`` "invoke" and ``value`` None unless it
  sets them; ``process`` and ``time_ns`` are always overwritten (use
  stagger/delay to move ops in time, on_threads/clients/nemesis to pick threads).
* Processes are picked with ``ctx.rng`` (as Jepsen does): a free client
  thread drawn at random, so ops spread over all threads; the nemesis only
  when no client thread is free.  Same seed, same picks.  After an ``info``
  the interpreter calls ``ctx.retire(thread)`` *after* updating the generator
  with the completion.
* Ops returned by ``op`` are fresh dicts owned by the caller; wrappers may set
  fields in place.  Leaves copy the user's dict each time.
* ``time_limit`` counts from the time of its first op and also stops as soon
  as ``ctx.time_ns`` passes its deadline. ``stagger(dt)`` spaces ops by
  uniform [0, 2·dt) gaps over all threads together (total rate 1/dt);
  ``delay(dt)`` by exactly dt.  ``any`` and ``each_thread`` break time
  ties uniformly with ``ctx.rng``.
* Thread-restricted generators (on_threads, clients, nemesis, reserve) report
  PENDING without asking their child while none of their threads is free, and
  are exhausted if the test has none of their threads at all.  ``reserve``
  breaks ties between ranges in proportion to their thread counts.
* ``update`` must be called for every event, including sleep/log ones; a
  generator that ignores updates sets ``needs_update = False`` so wrappers skip
  forwarding (the hot path stays a few Python calls deep).

Interpreter recipe (what :func:`simulate` does; the runner should do the same)::

    ctx = Context.initial(concurrency, seed=test_seed)   # thread i = process i
    gen = lift(gen)
    loop:
        deliver every completion already received, one at a time:
            ctx = ctx.with_time(now).free_thread(thread)
            gen = gen.update(test, ctx, completion)
            if completion type == "info": ctx = ctx.retire(thread)
        r = gen.op(test, ctx.with_time(now))
        None    -> stop when nothing is in flight, else wait for a completion
        PENDING -> wait for a completion, or poll again after ~1 ms (keep gen;
                   the successor may be dropped).  PENDING with nothing in
                   flight never happens with these combinators (simulate
                   raises SimulationError): treat it as a generator bug.
        (op, g) -> if op["time_ns"] > now: wait for a completion until then,
                   and if one arrives handle it and ask the OLD gen again;
                   else: thread = ctx.process_to_thread(op["process"])
                         ctx = ctx.with_time(now).busy_thread(thread)
                         gen = g.update(test, ctx, op)
                         sleep/log ops: run them on that thread (busy for
                         value seconds / write the run log), then complete
                         them with the same type; others go to the client.
"""

from harness.generator.combinators import (
    any,
    concat,
    cycle,
    delay,
    filter,
    flip_flop,
    limit,
    log,
    map,
    mix,
    once,
    repeat,
    sleep,
    stagger,
    time_limit,
    until_ok,
)
from harness.generator.context import NEMESIS, Context, Process, Thread
from harness.generator.core import (
    EMPTY,
    PENDING,
    Event,
    Gen,
    Generator,
    GeneratorError,
    OpDict,
    OpResult,
    Pending,
    fill,
    lift,
    op,
    update,
)
from harness.generator.simulate import META_TYPES, SimulationError, simulate, validate
from harness.generator.threads import (
    clients,
    each_thread,
    nemesis,
    on_threads,
    phases,
    reserve,
    synchronize,
)

__all__ = [
    # protocol and values
    "Context",
    "Thread",
    "Process",
    "NEMESIS",
    "Generator",
    "GeneratorError",
    "SimulationError",
    "PENDING",
    "Pending",
    "EMPTY",
    "OpDict",
    "OpResult",
    "Event",
    "lift",
    "op",
    "update",
    "Gen",
    "fill",
    # combinators
    "phases",
    "synchronize",
    "concat",
    "mix",
    "any",
    "stagger",
    "delay",
    "time_limit",
    "limit",
    "once",
    "repeat",
    "cycle",
    "flip_flop",
    "until_ok",
    "filter",
    "map",
    "each_thread",
    "reserve",
    "on_threads",
    "clients",
    "nemesis",
    "sleep",
    "log",
    # testing and interpreting
    "simulate",
    "validate",
    "META_TYPES",
]
