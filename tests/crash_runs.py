"""A short raftkv run whose node n2 can be killed behind the backend's back (shared by the
local and docker crash tests)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness import runner
from harness.options import Options
from systems import get_system
from workloads import WorkloadOptions, get_workload


def sabotaged_run(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    backend: str,
    kill_n2: Callable[[Any], None] | None,
    pkg: Any = None,
    **overrides: Any,
) -> Any:
    """Run raftkv register on 3 nodes; after the 40th ok op, ``kill_n2(backend)`` (if given)
    kills n2 without the backend knowing. Returns the RunOutcome."""
    held: dict[str, Any] = {}
    real = runner.make_backend

    def make(opts: Options, notice: Any) -> Any:
        held["b"] = real(opts, notice)
        return held["b"]

    monkeypatch.setattr(runner, "make_backend", make)
    oks = [0]

    def on_op(op: Any) -> None:
        oks[0] += op.type == "ok"
        if kill_n2 is not None and oks[0] == 40 and "killed" not in held:
            held["killed"] = True
            kill_n2(held["b"])

    settings: dict[str, Any] = dict(
        # A fixed nemesis schedule (kill_twice_package) needs room for two kills and a
        # restart even on a loaded machine: the time limit is a hang guard, not a tempo.
        system="raftkv", workload="register", nodes=3, time_limit_s=8 if pkg else 3, backend=backend,
        recovery_s=0.3, seed=3, store=tmp_path, nemesis=("kill",) if pkg else (),
        nemesis_interval_s=1.0, check_budget_s=20,
    )
    settings.update(overrides)
    opts = Options(**settings)
    wl = get_workload("register", WorkloadOptions(rate=50, concurrency=4,
                                                  check_time_budget_s=opts.check_budget_s))
    notices: list[str] = []
    out = runner.run_test(opts, get_system("raftkv"), wl, on_op=on_op, notice=notices.append,
                          package=pkg)
    assert held["b"].name == backend and not notices, notices
    if kill_n2 is not None:
        assert held.get("killed"), "the run never reached the op that kills n2"
    return out


def kill_twice_package() -> Any:
    """The kill package with a fixed schedule: kill one, restart, kill one again."""
    from dataclasses import replace

    import nemesis
    from harness import generator as g

    pkg = nemesis.PACKAGES["kill"](nemesis.NemesisOptions(interval_s=1))
    return replace(pkg, generator=[g.sleep(0.5), {"f": "start-kill", "value": "one"},
                                   g.sleep(1.0), {"f": "stop-kill", "value": None},
                                   g.sleep(0.3), {"f": "start-kill", "value": "one"}])
