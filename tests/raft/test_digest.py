"""The applied-entries digest of the shared Raft (systems/raft/digest.py) and what the
divergence checker makes of nodes' status: equal on a correct cluster through
snapshots, InstallSnapshot and restarts; different — and found — when one node
applied a different command at the same index, which no core assert notices."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from checkers.divergence import check_statuses, status_row
from systems.raft import NodeConfig
from systems.raft.digest import DENSE, EVERY, GENESIS, Digests, digest_step
from systems.raft.types import APP, Entry, Snapshot
from tests.raft.test_library import CounterSim


def statuses(s: CounterSim, t_ns: int, rows: list[dict[str, Any]]) -> None:
    for n in s.names:
        st = s.nodes[n].status() if n in s.up() else None
        rows.append(status_row(n, t_ns, st))


def digest_at(s: CounterSim, n: str, index: int) -> str | None:
    return next((d for i, _, d in s.nodes[n].status()["digests"] if i == index), None)


def test_the_chain_is_the_commands_in_order_and_survives_a_snapshot_image():
    d = Digests()
    for i in range(1, 200):
        d.apply(Entry(1 + i // 100, i, {"add": i}))
    chained = GENESIS
    for i in range(1, 200):
        chained = digest_step(chained, 1 + i // 100, {"add": i})
    assert d.digest == chained
    rows = d.rows()
    assert [r[0] for r in rows][-3:] == [197, 198, 199]
    assert {r[0] for r in rows} >= {64, 128}  # checkpoints at multiples of EVERY
    assert len(rows) <= 8 + 16 and EVERY == 64 and DENSE >= 8
    # A tuple and the list a wire round trip makes of it are the same command.
    assert digest_step(GENESIS, 1, {"k": (1, 2)}) == digest_step(GENESIS, 1, {"k": [1, 2]})
    assert digest_step(GENESIS, 1, {"k": 1}) != digest_step(GENESIS, 2, {"k": 1})
    # A snapshot without a digest leaves the chain unanchored: nothing is reported.
    u = Digests()
    u.restore(500, 3, "")
    u.apply(Entry(3, 501, None))
    assert u.rows() == [] and u.at(501) == ""
    snap = Snapshot(5, 2, {"x": 1}, "abcd")
    assert Snapshot.from_wire(snap.to_wire()) == snap
    assert Snapshot.from_wire({"index": 5, "term": 2, "data": None}).digest == ""


def test_a_correct_cluster_agrees_through_snapshots_install_snapshot_and_restarts():
    s = CounterSim(3, seed=11, config=NodeConfig(snapshot_every=20))
    s.run(60)
    rows: list[dict[str, Any]] = []
    lead = s.leader()
    assert lead is not None
    lagging = next(n for n in s.names if n != lead)
    s.isolate(lagging)
    for k in range(70):
        s.write(lead, {"add": k})
        s.stabilize()
        if k % 10 == 0:
            statuses(s, k, rows)
    s.heal()  # the lagging node is far behind the compacted log: InstallSnapshot
    s.run(40)
    statuses(s, 100, rows)
    for n in s.names:
        s.crash(n)
        s.restart(n)  # restarts from its own snapshot, whose digest continues the chain
    s.run(80)
    lead = s.leader()
    assert lead is not None
    s.write(lead, {"add": 1})
    s.stabilize()
    s.run(5)
    statuses(s, 200, rows)
    last = s.nodes[lead].core.log.applied
    assert len({digest_at(s, n, last) for n in s.names}) == 1
    assert all(s.nodes[n].core.log.snapshot.digest for n in s.names)
    result = check_statuses(rows)
    assert result.valid is True, result.anomalies
    assert result.details["indices_compared"] > 50


def test_one_node_applying_another_command_at_the_same_index_is_a_divergence():
    """A message corrupted on its way to n3: n3 appends, commits and applies ``add 1000``
    where everyone else has ``add 7``. Terms match, so log matching (which compares
    terms) and every assert in the core stay silent; the digests do not."""
    s = CounterSim(3, seed=5, check=False)
    s.run(60)
    lead = s.leader()
    assert lead is not None
    victim = next(n for n in s.names if n != lead)
    rows: list[dict[str, Any]] = []
    s.write(lead, {"add": 1})
    s.stabilize()
    statuses(s, 1, rows)
    s.write(lead, {"add": 7})
    s.process(lead)
    for k, m in enumerate(s.inflight):
        if m.dst == victim and m.type == APP and m.entries:
            bad = tuple(replace(e, data={"add": 1000}) if e.data == {"add": 7} else e
                        for e in m.entries)
            s.inflight[k] = replace(m, entries=bad)
    s.stabilize()
    s.run(5)
    for k in range(3):
        s.write(lead, {"add": k})
        s.stabilize()
    s.run(5)
    statuses(s, 2, rows)
    assert s.nodes[victim].counter.total != s.nodes[lead].counter.total  # silently diverged
    result = check_statuses(rows)
    assert result.valid is False
    (a,) = result.anomalies
    assert a.kind == "divergence" and victim in a.data["nodes"]
    assert a.data["last_agreed_index"] < a.data["index"]
    assert "applied different entries by index" in a.explanation
