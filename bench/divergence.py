"""Which planted bugs the divergence checker finds, alone or before the others (prints a table).

    python3 bench/divergence.py [--seeds 6] [--time-limit 30] [--nodes 5] [--bugs all]

Each bug runs through the deterministic simulation (raftkv, register workload,
``--nemesis`` (default ``partition,kill,pause``) at a 3 s interval, torn disks) on
``--seeds`` seeds. Run it with ``python -O`` to model a system without invariant
asserts (only explicit raises stay).
Bugs are the raftkv bug switches plus hand-planted Raft mutations patched into
the library in this process (the classes they belong to):

* ``hb-commit-beyond-match`` — the leader's heartbeat carries its whole commit
  index instead of ``min(match, commit)``, so a follower with a stale tail from
  an old term commits and applies it (etcd guards exactly this).
* ``vote-twice`` — a node forgets the vote it cast in a term when another
  candidate of that term asks, so two leaders of one term can append different
  entries at the same index with the same term: log matching, which compares
  terms, is blind to that.
* ``skip-truncate`` — a follower accepting entries never drops a conflicting
  suffix it holds, it only appends past its end (entries from an old leader stay).

Per bug: runs found invalid by any checker; by ``divergence``; by divergence
alone (every other checker, node crashes included, valid); by ``linearizable``;
by ``crash`` (a node's own assert); and the median simulated second at which
divergence and the first crash were seen.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from checkers.core import safe_check  # noqa: E402
from checkers.divergence import with_divergence  # noqa: E402
from harness.history import History  # noqa: E402
from harness.options import Options  # noqa: E402
from harness.sim.run import _test_map, make_workload, simulate  # noqa: E402
from harness.sim.world import SimOptions  # noqa: E402
from systems.raft import core as raft_core  # noqa: E402
from systems.raft import log as raft_log  # noqa: E402
from systems.raft.types import HEARTBEAT, VOTE  # noqa: E402

SWITCHES = ("stale-read", "no-fsync", "commit-old-term", "no-dedup")


def _hb_commit_beyond_match(self: Any, ctx: Any) -> None:
    for p in self._others():
        self._msg(HEARTBEAT, p, commit=self.log.committed, context=ctx)


_handle_vote = raft_core.RaftCore._handle_vote


def _vote_twice(self: Any, m: Any) -> None:
    if m.type == VOTE and self.vote not in (None, m.src):
        self.vote = None  # forgets the vote it cast in this term
    _handle_vote(self, m)


def _skip_truncate(self: Any, prev_index: int, prev_term: int, commit: int,
                   entries: Any) -> int | None:
    if not self.match_term(prev_index, prev_term):
        return None
    last_new = prev_index + len(entries)
    new = [e for e in entries if e.index > self.last_index()]
    if new:
        self.append(new)
    self.commit_to(min(commit, last_new, self.last_index()))
    return last_new


PLANTED: dict[str, tuple[Any, str, Callable[..., Any]]] = {
    "hb-commit-beyond-match": (raft_core.RaftCore, "_bcast_heartbeat", _hb_commit_beyond_match),
    "vote-twice": (raft_core.RaftCore, "_handle_vote", _vote_twice),
    "skip-truncate": (raft_log.RaftLog, "maybe_append", _skip_truncate),
}


@contextlib.contextmanager
def planted(name: str) -> Iterator[None]:
    if name not in PLANTED:
        yield
        return
    cls, attr, fn = PLANTED[name]
    old = getattr(cls, attr)
    setattr(cls, attr, fn)
    try:
        yield
    finally:
        setattr(cls, attr, old)


def one(bug: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    opts = Options(system="raftkv", workload="register", nodes=args.nodes, backend="sim",
                   time_limit_s=args.time_limit, seed=seed, nemesis_interval_s=3.0,
                   nemesis=tuple(args.nemesis.split(",")), report=False,
                   bugs=(bug,) if bug in SWITCHES else ())
    sim = SimOptions(torn=True)
    wl = make_workload(opts)
    with planted(bug):
        run = simulate(opts, sim, wl)
    result = safe_check(with_divergence(wl.checker, run.statuses), _test_map(opts, sim),
                        History(run.ops), None)
    failing = {k for k, v in result.details.items()
               if isinstance(v, dict) and v.get("valid") is False}
    div_t = [max(a.data["t_ns"]) if isinstance(a.data.get("t_ns"), list) else a.data["t_after_ns"]
             for a in result.anomalies if a.kind in ("divergence", "commit-regressed")]
    crash_t = [o.time_ns for o in run.ops if o.process == "nemesis" and o.f == "crash"]
    return {"failing": failing, "div_t": min(div_t) / 1e9 if div_t else None,
            "crash_t": min(crash_t) / 1e9 if crash_t else None}


def _med(xs: list[float]) -> str:
    return f"{statistics.median(xs):.1f}" if xs else "-"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=6)
    ap.add_argument("--time-limit", type=float, default=30.0)
    ap.add_argument("--nodes", type=int, default=5)
    ap.add_argument("--bugs", default="all")
    ap.add_argument("--nemesis", default="partition,kill,pause")
    args = ap.parse_args()
    bugs = [*SWITCHES, *PLANTED] if args.bugs == "all" else args.bugs.split(",")
    head = (f"{'bug':<24} {'runs':>4} {'any':>4} {'diverg':>6} {'d-only':>6} {'linear':>6} "
            f"{'crash':>5} {'div s':>6} {'crash s':>7}")
    print(head)
    print("-" * len(head))
    for bug in ["correct", *bugs]:
        rs = [one(bug, s, args) for s in range(1, args.seeds + 1)]
        n_any = sum(1 for r in rs if r["failing"] - {"perf"})
        div = sum(1 for r in rs if "divergence" in r["failing"])
        only = sum(1 for r in rs if r["failing"] - {"perf"} == {"divergence"})
        lin = sum(1 for r in rs if "linearizable" in r["failing"])
        crash = sum(1 for r in rs if "crash" in r["failing"])
        dt = [r["div_t"] for r in rs if r["div_t"] is not None]
        ct = [r["crash_t"] for r in rs if r["crash_t"] is not None]
        print(f"{bug:<24} {len(rs):>4} {n_any:>4} {div:>6} {only:>6} {lin:>6} {crash:>5} "
              f"{_med(dt):>6} {_med(ct):>7}", flush=True)


if __name__ == "__main__":
    main()
