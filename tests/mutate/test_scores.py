"""Scores, checker naming and the outputs of a mutate run (pure, fast)."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from harness.mutate.child import failing_checkers
from harness.mutate.report import print_table, write_outputs
from harness.mutate.runner import _stage_summary
from harness.mutate.scores import scores


def _run(valid, checkers, seconds=1.0):
    return {"valid": valid, "checkers": checkers, "seconds": seconds, "anomaly": "a: b",
            "history": any(c not in ("crash", "divergence") for c in checkers),
            "external": any(c != "crash" for c in checkers), "command": "faultbox run …"}


def test_failing_checkers_names_only_invalid_checkers() -> None:
    details = {"linearizable": {"valid": False}, "stats": {"valid": False},
               "crash": {"valid": True}, "perf": {"valid": "unknown"}, "set": {"valid": "unknown"}}
    # stats is invalid only when a client function never succeeded (checkers/stats.py)
    assert failing_checkers(details) == ["linearizable", "stats"]
    assert failing_checkers(None) == []


def test_stage_summary_tells_a_crash_kill_from_a_history_kill() -> None:
    crash_then_history = {"runs": [_run(True, []), _run(False, ["crash"], 2.0),
                                   _run(False, ["linearizable", "crash"], 3.0)]}
    s = _stage_summary(crash_then_history, "", 6.0)
    assert s["outcome"] == "killed" and s["runs_to_kill"] == 2 and s["seconds_to_kill"] == 3.0
    assert s["caught_by"] == ["crash"] and s["by"] == "history"
    assert s["history_runs_to_kill"] == 3 and s["history_caught_by"] == ["linearizable"]
    crash_only = _stage_summary({"runs": [_run(False, ["crash"])]}, "", 1.0)
    assert crash_only["by"] == "crash" and "history_runs_to_kill" not in crash_only
    diverged = _stage_summary({"runs": [_run(False, ["crash"]), _run(False, ["divergence"])]},
                              "", 2.0)
    assert diverged["by"] == "divergence" and diverged["external_runs_to_kill"] == 2
    assert diverged["runs_to_kill"] == 1
    survived = _stage_summary({"runs": [_run(True, []), _run(True, [])]}, "", 2.0)
    assert survived["outcome"] == "survived" and survived["by"] == ""
    assert _stage_summary(None, "Traceback\nBoom", 1.0)["outcome"] == "error"


def _rec(i, unit, sim=None, docker=None, equivalent=None, op="cmp"):
    return {"id": f"m{i}", "kind": "operator", "operator": op, "file": "raft/core.py", "line": 1,
            "before": "a < b", "after": "a <= b", "description": "d", "equivalent": equivalent,
            "unit": {"outcome": unit, "detail": "", "seconds": 1}, "sim": sim, "docker": docker}


def test_scores_count_only_non_equivalent_unit_test_survivors() -> None:
    hist = {"outcome": "killed", "by": "history", "runs": []}
    crash = {"outcome": "killed", "by": "crash", "runs": []}
    live = {"outcome": "survived", "by": "", "runs": []}
    records = [_rec(0, "invalid"), _rec(1, "killed"), _rec(2, "survived", hist, hist),
               _rec(3, "survived", crash, live), _rec(4, "survived", live),
               _rec(5, "survived", live, equivalent="only differs for one node")]
    s = scores(records)
    assert (s["mutants"], s["invalid"], s["total"]) == (6, 1, 5)
    assert s["killed_by_unit_tests"] == 1 and s["equivalent"] == 1
    assert s["sim"] == {"killed": 2, "of": 3, "score": 0.6667}
    assert s["sim_history"]["killed"] == 1
    assert s["docker"] == {"killed": 1, "of": 2, "score": 0.5}
    assert s["overall_sim"] == {"killed": 3, "of": 4, "score": 0.75}


def test_outputs_are_written_and_the_page_escapes_values(tmp_path: Path) -> None:
    evil = "<script>alert(1)</script>"
    rec = _rec(1, "survived", {"outcome": "killed", "by": "history", "runs": [{}],
                                "caught_by": ["linearizable"], "runs_to_kill": 1,
                                "seconds_to_kill": 1.0, "detail": evil, "command": evil})
    rec["description"] = evil
    doc = {"system": "raftkv", "started": "now", "wall_seconds": 1.0, "mutants": [rec],
           "scores": scores([rec])}
    jpath, hpath = write_outputs(doc, tmp_path)
    assert json.loads(jpath.read_text())["scores"]["sim"]["killed"] == 1
    page = hpath.read_text()
    assert evil not in page and "&lt;script&gt;" in page
    con = Console(record=True, width=200)
    print_table(doc, con)
    text = con.export_text()
    assert "sim score 1/1 = 100%" in text and "linearizable" in text


def test_a_function_that_never_succeeds_is_flagged_as_liveness() -> None:
    from harness.history import Op
    from harness.mutate.child import starved

    ops = []
    for i in range(12):
        ops += [Op(index=4 * i, time_ns=i, process=0, type="invoke", f="write", value=i),
                Op(index=4 * i + 1, time_ns=i, process=0, type="fail", f="write", value=i),
                Op(index=4 * i + 2, time_ns=i, process=1, type="invoke", f="read", value=None),
                Op(index=4 * i + 3, time_ns=i, process=1, type="ok", f="read", value=None)]
    assert starved(ops) == ["write"]
    assert starved(ops[:8]) == []  # too few writes to say
    runs = [{**_run(True, []), "seed": 0}, {**_run(True, []), "starved": ["write"], "seed": 1}]
    s = _stage_summary({"runs": runs}, "", 2.0, {0: {"write"}, 1: {"write", "read"}})
    assert s["outcome"] == "survived" and s["liveness"]["run"] == 2
    assert "write" in s["liveness"]["why"]
    # Where the unmutated build never got a write through on that seed either, it is no flag.
    assert "liveness" not in _stage_summary({"runs": runs}, "", 2.0, {1: {"read"}})
    rec = _rec(1, "survived", s)
    assert scores([rec])["sim_with_liveness"]["killed"] == 1 and scores([rec])["sim"]["killed"] == 0
