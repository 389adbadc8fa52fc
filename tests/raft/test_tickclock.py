"""The shells' timer pace: ticks fall due at the node's clock rate (systems/common/tickclock.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from systems.common.tickclock import MAX_TICKS, TickClock

TICK = 0.015


def run(clock: TickClock, periods: int, rate: float, mono: float, wall: float,
        period: float = TICK) -> tuple[int, float, float]:
    """Feed ``periods`` timer periods of real length ``period`` at wall-clock ``rate``."""
    n = 0
    for _ in range(periods):
        mono += period
        wall += period * rate
        n += clock.due(mono, wall)
    return n, mono, wall


def test_real_clock_gives_one_tick_a_period() -> None:
    c = TickClock(TICK, 100.0, 5_000.0)
    n, _, _ = run(c, 1000, 1.0, 100.0, 5_000.0)
    assert 999 <= n <= 1000


def test_late_periods_are_made_up_to_real_time() -> None:
    c = TickClock(TICK, 0.0, 0.0)
    n, _, _ = run(c, 1000, 1.0, 0.0, 0.0, period=0.016)  # the loop's overhead: 1 ms late each time
    assert 1060 <= n <= 1067  # 16 s of real time is 1066 ticks, not 1000


@pytest.mark.parametrize("rate", [0.2, 0.5, 2.0])
def test_slow_and_fast_clocks_pace_the_ticks(rate: float) -> None:
    c = TickClock(TICK, 0.0, 0.0)
    n, _, _ = run(c, 1000, rate, 0.0, 0.0)
    assert abs(n - 1000 * rate) <= 2
    assert c.rate == pytest.approx(rate)


def test_a_step_of_the_wall_clock_is_not_a_rate() -> None:
    c = TickClock(TICK, 0.0, 0.0)
    _, mono, wall = run(c, 100, 0.2, 0.0, 0.0)
    assert c.due(mono + TICK, wall - 30.0) == 0  # set back 30 s: the slow rate holds
    n, _, _ = run(c, 100, 0.2, mono + TICK, wall - 30.0)
    assert abs(n - 20) <= 2
    c2 = TickClock(TICK, 0.0, 0.0)
    assert c2.due(TICK, 60.0) == 1  # set 60 s ahead: one tick's worth, no burst
    assert c2.rate == 1.0


def test_a_stall_is_time_stopping_not_jumping() -> None:
    c = TickClock(TICK, 0.0, 0.0)
    assert c.due(5.0, 5.0) == 1  # paused 5 s: one tick, not 333
    assert c.due(5.0 + TICK, 5.0 + TICK) == 1


def test_bad_tick_is_refused() -> None:
    with pytest.raises(ValueError, match="tick_s"):
        TickClock(0.0, 0.0, 0.0)


@given(st.lists(st.tuples(st.floats(0.0, 2.0), st.floats(-100.0, 100.0)), max_size=200))
def test_never_more_than_max_ticks_and_never_negative(steps: list[tuple[float, float]]) -> None:
    c = TickClock(TICK, 0.0, 0.0)
    mono = wall = 0.0
    for d_mono, d_wall in steps:
        mono += d_mono
        wall += d_wall
        assert 0 <= c.due(mono, wall) <= MAX_TICKS
