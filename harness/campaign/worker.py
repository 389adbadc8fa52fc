"""One campaign run in its own process: ``python -m harness.campaign.worker`` (options JSON on stdin).

Each run of a campaign is a child process calling :func:`harness.runner.run_test`
— the same code path as ``faultbox run`` — because a process is the unit that
can be (a) interrupted with SIGINT and still tear its nodes down and check what
it recorded, (b) killed when it hangs without taking the campaign with it, and
(c) run N at a time (``--jobs``): the runner's signal handling belongs to a
main thread, and a crash (even a segfault) stays inside one run.

Protocol: the child prints JSON lines on stdout — ``{"ev": "progress", ...}``
at most a few times a second while the test runs, then exactly one of
``{"ev": "done", "run_dir": ..., "verdict": ...}`` or
``{"ev": "error", "message": ...}``.  Everything else goes to stderr.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from harness.backends.ssh_hosts import SshSettings
from harness.history import Op
from harness.options import Options

__all__ = ["main", "options_from_json"]

PROGRESS_EVERY_S = 0.5


def options_from_json(d: dict[str, Any]) -> Options:
    d = dict(d)
    d["nemesis"] = tuple(d.get("nemesis", ()))
    d["bugs"] = tuple(d.get("bugs", ()))
    # to_json writes --opt values as a mapping; Options holds (name, value) pairs
    d["system_opts"] = tuple((str(k), str(v)) for k, v in dict(d.get("system_opts") or {}).items())
    d["store"] = Path(d["store"])
    if d.get("ssh") is not None:
        ssh = dict(d["ssh"])
        ssh["hosts_file"] = Path(ssh["hosts_file"])
        ssh["key"] = Path(ssh["key"]) if ssh.get("key") else None
        d["ssh"] = SshSettings(**ssh)
    return Options(**d)


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


class _Progress:
    def __init__(self) -> None:
        self.counts = {"invoke": 0, "ok": 0, "fail": 0, "info": 0}
        self.faults: set[str] = set()
        self.t0 = time.monotonic()
        self.last = 0.0

    def on_op(self, op: Op) -> None:
        if op.process == "nemesis":
            if op.type != "invoke":
                name = op.f.split("-", 1)[-1]
                if op.f.startswith("start-"):
                    self.faults.add(name)
                elif op.f.startswith("stop-"):
                    self.faults.discard(name)
        else:
            self.counts[op.type] = self.counts.get(op.type, 0) + 1
        now = time.monotonic()
        if now - self.last >= PROGRESS_EVERY_S:
            self.last = now
            _emit({"ev": "progress", "elapsed_s": round(now - self.t0, 1), **self.counts,
                   "faults": sorted(self.faults)})


def main() -> int:
    from harness.errors import FaultboxError
    from harness.history import HistoryError

    try:
        opts = options_from_json(json.loads(sys.stdin.read()))
        from harness.runner import run_test
        from systems import get_system
        from workloads import get_workload

        workload = get_workload(opts.workload, opts.workload_options())
        progress = _Progress()
        outcome = run_test(opts, get_system(opts.system), workload, on_op=progress.on_op,
                           notice=lambda m: print(f"faultbox: {m}", file=sys.stderr),
                           argv=opts.command())
    except KeyboardInterrupt:
        _emit({"ev": "error", "message": "interrupted before the run started", "interrupted": True})
        return 130
    except (FaultboxError, HistoryError) as e:
        _emit({"ev": "error", "message": str(e)})
        return 2
    _emit({"ev": "done", "run_dir": str(outcome.run_dir), "verdict": outcome.results.get("verdict"),
           "interrupted": outcome.interrupted})
    return 0


if __name__ == "__main__":
    sys.exit(main())
