"""A loose hang guard for parser tests: an input that takes seconds is a hang, not a timing claim."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class Hang(AssertionError):
    """The guarded block ran past its wall bound (the regex engine checks signals, so it stops)."""


@contextmanager
def hang_guard(seconds: float = 5.0) -> Iterator[None]:
    """Fail the test if the block runs longer than ``seconds`` (main thread, POSIX)."""

    def _fire(signum: int, frame: FrameType | None) -> None:
        raise Hang(f"still running after {seconds:g} s: a hang")

    old = signal.signal(signal.SIGALRM, _fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
