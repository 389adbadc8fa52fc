"""Divergence seen from outside: nodes' own reports of what they applied, compared.

Every node on the shared Raft library (systems/raft) reports in its ``status``
a rolling digest of the entries it applied (``[index, term, digest]`` rows,
systems/raft/digest.py) and the commit index it made durable. The harness
polls every node's status during the run (harness/monitor.py; the simulation
does the same on simulated time) and keeps each answer as one *status row*:
``{"t_ns": ns since the test start, "node": name, "status": reply or null}``,
written to ``status.jsonl`` in the run folder.

This checker needs no client read and no assert inside the system:

* ``divergence`` — two reports of the same Raft group with different digests
  at the same index: some node applied a different command (or the same one
  in another term) at or before that index than another node did — or than
  itself before a restart. The explanation narrows where: after the highest
  index where both reports agreed.
* ``state-divergence`` — two reports of the same group with different *state*
  digests at the same index (the nodes' state checkpoints: a digest of the
  state machine's whole image after applying that index, ``states`` rows):
  the same commands can leave replicas in different states when a snapshot
  restore drops part of the state (client sessions, say, so a retried
  command later applies twice on one replica only) or a machine is not
  deterministic. Also for one node before and after a restart.
* ``commit-regressed`` — a node's durable commit index went down (a node
  forgot entries it had made durable as committed: lost fsyncs, a log
  truncated on recovery).
* ``two-leaders`` — two nodes of one group each reported ``role: leader`` with
  the same ``term`` (at any two times): Raft's Election Safety allows one
  leader per term, ever. Two leaders of one term can append different
  entries at the same (index, term), or the same no-op, so the digests need
  not differ; a vote counted twice (a voter that forgot its vote after a
  restart) shows here first.

A Raft group is the node's top-level status, or each entry of a
``partitions`` list (the queue runs one group per partition).
Reading is linear in the file; unreadable or mistyped rows are counted and skipped.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checkers.core import Anomaly, Checker, Compose, Result
from harness.history import History

__all__ = [
    "Divergence",
    "STATUS_FILE",
    "check_statuses",
    "read_status_rows",
    "status_row",
    "with_divergence",
]

STATUS_FILE = "status.jsonl"
MAX_ANOMALIES = 20
_KEEP = ("role", "term", "commit", "applied", "durable_commit", "digests", "states")


def status_row(node: str, t_ns: int, status: Mapping[str, Any] | None) -> dict[str, Any]:
    """What a monitor records of one status answer (None: the node did not answer)."""
    st: dict[str, Any] | None = None
    if status is not None:
        st = {k: status[k] for k in _KEEP if k in status}
        parts = status.get("partitions")
        if isinstance(parts, list):
            st["partitions"] = [
                {k: p[k] for k in _KEEP if k in p} for p in parts if isinstance(p, Mapping)
            ]
    return {"t_ns": t_ns, "node": node, "status": st}


def read_status_rows(path: Path) -> tuple[list[dict[str, Any]], int]:
    """The rows of a status file, and how many lines were unreadable."""
    rows: list[dict[str, Any]] = []
    bad = 0
    with open(path, "rb") as f:
        for line in f:
            try:
                row = json.loads(line)
            except (ValueError, RecursionError):  # also Python's int-digit limit, deep nesting
                bad += 1
                continue
            if isinstance(row, dict):
                rows.append(row)
            else:
                bad += 1
    return rows, bad


@dataclass(frozen=True, slots=True)
class _Seen:
    digest: str
    term: int
    node: str
    t_ns: int


def _groups(st: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    parts = st.get("partitions")
    if isinstance(parts, list) and parts:
        for k, p in enumerate(parts):
            if isinstance(p, Mapping):
                yield f"partition {k}", p
    else:
        yield "", st


def _digest_rows(g: Mapping[str, Any]) -> Iterator[tuple[int, int, str]]:
    rows = g.get("digests")
    if not isinstance(rows, list):
        return
    for r in rows:
        if (
            isinstance(r, list) and len(r) == 3 and type(r[0]) is int and type(r[1]) is int
            and isinstance(r[2], str)
        ):
            yield r[0], r[1], r[2]


def _state_rows(g: Mapping[str, Any]) -> Iterator[tuple[int, str]]:
    rows = g.get("states")
    if not isinstance(rows, list):
        return
    for r in rows:
        if isinstance(r, list) and len(r) == 2 and type(r[0]) is int and isinstance(r[1], str):
            yield r[0], r[1]


def _int(v: Any) -> int | None:
    return v if type(v) is int else None


class _Judge:
    def __init__(self, times: Sequence[int]) -> None:
        self.times = times  # history op times, for naming the ops nearest a finding
        self.first: dict[tuple[str, int], _Seen] = {}
        self.by_node: dict[tuple[str, str], dict[int, str]] = {}
        self.commit: dict[tuple[str, str], tuple[int, int]] = {}
        self.leaders: dict[tuple[str, int], tuple[str, int]] = {}  # (group, term) -> first
        self.two_leaders: set[tuple[str, int]] = set()
        self.anomalies: list[Anomaly] = []
        self.diverged: set[tuple[str, ...]] = set()
        self.first_state: dict[tuple[str, int], tuple[str, str, int]] = {}  # digest, node, t
        self.state_diverged: set[tuple[str, ...]] = set()
        self.compared = 0
        self.bad_rows = 0
        self.polls = 0
        self.answers = 0

    def row(self, row: Mapping[str, Any]) -> None:
        node, t_ns, st = row.get("node"), _int(row.get("t_ns")), row.get("status")
        if not isinstance(node, str) or t_ns is None:
            self.bad_rows += 1
            return
        self.polls += 1
        if not isinstance(st, Mapping):
            return
        self.answers += 1
        for group, g in _groups(st):
            self._commit(group, node, t_ns, _int(g.get("durable_commit")))
            if g.get("role") == "leader":
                self._leader(group, node, t_ns, _int(g.get("term")))
            mine = self.by_node.setdefault((group, node), {})
            for index, term, digest in _digest_rows(g):
                self._digest(group, node, t_ns, index, term, digest, mine)
            for index, digest in _state_rows(g):
                self._state(group, node, t_ns, index, digest)

    def _op_near(self, t_ns: int) -> tuple[int, ...]:
        k = bisect.bisect_right(self.times, t_ns)
        return (k - 1,) if k > 0 else ()

    def _commit(self, group: str, node: str, t_ns: int, c: int | None) -> None:
        if c is None:
            return
        prev = self.commit.get((group, node))
        if prev is not None and c < prev[0]:
            where = f" in {group}" if group else ""
            self._add(Anomaly(
                "commit-regressed",
                f"{node}{where} reported durable commit index {prev[0]} at "
                f"{prev[1] / 1e9:.3f} s and {c} at {t_ns / 1e9:.3f} s: it forgot "
                f"entries it had made durable as committed",
                self._op_near(t_ns),
                {"node": node, "group": group, "before": prev[0], "after": c,
                 "t_before_ns": prev[1], "t_after_ns": t_ns},
            ))
        self.commit[(group, node)] = (c, t_ns)

    def _leader(self, group: str, node: str, t_ns: int, term: int | None) -> None:
        if term is None:
            return
        first = self.leaders.setdefault((group, term), (node, t_ns))
        if first[0] == node or (group, term) in self.two_leaders:
            return
        self.two_leaders.add((group, term))
        where = f" in {group}" if group else ""
        self._add(Anomaly(
            "two-leaders",
            f"{first[0]} and {node}{where} both reported being leader of term {term} (at "
            f"{first[1] / 1e9:.3f} s and {t_ns / 1e9:.3f} s): Election Safety allows one "
            f"leader per term",
            self._op_near(max(t_ns, first[1])),
            {"nodes": sorted({first[0], node}), "group": group, "term": term,
             "t_ns": [first[1], t_ns]},
        ))

    def _digest(self, group: str, node: str, t_ns: int, index: int, term: int, digest: str,
                mine: dict[int, str]) -> None:
        mine.setdefault(index, digest)
        seen = self.first.get((group, index))
        if seen is None:
            self.first[(group, index)] = _Seen(digest, term, node, t_ns)
            return
        self.compared += 1
        if seen.digest == digest:
            return
        pair = (group, *sorted((seen.node, node)))
        if pair in self.diverged:  # a chain differs at every later index: say it once
            return
        self.diverged.add(pair)
        agreed = self._last_agreement(group, seen.node, node, index)
        where = f" in {group}" if group else ""
        who = (f"{seen.node} and {node}" if seen.node != node
               else f"{node} (before and after a restart)")
        terms = (f" (terms {seen.term} and {term})" if seen.term != term
                 else f" (both term {term})")
        self._add(Anomaly(
            "divergence",
            f"{who}{where} applied different entries by index {index}{terms}: digest "
            f"{seen.digest} reported at {seen.t_ns / 1e9:.3f} s, {digest} at "
            f"{t_ns / 1e9:.3f} s; they last agreed at index {agreed}, so the first "
            f"different entry is in ({agreed}, {index}]",
            self._op_near(max(t_ns, seen.t_ns)),
            {"nodes": sorted({seen.node, node}), "group": group, "index": index,
             "digests": [seen.digest, digest], "terms": [seen.term, term],
             "last_agreed_index": agreed, "t_ns": [seen.t_ns, t_ns]},
        ))

    def _state(self, group: str, node: str, t_ns: int, index: int, digest: str) -> None:
        seen = self.first_state.setdefault((group, index), (digest, node, t_ns))
        if seen[0] == digest:
            return
        pair = (group, *sorted((seen[1], node)))
        if pair in self.state_diverged:
            return
        self.state_diverged.add(pair)
        where = f" in {group}" if group else ""
        who = (f"{seen[1]} and {node}" if seen[1] != node
               else f"{node} (before and after a restart)")
        self._add(Anomaly(
            "state-divergence",
            f"{who}{where} held different states after applying index {index}: state "
            f"digest {seen[0]} reported at {seen[2] / 1e9:.3f} s, {digest} at "
            f"{t_ns / 1e9:.3f} s. Replicas that applied the same entries must hold the "
            f"same state; a snapshot restore that dropped part of it (e.g. client "
            f"sessions) or a machine that is not deterministic does this",
            self._op_near(max(t_ns, seen[2])),
            {"nodes": sorted({seen[1], node}), "group": group, "index": index,
             "state_digests": [seen[0], digest], "t_ns": [seen[2], t_ns]},
        ))

    def _last_agreement(self, group: str, a: str, b: str, below: int) -> int:
        da = self.by_node.get((group, a), {})
        db = self.by_node.get((group, b), {})
        common = [i for i in da if i < below and i in db and da[i] == db[i]]
        return max(common, default=0)

    def _add(self, a: Anomaly) -> None:
        if len(self.anomalies) < MAX_ANOMALIES:
            self.anomalies.append(a)

    def result(self, source: str) -> Result:
        details: dict[str, Any] = {
            "source": source, "polls": self.polls, "answers": self.answers,
            "indices_compared": self.compared, "groups": sorted({g for g, _ in self.first}),
            "highest_index": max((i for _, i in self.first), default=0),
            "state_checkpoints": len(self.first_state),
            "unreadable_rows": self.bad_rows,
        }
        if not self.first:
            details["note"] = "no node reported applied-entry digests: nothing was compared"
        return Result(not self.anomalies, tuple(self.anomalies), details)


def check_statuses(
    rows: Iterable[Mapping[str, Any]], history: History | None = None, source: str = "memory"
) -> Result:
    """Judge status rows in time order (pure)."""
    times = [o.time_ns for o in history] if history is not None else []
    judge = _Judge(times)
    for row in sorted(rows, key=lambda r: _int(r.get("t_ns")) or 0):
        judge.row(row)
    return judge.result(source)


@dataclass(frozen=True)
class Divergence:
    """The checker: status rows given in memory (the simulation swarm), else the run
    folder's ``status.jsonl``; none at all is valid with a note."""

    rows: Sequence[Mapping[str, Any]] | None = None

    def check(self, test: Mapping[str, Any], history: History, out_dir: Path | None) -> Result:
        if self.rows is not None:
            return check_statuses(self.rows, history)
        path = out_dir / STATUS_FILE if out_dir is not None else None
        if path is None or not path.is_file():
            return Result(True, details={"note": "no status rows were recorded"})
        rows, bad = read_status_rows(path)
        result = check_statuses(rows, history, source=STATUS_FILE)
        return Result(result.valid, result.anomalies,
                      {**result.details, "unreadable_rows": bad + result.details["unreadable_rows"]})


def with_divergence(checker: Checker, rows: Sequence[Mapping[str, Any]] | None = None) -> Compose:
    """The workload's checker plus ``divergence`` (a composite gains one more member)."""
    if isinstance(checker, Compose):
        return Compose({**checker.checkers, "divergence": Divergence(rows)})
    return Compose({"main": checker, "divergence": Divergence(rows)})
