"""The cache under membership churn in containers: nodes join as new containers, leave,
crash out and flap their registration; ``stale-owner`` is caught, the correct build
stays valid composed with partitions, kills and pauses, and added containers are gone
after the run.

Why ``stale-owner`` needs the schedule it has: writers invalidate the key's owners
under their newest two rings and store replicas delete what they apply, so only a
cache-only node out of the ring across *two* changes misses invalidations; the
membership nemesis deregisters an added node, joins a replacement at once, makes
two more changes, then brings it back, when (with the switch) it serves what it
cached before it left.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.history import read_jsonl
from harness.options import Options
from harness.runner import RunOutcome, run_test


def campaign(tmp_path: Path, seed: int, nemesis: tuple[str, ...], bugs: tuple[str, ...] = (),
             time_limit_s: float = 20.0, keys: int = 8) -> RunOutcome:
    from systems import get_system
    from workloads import WorkloadOptions, get_workload

    opts = Options(
        system="cache", workload="cache", nemesis=nemesis, nodes=5, concurrency=5, rate=200.0,
        time_limit_s=time_limit_s, seed=seed, backend="docker", bugs=bugs, op_timeout_s=2.0,
        nemesis_interval_s=1.5, recovery_s=2.0, check_budget_s=60.0,
        store=tmp_path / f"store{seed}", report=False,
    )
    workload = get_workload("cache", WorkloadOptions(rate=opts.rate, concurrency=5, keys=keys))
    notices: list[str] = []
    out = run_test(opts, get_system("cache"), workload, notice=notices.append)
    assert not notices, notices  # no fallback to the local backend
    return out


def _changes(out: RunOutcome) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = out.results["checkers"]["cache"]["details"].get(
        "membership", [])
    return rows


def _our_containers() -> list[str]:
    """Containers this test process's harness owns (every run here is over by now)."""
    import docker

    from harness.backends.docker import owner_token

    client = docker.from_env()
    try:
        found = client.containers.list(
            all=True, filters={"label": f"faultbox.owner={owner_token()}"})
        return [c.name for c in found]
    finally:
        client.close()


@pytest.mark.docker
@pytest.mark.slow
def test_stale_owner_is_caught_under_membership(tmp_path: Path, node_image: str) -> None:
    outs = []
    # 32 keys: with the default 8 a node owns about one key, and a band exposes the
    # switch only if that key was cached there and written while the node was out
    # (about one band in four); with 32 keys 3 of 3 local 20 s runs were invalid.
    for seed in (3, 4):  # each run is a sample
        out = campaign(tmp_path, seed, ("membership",), bugs=("stale-owner",), keys=32)
        outs.append(out)
        if out.valid is False:
            break
    out = outs[-1]
    cache = out.results["checkers"]["cache"]
    assert out.valid is False, [o.results["checkers"]["cache"]["details"] for o in outs]
    kinds = {a["kind"] for a in cache["anomalies"]}
    assert kinds <= {"stale-read", "not-converged"} and kinds, kinds
    text = cache["anomalies"][0]["explanation"]
    assert "certainly followed" in text or "the store has" in text, text
    history = read_jsonl(out.run_dir / "history.jsonl")
    actions = {op.value.get("action") for op in history
               if op.f == "start-membership" and op.type != "invoke" and op.value}
    assert actions & {"flap", "replace"}, actions  # replace = flap an added node, then join


@pytest.mark.docker
@pytest.mark.slow
def test_correct_cache_stays_valid_under_membership_and_faults(
        tmp_path: Path, node_image: str) -> None:
    out = campaign(tmp_path, 6, ("partition", "kill", "pause", "membership"), time_limit_s=25.0)
    assert out.valid is True, out.results["anomalies"][:3]
    history = read_jsonl(out.run_dir / "history.jsonl")
    done = [op for op in history if op.f == "start-membership" and op.type != "invoke"
            and op.error is None]
    assert done, "the membership nemesis did nothing"  # (under partitions the registry may
    # not answer in time: such a change is recorded unsettled, with no figures)
    for row in _changes(out):
        assert row["epoch"] and row["members"] and row["ideal"]
    joined = [op.value["node"] for op in history if op.f == "start-membership"
              and op.type != "invoke" and isinstance(op.value, dict)
              and op.value.get("action") == "join" and op.error is None]
    for node in joined:  # an added container's log was collected
        assert (out.run_dir / "nodes" / node / "server.log").exists()
    assert _our_containers() == []  # teardown removed every container, added ones too
