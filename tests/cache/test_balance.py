"""Bounded-load routing state shared by a run's clients, slow-reader and bounded-load
options (parsed and refused with one line), and lease tokens unique across restarts."""

from __future__ import annotations

import pytest

from harness.errors import UsageError
from harness.options import Options, validate
from nemesis import PACKAGES
from systems import SYSTEMS, get_system
from systems.cache.client import Balancers, CacheClient, make_cache_client, shared_balancers
from systems.cache.node import PER_INCARNATION, CacheCore, Miss, NotStored
from systems.cache.ring import Ring
from workloads import REGISTRY


def test_plain_balancers_count_in_flight_reads_and_route_to_the_owner() -> None:
    ring = Ring(["a", "b", "c"], 50)
    b = Balancers(None)
    key = "k0"
    picks = [b.acquire(7, ring, key) for _ in range(5)]
    assert {n for n, _ in picks} == {ring.lookup(key)}
    assert picks[-1][1] == {"here": 5, "inflight": 5, "nodes": 3}
    for n, _ in picks:
        b.release(7, n)


def test_bounded_balancers_spill_and_drop_idle_old_epochs() -> None:
    ring = Ring(["a", "b", "c"], 50)
    b = Balancers(1.25)
    picks = [b.acquire(1, ring, "k0") for _ in range(9)]
    per = {n: sum(1 for p, _ in picks if p == n) for n in ring.nodes}
    assert max(per.values()) <= 4 and len([n for n in per if per[n]]) >= 2  # ceil(1.25*9/3)
    newer = b.acquire(2, ring.without_node("c"), "k0")
    for n, _ in picks:
        b.release(1, n)
    assert 1 not in b._by_epoch and 2 in b._by_epoch  # idle and not the newest: dropped
    b.release(2, newer[0])
    with pytest.raises(ValueError):
        Balancers(0.5)


def test_clients_on_one_cluster_share_one_balancer() -> None:
    cl = {"n1": ("127.0.0.1", 1), "n2": ("127.0.0.1", 2)}
    assert shared_balancers(cl, 1.25) is shared_balancers(dict(cl), 1.25)
    assert shared_balancers(cl, 0.0) is not shared_balancers(cl, 1.25)
    assert shared_balancers(cl, 0.0).bounded is False
    c = make_cache_client(cl, "n1", 1.0, bounded_load=1.5, fill_delay_ms=20)
    assert isinstance(c, CacheClient) and c.balancers.balance == 1.5 and c.fill_delay_s == 0.02
    with pytest.raises(ValueError):
        CacheClient(cl, "n1", 1.0, fill_delay_ms=-1)


@pytest.mark.parametrize(("opt", "message"), [
    ("bounded_load=0.5", "must be >= 1"),
    ("bounded_load=x", "takes float values"),
    ("fill_delay_ms=-3", "must be >= 0"),
    ("fill_delay_ms=5000", "must be <= 2000"),
    ("vnodes=3", "has no option"),
])
def test_bad_cache_options_are_one_line_usage_errors(opt: str, message: str) -> None:
    name, _, value = opt.partition("=")
    o = Options(system="cache", workload="cache", system_opts=((name, value),))
    systems = {n: get_system(n) for n in SYSTEMS}
    with pytest.raises(UsageError, match=message):
        validate(o, systems, list(REGISTRY), list(PACKAGES))


def test_options_are_client_options_only() -> None:
    spec = get_system("cache").configured({"bounded_load": "1.25", "fill_delay_ms": "300"})
    assert spec.client_settings() == {"bounded_load": 1.25, "fill_delay_ms": 300}
    assert not any(opt.server for opt in spec.options.values())


def test_a_restarted_node_never_reissues_a_lease_token_of_its_previous_life() -> None:
    old, new = CacheCore(incarnation=5), CacheCore(incarnation=6)
    lease = old.get("k")
    assert isinstance(lease, Miss) and lease.lease == 5 * PER_INCARNATION + 1
    fresh = new.get("k")
    assert isinstance(fresh, Miss) and fresh.lease != lease.lease
    assert new.set("k", "stale", lease=lease.lease) == NotStored("lease")
    with pytest.raises(ValueError):
        CacheCore(incarnation=-1)


def test_run_without_workload_takes_the_systems_only_workload(tmp_path) -> None:  # noqa: ANN001
    """``faultbox run --backend sim --system cache`` runs the cache workload (the CLI's
    default ``register`` is only for systems that serve it)."""
    import json
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--backend", "sim",
                        "--system", "cache", "--time-limit", "1", "--seed", "1", "--no-report",
                        "--store", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, (r.stdout, r.stderr)
    (test,) = tmp_path.glob("*/*/test.json")
    assert json.loads(test.read_text())["workload"] == "cache"
