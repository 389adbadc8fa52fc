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


def opt_run(seed: int, system_opts: tuple[tuple[str, str], ...], bugs: tuple[str, ...] = (),
            nemesis: tuple[str, ...] = (), time_limit: float = 10.0, concurrency: int = 5,
            rate: float = 100.0, sim: SimOptions | None = None,
            recovery: float = 3.0) -> tuple[Any, list[Any], Any]:
    opts = Options(system="cache", workload="cache", nodes=5, time_limit_s=time_limit,
                   seed=seed, backend="sim", nemesis=nemesis, nemesis_interval_s=1.0,
                   bugs=bugs, concurrency=concurrency, rate=rate, system_opts=system_opts,
                   recovery_s=recovery)
    so = sim or SimOptions()
    wl = make_workload(opts)
    r = simulate(opts, so, wl)
    valid, anomalies = judge(opts, so, wl, r.ops)
    return valid, anomalies, r


SLOW = (("fill_delay_ms", "300"),)


def test_no_lease_is_caught_with_slow_readers_and_the_correct_build_stays_valid() -> None:
    """The stale-set race needs a write between a reader's store read and its fill: slow
    readers (every fill 300 ms late) make it happen; the lease refuses such fills."""
    valid, anomalies, _ = opt_run(1, SLOW, bugs=("no-lease",), time_limit=6.0)
    assert valid is False
    assert {a["kind"] for a in anomalies} & {"stale-read", "not-converged"}, anomalies
    valid, anomalies, r = opt_run(1, SLOW, time_limit=6.0)
    assert valid is True, anomalies
    fills = [o for o in r.ops if o.f == "read" and o.type == "ok" and o.value["hit"] is False]
    assert len(fills) > 50


def test_a_fill_with_a_lease_from_before_a_restart_is_refused() -> None:
    """Seed 2 under partition,kill,pause with slow readers: a kill of every node came between
    a reader's lease and its fill; the restarted node's first lease had the same token (the
    counter restarted at 1), so the old fill landed after a write (fixed: incarnations)."""
    valid, anomalies, _ = opt_run(2, SLOW, nemesis=("partition", "kill", "pause"),
                                  time_limit=9.6)
    assert valid is True, anomalies


def inflight_reads(r: Any) -> list[dict[str, int]]:
    return [o.value["load"] for o in r.ops
            if o.f == "read" and o.type == "ok" and "load" in o.value]


def test_bounded_loads_keep_every_node_within_c_times_the_mean_plus_one() -> None:
    """20 clients at 1000 reads/s on Zipf keys: routed plain, the hot keys' owner carries
    far more than its share of the reads in flight; with c = 1.25 no read ever finds its
    node above c x mean + 1 (the ceil), and the per-node request totals even out."""
    many = {"concurrency": 20, "rate": 800.0, "time_limit": 1.5, "recovery": 0.2,
            "sim": SimOptions(delay_ms=(0.5, 5))}
    plain_valid, an, plain = opt_run(1, (), **many)  # type: ignore[arg-type]
    assert plain_valid is True, an
    bounded_valid, an, bounded = opt_run(1, (("bounded_load", "1.25"),), **many)  # type: ignore[arg-type]
    assert bounded_valid is True, an

    def over(r: Any) -> int:
        return sum(1 for x in inflight_reads(r) if x["here"] > 1.25 * x["inflight"] / x["nodes"] + 1)

    assert over(plain) > 10
    assert over(bounded) == 0 and len(inflight_reads(bounded)) > 500
    p, b = cache_details(plain)["load"], cache_details(bounded)["load"]
    assert b["max_over_mean"] < 1.5 < p["max_over_mean"], (p, b)
    assert b["inflight"]["max_excess_over_mean"] < p["inflight"]["max_excess_over_mean"]
