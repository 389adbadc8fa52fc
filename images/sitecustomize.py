"""Loaded by every Python in a faultbox node (PYTHONPATH=/opt/faultbox).

Under libfaketime with FAKETIME_DONT_FAKE_MONOTONIC=1, CPython 3.11's
``time.sleep`` (clock_nanosleep on an absolute monotonic deadline) fails with
EINVAL. When the clock is faked we sleep with ``select`` instead, which takes a
relative timeout and is not intercepted. Nothing changes without LD_PRELOAD.
"""

import os
import select
import time

if "faketime" in os.environ.get("LD_PRELOAD", ""):
    _real_sleep = time.sleep

    def _sleep(secs: float) -> None:
        if secs < 0:
            raise ValueError("sleep length must be non-negative")
        deadline = time.monotonic() + secs
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            select.select([], [], [], left)

    time.sleep = _sleep
