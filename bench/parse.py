"""Benchmark of the history readers (harness.formats, harness.history): ops/s and peak RSS.

Rows: JSONL (our own histories), jepsen-edn (Elle list-append txns, one op map
per line), knossos-edn (one vector of cas-register op maps), porcupine-etcd and
porcupine-kv logs, each at 10k and 100k ops; then a ~1 GB JSONL history read
twice: streamed (``iter_jsonl``: ops counted and dropped — memory beyond the
ops stays bounded) and, at --full-ops, materialized as a History (what
``faultbox check`` and the checkers hold in memory, so RSS per op is the bound).
Every row runs in a fresh child process, so its peak RSS (VmHWM, see
``_peak_rss``) is its own; wall and CPU seconds are each the best of --repeat reads inside that child
(CPU time, ``process_time``, is the steadier figure on a shared machine). Files live in a
temporary folder (the 1 GB one under /tmp) and are deleted.

    python bench/parse.py [--repeat 3] [--gb 1.0] [--full-ops 1000000] [--skip-gb]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _register_ops(n: int, seed: int = 0) -> list[tuple[int, str, str, object]]:
    """n ops (invoke/complete pairs) of a cas-register on 10 processes: (process, type, f, value)."""
    rng = random.Random(seed)
    out: list[tuple[int, str, str, object]] = []
    for i in range(n // 2):
        p = i % 10
        f = rng.choice(["read", "write", "cas"])
        v: object = None if f == "read" else (rng.randint(0, 4) if f == "write" else [rng.randint(0, 4), rng.randint(0, 4)])
        out.append((p, "invoke", f, v))
        out.append((p, rng.choice(["ok", "ok", "ok", "fail", "info"]), f, rng.randint(0, 4) if f == "read" else v))
    return out


def _edn(v: object) -> str:
    if v is None:
        return "nil"
    if isinstance(v, list):
        return "[" + " ".join(_edn(x) for x in v) + "]"
    return str(v)


def write_jsonl(path: Path, n: int) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for i, (p, t, f, v) in enumerate(_register_ops(n)):
            fh.write(json.dumps({"index": i, "time_ns": i * 1000, "process": p, "type": t, "f": f,
                                 "value": v, "node": f"n{p % 3 + 1}"}, separators=(",", ":")) + "\n")


def write_knossos(path: Path, n: int) -> None:
    body = "\n ".join(f"{{:process {p}, :type :{t}, :f :{f}, :value {_edn(v)}, :time {i * 1000}}}"
                      for i, (p, t, f, v) in enumerate(_register_ops(n)))
    path.write_text("[" + body + "]\n", encoding="utf-8")


def write_etcd(path: Path, n: int) -> None:
    path.write_text("".join(f"INFO  jepsen.util - {p}\t:{t}\t:{f}\t{_edn(v)}\n"
                            for p, t, f, v in _register_ops(n)), encoding="utf-8")


def write_kv(path: Path, n: int) -> None:
    path.write_text("".join(f'{{:process {p}, :type :{t}, :f :{"get" if f == "read" else "put"}, '
                            f':key "k{p % 4}", :value "{_edn(v)}"}}\n'
                            for p, t, f, v in _register_ops(n)), encoding="utf-8")


def write_elle(path: Path, n: int) -> None:
    from bench.elle import synth

    path.write_text(synth(n // 2, False), encoding="utf-8")


def write_gb(path: Path, gb: float) -> int:
    """About ``gb`` GB of JSONL: one valid 10k-op block written again and again."""
    block = tempfile.NamedTemporaryFile(delete=False, suffix=".jsonl")
    block.close()
    write_jsonl(Path(block.name), 10_000)
    data = Path(block.name).read_bytes()
    os.unlink(block.name)
    copies = max(1, int(gb * 1e9 / len(data)))
    with open(path, "wb") as fh:
        for _ in range(copies):
            fh.write(data)
    return copies * 10_000


WRITERS = {"jsonl": write_jsonl, "jepsen-edn": write_elle, "knossos-edn": write_knossos,
           "porcupine-etcd": write_etcd, "porcupine-kv": write_kv}


def child(kind: str, path: str, repeat: int) -> None:
    """Run in a fresh process: read the file, print ops, best seconds and peak RSS as JSON."""
    from harness.formats import load_history
    from harness.history import iter_jsonl, no_gc, read_jsonl

    best, cpu, ops = float("inf"), float("inf"), 0
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        if kind == "stream":
            with no_gc():
                ops = sum(1 for _ in iter_jsonl(path))
        elif kind == "full":
            ops = len(read_jsonl(path))
        else:
            ops = len(load_history(path, kind).history)
        best = min(best, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
    print(json.dumps({"ops": ops, "s": best, "cpu": cpu, "rss": _peak_rss()}))


def _peak_rss() -> int:
    """This process's peak RSS in bytes: VmHWM, which starts afresh at exec.

    (``getrusage``'s ``ru_maxrss`` keeps the parent's high-water mark across
    fork+exec on Linux, so a child started by a big parent reports the parent.)
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_child(kind: str, path: Path, repeat: int) -> dict[str, float]:
    r = subprocess.run([sys.executable, __file__, "--child", kind, str(path), "--repeat", str(repeat)],
                       capture_output=True, text=True, check=True)
    out: dict[str, float] = json.loads(r.stdout.strip().splitlines()[-1])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--gb", type=float, default=1.0)
    ap.add_argument("--full-ops", type=int, default=1_000_000)
    ap.add_argument("--skip-gb", action="store_true")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.repeat)
        return
    rows: list[list[str]] = []
    load = os.getloadavg()[0]

    def add(name: str, size: int, r: dict[str, float]) -> None:
        rows.append([name, f"{int(r['ops']):,}", f"{size / 1e6:,.1f}", f"{r['s']:.2f}",
                     f"{r['ops'] / r['s']:,.0f}", f"{r['cpu']:.2f}", f"{r['ops'] / r['cpu']:,.0f}",
                     f"{r['rss'] / 1e6:,.0f}"])
        print("  ".join(rows[-1]), file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        for kind, write in WRITERS.items():
            for n in (10_000, 100_000):
                p = Path(tmp) / f"{kind}-{n}"
                write(p, n)
                add(f"{kind} {n // 1000}k", p.stat().st_size, run_child(kind, p, args.repeat))
                p.unlink()
        p = Path(tmp) / "full.jsonl"
        write_jsonl(p, args.full_ops)
        add(f"jsonl {args.full_ops // 1000}k, full History", p.stat().st_size, run_child("full", p, 1))
        p.unlink()
    if not args.skip_gb:
        fd, name = tempfile.mkstemp(prefix="faultbox-bench-", suffix=".jsonl", dir="/tmp")
        os.close(fd)
        gb = Path(name)
        try:
            write_gb(gb, args.gb)
            add(f"jsonl {gb.stat().st_size / 1e9:.2f} GB, streamed", gb.stat().st_size, run_child("stream", gb, 1))
        finally:
            gb.unlink()
    print(f"load average at start {load:.1f}, at end {os.getloadavg()[0]:.1f}, on {os.cpu_count()} cores "
          "(a shared machine: wall figures suffer, CPU figures less)")
    head = ["history", "ops", "MB", "wall s", "ops/s", "CPU s", "ops/CPU-s", "peak RSS MB"]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    for r in [head, ["-" * w for w in widths], *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


if __name__ == "__main__":
    main()
