"""Mutation scores side by side: the before/after table of ``faultbox mutate`` runs.

    .venv/bin/python bench/mutation_score.py LABEL=DIR/mutate.json [LABEL=DIR/mutate.json ...]
    .venv/bin/python bench/mutation_score.py after=A/mutate.json+B/mutate.json   # shards of one run

Each argument is one finished ``faultbox mutate`` run (e.g. before and after a
change to the default schedules). Prints the scores of each run, then one row
per mutant present in any run: for each run the sim and Docker outcome, who
killed it (history checker, divergence, crash) and in which run. Produce the
inputs with e.g.

    faultbox mutate --system raftkv --skip-unit-tests --no-divergence --out store/m-before
    faultbox mutate --system raftkv --skip-unit-tests --snapshot-every 50 --out store/m-after
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness.mutate.report import ratio_text
from harness.mutate.scores import scores


def _read(path: str) -> dict[str, Any]:
    try:
        doc: dict[str, Any] = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        sys.exit(f"bench/mutation_score.py: cannot read {path}: {e}")
    return doc


def _load(arg: str) -> tuple[str, dict[str, Any]]:
    """``LABEL=A.json`` or, for one measurement run in shards (say one per Docker slot),
    ``LABEL=A.json+B.json``: the shards' mutants together (a later shard's record of a
    mutant replaces an earlier one's), the scores recomputed, the wall times summed."""
    label, _, paths = arg.partition("=")
    if not paths:
        label, paths = Path(arg).parent.name, arg
    docs = [_read(p) for p in paths.split("+")]
    if len(docs) == 1:
        return label, docs[0]
    mutants: dict[str, dict[str, Any]] = {}
    for d in docs:
        mutants.update({m["id"]: m for m in d["mutants"]})
    merged = {"mutants": list(mutants.values()), "scores": scores(list(mutants.values())),
              "wall_seconds": sum(float(d.get("wall_seconds", 0)) for d in docs)}
    return label, merged


def _cell(st: dict[str, Any] | None) -> str:
    if not st:
        return "–"
    if st.get("outcome") != "killed":
        return f"{st.get('outcome')} ({len(st.get('runs', []))})"
    return f"{st.get('by')} @{st.get('runs_to_kill')}"


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    runs = [_load(a) for a in argv]
    con = Console(highlight=False, width=200)
    head = Table(title="scores")
    for col in ("run", "mutants", "unit-killed", "equiv.", "sim", "sim history", "sim no asserts",
                "docker", "docker history", "wall s"):
        head.add_column(col)
    for label, doc in runs:
        s = doc["scores"]
        head.add_row(escape(label), str(s["mutants"]), str(s["killed_by_unit_tests"]),
                     str(s["equivalent"]), ratio_text(s["sim"]), ratio_text(s["sim_history"]),
                     ratio_text(s.get("sim_no_asserts")), ratio_text(s["docker"]),
                     ratio_text(s["docker_history"]), f"{doc.get('wall_seconds', 0):.0f}")
    con.print(head)
    ids: list[str] = []
    for _, doc in runs:
        ids += [m["id"] for m in doc["mutants"] if m["id"] not in ids]
    table = Table(title="mutants (sim / docker: who killed it @ run number, or runs survived)")
    table.add_column("mutant")
    for label, _ in runs:
        table.add_column(f"{escape(label)} sim")
        table.add_column(f"{escape(label)} docker")
    by_run = [{m["id"]: m for m in doc["mutants"]} for _, doc in runs]
    for mid in ids:
        row = [escape(mid)]
        for recs in by_run:
            r = recs.get(mid)
            row += [_cell(r.get("sim")) if r else "–", _cell(r.get("docker")) if r else "–"]
        table.add_row(*row)
    con.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
