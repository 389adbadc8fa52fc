"""The cache under the deterministic simulation backend: the correct build stays valid
(including the two schedules a swarm found the build invalid on before invalidation from the
log and the stopped-node flush), replays exactly, its nodes register through simulated
heartbeats, and ``no-invalidate`` is caught."""

from __future__ import annotations

from typing import Any

import pytest

from harness.history import History
from harness.options import Options
from harness.sim.run import judge, make_workload, simulate
from harness.sim.world import SimOptions, World
from systems.cache.simadapter import HEARTBEAT_TICKS, CacheSimAdapter, SimCacheNode

ALL = ("partition", "kill", "pause", "clock", "packet")


def run(seed: int, nemesis: tuple[str, ...] = ALL, interval: float = 1.0, sim: str = "",
        bugs: tuple[str, ...] = (), time_limit: float = 10.0, keys: int | None = None,
        system_opts: tuple[tuple[str, str], ...] = ()) -> tuple[Any, list[Any], Any]:
    opts = Options(system="cache", workload="cache", nodes=5, time_limit_s=time_limit,
                   seed=seed, backend="sim", nemesis=nemesis, nemesis_interval_s=interval,
                   bugs=bugs, system_opts=system_opts, **({"keys": keys} if keys else {}))
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


# -- membership changes in the simulation ------------------------------------------------

def changes(r: Any) -> list[dict[str, Any]]:
    """The membership changes the run made (a replace is two), as the nemesis recorded them."""
    out: list[dict[str, Any]] = []
    for o in r.ops:
        if o.process == "nemesis" and o.type == "info" and o.f == "start-membership" \
                and isinstance(o.value, dict) and not o.error:
            out += o.value.get("changes") or [o.value]
    return out


def hits_on_added(r: Any) -> list[str]:
    """The fault ops (kill, pause, partition) that touched a node added mid-run."""
    added = {c["node"] for c in changes(r) if c.get("action") == "join"}
    out = []
    for o in r.ops:
        if o.process == "nemesis" and o.type == "info" and o.f in (
                "start-kill", "start-pause", "start-partition") and not o.error:
            v = o.value
            named = set(v) if isinstance(v, list) else set(str(v.get("grudge", "")).replace(
                "'", " ").replace('"', " ").split()) if isinstance(v, dict) else set()
            if named & added:
                out.append(f"{o.f} {sorted(named & added)}")
    return out


@pytest.mark.parametrize("seed", [4, 5, 6])
def test_the_correct_build_stays_valid_as_nodes_join_leave_crash_and_flap_under_faults(
        seed: int) -> None:
    """The membership nemesis composed with partition, kill and pause, which also hit the
    nodes it added: every seed makes several changes (4 to 8) and stays valid."""
    valid, anomalies, r = run(seed, ("partition", "kill", "pause", "membership"),
                              interval=1.0, time_limit=30.0, keys=32)
    assert valid is True, anomalies
    made = changes(r)
    assert len(made) >= 4, made
    assert {c["action"] for c in made} >= {"join", "flap"}, made
    assert any(f.call == "add_node" for f in r.schedule)
    assert hits_on_added(r), "no kill, pause or partition touched an added node"


@pytest.mark.parametrize(("bug", "seed", "nemesis", "system_opts", "time_limit"), [
    ("stale-owner", 2, ("membership",), (), 14.0),  # first stale read at 12.4 s
    ("no-invalidate", 1, ("partition", "membership"), (), 6.0),  # at 2.0 s
    ("no-lease", 1, ("pause", "membership"), (("fill_delay_ms", "300"),), 13.0),  # at 11.7 s
])
def test_every_bug_switch_is_caught_with_membership_changes_in_the_simulation(
        bug: str, seed: int, nemesis: tuple[str, ...], system_opts: tuple[tuple[str, str], ...],
        time_limit: float) -> None:
    """stale-owner needs a cache-only node out of the ring across changes and back (only
    the membership nemesis does that); the other two are caught with it in the mix. The
    seeds of campaigns/bugs.toml's sim rows (20 s there: the same runs, longer)."""
    valid, anomalies, r = run(seed, nemesis, interval=1.5, time_limit=time_limit, keys=32,
                              bugs=(bug,), system_opts=system_opts)
    assert valid is False
    assert {a["kind"] for a in anomalies} & {"stale-read", "not-converged"}, anomalies
    assert len(changes(r)) >= 2


