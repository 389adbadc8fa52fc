"""The queue on 5 containers: pauses of a partition leader lose send acknowledgements, the
client retries the same (producer id, seq) at the next leader within the op, and
``no-idempotence`` appends the retry a second time — the queue checker names the duplicate.
The correct build under the same schedule (same seed) stays valid. Whether a pause lands
between a send's replication and its answer is timing: up to three seeds are tried.

(campaigns/bugs.toml carries the same case; the 60 s and 120 s figures are in
systems/queue/README.md.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.runner import RunOutcome
from tests.integration.runs import docker_run

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def queue_run(tmp_path: Path, bugs: tuple[str, ...], seed: int,
              time_limit_s: float = 20.0) -> RunOutcome:
    # 5 producers at ~100 sends/s: a pause must land between a follower majority storing a
    # send and the leader answering it (a few ms), so sends in flight make the odds.
    return docker_run(tmp_path, "queue", "queue", ("pause",), seed, bugs,
                      time_limit_s=time_limit_s, interval_s=2.0, rate=200.0, concurrency=10)


def queue_details(out: RunOutcome) -> dict[str, Any]:
    return dict(out.results["checkers"]["queue"]["details"])


def test_no_idempotence_is_caught_and_the_correct_build_stays_valid(tmp_path: Path,
                                                                   node_image: str) -> None:
    # A lost ack after the commit is a matter of timing: up to three seeds are tried (about
    # one duplicate per 10 s at half this send rate was measured); every verdict must be
    # valid or duplicate-only, and the first one that catches it must be caught.
    for seed in (2, 3, 4):
        bad = queue_run(tmp_path / f"bug{seed}", ("no-idempotence",), seed)
        d = queue_details(bad)
        assert {k for k, n in d["counts"].items() if n} <= {"duplicate"}, d["counts"]
        if bad.valid is False:
            break
    assert bad.valid is False, f"no retried send was appended twice in 3 runs: {d}"
    assert d["counts"]["duplicate"] > 0, d["counts"]
    # the correct build has nothing to be caught at: the first 12 s of the same schedule
    # (three pauses) show it valid
    good = queue_run(tmp_path / "ok", (), seed, time_limit_s=12.0)
    g = queue_details(good)
    assert good.valid is True, out_anomalies(good)
    assert g["sends_ok"] > 200 and g["drained"], g


def out_anomalies(out: RunOutcome) -> list[str]:
    return [a["explanation"] for a in out.results["checkers"]["queue"]["anomalies"]][:5]
