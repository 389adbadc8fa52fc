"""checkers/divergence.py both ways, on rows, on a run folder's status.jsonl, and on
simulated runs (the status monitor on simulated time)."""

from __future__ import annotations

import json
from pathlib import Path

from checkers.divergence import Divergence, check_statuses, status_row
from harness.history import History, Op
from harness.options import Options
from harness.sim.run import judge, make_workload, simulate
from harness.sim.world import SimOptions


def row(node: str, t: int, commit: int, digests: list[list[object]], **extra: object) -> dict:
    return status_row(node, t, {"role": "follower", "term": 2, "commit": commit,
                                "durable_commit": commit, "digests": digests, **extra})


def test_agreeing_nodes_at_different_paces_are_valid_and_unanswered_polls_are_fine():
    rows = [row("n1", 1, 3, [[1, 1, "a"], [2, 1, "b"], [3, 2, "c"]]),
            row("n2", 2, 2, [[1, 1, "a"], [2, 1, "b"]]),
            status_row("n3", 3, None),
            row("n2", 4, 3, [[3, 2, "c"]])]
    r = check_statuses(rows)
    assert r.valid is True and r.details["indices_compared"] == 3 and r.details["answers"] == 3


def test_different_digests_at_one_index_name_the_nodes_the_index_and_the_window():
    rows = [row("n1", 1_000_000_000, 5, [[2, 1, "b"], [4, 1, "d"], [5, 2, "e"]]),
            row("n2", 2_000_000_000, 5, [[2, 1, "b"], [4, 1, "X"], [5, 2, "Y"]])]
    hist = History([Op(0, 500_000_000, 0, "invoke", "read", None),
                    Op(1, 1_500_000_000, 0, "ok", "read", 1)])
    r = check_statuses(rows, hist)
    assert r.valid is False
    (a,) = r.anomalies  # every later index differs too: said once per pair
    assert a.kind == "divergence" and a.data["index"] == 4 and a.data["nodes"] == ["n1", "n2"]
    assert a.data["last_agreed_index"] == 2 and "(2, 4]" in a.explanation
    assert a.ops == (1,)  # the last op before the finding


def test_a_node_disagreeing_with_itself_after_a_restart_and_a_commit_going_back():
    rows = [row("n1", 1, 9, [[9, 1, "z"]]), row("n1", 2, 4, [[4, 1, "q"]]),
            row("n1", 3, 9, [[9, 2, "w"]])]
    r = check_statuses(rows)
    kinds = sorted(a.kind for a in r.anomalies)
    assert r.valid is False and kinds == ["commit-regressed", "divergence"]
    div = next(a for a in r.anomalies if a.kind == "divergence")
    assert "before and after a restart" in div.explanation and "terms 1 and 2" in div.explanation


def test_two_leaders_of_one_term_ever_is_a_finding_one_per_term():
    def lead(node: str, t: int, term: int, role: str = "leader") -> dict:
        return status_row(node, t, {"role": role, "term": term, "digests": []})

    ok = [lead("n1", 1, 3), lead("n1", 2, 3), lead("n2", 3, 4), lead("n1", 4, 4, "follower"),
          lead("n3", 5, 3, "candidate")]
    assert check_statuses(ok).valid is True  # one leader per term; other roles do not count
    r = check_statuses(ok + [lead("n4", 2_000_000_000, 3), lead("n5", 3_000_000_000, 3)])
    (a,) = r.anomalies  # said once for the term
    assert r.valid is False and a.kind == "two-leaders"
    assert a.data["nodes"] == ["n1", "n4"] and a.data["term"] == 3
    assert "n1 and n4 both reported being leader of term 3" in a.explanation
    part = [{"role": "leader", "term": 1, "digests": []}]
    groups = [status_row(n, 1, {"partitions": [dict(part[0])] if n == "n1" else
                                [{"role": "follower", "term": 1}, dict(part[0])]})
              for n in ("n1", "n2")]
    assert check_statuses(groups).valid is True  # each queue partition has its own leader


def test_queue_partitions_are_compared_group_by_group():
    part = [{"durable_commit": 1, "digests": [[1, 1, "p0"]]},
            {"durable_commit": 1, "digests": [[1, 1, "p1"]]}]
    same = [status_row(n, 1, {"partitions": part}) for n in ("n1", "n2")]
    assert check_statuses(same).valid is True  # partition 0 and 1 are different groups
    other = [dict(part[0]), {"durable_commit": 1, "digests": [[1, 1, "other"]]}]
    r = check_statuses(same + [status_row("n3", 2, {"partitions": other})])
    assert r.valid is False and r.anomalies[0].data["group"] == "partition 1"


