"""Benchmark of the Elle-style list-append checker (checkers/elle): parse and check seconds.

Rows: Elle's own ``huge-scc.edn`` (20k lines, one large SCC under realtime
order) and synthetic histories of 10k and 100k txns. Synthetic txns run on
``concurrency`` processes with overlapping intervals; each takes effect
atomically mid-interval in txn order against a real list-append store, so
the history is strict serializable. Keys retire after 32 appends (as Elle's
generator does) so reads stay short. ``stale`` rows break it: a few reads in
the last quarter miss their key's newest element, which the checker must
catch (a realtime cycle). Parse time is the jepsen-edn import of the file
written to a temporary folder. ``check s`` is wall time, ``check cpu s`` the
process CPU time of the check (steadier on a busy machine), ``check txn/s``
txns over wall seconds.

    python bench/elle.py [--models strict-serializable] [--budget 10]
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from checkers.core import verdict_word  # noqa: E402
from checkers.elle import check_list_append  # noqa: E402
from harness.formats import load_history  # noqa: E402

HUGE = ROOT / "tests" / "data" / "peer-histories" / "elle" / "huge-scc.edn"


def _edn(v: Any) -> str:
    if v is None:
        return "nil"
    if isinstance(v, list):
        return "[" + " ".join(_edn(x) for x in v) + "]"
    return str(v)


def synth(n: int, stale: bool, concurrency: int = 10, seed: int = 0) -> str:
    """An EDN list-append history of n txns (one op map per line)."""
    rng = random.Random(seed)
    store: dict[int, list[int]] = {}
    active = list(range(8))
    next_key = 8
    events: list[tuple[int, int, dict[str, Any]]] = []
    for i in range(n):
        mops: list[list[Any]] = []
        for _ in range(rng.randint(1, 4)):
            k = rng.choice(active)
            if rng.random() < 0.5:
                lst = store.setdefault(k, [])
                lst.append(len(lst) + 1)
                mops.append(["append", k, lst[-1]])
                if len(lst) >= 32:
                    active[active.index(k)] = next_key
                    next_key += 1
            else:
                seen = list(store.get(k, []))
                if stale and i > 3 * n // 4 and i % 997 == 0 and seen:
                    seen = seen[:-1]
                mops.append(["r", k, seen])
        p, t = i % concurrency, i * 1000
        invoke = [[f, k, None if f == "r" else v] for f, k, v in mops]
        events.append((t, 0, {"type": "invoke", "process": p, "value": invoke}))
        events.append((t + 1500, 1, {"type": "ok", "process": p, "value": mops}))
    events.sort(key=lambda e: (e[0], e[1]))
    return "".join(
        f"{{:type :{e['type']}, :f :txn, :process {e['process']}, :time {t}, :value ["
        + " ".join(f"[:{f} {k} {_edn(v)}]" for f, k, v in e["value"])
        + "]}\n"
        for t, _, e in events
    )


def row(name: str, path: Path, models: list[str], budget: float) -> list[str]:
    t0 = time.perf_counter()
    lh = load_history(path, "jepsen-edn")
    t1, c1 = time.perf_counter(), time.process_time()
    res = check_list_append(lh.history, models, time_budget_s=budget)
    t2, c2 = time.perf_counter(), time.process_time()
    d = res.details
    return [name, str(d["txns"]), str(d["edges"]), str(d["largest-scc"]), f"{t1 - t0:.2f}",
            f"{t2 - t1:.2f}", f"{c2 - c1:.2f}", f"{d['txns'] / max(t2 - t1, 1e-9) / 1000:.0f}k",
            verdict_word(res.valid), ",".join(d["anomaly-types"]) or "-",
            ",".join(d["not"]) or "-"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="strict-serializable")
    ap.add_argument("--budget", type=float, default=10.0)
    args = ap.parse_args()
    models = args.models.split(",")
    rows = []
    if HUGE.exists():
        rows.append(row("huge-scc.edn", HUGE, models, args.budget))
    with tempfile.TemporaryDirectory() as tmp:
        for n, stale in ((10_000, False), (10_000, True), (100_000, False), (100_000, True)):
            p = Path(tmp) / f"synth-{n}-{stale}.edn"
            p.write_text(synth(n, stale), encoding="utf-8")
            rows.append(row(f"synthetic {n // 1000}k{' stale' if stale else ''}", p, models, args.budget))
    head = ["history", "txns", "edges", "max scc", "parse s", "check s", "check cpu s", "check txn/s",
            "verdict",
            "anomalies", "not"]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    print(f"models: {args.models}, cycle-search budget {args.budget:g} s")
    for r in [head, ["-" * w for w in widths], *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process (parse + check, all rows): {peak:.0f} MiB")


if __name__ == "__main__":
    main()
