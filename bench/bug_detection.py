"""Time to detection of every planted bug: a reader of ``campaigns/bugs.toml`` results.

The matrix itself is run the one way every matrix is run::

    faultbox campaign run campaigns/bugs.toml            # (Docker: hold the shared lock)
    python bench/bug_detection.py [CAMPAIGN_DIR_OR_JSON] # newest store/campaigns/bugs/* by default

and this prints, per run: system, bug, nemesis, workload, status, seconds into
the run when the first anomaly became observable, the checker that caught it,
the case's time limit and the run's wall time; then the median time to
detection.  ``--run`` runs the campaign first (extra arguments after ``--``
go to ``faultbox campaign run``).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from harness.campaign import read_campaign
from harness.errors import FaultboxError


def newest(store: Path) -> Path:
    found = sorted((store / "campaigns" / "bugs").glob("*/campaign.json"))
    if not found:
        raise FaultboxError(f"no bugs campaign under {store} (run: faultbox campaign run campaigns/bugs.toml)")
    return found[-1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("path", nargs="?", type=Path, help="campaign folder or campaign.json")
    ap.add_argument("--store", type=Path, default=Path("store"))
    ap.add_argument("--run", action="store_true", help="run campaigns/bugs.toml first")
    ap.add_argument("extra", nargs="*", help="after --: more `faultbox campaign run` arguments")
    a = ap.parse_args()
    if a.run:
        subprocess.run([sys.executable, "-m", "harness.cli", "campaign", "run", "campaigns/bugs.toml",
                        "--store", str(a.store), *a.extra], check=False)
    try:
        doc = read_campaign(a.path if a.path is not None else newest(a.store))
    except FaultboxError as e:
        print(f"bug_detection: {e}", file=sys.stderr)
        sys.exit(2)
    t = Table(title=f"time to detection, campaign {doc['campaign']} ({doc.get('started')}, "
                    f"{float(doc.get('wall_s') or 0):.0f} s wall)")
    for col in ("system", "bug", "nemesis", "workload", "status", "first anomaly (s)", "caught by",
                "time limit (s)", "wall (s)"):
        t.add_column(col)
    detected = []
    for r in doc["runs"]:
        det = r.get("detected_s")
        if r.get("status") == "passed" and isinstance(det, (int, float)):
            detected.append(float(det))
        t.add_row(str(r.get("system")), "+".join(r.get("bugs") or []) or "-",
                  ",".join(r.get("nemesis") or []) or "none", str(r.get("workload")), str(r.get("status")),
                  f"{det:.1f}" if isinstance(det, (int, float)) else "-", str(r.get("caught_by") or "-"),
                  f"{float(r.get('time_limit_s') or 0):g}",
                  f"{float(r['wall_s']):.0f}" if isinstance(r.get("wall_s"), (int, float)) else "-")
    Console().print(t)
    caught = sum(1 for r in doc["runs"] if r.get("status") == "passed")
    print(f"caught {caught} of {len(doc['runs'])}; median time to detection "
          + (f"{statistics.median(detected):.1f} s" if detected else "-"))


if __name__ == "__main__":
    main()
