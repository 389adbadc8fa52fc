"""How many ops per second can the harness record? (issue 2 benchmark)

Drives a no-op in-process client at concurrency 1, 10 and 50 for a fixed
time each, through the real interpreter and the real history writer (flush
per op, fsync in batches), and prints ops/s recorded and the harness's
per-op overhead in µs. Target: ≥ 20,000 ops/s recorded at concurrency 50.

    python bench/harness_rate.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from harness import generator as g
from harness.history import HistoryWriter, read_jsonl
from harness.interpreter import Interpreter


class NoopClient:
    async def invoke(self, f: str, value: Any) -> tuple[str, Any, Any]:
        return "ok", value, None

    async def close(self) -> None:
        return None


def one(concurrency: int, seconds: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "history.jsonl"
        writer = HistoryWriter(path)
        interp = Interpreter({}, concurrency, lambda t: NoopClient(), writer, seed=1)

        def op(test: Any, ctx: Any) -> dict[str, Any]:
            return {"f": "write", "value": ctx.rng.randrange(5)}

        gen = g.clients(g.time_limit(seconds, op))
        t0 = time.perf_counter()
        asyncio.run(interp.run(gen))
        wall = time.perf_counter() - t0
        writer.close()
        n = len(read_jsonl(path))
        ops = n // 2
        return {
            "concurrency": concurrency,
            "ops": ops,
            "events": n,
            "seconds": wall,
            "ops_per_s": ops / wall,
            "us_per_op": wall / ops * 1e6 if ops else float("nan"),
            "fsyncs": writer.fsyncs,
        }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--concurrency", default="1,10,50")
    a = ap.parse_args()
    t = Table(title=f"harness rate: no-op client, {a.seconds:g} s per row, history durable")
    for col in ("concurrency", "ops recorded", "ops/s", "µs/op (harness overhead)", "fsyncs"):
        t.add_column(col, justify="right")
    for c in (int(x) for x in a.concurrency.split(",")):
        r = one(c, a.seconds)
        t.add_row(str(c), f"{r['ops']:,}", f"{r['ops_per_s']:,.0f}", f"{r['us_per_op']:.1f}",
                  str(r["fsyncs"]))
    Console().print(t)


if __name__ == "__main__":
    main()