def test_membership_runs_replay_exactly_and_their_schedule_replays_the_main_phase() -> None:
    a = run(4, ("kill", "membership"), interval=1.5, time_limit=8.0, keys=32)
    b = run(4, ("kill", "membership"), interval=1.5, time_limit=8.0, keys=32)
    assert [o.to_dict() for o in a[2].ops] == [o.to_dict() for o in b[2].ops]
    assert changes(a[2])
    calls = {f.call for f in a[2].schedule}
    assert {"add_node", "control", "kill"} <= calls, calls
    # the schedule as a script (shrinking's replay): the same clients' main phase, op for op
    # (its final heal is the script's own, without the nemesis's registry reads)
    opts = Options(system="cache", workload="cache", nodes=5, time_limit_s=8.0, seed=4,
                   backend="sim", nemesis=("kill", "membership"), nemesis_interval_s=1.5,
                   keys=32)
    replay = simulate(opts, SimOptions(), make_workload(opts), script=a[2].schedule)

    def main(r: Any) -> list[dict[str, Any]]:
        return [o.to_dict() for o in r.ops if o.time_ns <= 8 * 10**9 and o.process != "nemesis"]

    assert main(replay) == main(a[2])


def _ask(world: World, node: str, msg: dict[str, Any]) -> Any:
    reply = world.control(node, msg, 2.0)
    assert reply is not None and reply.get("ok"), (node, msg, reply)
    return reply


def _cached_at_joiner(feed_on: bool) -> tuple[Any, int, int]:
    """A node added mid-run caches k = "old"; a writer's put of "new" commits and the writer
    times out before its ``cdel`` (it never sends it). What n4 serves 1.5 s later, the
    put's index, and n4's feed position."""
    world = World(CacheSimAdapter(), ["n1", "n2", "n3"], seed=7)
    world.up()
    world.run_for(2.0)
    joiner = world.add_node()["node"]
    world.run_for(1.0)
    if not feed_on:  # its heartbeat (and the feed with it) stopped; it stays registered
        _ask(world, joiner, {"op": "registration", "on": False})
    miss = _ask(world, joiner, {"op": "cget", "key": "k", "since": 0})
    assert miss["hit"] is False and miss["lease"] is not None
    assert _ask(world, joiner, {"op": "cset", "key": "k", "value": "old", "lease": miss["lease"],
                                "epoch": 1})["stored"] is True
    leader = world.leader()
    assert leader is not None
    put = _ask(world, leader, {"op": "put", "key": "k", "value": "new", "c": "w", "s": 1})
    world.run_for(1.5)  # three heartbeats
    got = _ask(world, joiner, {"op": "cget", "key": "k", "since": 0})
    node = world.nodes[joiner].core
    assert isinstance(node, SimCacheNode)
    return got, int(put["index"]), node.seen


def test_a_joined_node_drops_a_key_whose_writer_timed_out_before_invalidating() -> None:
    """Cache-only nodes are no store replicas (no delete on apply): their heartbeat's answer
    carries the keys put since (store.py's feed). Without it, the old value stays."""
    got, index, seen = _cached_at_joiner(feed_on=True)
    assert got["hit"] is False, got  # deleted by the feed: the next read fills "new"
    assert seen >= index
    got, index, seen = _cached_at_joiner(feed_on=False)
    assert got["hit"] is True and got["value"] == "old"  # the control: nothing else deletes it
    assert seen < index


def test_a_swarm_with_no_fault_named_draws_membership_changes_for_the_cache_only() -> None:
    from harness.sim.swarm import draw

    cache = [draw(Options(system="cache", workload="cache", backend="sim"), s)[0].nemesis
             for s in range(20)]
    assert sum("membership" in m for m in cache) >= 5, cache
    raft = [draw(Options(system="raftkv", workload="register", backend="sim"), s)[0].nemesis
            for s in range(20)]
    assert not any("membership" in m for m in raft)
