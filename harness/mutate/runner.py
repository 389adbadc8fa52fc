"""``faultbox mutate``: mutants through the unit tests, the simulation swarm and Docker.

Stages, each in child processes (``--jobs`` at a time), each mutant an overlay:

1. **import** — the mutated modules must import (else: *invalid mutant*);
2. **unit** — the target's fast unit tests with ``-x`` and a per-mutant timeout; a
   failure or a hang is *killed by unit tests* (the harness is not needed for it);
3. **sim** — survivors run the simulation swarm (seeds, each its own drawn fault mix,
   workloads in turn) until a history checker kills them or the runs are used up;
4. **docker** — a deterministic sample of ``docker_sample`` unit-test survivors (curated
   mutants first) runs real Docker clusters on a per-mutant node image.

The result (:func:`run_mutate`) is a dict written as ``mutate.json`` (see
``harness.mutate.report``): the mutants with every stage's outcome and the scores.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import UsageError
from harness.mutate.child import RESULT_TAG
from harness.mutate.mutants import Mutant, load_curated, operator_mutants, sample
from harness.mutate.overlay import (
    REPO_ROOT,
    SYSTEMS_DIR,
    child_argv,
    kill_children,
    make_overlay,
    run_child,
)
from harness.mutate.scores import LIVE, scores
from harness.mutate.targets import TARGETS, Target

__all__ = ["MutateConfig", "select_mutants", "load_equivalent", "run_mutate"]

Say = Callable[[str], None]


@dataclass(frozen=True)
class MutateConfig:
    system: str = "raftkv"
    operators: int | None = 40  # operator mutants sampled (None: all)
    only: tuple[str, ...] = ()  # run just these mutant ids
    # Swarm runs are cheap (~0.5 s); the rarer kills came after 15-70 runs, so 30 runs
    # scored raftkv 87 % where 100 scored 93 % (docs/mutation.md).
    sim_runs: int = 100
    sim_time_limit_s: float = 10.0
    sim_nemesis: tuple[str, ...] = ()  # empty: the target's pool
    rate: float = 100.0
    concurrency: int = 5
    recovery_s: float = 3.0
    interval_s: float | None = None  # None: the swarm draws the nemesis interval
    snapshot_every: int | None = 50  # sim: compact every N applied entries (None: node default)
    divergence: bool = True  # sim: status monitor + divergence checker (issue 20 item 4)
    docker_sample: int = 4
    docker_runs: int = 2
    docker_time_limit_s: float = 60.0
    docker_nemesis: tuple[str, ...] = ("default",)  # faultbox run's --nemesis default
    jobs: int = 2
    unit_timeout_s: float = 120.0
    unit_args: tuple[str, ...] | None = None  # pytest arguments instead of the target's
    skip_unit_tests: bool = False  # every valid mutant goes on to the sim and Docker stages
    seed: int = 0
    out: Path = field(default=Path("store/mutate"))


def load_equivalent(paths: list[Path]) -> dict[str, str]:
    import tomllib

    out: dict[str, str] = {}
    for p in paths:
        table = tomllib.loads(p.read_text()).get("equivalent", {})
        if not isinstance(table, dict):
            raise UsageError(f"{p}: [equivalent] must be a table of id = explanation")
        out.update({str(k): str(v) for k, v in table.items()})
    return out


def select_mutants(cfg: MutateConfig, target: Target) -> list[Mutant]:
    """Curated mutants, then a deterministic sample of operator mutants (or ``only``)."""
    curated: list[Mutant] = []
    for rel in target.curated:
        curated += load_curated(REPO_ROOT / rel, SYSTEMS_DIR)
    ops = operator_mutants(SYSTEMS_DIR, target.files, skip_functions=target.skip_functions,
                           skip_guards=target.skip_guards)
    if cfg.only:
        by_id = {m.id: m for m in curated + ops}
        missing = [i for i in cfg.only if i not in by_id]
        if missing:
            raise UsageError(f"unknown mutant id {missing[0]!r} for system {cfg.system}")
        return [by_id[i] for i in cfg.only]
    curated_src = {(m.file, m.start, m.end, m.after) for m in curated}
    ops = [m for m in ops if (m.file, m.start, m.end, m.after) not in curated_src]
    return curated + sample(ops, cfg.operators, cfg.seed)


def _parse_result(stdout: str) -> dict[str, Any] | None:
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT_TAG):
            try:
                got = json.loads(line[len(RESULT_TAG):])
            except ValueError:
                return None
            return got if isinstance(got, dict) else None
    return None


def _tail(text: str, n: int = 3) -> str:
    lines = [x for x in text.strip().splitlines() if x.strip()]
    return " | ".join(lines[-n:])[-400:]


def _modules(m: Mutant) -> str:
    return "systems." + m.file[: -len(".py")].replace("/", ".")


def _unit_stage(cfg: MutateConfig, target: Target, m: Mutant | None,
                overlay: Path) -> dict[str, Any]:
    mods = [_modules(m)] if m is not None else [f"systems.{target.system}"]
    imp = run_child(child_argv(overlay, "harness.mutate.probe", *mods), 60)
    if imp.returncode != 0:
        return {"outcome": "invalid", "detail": _tail(imp.stderr or imp.stdout) or "import hung",
                "seconds": imp.seconds}
    if cfg.skip_unit_tests and m is not None:
        return {"outcome": "skipped", "detail": "unit tests not run (--skip-unit-tests)",
                "seconds": imp.seconds}
    args = ["-x", "-q", "-p", "no:cacheprovider", "-m", "not docker and not slow",
            "--no-header", "-rf", *(cfg.unit_args or target.unit_tests)]
    res = run_child(child_argv(overlay, "pytest", *args), cfg.unit_timeout_s)
    if res.returncode is None:
        return {"outcome": "killed", "detail": f"the unit tests hung ({cfg.unit_timeout_s:.0f} s timeout)",
                "seconds": res.seconds}
    if res.returncode == 0:
        return {"outcome": "survived", "detail": "", "seconds": res.seconds}
    if res.returncode == 1:
        failed = [x for x in res.stdout.splitlines() if x.startswith("FAILED ")]
        detail = failed[0][len("FAILED "):] if failed else _tail(res.stdout)
        return {"outcome": "killed", "detail": detail[:300], "seconds": res.seconds}
    return {"outcome": "invalid", "detail": f"pytest exit {res.returncode}: {_tail(res.stdout)}",
            "seconds": res.seconds}


def _stage_summary(got: dict[str, Any] | None, err: str, seconds: float,
                   baseline_ok: dict[int, set[str]] | None = None) -> dict[str, Any]:
    """One stage's outcome from its runs. ``baseline_ok``: per seed, the client functions
    that succeeded in the unmutated build's run — a function that never succeeds counts
    as a liveness flag only where it succeeded there."""
    if got is None:
        return {"outcome": "error", "detail": _tail(err) or "no result", "runs": [],
                "seconds": seconds}
    runs = got.get("runs", [])
    out: dict[str, Any] = {"outcome": "survived", "runs": runs, "seconds": got.get("seconds", seconds),
                           "detail": ""}
    elapsed = 0.0
    for k, r in enumerate(runs, start=1):
        elapsed += float(r.get("seconds", 0))
        if r.get("valid") is False and "runs_to_kill" not in out:
            out.update(outcome="killed", runs_to_kill=k, seconds_to_kill=round(elapsed, 2),
                       caught_by=r.get("checkers", []), detail=r.get("anomaly", ""),
                       command=r.get("command", ""))
        if r.get("external") and "external_runs_to_kill" not in out:
            out.update(external_runs_to_kill=k, external_seconds_to_kill=round(elapsed, 2))
        if r.get("history") and "history_runs_to_kill" not in out:
            out.update(history_runs_to_kill=k, history_seconds_to_kill=round(elapsed, 2),
                       history_caught_by=[c for c in r.get("checkers", [])
                                          if c not in ("crash", "divergence")])
    for k, r in enumerate(runs, start=1):
        hungry = [f for f in r.get("starved", [])
                  if baseline_ok is None or f in baseline_ok.get(int(r.get("seed", -1)), set())]
        if r.get("valid") == "unknown" or hungry:
            why = (f"never succeeded: {', '.join(hungry)}" if hungry
                   else "verdict unknown (no client op succeeded)")
            out["liveness"] = {"run": k, "why": why, "command": r.get("command", "")}
            break
    if out["outcome"] == "survived" and any(r.get("valid") == "error" for r in runs):
        out["detail"] = next(r["anomaly"] for r in runs if r.get("valid") == "error")
    out["by"] = ("history" if "history_runs_to_kill" in out
                 else "divergence" if "external_runs_to_kill" in out
                 else "crash" if out["outcome"] == "killed" else "")
    return out


def _sim_stage(cfg: MutateConfig, target: Target, overlay: Path, seed: int,
               baseline_ok: dict[int, set[str]] | None = None) -> dict[str, Any]:
    spec = {"system": target.system, "nodes": target.nodes, "workloads": list(target.sim_workloads),
            "runs": cfg.sim_runs, "seed": seed, "time_limit_s": cfg.sim_time_limit_s,
            "rate": cfg.rate, "concurrency": cfg.concurrency, "recovery_s": cfg.recovery_s,
            "nemesis": list(cfg.sim_nemesis or target.sim_nemesis), "interval_s": cfg.interval_s,
            "snapshot_every": cfg.snapshot_every, "divergence": cfg.divergence}
    # A generous ceiling: a mutant that livelocks the simulation is cut by the storm guard.
    timeout = 60 + cfg.sim_runs * max(20.0, cfg.sim_time_limit_s * 4)
    res = run_child(child_argv(overlay, "harness.mutate.child", "sim", json.dumps(spec)), timeout)
    if res.returncode is None:
        return {"outcome": "error", "detail": f"the simulation hung ({timeout:.0f} s)", "runs": [],
                "seconds": res.seconds}
    return _stage_summary(_parse_result(res.stdout), res.stderr, res.seconds, baseline_ok)


def _docker_stage(cfg: MutateConfig, target: Target, m: Mutant, overlay: Path, k: int,
                  out: Path) -> dict[str, Any]:
    spec = {"system": target.system, "nodes": target.nodes,
            "workloads": list(target.docker_workloads), "first": k,
            "runs": cfg.docker_runs, "seed": cfg.seed, "time_limit_s": cfg.docker_time_limit_s,
            "nemesis": list(cfg.docker_nemesis), "interval_s": cfg.interval_s,
            "snapshot_every": _snapshot_opt(target.system, cfg.snapshot_every),
            "store": str((out / "docker" / _safe(m.id)).resolve())}
    timeout = cfg.docker_runs * (cfg.docker_time_limit_s + 240) + 300
    res = run_child(child_argv(overlay, "harness.mutate.child", "docker", json.dumps(spec)), timeout)
    return _stage_summary(_parse_result(res.stdout), res.stderr, res.seconds)


def _snapshot_opt(system: str, every: int | None) -> int | None:
    """``--snapshot-every`` for the Docker runs (``--opt snapshot_every=N``) when the
    system's servers take that option, else None (they keep their own compaction)."""
    from systems import get_system

    return every if every and "snapshot_every" in get_system(system).options else None


