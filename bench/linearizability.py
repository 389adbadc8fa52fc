"""Benchmark of the linearizability checker (issue 3).

1. The peer corpus (tests/data/peer-histories/porcupine and /knossos): per file the
   client ops, verdict (and agreement with expected.tsv), check seconds (best
   of --repeat, parsing excluded, like Porcupine's TIMINGS.md) and states
   explored; totals per set, the ratio to Porcupine's own time, the slowest files.
2. Synthetic register histories: 1k/10k/100k ops x concurrency 5/20/50 x
   0/10 % indeterminate ops, each check bounded by --budget seconds.

    python bench/linearizability.py [--repeat 3] [--budget 10] [--skip-synthetic] [--summary]
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from checkers.core import verdict_word  # noqa: E402
from checkers.linear.synth import random_register_history  # noqa: E402
from checkers.linearizability import check_history  # noqa: E402
from harness.formats import load_history  # noqa: E402

SHARED = ROOT / "tests" / "data" / "peer-histories"  # the in-repo copy (tests/data/PROVENANCE.md)
PORCUPINE_TOTAL_S = 0.526  # TIMINGS.md, the demanding end of the measured range


def model_spec(spec: str) -> tuple[str, Any]:
    name, _, init = spec.partition(":")
    if not init:
        return name, None
    if init.startswith("{"):
        return name, {k: int(v) for k, v in (kv.split(":") for kv in init.strip("{}").split(","))}
    return name, int(init)


def porcupine_times() -> dict[str, float]:
    text = (SHARED / "porcupine" / "TIMINGS.md").read_text(encoding="utf-8")
    out = {}
    for m in re.finditer(r"^(\S+\.(?:log|txt))\t(\d+)\t([\d.]+)$", text, re.M):
        out[m.group(1)] = float(m.group(3))
    return out


def peer_rows(repeat: int, processes: int | None) -> list[dict[str, Any]]:
    rows = []
    for corpus in ("porcupine", "knossos"):
        with open(SHARED / corpus / "expected.tsv", encoding="utf-8") as fh:
            for row in csv.DictReader(fh, delimiter="\t"):
                lh = load_history(SHARED / corpus / row["file"], row["format"])
                model, init = model_spec(row["model"]) if "model" in row else (lh.model, lh.init)
                best = None
                for _ in range(repeat):
                    r = check_history(lh.history, model or "", init, processes=processes)
                    if best is None or r.details["check_seconds"] < best.details["check_seconds"]:
                        best = r
                assert best is not None
                group = corpus + "/" + row["file"].split("/")[0]
                rows.append(
                    {
                        "set": group,
                        "file": row["file"],
                        "ops": best.details["ops"],
                        "verdict": verdict_word(best.valid),
                        "expected": row["expected"],
                        "seconds": best.details["check_seconds"],
                        "states": best.details["states_explored"],
                    }
                )
    return rows


def print_peer(rows: list[dict[str, Any]], verbose: bool) -> None:
    if verbose:
        print(f"{'file':<48} {'ops':>6} {'verdict':>8} {'agree':>5} {'seconds':>9} {'states':>9}")
    for r in rows if verbose else []:
        agree = "yes" if r["verdict"] == r["expected"] else "NO"
        print(f"{r['set'].split('/')[0] + '/' + r['file']:<48} {r['ops']:>6} {r['verdict']:>8} "
              f"{agree:>5} {r['seconds']:>9.4f} {r['states']:>9}")
    print()
    print(f"{'set':<24} {'files':>5} {'agree':>5} {'ops':>7} {'seconds':>9} {'states':>10}")
    for s in sorted({r["set"] for r in rows}):
        rs = [r for r in rows if r["set"] == s]
        agree = sum(r["verdict"] == r["expected"] for r in rs)
        print(f"{s:<24} {len(rs):>5} {agree:>5} {sum(r['ops'] for r in rs):>7} "
              f"{sum(r['seconds'] for r in rs):>9.3f} {sum(r['states'] for r in rs):>10}")
    agree = sum(r["verdict"] == r["expected"] for r in rows)
    print(f"{'all':<24} {len(rows):>5} {agree:>5} {sum(r['ops'] for r in rows):>7} "
          f"{sum(r['seconds'] for r in rows):>9.3f} {sum(r['states'] for r in rows):>10}")
    pt = [r for r in rows if r["set"].startswith("porcupine")]
    ours = sum(r["seconds"] for r in pt)
    print(f"\nPorcupine corpus: {ours:.3f} s here vs {PORCUPINE_TOTAL_S} s for Porcupine "
          f"(Go) -> ratio {ours / PORCUPINE_TOTAL_S:.2f}x (goal <= 3x)")
    theirs = porcupine_times()
    print("\nslowest files (ours vs Porcupine's per-file time):")
    for r in sorted(rows, key=lambda r: -r["seconds"])[:8]:
        p = theirs.get(r["file"])
        vs = f"{p:.4f} s" if p is not None else "-"
        print(f"  {r['set'].split('/')[0] + '/' + r['file']:<46} {r['seconds']:.4f} s  "
              f"states {r['states']:>8}  Porcupine {vs}")


def synthetic(budget_s: float, sizes: list[int]) -> None:
    print(f"\nsynthetic cas-register histories (values 0..4, budget {budget_s:g} s per check)")
    print(f"{'ops':>7} {'conc':>5} {'info%':>5} {'verdict':>8} {'seconds':>8} {'states':>9}  reason")
    for n in sizes:
        for conc in (5, 20, 50):
            for info in (0.0, 0.1):
                h = random_register_history(n, conc, info, seed=n + conc)
                t0 = time.monotonic()
                r = check_history(h, "cas-register", 0, time_budget_s=budget_s)
                dt = time.monotonic() - t0
                reason = r.details.get("reason", "")
                print(f"{n:>7} {conc:>5} {int(info * 100):>5} {verdict_word(r.valid):>8} "
                      f"{dt:>8.3f} {r.details['states_explored']:>9}  {reason}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3, help="checks per file; the fastest counts")
    ap.add_argument("--budget", type=float, default=10.0, help="seconds per synthetic check")
    ap.add_argument("--processes", type=int, default=None, help="worker processes for parts")
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--skip-synthetic", action="store_true")
    ap.add_argument("--skip-peer", action="store_true")
    ap.add_argument("--summary", action="store_true", help="totals only, no line per peer file")
    a = ap.parse_args()
    if not a.skip_peer:
        if not SHARED.exists():
            print(f"peer histories not found at {SHARED}; skipping the corpus table")
        else:
            print_peer(peer_rows(a.repeat, a.processes), not a.summary)
    if not a.skip_synthetic:
        synthetic(a.budget, [int(s) for s in a.sizes.split(",")])


if __name__ == "__main__":
    main()
