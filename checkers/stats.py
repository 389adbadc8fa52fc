"""Stats and perf checkers: what happened, how often, how fast.

``Stats`` counts ok/fail/info per ``f`` and the availability (share of
client completions that were ok), overall and during fault intervals. As
Jepsen's stats checker, it calls a run invalid when a client function never
succeeded: ``never-succeeded``, for an ``f`` invoked at least
``NEVER_OK_MIN`` times without one ok (every write failing is a broken
system, though no safety checker objects). The floor keeps a function tried
a few times during an outage from counting, and a cas that legitimately fails
most tries (a register's cas matches about one time in five, less during
faults: ten misses in a row happen one run in ten; a mutation run saw thirty in
a row on a build whose cas path was sound; fifty is about one in 70 000 at one
in five). A run where at least
``NOTHING_OK_MIN`` client ops were tried and none succeeded is invalid too
(``nothing-succeeded``: a system that answers nothing makes every op time
out, so few are tried); with fewer, it is ``unknown`` (a test that measured
nothing proves nothing). And a run whose faults ended with a heal (a
``stop-*`` op last) where at least ``RECOVERY_MIN`` client ops were invoked
after it and none succeeded is invalid (``no-recovery``: the final reads all
failed on a healed cluster, so the system did not come back).

``Perf`` gives latency quantiles per ``f`` and outcome, and throughput per
second; it is informational and always valid.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from checkers.core import UNKNOWN, Anomaly, Result
from harness.history import NEMESIS, History, fault_windows

__all__ = ["Stats", "Perf", "NEVER_OK_MIN", "NOTHING_OK_MIN", "RECOVERY_MIN", "fault_intervals",
           "quantile"]

# A client function invoked this often without one ok makes the run invalid.
NEVER_OK_MIN = 50
# This many client ops, none ok, makes the run invalid (fewer: unknown).
NOTHING_OK_MIN = 10
# This many client ops after the final heal, none ok, makes the run invalid.
RECOVERY_MIN = 3


def fault_intervals(history: History) -> list[tuple[str, int, int]]:
    """(fault, start_ns, end_ns) of every fault window (see harness.history.fault_windows)."""
    return [(w.fault, w.start_ns, w.end_ns) for w in fault_windows(history)]


def _in_any(t: int, intervals: list[tuple[str, int, int]]) -> bool:
    return any(s <= t <= e for _, s, e in intervals)


class Stats:
    def __init__(self, never_ok_min: int = NEVER_OK_MIN,
                 nothing_ok_min: int = NOTHING_OK_MIN) -> None:
        self.never_ok_min = never_ok_min
        self.nothing_ok_min = nothing_ok_min

    @staticmethod
    def _after_heal(history: History) -> tuple[int, list[tuple[int, bool]]] | None:
        """(the final heal's time, (invoke index, ok?) of every client op invoked after
        it), or None when the run's faults did not end with a heal."""
        last = None
        for op in history:
            if op.process == NEMESIS and (last is None or op.time_ns >= last.time_ns):
                last = op
        if last is None or not last.f.startswith("stop-"):
            return None
        return last.time_ns, [(inv.index, comp is not None and comp.type == "ok")
                              for inv, comp in history.pairs()
                              if inv.process != NEMESIS and inv.time_ns > last.time_ns]

    def check(self, test: Mapping[str, Any], history: History, out_dir: Path | None) -> Result:
        by_f: dict[str, dict[str, int]] = defaultdict(lambda: {"ok": 0, "fail": 0, "info": 0})
        faults = fault_intervals(history)
        during = {"ok": 0, "total": 0}
        total_ok = total = 0
        first: dict[str, list[int]] = defaultdict(list)  # the first few invocations per f
        for inv, comp in history.pairs():
            if inv.process == NEMESIS:
                continue
            kind = comp.type if comp is not None else "info"
            by_f[inv.f][kind] += 1
            if len(first[inv.f]) < 3:
                first[inv.f].append(inv.index)
            total += 1
            total_ok += kind == "ok"
            if faults and _in_any(inv.time_ns, faults):
                during["total"] += 1
                during["ok"] += kind == "ok"
        details: dict[str, Any] = {
            "by_f": dict(by_f),
            "ops": total,
            "ok": total_ok,
            "availability": (total_ok / total) if total else None,
            "availability_during_faults": (during["ok"] / during["total"])
            if during["total"]
            else None,
            "faults": [{"fault": n, "start_ns": s, "end_ns": e} for n, s, e in faults],
        }
        starved = [(f, n) for f, n in sorted(by_f.items())
                   if n["ok"] == 0 and sum(n.values()) >= self.never_ok_min]
        if starved:
            details["never_succeeded"] = [f for f, _ in starved]
            anomalies = tuple(Anomaly(
                "never-succeeded",
                f"{f} was invoked {sum(n.values())} times and never succeeded "
                f"({n['fail']} failed, {n['info']} indeterminate): the system did not work",
                tuple(first[f]), {"f": f, **n}) for f, n in starved)
            return Result(False, anomalies, details)
        healed = self._after_heal(history)
        if healed is not None and len(healed[1]) >= RECOVERY_MIN and not any(
                ok for _, ok in healed[1]):
            t, after = healed
            details["after_final_heal"] = {"ops": len(after), "ok": 0}
            return Result(False, (Anomaly(
                "no-recovery",
                f"none of the {len(after)} client operations invoked after the final heal "
                f"(at {t / 1e9:.3f} s) succeeded: the system did not come back",
                tuple(i for i, _ in after)[:5], {"ops": len(after), "heal_ns": t}),), details)
        if total >= self.nothing_ok_min and total_ok == 0:
            details["reason"] = "no client operation succeeded"
            return Result(False, (Anomaly(
                "nothing-succeeded",
                f"none of {total} client operations succeeded: the system did not work",
                tuple(i for ids in first.values() for i in ids)[:5], {"ops": total}),),
                details)
        if total and total_ok == 0:
            details["reason"] = "no client operation succeeded"
            return Result(UNKNOWN, details=details)
        if not total:
            details["reason"] = "no client operations were recorded"
            return Result(UNKNOWN, details=details)
        return Result(True, details=details)


