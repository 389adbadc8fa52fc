"""raftkv on 5 containers under every nemesis package: correct stays valid, a bug is caught."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.history import read_jsonl
from harness.runner import RunOutcome
from tests.integration.runs import docker_run

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def campaign(tmp_path: Path, nemesis: tuple[str, ...], seed: int, bugs: tuple[str, ...] = (),
             time_limit_s: float = 10.0, interval_s: float = 1.5) -> RunOutcome:
    return docker_run(tmp_path, "raftkv", "register", nemesis, seed, bugs, time_limit_s,
                      interval_s, rate=80.0, op_timeout_s=1.5)


def nemesis_ops(out: RunOutcome) -> list[Any]:
    return [op for op in read_jsonl(out.run_dir / "history.jsonl") if op.process == "nemesis"]


@pytest.mark.parametrize("package", ["partition", "kill", "pause", "clock", "packet"])
def test_raftkv_stays_valid_under(package: str, tmp_path: Path, node_image: str) -> None:
    # 6 s at a 1.5 s interval: the first fault at 1.5 s, about two start/stop cycles, the heal
    out = campaign(tmp_path, (package,), seed=11, time_limit_s=6.0)
    ops = nemesis_ops(out)
    done = [op for op in ops if op.type == "info" and op.f == f"start-{package}"]
    assert done, "the nemesis did nothing"
    assert all(op.error is None for op in done), [op.error for op in done]
    assert ops[-1].f == f"stop-{package}"  # healed at the end
    assert out.valid is True, out.results
    assert all((out.run_dir / "nodes" / f"n{i}" / "server.log").exists() for i in range(1, 6))


def test_raftkv_mixed_faults_stay_valid(tmp_path: Path, node_image: str) -> None:
    out = campaign(tmp_path, ("partition", "kill", "clock"), seed=5, time_limit_s=12.0)
    faults = {op.f for op in nemesis_ops(out)}
    assert {"start-partition", "start-kill", "start-clock"} & faults
    assert out.valid is True, out.results
    # The status monitor polled the containers and the nodes' digests were compared.
    div = out.results["checkers"]["divergence"]
    assert div["valid"] is True and div["details"]["source"] == "status.jsonl"
    assert div["details"]["indices_compared"] > 20 and div["details"]["answers"] > 20


def test_stale_read_bug_is_caught_under_partitions(tmp_path: Path, node_image: str) -> None:
    verdicts = []
    # partitions must outlast an election for a stale leader to serve old values. Measured
    # (seeds 3-7, 15 s runs): every one was caught, the history non-linearizable by 3.3 s
    # (the first partition starts at 3 s), so 9 s runs keep a margin.
    for seed in (3, 4, 5, 6):  # a few short campaigns; one is enough to catch it
        out = campaign(tmp_path / str(seed), ("partition",), seed=seed, bugs=("stale-read",),
                       time_limit_s=9.0, interval_s=3.0)
        lin = out.results["checkers"]["linearizable"]  # the checker this bug must trip
        verdicts.append(lin["valid"])
        if lin["valid"] is False:
            break
    assert verdicts[-1] is False, verdicts
    assert out.valid is False
    anomaly = lin["anomalies"][0]
    assert anomaly["kind"] == "nonlinearizable" and "read" in anomaly["explanation"], anomaly


def figure8_outcomes(out: RunOutcome) -> list[str]:
    return [str(op.value["outcome"]) for op in nemesis_ops(out)
            if op.f == "start-figure8" and op.type == "info" and isinstance(op.value, dict)]


def test_figure8_leaves_correct_raftkv_valid(tmp_path: Path, node_image: str) -> None:
    out = campaign(tmp_path, ("figure8",), seed=2, time_limit_s=15.0, interval_s=2.0)
    outcomes = figure8_outcomes(out)
    assert outcomes, "the nemesis made no attempt"
    # A correct leader never commits the old-term entries: every attempt stops before (d)
    # (an attempt may also find no leader to start from, e.g. on a loaded machine).
    assert not [o for o in outcomes if "(d)" in o or "overwrit" in o], outcomes
    assert any("at (b)" in o or "at (c)" in o for o in outcomes), outcomes
    assert not [op for op in nemesis_ops(out) if op.f == "crash"]
    assert out.valid is True, out.results


def test_commit_old_term_bug_is_caught_by_figure8(tmp_path: Path, node_image: str) -> None:
    verdicts = []
    for seed in (1, 2, 3):  # one attempt is usually enough; a few seeds for safety
        out = campaign(tmp_path / str(seed), ("figure8",), seed=seed, bugs=("commit-old-term",),
                       time_limit_s=15.0, interval_s=2.0)
        verdicts.append(out.valid)
        if out.valid is False:
            break
    assert verdicts[-1] is False, (verdicts, figure8_outcomes(out))
    assert any("overwritten" in o for o in figure8_outcomes(out))
    crash = out.results["checkers"]["crash"]
    assert crash["valid"] is False
    assert "state machine safety" in str(crash["anomalies"])


def test_a_slow_clock_slows_the_isolated_leaders_checkquorum_in_docker(
        tmp_path: Path, node_image: str) -> None:
    """The Raft shells' timers follow the node's clock rate (systems/common/tickclock.py),
    so deposed-leader's slowed clock keeps the isolated leader leading for longer, as in
    the simulation. Measured (5 nodes, idle machine): at rate 1 it stepped down after
    0.14-0.19 s, at rate 0.2 after 0.7-1.1 s; with timers on real time both were
    0.2-0.4 s, and read-index-no-quorum survived 4 x 120 s of Docker runs."""
    import time

    from harness.backends.docker import DockerBackend
    from nemesis import grudge as gr
    from systems import get_system
    from systems.common import wire

    def status(b: DockerBackend, n: str) -> dict[str, Any] | None:
        host, port = b.cluster()[n]
        try:
            st = wire.request(host, port, {"op": "status"}, timeout_s=0.3, control=True)
        except (OSError, ValueError):
            return None
        return st if isinstance(st, dict) else None

    def leader(b: DockerBackend) -> str:
        for _ in range(200):
            leaders = [(st["term"], n) for n in nodes
                       if (st := status(b, n)) and st.get("role") == "leader"]
            if leaders:
                return max(leaders)[1]
            time.sleep(0.05)
        raise AssertionError("no leader")

    nodes = ["n1", "n2", "n3", "n4", "n5"]
    b = DockerBackend("tslowclock", image=node_image)
    took: dict[float, list[float]] = {1.0: [], 0.2: []}
    try:
        b.up(get_system("raftkv"), nodes, tmp_path)
        for rate in (1.0, 0.2, 1.0, 0.2):
            time.sleep(1.0)
            lead = leader(b)
            b.partition(gr.isolate(nodes, lead))
            b.clock(lead, 0.0, rate)
            t0 = time.monotonic()
            while (st := status(b, lead)) and st.get("role") == "leader" \
                    and time.monotonic() - t0 < 6:
                time.sleep(0.01)
            took[rate].append(time.monotonic() - t0)
            b.heal()
            b.clock(lead, 0.0, 1.0)
    finally:
        b.down()
    assert min(took[0.2]) > 1.8 * max(took[1.0]), took  # 5x in theory


def test_voter_crash_steers_through_the_delay_relay_and_a_correct_vote_holds(
        tmp_path: Path, node_image: str) -> None:
    """voter-crash in Docker: its delays go through the host relay (no netem here), so it
    leaves the clients uncut (cutting them would cut the relay: CLIENTS_VS_RELAY, which
    failed every attempt before), every attempt runs without a backend error, attempts
    get to the crash of the voter, and a correct Raft never elects twice in one term.
    (Whether a given attempt then sees a leader within its 2 s depends on the machine's
    load; the simulation's test checks the vote held.)"""
    out = campaign(tmp_path, ("voter-crash",), seed=2, time_limit_s=16.0, interval_s=1.0)
    done = [op for op in nemesis_ops(out) if op.type == "info" and op.f == "start-voter-crash"]
    assert len(done) >= 2 and all(op.error is None for op in done), [op.error for op in done]
    outcomes = [op.value["outcome"] for op in done]
    assert any(len(op.value["phases"]) == 2 for op in done), outcomes  # a voter was crashed
    assert not any("had voted in before its crash" in o for o in outcomes), outcomes
    assert out.valid is True, out.results
