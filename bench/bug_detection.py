"""Time to detection: does a campaign catch each raftkv bug switch, and how fast?

For each (bug, nemesis, workload) row, runs `faultbox run` (Docker backend by default)
with up to --tries seeds of --time-limit seconds each, stopping at the first
invalid verdict, and prints a table: bug, nemesis, tries, verdict, the time
into the run of the earliest op an invalid checker names ("detected at", "caught by"),
and wall seconds spent.

    python bench/bug_detection.py [--time-limit 120] [--tries 2] [--backend docker]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROWS = [
    ("stale-read", "partition", "register"),
    ("no-fsync", "kill", "register"),
    ("no-dedup", "pause", "register"),
    ("no-dedup", "pause", "set"),
    ("no-dedup", "partition,kill", "register"),
    ("commit-old-term", "partition,kill", "register"),
    ("commit-old-term", "figure8", "register"),
]


def detected_at(run_dir: Path) -> tuple[float | None, str]:
    """(seconds into the run of the earliest op an invalid checker names, which checker)."""
    results = json.loads((run_dir / "results.json").read_text())
    named: dict[int, str] = {}
    for name, res in results.get("checkers", {}).items():
        if res.get("valid") is not False:
            continue
        idx = [res.get("details", {}).get("failed_op")]
        idx += [i for a in res.get("anomalies", []) for i in a.get("ops", [])]
        for i in idx:
            if isinstance(i, int):
                named.setdefault(i, name)
    if not named:
        return None, "-"
    first = min(named)
    for line in (run_dir / "history.jsonl").read_text().splitlines():
        op = json.loads(line)
        if op["index"] == first:
            return float(op["time_ns"]) / 1e9, named[first]
    return None, named[first]


def campaign(bug: str, nem: str, workload: str, a: argparse.Namespace, store: Path) -> list[str]:
    t0 = time.monotonic()
    verdict, at, tries, by = "valid", None, 0, "-"
    for seed in range(1, a.tries + 1):
        tries = seed
        r = subprocess.run(
            [sys.executable, "-m", "harness.cli", "run", "--system", "raftkv", "--workload", workload,
             "--nodes", "5", "--nemesis", nem, "--bug", bug, "--time-limit", str(a.time_limit),
             "--nemesis-interval", str(a.interval), "--seed", str(seed), "--backend", a.backend,
             "--store", str(store), "--no-report"],
            capture_output=True, text=True,
        )
        verdict = {0: "valid", 1: "INVALID"}.get(r.returncode, "unknown")
        if r.returncode == 1:
            at, by = detected_at((store / "latest").resolve())
            break
    return [bug, nem, workload, str(tries), verdict, by, f"{at:.1f} s" if at is not None else "-",
            f"{time.monotonic() - t0:.0f} s"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--time-limit", type=float, default=120)
    ap.add_argument("--interval", type=float, default=5)
    ap.add_argument("--tries", type=int, default=2)
    ap.add_argument("--backend", default="docker")
    ap.add_argument("--only", default="", help="comma-separated bug names")
    ap.add_argument("--nemeses", default="", help="comma-separated nemesis specs to keep")
    a = ap.parse_args()
    only = set(filter(None, a.only.split(",")))
    nems = set(filter(None, a.nemeses.split(",")))
    t = Table(title=f"raftkv bug detection ({a.backend}, 5 nodes, {a.time_limit:g} s per try)")
    for col in ("bug", "nemesis", "workload", "tries", "verdict", "caught by", "detected at",
                "wall"):
        t.add_column(col)
    with tempfile.TemporaryDirectory() as d:
        for bug, nem, wl in ROWS:
            if (only and bug not in only) or (nems and nem not in nems):
                continue
            t.add_row(*campaign(bug, nem, wl, a, Path(d)))
    Console().print(t)


if __name__ == "__main__":
    main()