def _safe(mid: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in mid)[:80] + "-" + \
        hashlib.sha256(mid.encode()).hexdigest()[:6]


def _docker_pick(cfg: MutateConfig, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Which unit-test survivors go to Docker: curated ones first, in a seeded hash order."""
    pool = [r for r in records if r["unit"]["outcome"] in LIVE and not r.get("equivalent")]

    def key(r: dict[str, Any]) -> tuple[int, str]:
        h = hashlib.sha256(f"{cfg.seed}:{r['id']}".encode()).hexdigest()
        return (0 if r["kind"] == "curated" else 1, h)

    return sorted(pool, key=key)[: cfg.docker_sample]


def run_mutate(cfg: MutateConfig, say: Say | None = None) -> dict[str, Any]:
    """Run every stage; the ``mutate.json`` document."""
    log: Say = say or (lambda _m: None)
    target = TARGETS.get(cfg.system)
    if target is None:
        raise UsageError(f"faultbox mutate has no target for system {cfg.system!r} "
                         f"(known: {', '.join(sorted(TARGETS))})")
    t0 = time.monotonic()
    mutants = select_mutants(cfg, target)
    equivalent = load_equivalent([REPO_ROOT / p for p in target.curated])
    cfg.out.mkdir(parents=True, exist_ok=True)
    overlays = cfg.out / "overlays"
    records: list[dict[str, Any]] = [
        {**m.to_json(), "equivalent": equivalent.get(m.id), "unit": None, "sim": None,
         "docker": None} for m in mutants]
    by_id = {m.id: m for m in mutants}
    index = {m.id: i for i, m in enumerate(mutants)}
    try:
        baseline = _baseline(cfg, target, overlays)
        log(f"baseline: unit tests pass in {baseline['unit']['seconds']} s, "
            f"{len(baseline['sim']['runs'])} sim runs valid, "
            f"{baseline['liveness_runs']} with a liveness flag")

        baseline_ok = {int(r["seed"]): set(r.get("succeeded", []))
                       for r in baseline["sim"].get("runs", [])}

        def unit(r: dict[str, Any]) -> None:
            m = by_id[r["id"]]
            ov = make_overlay(overlays, index[m.id], m)
            r["unit"] = _unit_stage(cfg, target, m, ov)
            log(f"unit  {r['unit']['outcome']:9} {m.id}")

        _each(cfg.jobs, unit, records)
        live = [r for r in records if r["unit"]["outcome"] in LIVE]

        def sim(r: dict[str, Any]) -> None:
            ov = overlays / str(index[r["id"]])
            r["sim"] = _sim_stage(cfg, target, ov, cfg.seed, baseline_ok)
            s = r["sim"]
            log(f"sim   {s['outcome']:9} {r['id']} {s.get('by', '')} "
                f"{', '.join(s.get('caught_by', []))}")

        if cfg.sim_runs > 0:
            _each(cfg.jobs, sim, live)
        picked = _docker_pick(cfg, records)
        for k, r in enumerate(picked):  # one Docker cluster at a time
            ov = overlays / str(index[r["id"]])
            r["docker"] = _docker_stage(cfg, target, by_id[r["id"]], ov, k, cfg.out)
            log(f"docker {r['docker']['outcome']:9} {r['id']} {r['docker'].get('by', '')}")
    except BaseException:  # interrupted: no child (nor its cluster) may outlive the run
        kill_children()
        raise
    finally:
        shutil.rmtree(overlays, ignore_errors=True)
    doc = {"kind": "faultbox-mutate", "version": 1, "system": cfg.system,
           "config": {**asdict(cfg), "out": str(cfg.out)},
           "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "wall_seconds": round(time.monotonic() - t0, 1), "baseline": baseline,
           "mutants": records}
    doc["scores"] = scores(records)
    return doc


def _baseline(cfg: MutateConfig, target: Target, overlays: Path) -> dict[str, Any]:
    """The unmutated system through the same unit tests and sim runs: any failure there
    is a false alarm of the setup, not a kill, so the whole run stops (exit 2)."""
    ov = make_overlay(overlays, -1, None)
    unit = _unit_stage(cfg, target, None, ov)
    if unit["outcome"] != "survived":
        raise UsageError(f"the unmutated {cfg.system} fails its unit tests: {unit['detail']}")
    sim = _sim_stage(cfg, target, ov, cfg.seed) if cfg.sim_runs > 0 else {"runs": []}
    bad = [r for r in sim.get("runs", []) if r.get("valid") is not True]
    if sim.get("outcome") == "error" or bad:
        why = bad[0]["anomaly"] if bad else sim.get("detail")
        raise UsageError(f"the unmutated {cfg.system} is not valid in the simulation "
                         f"({bad[0]['command'] if bad else ''}): {why}")
    # The liveness flag means something only if the correct build never raises it.
    flagged = sum(1 for r in sim.get("runs", []) if r.get("valid") == "unknown")
    return {"unit": unit, "sim": sim, "liveness_runs": flagged}


def _each(jobs: int, fn: Callable[[dict[str, Any]], None], items: list[dict[str, Any]]) -> None:
    if jobs <= 1 or len(items) <= 1:
        for it in items:
            fn(it)
        return
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for f in [pool.submit(fn, it) for it in items]:
            f.result()
