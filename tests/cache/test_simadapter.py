"""The cache under the deterministic simulation backend: the correct build stays valid
(including the two schedules a swarm found the build invalid on before invalidation from the
log and the stopped-node flush), replays exactly, its nodes register through simulated
heartbeats, and ``no-invalidate`` is caught."""

from __future__ import annotations

from typing import Any

from harness.history import History
from harness.options import Options
from harness.sim.run import judge, make_workload, simulate
from harness.sim.world import SimOptions
from systems.cache.simadapter import HEARTBEAT_TICKS, CacheSimAdapter

ALL = ("partition", "kill", "pause", "clock", "packet")


def run(seed: int, nemesis: tuple[str, ...] = ALL, interval: float = 1.0, sim: str = "",
        bugs: tuple[str, ...] = (), time_limit: float = 10.0) -> tuple[Any, list[Any], Any]:
    opts = Options(system="cache", workload="cache", nodes=5, time_limit_s=time_limit,
                   seed=seed, backend="sim", nemesis=nemesis, nemesis_interval_s=interval,
                   bugs=bugs)
    so = SimOptions.parse(sim)
    wl = make_workload(opts)
    r = simulate(opts, so, wl)
    valid, anomalies = judge(opts, so, wl, r.ops)
    return valid, anomalies, r


def cache_details(r: Any) -> dict[str, Any]:
    from checkers.cache import check_cache

    return check_cache(History(r.ops)).details


def test_a_writer_that_gives_up_on_a_paused_owner_leaves_nothing_stale() -> None:
    """Seed 16: the owner of k0 was paused through a writer's three ``cdel`` tries, expired
    from the registry and re-joined; a reader that never saw the ring without it served the
    old item (fixed: the node flushes after a stop, and ``since`` includes its join epoch)."""
    valid, anomalies, r = run(16, interval=0.57, sim="delay=0.1-0.5,loss=0,dup=0,torn=0")
    assert valid is True, anomalies
    assert len(r.schedule) > 20


def test_a_write_that_times_out_after_its_put_does_not_leave_the_cache_diverged() -> None:
    """Seed 48: a write's put was applied but the op timed out under a partition before its
    ``cdel``: the cache kept the old value forever (fixed: replicas delete on apply)."""
    valid, anomalies, _ = run(48, interval=3.99, sim="delay=0.1-5,loss=0.01,dup=0,torn=0")
    assert valid is True, anomalies


def test_nodes_register_by_heartbeat_and_a_run_replays_exactly() -> None:
    a = run(3, ("partition", "kill"), interval=2.0, time_limit=6.0)
    b = run(3, ("partition", "kill"), interval=2.0, time_limit=6.0)
    assert a[0] is True, a[1]
    assert [o.to_dict() for o in a[2].ops] == [o.to_dict() for o in b[2].ops]
    reads = [o for o in a[2].ops if o.f == "read" and o.type == "ok"]
    assert any(o.value.get("load", {}).get("nodes") == 5 for o in reads)  # all five registered
    d = cache_details(a[2])
    assert d["load"]["hits"] > 100 and len(d["load"]["requests_per_node"]) == 5, d["load"]
    assert HEARTBEAT_TICKS == 33


def test_no_invalidate_is_caught_in_the_simulation() -> None:
    valid, anomalies, _ = run(0, (), time_limit=5.0, bugs=("no-invalidate",))
    assert valid is False
    assert {a["kind"] for a in anomalies} & {"stale-read", "not-converged"}, anomalies


def test_the_adapter_forgets_the_last_runs_clock_and_loads_when_a_world_is_built() -> None:
    ad = CacheSimAdapter()
    ad.io, ad.balancers = object(), object()  # type: ignore[assignment]
    ad.disk("n1")
    assert ad.io is None and ad.balancers is None