def quantile(sorted_vals: list[float], q: float) -> float:
    if not sorted_vals:
        return float("nan")
    i = min(len(sorted_vals) - 1, max(0, int(round(q * (len(sorted_vals) - 1)))))
    return sorted_vals[i]


class Perf:
    QUANTILES = (0.5, 0.9, 0.99, 1.0)

    def check(self, test: Mapping[str, Any], history: History, out_dir: Path | None) -> Result:
        lat: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        per_s: dict[int, dict[str, int]] = defaultdict(lambda: {"ok": 0, "fail": 0, "info": 0})
        for inv, comp in history.pairs():
            if inv.process == NEMESIS or comp is None:
                continue
            ms = (comp.time_ns - inv.time_ns) / 1e6
            lat[inv.f][comp.type].append(ms)
            per_s[comp.time_ns // 1_000_000_000][comp.type] += 1
        latency: dict[str, dict[str, dict[str, float | int]]] = {}
        for f, by_type in lat.items():
            latency[f] = {}
            for t, vals in by_type.items():
                vals.sort()
                row: dict[str, float | int] = {"n": len(vals)}
                for q in self.QUANTILES:
                    row[f"p{int(q * 1000) / 10:g}" if q < 1 else "max"] = round(quantile(vals, q), 3)
                latency[f][t] = row
        secs = sorted(per_s)
        throughput = [{"t_s": s, **per_s[s]} for s in secs]
        span_s = (history[-1].time_ns - history[0].time_ns) / 1e9 if len(history) > 1 else 0.0
        n_ok = sum(len(v.get("ok", [])) for v in lat.values())
        return Result(
            True,
            details={
                "latency_ms": latency,
                "throughput_per_s": throughput,
                "ok_ops_per_s": (n_ok / span_s) if span_s > 0 else None,
            },
        )

