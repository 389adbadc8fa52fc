"""The queue on 5 containers: pauses of a partition leader lose send acknowledgements, the
client retries the same (producer id, seq) at the next leader within the op, and
``no-idempotence`` appends the retry a second time — the queue checker names the duplicate.
The correct build under the same schedule (same seed) stays valid.

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


def queue_run(tmp_path: Path, bugs: tuple[str, ...], seed: int = 2) -> RunOutcome:
    return docker_run(tmp_path, "queue", "queue", ("pause",), seed, bugs, time_limit_s=15.0,
                      interval_s=2.0)


def queue_details(out: RunOutcome) -> dict[str, Any]:
    return dict(out.results["checkers"]["queue"]["details"])


def test_no_idempotence_is_caught_and_the_correct_build_stays_valid(tmp_path: Path,
                                                                   node_image: str) -> None:
    bad = queue_run(tmp_path / "bug", ("no-idempotence",))
    d = queue_details(bad)
    assert bad.valid is False, d
    assert d["counts"]["duplicate"] > 0, d["counts"]
    assert {k for k, n in d["counts"].items() if n} == {"duplicate"}, d["counts"]
    good = queue_run(tmp_path / "ok", ())
    g = queue_details(good)
    assert good.valid is True, out_anomalies(good)
    assert g["sends_ok"] > 200 and g["drained"], g


def out_anomalies(out: RunOutcome) -> list[str]:
    return [a["explanation"] for a in out.results["checkers"]["queue"]["anomalies"]][:5]