def test_the_run_folder_file_hostile_lines_and_no_file(tmp_path: Path):
    d = Divergence()
    assert d.check({}, History([]), tmp_path).valid is True  # nothing recorded
    lines = [json.dumps(row("n1", 1, 1, [[1, 1, "a"]])), "{not json", "[1,2]",
             json.dumps({"node": 5, "t_ns": "x"}), "[" * 100_000,  # nested past the recursion limit
             json.dumps(row("n2", 2, 1, [[1, 1, "b"], ["x", 1, "c"], [2, 1]]))]
    (tmp_path / "status.jsonl").write_text("\n".join(lines) + "\n")
    r = d.check({}, History([]), tmp_path)
    assert r.valid is False and r.details["unreadable_rows"] == 4
    assert r.anomalies[0].data["digests"] == ["a", "b"]


def _sim(bugs: tuple[str, ...], seed: int) -> tuple[object, list[dict]]:
    opts = Options(system="raftkv", workload="register", nodes=5, time_limit_s=30, seed=seed,
                   backend="sim", nemesis=("partition", "kill", "pause"), bugs=bugs)
    wl = make_workload(opts)
    run = simulate(opts, SimOptions(torn=True), wl)
    valid, anomalies = judge(opts, SimOptions(torn=True), wl, run.ops, run.statuses)
    assert run.statuses and valid is not None
    return valid, anomalies


def test_correct_raftkv_in_the_simulation_is_valid_under_divergence():
    valid, anomalies = _sim((), 3)
    assert valid is True, anomalies


def test_no_fsync_is_found_by_divergence_where_linearizability_sees_nothing():
    """Seed 3: nodes lose acknowledged log records on kill; no client read happens to
    expose it in this run, but their durable commit index goes back."""
    valid, anomalies = _sim(("no-fsync",), 3)
    assert valid is False
    kinds = {a["kind"] for a in anomalies}
    assert kinds == {"commit-regressed"}, anomalies


def test_equal_state_checkpoints_pass_and_a_different_state_at_one_index_is_named():
    same = [row("n1", 1, 64, [[64, 2, "a"]], states=[[32, "s1"], [64, "s2"]]),
            row("n2", 2, 64, [[64, 2, "a"]], states=[[64, "s2"]])]
    r = check_statuses(same)
    assert r.valid is True and r.details["state_checkpoints"] == 2
    # the same entries (digest "a" at 64 on both), another state: a restore dropped some
    rows = same + [row("n3", 3_000_000_000, 64, [[64, 2, "a"]], states=[[64, "XX"]]),
                   row("n3", 4_000_000_000, 96, [[96, 2, "b"]], states=[[96, "YY"]]),
                   row("n1", 5_000_000_000, 96, [[96, 2, "b"]], states=[[96, "ZZ"]])]
    r = check_statuses(rows)
    assert r.valid is False
    (a,) = r.anomalies  # n1/n3 differ at 64 and again at 96: said once per pair
    assert a.kind == "state-divergence" and a.data["index"] == 64
    assert a.data["nodes"] == ["n1", "n3"] and a.data["state_digests"] == ["s2", "XX"]
    assert "different states after applying index 64" in a.explanation


def test_a_node_whose_state_changed_across_its_own_restart_and_junk_rows():
    rows = [row("n1", 1, 32, [], states=[[32, "s"]]), row("n1", 2, 32, [], states=[[32, "t"]]),
            row("n2", 3, 32, [], states=[[32], ["32", "s"], [32, 5], "x", [32, "s", 1]])]
    r = check_statuses(rows)
    (a,) = r.anomalies
    assert a.kind == "state-divergence" and "before and after a restart" in a.explanation


def test_a_restore_that_forgets_client_sessions_is_state_divergence(monkeypatch):
    """kv-session-not-restored's bug, in the simulation: nodes restored from a snapshot
    (killed, or lagging) hold no client sessions; their entry digests agree with the
    others', their state digests do not."""
    from systems.raftkv.kv import KVStore

    restore = KVStore.restore

    def forgetful(self: KVStore, image: object) -> None:
        restore(self, image)
        self.sessions = {}

    opts = Options(system="raftkv", workload="register", nodes=5, time_limit_s=10, seed=1,
                   backend="sim", nemesis=("kill",), system_opts=(("snapshot_every", "20"),))
    wl = make_workload(opts)
    run = simulate(opts, SimOptions(), wl)
    valid, anomalies = judge(opts, SimOptions(), wl, run.ops, run.statuses)
    assert valid is True, anomalies  # the correct build: every state checkpoint agrees
    assert any(st and st.get("states") for st in (r["status"] for r in run.statuses))
    monkeypatch.setattr(KVStore, "restore", forgetful)
    run = simulate(opts, SimOptions(), wl)
    valid, anomalies = judge(opts, SimOptions(), wl, run.ops, run.statuses)
    assert valid is False
    assert "state-divergence" in {a["kind"] for a in anomalies}, anomalies
