"""How many timer ticks are due: a node's timers run at the rate of its own clock.

A real machine's oscillator sets the pace of every clock it has: one that runs slow
makes the wall clock *and* the monotonic clock (timers, timeouts) run slow together.
The clock nemesis changes a node's clock through libfaketime, which can only skew the
wall clock safely (faking the monotonic clock hangs Python's timed waits, DESIGN §5),
so the shells read the pace from the wall clock: each timer period, the wall clock's
advance over the monotonic clock's is the node's clock rate, and ticks fall due at
that rate. A slowed node's election timeout and CheckQuorum then run slow as in the
simulation, where a node's timer follows its clock's rate.

Two things are not rate:

* a **step** of the wall clock (set, not slewed: backwards, or more than
  ``MAX_RATE`` times the real advance) keeps the last rate — an offset changes the
  time a node reads, not how fast its timers run;
* a **stall** (the process paused or starved for more than ``STALL_S``) yields at
  most one tick, so a stalled process sees time stop rather than jump, as before.

Without a clock fault (local and SSH nodes, or rate 1) one tick falls due per
period, as a plain ``sleep(tick)`` loop gives.
"""

from __future__ import annotations

__all__ = ["TickClock", "MAX_RATE", "MAX_TICKS", "STALL_S"]

MAX_RATE = 8.0  # a faster wall-clock advance is a step, not a rate
MAX_TICKS = 4  # ticks due after one period at most (a fast clock catches up this far)
STALL_S = 0.25  # a period this long is a stall: at most one tick


class TickClock:
    """Feed it ``(monotonic, wall)`` readings after every timer period; it answers how
    many ticks of ``tick_s`` the node's clock says are due."""

    def __init__(self, tick_s: float, mono: float, wall: float) -> None:
        if tick_s <= 0:
            raise ValueError(f"tick_s must be positive, not {tick_s}")
        self.tick_s = tick_s
        self.rate = 1.0  # the node's clock rate, as last measured
        self._mono = mono
        self._wall = wall
        self._acc = 0.0  # node-clock seconds not yet spent on ticks

    def due(self, mono: float, wall: float) -> int:
        """Ticks due since the last reading (0 when the node's clock runs slow)."""
        d_mono, d_wall = mono - self._mono, wall - self._wall
        self._mono, self._wall = mono, wall
        if d_mono <= 0:
            return 0
        if 0.0 <= d_wall <= MAX_RATE * d_mono:
            self.rate = d_wall / d_mono
        self._acc += d_mono * self.rate
        n = min(int(self._acc / self.tick_s), MAX_TICKS)
        if d_mono > STALL_S:
            n = min(n, 1)
        self._acc = min(self._acc - n * self.tick_s, self.tick_s)
        return n
