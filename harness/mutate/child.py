"""The child side of a mutant run: started through ``overlay.BOOT`` with the mutant's
``systems/`` ahead of the repo's, so everything here runs the mutated code.

``python -c BOOT <overlay> harness.mutate.child sim '<json spec>'`` — simulation swarm
runs; ``… docker '<json spec>'`` — Docker runs on a per-mutant node image. Each prints
one result line ``FAULTBOX-MUTATE-RESULT {json}`` on stdout (the parent ignores every
other line). A run is *killed* when a checker finds it invalid; the checkers that did
are named, and ``crash`` (a node died on its own: the system's own assert or exception)
is told apart from the checkers of the history.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

__all__ = ["RESULT_TAG", "failing_checkers", "sim_runs", "docker_runs", "docker_argv", "docker_workload", "main"]

RESULT_TAG = "FAULTBOX-MUTATE-RESULT "
# A node that died on its own: the system's own assert or exception, not a checker's finding.
NODE_CHECKERS = frozenset({"crash"})
# Compare the nodes' status snapshots (applied-state digests), not the client history.
STATUS_CHECKERS = frozenset({"divergence"})
# Checkers that never make a run invalid (perf): ignored when naming. (stats does: a client
# function that never succeeded, checkers/stats.py; it is a checker of the history.)
_QUIET = frozenset({"perf"})


def failing_checkers(details: Any) -> list[str]:
    """Names of the composed checkers whose verdict is False, in order."""
    if not isinstance(details, dict):
        return []
    out = []
    for name, res in details.items():
        if isinstance(res, dict) and res.get("valid") is False and name not in _QUIET:
            out.append(str(name))
    return out


def succeeded_fs(ops: Any) -> list[str]:
    """Client functions that succeeded at least once."""
    return sorted({op.f for op in ops if op.process != "nemesis" and op.type == "ok"})


def starved(ops: Any, least: int = 10) -> list[str]:
    """Client functions invoked at least ``least`` times that never once succeeded (every
    write failing, say): no safety checker objects, but the system did not work. (Compared
    with the unmutated build's run of the same seed by the parent: a cas that never
    matches is no finding.)"""
    invoked: dict[str, int] = {}
    for op in ops:
        if op.process != "nemesis" and op.type == "invoke":
            invoked[op.f] = invoked.get(op.f, 0) + 1
    ok = set(succeeded_fs(ops))
    return sorted(f for f, n in invoked.items() if n >= least and f not in ok)


def _first_anomaly(anomalies: Any) -> str:
    for a in anomalies or ():
        kind = a.get("kind") if isinstance(a, dict) else getattr(a, "kind", "")
        expl = a.get("explanation") if isinstance(a, dict) else getattr(a, "explanation", "")
        line = " ".join(f"{kind}: {expl}".split())
        return line if len(line) <= 300 else line[:299] + "…"
    return ""


def _run_record(seed: int, workload: str, checkers: list[str], valid: Any, anomaly: str,
                seconds: float, command: str, **extra: Any) -> dict[str, Any]:
    return {"seed": seed, "workload": workload, "valid": valid, "checkers": checkers,
            "history": any(c not in NODE_CHECKERS | STATUS_CHECKERS for c in checkers),
            "external": any(c not in NODE_CHECKERS for c in checkers),
            "anomaly": anomaly, "seconds": round(seconds, 2), "command": command, **extra}


def sim_runs(spec: dict[str, Any]) -> dict[str, Any]:
    """Swarm runs, seed after seed, workloads in turn, until a history checker kills the
    mutant or ``runs`` are done. Each run draws its own fault mix (harness.sim.swarm.draw)."""
    from checkers.core import safe_check
    from checkers.divergence import with_divergence
    from harness.history import History
    from harness.options import Options
    from harness.sim.run import _test_map, make_workload, sim_command, simulate
    from harness.sim.swarm import draw

    base = Options(system=spec["system"], nodes=int(spec["nodes"]), backend="sim",
                   time_limit_s=float(spec["time_limit_s"]), rate=float(spec["rate"]),
                   concurrency=int(spec["concurrency"]), recovery_s=float(spec["recovery_s"]),
                   nemesis=tuple(spec["nemesis"]), report=False,
                   monitor_hz=5.0 if spec.get("divergence", True) else 0.0)
    workloads = list(spec["workloads"])
    if spec.get("snapshot_every"):
        _snapshot_every(spec["system"], int(spec["snapshot_every"]))
    runs: list[dict[str, Any]] = []
    t0 = time.monotonic()
    for i in range(int(spec["runs"])):
        seed = int(spec["seed"]) + i
        wl = workloads[i % len(workloads)]
        opts, sim = draw(replace(base, workload=wl), seed)
        if spec.get("interval_s"):
            opts = replace(opts, nemesis_interval_s=float(spec["interval_s"]))
        workload = make_workload(opts)
        r0 = time.monotonic()
        try:
            run = simulate(opts, sim, workload)
            hungry, fed = starved(run.ops), succeeded_fs(run.ops)
            checker = workload.checker
            if run.statuses:
                checker = with_divergence(checker, run.statuses)
            result = safe_check(checker, _test_map(opts, sim), History(run.ops), None)
            checkers = failing_checkers(result.details)
            valid: Any = result.valid
            anomaly = _first_anomaly([a.to_dict() for a in result.anomalies if a.kind != "perf"])
        except Exception as e:  # noqa: BLE001 - the harness itself failing is an error, not a kill
            checkers, valid, anomaly = [], "error", f"{type(e).__name__}: {e}"
            hungry, fed = [], []
        runs.append(_run_record(seed, wl, checkers, valid, anomaly, time.monotonic() - r0,
                                sim_command(opts, sim), nemesis=list(opts.nemesis),
                                starved=hungry, succeeded=fed))
        if any(r["history"] for r in runs):
            break
    return {"runs": runs, "seconds": round(time.monotonic() - t0, 2)}


def _snapshot_every(system: str, every: int) -> None:
    """Compact (and so install snapshots on lagging followers) every ``every`` applied
    entries instead of the node's default — the server's ``--snapshot-every`` — so the
    short simulated runs reach the snapshot code paths."""
    from harness.sim.adapter import load_adapter

    adapter: Any = load_adapter(system)
    cfg = getattr(adapter, "config", None)
    if cfg is None or not hasattr(cfg, "snapshot_every"):
        raise SystemExit(f"the {system} simulation adapter has no snapshot_every setting")
    adapter.config = replace(cfg, snapshot_every=every)


def docker_runs(spec: dict[str, Any]) -> dict[str, Any]:
    """Docker runs of the mutant: a per-mutant node image built offline from the overlay
    (removed afterwards unless it existed before), then ``faultbox run`` per seed until a
    history checker kills it or ``runs`` are done."""
    import harness.image as image

    overlay = Path(sys.path[0])
    image.SYSTEMS_DIR = overlay / "systems"  # the node image gets the mutated systems/
    image.REPO_ROOT = overlay
    store = Path(spec["store"])
    runs: list[dict[str, Any]] = []
    t0 = time.monotonic()
    tag, existed = _image_tag(image)
    try:
        for i in range(int(spec["runs"])):
            seed = int(spec["seed"]) + i
            runs.append(_docker_run(spec, seed, docker_workload(spec, i), store / f"seed-{seed}"))
            if any(r["history"] for r in runs) or runs[-1]["valid"] == "error":
                break
    finally:
        if tag and not existed:
            _remove_image(tag)
    return {"runs": runs, "seconds": round(time.monotonic() - t0, 2), "image": tag}


def _image_tag(image: Any) -> tuple[str | None, bool]:
    import os

    try:
        client = image._client()
        tag = image.node_tag(image.base_tag(os.environ.get("FAULTBOX_IMAGE_BASE") or None))
        return tag, image._image_exists(client, tag)
    except Exception:  # noqa: BLE001 - no engine: the run itself reports it
        return None, True


def _remove_image(tag: str) -> None:
    import contextlib

    import docker

    with contextlib.suppress(Exception):
        docker.from_env(timeout=60).images.remove(tag, force=False, noprune=False)


def docker_workload(spec: dict[str, Any], i: int) -> str:
    """The workload of the mutant's ``i``-th Docker run: the target's workloads in turn,
    starting at the mutant's own offset, so a mutant's runs cover every workload (a bug
    only the linearizable register shows is not left to set runs alone)."""
    workloads = list(spec["workloads"])
    return str(workloads[(int(spec.get("first", 0)) + i) % len(workloads)])


def docker_argv(spec: dict[str, Any], seed: int, workload: str, store: Path) -> list[str]:
    """The ``faultbox run`` command line of one Docker run of the mutant."""
    argv = ["faultbox", "run", "--system", spec["system"], "--workload", workload,
            "--nodes", str(spec["nodes"]), "--nemesis", ",".join(spec["nemesis"]),
            "--time-limit", str(spec["time_limit_s"]), "--seed", str(seed),
            "--store", str(store), "--no-report"]
    if spec.get("interval_s"):
        argv += ["--nemesis-interval", str(spec["interval_s"])]
    if spec.get("snapshot_every"):
        argv += ["--opt", f"snapshot_every={int(spec['snapshot_every'])}"]
    return argv


def _docker_run(spec: dict[str, Any], seed: int, workload: str, store: Path) -> dict[str, Any]:
    from harness.cli import main as cli_main

    argv = docker_argv(spec, seed, workload, store)
    old = sys.argv
    sys.argv = argv
    r0 = time.monotonic()
    code: Any = 0
    try:
        cli_main()
    except SystemExit as e:
        code = e.code
    finally:
        sys.argv = old
    seconds = time.monotonic() - r0
    results_path = _latest_results(store)
    command = " ".join(argv)
    if results_path is None:
        return _run_record(seed, workload, [], "error", f"no results (exit {code})",
                           seconds, command, exit_code=code)
    res = json.loads(results_path.read_text())
    checkers = failing_checkers(res.get("checkers") or res.get("details"))
    anomaly = _first_anomaly(res.get("anomalies") or [])
    return _run_record(seed, workload, checkers, res.get("valid"), anomaly, seconds,
                       command, exit_code=code, run_dir=str(results_path.parent))


def _latest_results(store: Path) -> Path | None:
    found = sorted(store.glob("*/*/results.json"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[1] not in ("sim", "docker"):
        print("usage: harness.mutate.child sim|docker SPEC-JSON", file=sys.stderr)
        return 2
    spec = json.loads(argv[2])
    out = sim_runs(spec) if argv[1] == "sim" else docker_runs(spec)
    print(RESULT_TAG + json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
