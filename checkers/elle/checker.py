"""The list-append checker: inference + graph + cycles + consistency models.

``ListAppend(consistency_models=("strict-serializable",), time_budget_s=10)``
is a :class:`checkers.core.Checker`. Its Result:

* ``valid``: False when an anomaly type found is forbidden by any asked model;
  ``"unknown"`` when nothing forbidden was found but the cycle search ran out
  of time, or no dependency edge at all could be inferred
  (``empty-transaction-graph``, as Elle), or the history is not list-append;
  True otherwise. A cycle that exists but was not classified in time is
  still reported as ``<PL-name>-cycle-exists`` (invalid): a timeout never
  yields valid. An unknown verdict's ``details["reason"]`` says why.
* ``anomalies``: the anomalies worth reporting for the asked models (those
  they forbid, plus ``cycle-search-timeout`` / ``empty-transaction-graph``),
  each naming its txns by the index of their completion op (T31 = the txn
  completed at op 31).
* ``details``: ``anomaly-types``, ``not`` (the weakest models ruled out by
  every anomaly found, reported or not, as Elle's boundary; empty when
  nothing is reported), ``also-not``, counts and timings.

Which edges are built follows the models (as Elle does): realtime edges when
any asked model forbids a ``-realtime`` anomaly; otherwise process edges when
one forbids a ``-process`` anomaly; realtime order subsumes process order.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from checkers.core import UNKNOWN, Anomaly, Result, Verdict
from checkers.elle import models as cm
from checkers.elle.cycles import (
    KINDS,
    cycle_exists,
    cycle_exists_anomalies,
    cyclic_nodes,
    find_cycles,
    not_cycles,
)
from checkers.elle.graph import build_graph
from checkers.elle.infer import MopError, analyse, txns_of
from harness.history import History

__all__ = ["ListAppend", "check_list_append", "parse_models"]

TIMEOUT = "cycle-search-timeout"
EMPTY = "empty-transaction-graph"
UNKNOWN_TYPES = frozenset({TIMEOUT, EMPTY})  # found alone, they make the verdict unknown


def parse_models(spec: str | Iterable[str]) -> tuple[str, ...]:
    """``"snapshot-isolation,repeatable-read"`` -> canonical names; ModelError if unknown."""
    names = spec.split(",") if isinstance(spec, str) else list(spec)
    out = tuple(dict.fromkeys(cm.canonical(n) for n in names if n.strip()))
    if not out:
        raise cm.ModelError("no consistency model given")
    return out


@dataclass(frozen=True)
class ListAppend:
    """Elle-style checker for list-append txn histories (see the package docstring)."""

    consistency_models: tuple[str, ...] = ("strict-serializable",)
    time_budget_s: float = 10.0
    max_per_kind: int = 8
    name: str = field(default="elle-list-append", compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "consistency_models", parse_models(self.consistency_models))

    def check(self, test: Mapping[str, Any], history: History, out_dir: Path | None) -> Result:
        res = check_list_append(history, self.consistency_models, self.time_budget_s,
                                self.max_per_kind)
        if out_dir is not None and res.anomalies:
            d = Path(out_dir) / "elle"
            d.mkdir(parents=True, exist_ok=True)
            with open(d / "anomalies.txt", "w", encoding="utf-8") as fh:
                for a in res.anomalies:
                    fh.write(f"{a.kind}: {a.explanation}\n")
        return res


def check_list_append(history: History, models: Iterable[str] = ("strict-serializable",),
                      time_budget_s: float = 10.0, max_per_kind: int = 8) -> Result:
    """Check a list-append history against the consistency models (see the module doc).

    The cyclic garbage collector is paused while it runs: the check allocates
    millions of small containers and no reference cycles, and the collector's
    passes over the parsed history cost more than the check itself."""
    paused = gc.isenabled()
    gc.disable()
    try:
        return _check(history, models, time_budget_s, max_per_kind)
    finally:
        if paused:
            gc.enable()


def _check(history: History, models: Iterable[str], time_budget_s: float,
           max_per_kind: int) -> Result:
    t0 = time.monotonic()
    asked = parse_models(models)
    try:
        txns = txns_of(history)
        an = analyse(txns, max_per_kind)
    except MopError as e:
        return Result(UNKNOWN, details={"error": str(e), "consistency-models": list(asked)})
    forbidden = cm.prohibited(asked)
    rt = cm.needs_realtime(asked)
    process = cm.needs_process(asked) and not rt
    g = build_graph(an, process=process, realtime=rt)
    t_graph = time.monotonic()

    cyclic, largest = cyclic_nodes(g)
    exists = cycle_exists(g, cyclic)
    impossible = not_cycles(exists)
    wanted = [k.name for k in KINDS if k.name in forbidden and k.name not in impossible]
    cycles, unfinished = find_cycles(g, wanted, t0 + time_budget_s, max_per_kind, cyclic)
    found: dict[str, list[Anomaly]] = {}
    for kind, items in an.anomalies.items():
        found.setdefault(kind, []).extend(items)
    for a in cycles:
        if len(found.get(a.kind, ())) < max_per_kind:
            found.setdefault(a.kind, []).append(a)
    ruled_out = cm.impossible_models(k for k in found if k in forbidden)
    for a in cycle_exists_anomalies(g, exists, cm.weaker_or_equal(asked), lambda m: m in ruled_out):
        found.setdefault(a.kind, []).append(a)
    if unfinished:
        found[TIMEOUT] = [Anomaly(
            TIMEOUT,
            f"the cycle search ran out of its {time_budget_s:g} s budget before looking for "
            f"{', '.join(unfinished)} (largest strongly connected component: {largest} txns); "
            "any cycle that exists is reported as <PL-name>-cycle-exists",
            (),
            {"not-searched": unfinished, "scc-size": largest},
        )]
    edges = g.edge_count()
    if not edges:
        found[EMPTY] = [_empty(len(txns), process, rt)]
    reportable = {k: v for k, v in found.items() if k in forbidden or k in UNKNOWN_TYPES}
    kinds = sorted(reportable)
    bad = [k for k in kinds if k in forbidden]
    unknowns = [k for k in kinds if k in UNKNOWN_TYPES]
    valid: Verdict = False if bad else (UNKNOWN if unknowns else True)
    # Elle's boundary: from every anomaly found, and only when something is reported.
    nots, also = cm.boundary(k for k in found if k not in UNKNOWN_TYPES) if kinds else ([], [])
    anomalies = tuple(a for k in kinds for a in reportable[k])
    details: dict[str, Any] = {
        "consistency-models": list(asked),
        "anomaly-types": kinds,
        "not": nots,
        "also-not": also,
        "not-reported": sorted(k for k in found if k not in reportable),
        "txns": len(txns),
        "edges": edges,
        "largest-scc": largest,
        "graph_seconds": round(t_graph - t0, 3),
        "check_seconds": round(time.monotonic() - t0, 3),
        "ops": len(history),
    }
    if valid == UNKNOWN:
        details["reason"] = "; ".join(reportable[k][0].explanation for k in unknowns)
    return Result(valid, anomalies, details)


def _empty(n: int, process: bool, realtime: bool) -> Anomaly:
    return Anomaly(
        EMPTY,
        f"no dependency (ww, wr, rw{', process' if process else ''}"
        f"{', realtime' if realtime else ''}) could be inferred between any two of the "
        f"{n} txns, so nothing constrains them: the history says nothing about the asked models",
        (),
        {"txns": n},
    )
