"""Fabricated stored runs for report tests and the render bench.

``write_run`` writes a run folder the way the runner does (test.json,
history.jsonl, results.json, node logs, nemesis.log).  The history is a
seeded register/kv workload on 5 workers with partition, kill and an
unhealed pause fault, plus — when ``stale_read`` — a scripted stale read on
key ``k3`` and a linearizability result that names it, shaped like the real
checker's details.
"""

from __future__ import annotations

import contextlib
import json
import random
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CONCURRENCY = 5
KEYS = ("k0", "k1", "k2", "k4")
MS = 1_000_000


def _client_events(n_ops: int, rng: random.Random, duration_ns: int) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    per_worker = max(1, n_ops // CONCURRENCY)
    gap_ns = max(1, duration_ns // per_worker)
    part = (int(duration_ns * 0.3), int(duration_ns * 0.5))
    for slot in range(CONCURRENCY):
        process, t = slot, rng.randrange(0, gap_ns)
        for _ in range(per_worker):
            key = rng.choice(KEYS)
            f = rng.choice(("read", "read", "write", "cas"))
            value: Any = {"key": key}
            if f == "write":
                value["value"] = rng.randrange(10)
            elif f == "cas":
                value["value"] = [rng.randrange(10), rng.randrange(10)]
            node = f"n{rng.randrange(1, 4)}"
            in_partition = part[0] <= t < part[1]
            lat = max(1000, int(rng.lognormvariate(1.2, 0.6) * MS))
            roll = rng.random()
            kind = "ok"
            if in_partition and roll < 0.25:
                kind, lat = "info", 1000 * MS
            elif in_partition and roll < 0.5 or f == "cas" and roll < 0.3:
                kind = "fail"
            inv = {"process": process, "type": "invoke", "f": f, "value": value, "node": node}
            done_value = dict(value)
            if f == "read" and kind == "ok":
                done_value["value"] = rng.randrange(10)
            comp = {"process": process, "type": kind, "f": f, "value": done_value, "node": node}
            if kind != "ok":
                comp["error"] = "timeout" if kind == "info" else "cas-mismatch"
            events.append({**inv, "time_ns": t})
            events.append({**comp, "time_ns": t + lat})
            t += lat + max(1, int(rng.expovariate(1 / gap_ns)))
            if kind == "info":
                process += CONCURRENCY
    return events


def _nemesis_events(duration_ns: int) -> list[dict[str, Any]]:
    def op(frac: float, f: str, value: Any, dt_ms: int = 3) -> list[dict[str, Any]]:
        t = int(duration_ns * frac)
        base = {"process": "nemesis", "f": f}
        return [
            {**base, "type": "invoke", "value": None, "time_ns": t},
            {**base, "type": "info", "value": value, "time_ns": t + dt_ms * MS},
        ]

    return [
        *op(0.3, "start-partition", {"n1": ["n3"], "n2": ["n3"], "n3": ["n1", "n2"]}),
        *op(0.5, "stop-partition", "healed"),
        *op(0.6, "start-kill", ["n2"]),
        *op(0.7, "stop-kill", ["n2"]),
        *op(0.9, "start-pause", ["n1"]),
    ]


def _stale_read_events(duration_ns: int) -> list[dict[str, Any]]:
    """Key k3: write 5, then write 7, then a read (invoked after both) that returns 5."""
    t = int(duration_ns * 0.62)
    script = [
        (101, "write", 5, 5, 0, 4),
        (102, "write", 7, 7, 6, 11),
        (103, "read", None, 7, 8, 10),
        (104, "read", None, 5, 13, 16),
    ]
    events = []
    for process, f, inv_v, out_v, a_ms, b_ms in script:
        inv = {"key": "k3"} if inv_v is None else {"key": "k3", "value": inv_v}
        events.append(
            {
                "process": process,
                "type": "invoke",
                "f": f,
                "value": inv,
                "node": "n1",
                "time_ns": t + a_ms * MS,
            }
        )
        events.append(
            {
                "process": process,
                "type": "ok",
                "f": f,
                "value": {"key": "k3", "value": out_v},
                "node": "n1",
                "time_ns": t + b_ms * MS,
            }
        )
    return events


def _results(ops: list[dict[str, Any]], stale_read: bool) -> dict[str, Any]:
    k3 = [
        o["index"]
        for o in ops
        if o["type"] == "invoke" and isinstance(o["value"], dict) and o["value"].get("key") == "k3"
    ]
    lin: dict[str, Any] = {
        "valid": True,
        "anomalies": [],
        "details": {
            "model": "kv-register",
            "states_explored": 1234,
            "check_seconds": 0.4,
            "ops": len(ops),
        },
    }
    if stale_read and len(k3) == 4:
        w5, w7, r7, r5 = k3
        explanation = (
            f"Key k3: read #{r5} returned 5, but write #{w7} of 7 completed before "
            "the read began (a stale read)."
        )
        lin = {
            "valid": False,
            "anomalies": [
                {
                    "kind": "nonlinearizable",
                    "explanation": explanation,
                    "ops": [r5, w7],
                    "data": {"key": "k3"},
                }
            ],
            "details": {
                **lin["details"],
                "failing_key": "k3",
                "part_ops": k3,
                "partial_linearizations": [[w5, w7, r7], [w5, w7]],
                "failed_op": r5,
                "explanation": explanation,
            },
        }
    by_f: dict[str, dict[str, int]] = {}
    for o in ops:
        if o["type"] != "invoke" and o["process"] != "nemesis":
            by_f.setdefault(o["f"], {"ok": 0, "fail": 0, "info": 0})[o["type"]] += 1
    verdict = "valid" if lin["valid"] is True else "invalid"
    return {
        "valid": lin["valid"],
        "verdict": verdict,
        "ops": len(ops),
        "check_seconds": 0.5,
        "checkers": {
            "linearizable": lin,
            "stats": {
                "valid": True,
                "anomalies": [],
                "details": {"by_f": by_f, "availability": 0.93},
            },
            "perf": {
                "valid": True,
                "anomalies": [],
                "details": {"latency_ms": {"read": {"p50": 3.1}}},
            },
        },
    }


def write_run(
    run_dir: Path,
    n_ops: int = 400,
    seed: int = 42,
    stale_read: bool = True,
    results: bool = True,
    extra_events: list[dict[str, Any]] | None = None,
) -> Path:
    """Write a complete fabricated run folder; returns run_dir."""
    rng = random.Random(seed)
    duration_ns = max(2_000, n_ops // 50) * MS * 10
    events = _client_events(n_ops, rng, duration_ns) + _nemesis_events(duration_ns)
    if stale_read:
        events += _stale_read_events(duration_ns)
    events += extra_events or []
    events.sort(key=lambda e: e["time_ns"])
    for i, e in enumerate(events):
        e["index"] = i
    run_dir.mkdir(parents=True, exist_ok=True)
    test = {
        "name": "raftkv-register-partition,kill",
        "system": "raftkv",
        "workload": "register",
        "nemesis": ["partition", "kill", "pause"],
        "nodes": ["n1", "n2", "n3"],
        "concurrency": CONCURRENCY,
        "rate": 100.0,
        "time_limit_s": duration_ns // 10**9,
        "seed": seed,
        "backend": "docker",
        "bugs": ["stale-read"] if stale_read else [],
        "git_commit": "abc123",
        "command": f"faultbox run --system raftkv --workload register --nemesis partition,kill "
        f"--seed {seed}" + (" --bug stale-read" if stale_read else ""),
        "start_time": "2026-11-25T12:34:56Z",
        "end_time": "2026-11-25T12:35:16Z",
        "faultbox_version": "0.1.0",
    }
    (run_dir / "test.json").write_text(json.dumps(test), encoding="utf-8")
    with open(run_dir / "history.jsonl", "w", encoding="utf-8") as fh:
        for e in events:
            fh.write(json.dumps(e, separators=(",", ":")) + "\n")
    if results:
        (run_dir / "results.json").write_text(json.dumps(_results(events, stale_read)))
    for node in ("n1", "n2", "n3"):
        (run_dir / "nodes" / node).mkdir(parents=True, exist_ok=True)
        (run_dir / "nodes" / node / "server.log").write_text(f"{node} started\n")
    (run_dir / "nemesis.log").write_text("start-partition\nstop-partition\n")
    return run_dir


@contextlib.contextmanager
def serving(store_root: Path) -> Iterator[str]:
    """``faultbox serve``'s server on a free local port for the ``with`` body; yields its base URL."""
    import reports

    server = reports.make_server(store_root, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host}:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
