"""campaign.json records, JUnit XML (read back by junitparser), merge, the HTML matrix, exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from junitparser import Error, Failure, JUnitXml, Skipped

from harness.campaign import exit_code, junit_xml, merge, write_outputs
from harness.campaign.results import detection, outcome_record, record_for
from harness.campaign.spec import parse_campaign
from harness.errors import UsageError
from harness.store import write_json

CAMPAIGN = """
[defaults]
backend = "local"
[[case]]
system = "raftkv"
workload = "register"
nemesis = "partition"
seeds = 2
[[case]]
system = "raftkv"
bug = "stale-read"
nemesis = "partition"
[[case]]
system = "memkv"
seeds = 2
"""


def _records() -> list[dict[str, Any]]:
    runs = parse_campaign(CAMPAIGN, "t.toml").runs
    recs = [record_for(r) for r in runs]
    statuses = ["passed", "failed", "failed", "error", "not-run"]
    for rec, st in zip(recs, statuses, strict=True):
        rec.update(status=st, wall_s=1.5, run_dir=f"{rec['id']}/run", report=f"{rec['id']}/run/report.html")
    recs[1].update(verdict="invalid", explanation="op 12 read 3 after 4 was acknowledged")
    recs[2].update(verdict="valid", explanation="bug stale-read not detected in 30 s")
    recs[3].update(verdict="unknown", explanation="linearizable: unknown (budget)")
    return recs


def test_junit_is_read_back_by_a_real_consumer(tmp_path: Path) -> None:
    path = tmp_path / "out.xml"
    path.write_bytes(junit_xml("t", _records(), Path("/store/c")))
    xml = JUnitXml.fromfile(str(path))
    suites = list(xml)
    assert len(suites) == 1
    suite = suites[0]
    assert (suite.name, suite.tests, suite.failures, suite.errors, suite.skipped) == ("t", 5, 2, 1, 1)
    assert suite.time == pytest.approx(7.5)
    cases = {c.name: c for c in suite}
    assert len(cases) == 5
    wrong = cases["raftkv-register-partition-n3 seed=2"]
    (failure,) = wrong.result
    assert isinstance(failure, Failure)
    assert failure.message == "op 12 read 3 after 4 was acknowledged"
    assert "/store/c/raftkv-register-partition-n3/s2/run/report.html" in (failure.text or "")
    missed = cases["raftkv-register-partition-bug=stale-read-n3 seed=1"]
    assert isinstance(missed.result[0], Failure)
    assert missed.result[0].message == "bug stale-read not detected in 30 s"
    assert isinstance(cases["memkv-register-none-n1 seed=1"].result[0], Error)
    assert isinstance(cases["memkv-register-none-n1 seed=2"].result[0], Skipped)
    assert cases["raftkv-register-partition-n3 seed=1"].is_passed


def test_exit_codes() -> None:
    recs = _records()
    assert exit_code(recs) == 1  # a failure
    assert exit_code([r for r in recs if r["status"] != "failed"]) == 2  # error / not-run
    assert exit_code([r for r in recs if r["status"] == "passed"]) == 0
    assert exit_code([]) == 2


def _fake_run(run_dir: Path, verdict: Any, anomalies: list[dict[str, Any]], interrupted: bool = False) -> None:
    run_dir.mkdir(parents=True)
    write_json(run_dir / "test.json", {"interrupted": interrupted})
    ops = [{"index": i, "time_ns": i * 500_000_000, "process": 0, "type": "ok", "f": "read"}
           for i in range(10)]
    (run_dir / "history.jsonl").write_text("".join(json.dumps(o) + "\n" for o in ops))
    valid = {"valid": True, "invalid": False}.get(verdict, "unknown")
    write_json(run_dir / "results.json", {
        "valid": valid, "verdict": verdict,
        "checkers": {"stats": {"valid": True, "anomalies": []},
                     "linearizable": {"valid": valid, "anomalies": anomalies, "details": {}}}})


def test_outcome_records_name_the_first_anomaly_and_its_checker(tmp_path: Path) -> None:
    runs = parse_campaign(CAMPAIGN, "t.toml").runs
    _fake_run(tmp_path / "a", "invalid", [
        {"kind": "x", "explanation": "late one", "ops": [8]},
        {"kind": "y", "explanation": "early one", "ops": [6, 9]}])
    assert detection(tmp_path / "a", json.loads((tmp_path / "a" / "results.json").read_text())) == (
        4.0, "linearizable", "late one")  # observable when its latest op happened
    bug = outcome_record(record_for(runs[2]), tmp_path / "a", tmp_path, 12.0, False)
    assert (bug["status"], bug["met"], bug["detected_s"], bug["caught_by"]) == ("passed", True, 4.0, "linearizable")
    wrong = outcome_record(record_for(runs[0]), tmp_path / "a", tmp_path, 12.0, False)
    assert wrong["status"] == "failed" and wrong["explanation"] == "late one"
    _fake_run(tmp_path / "b", "valid", [])
    missed = outcome_record(record_for(runs[2]), tmp_path / "b", tmp_path, 12.0, False)
    assert missed["status"] == "failed"
    assert missed["explanation"] == "bug stale-read not detected in 30 s"
    _fake_run(tmp_path / "c", "unknown", [])
    assert outcome_record(record_for(runs[0]), tmp_path / "c", tmp_path, 1.0, False)["status"] == "error"
    _fake_run(tmp_path / "d", "valid", [], interrupted=True)
    assert outcome_record(record_for(runs[0]), tmp_path / "d", tmp_path, 1.0, True)["status"] == "interrupted"
    assert outcome_record(record_for(runs[0]), tmp_path / "nothing", tmp_path, 1.0, False)["status"] == "error"


def _shard_dir(root: Path, recs: list[dict[str, Any]], shard: str) -> Path:
    d = root / shard.replace("/", "of")
    d.mkdir(parents=True)
    head = {"campaign": "t", "description": "", "source": "t.toml", "shard": shard,
            "total_runs": 5, "started": "2026-01-01T00:00:00Z", "wall_s": 10}
    write_outputs(d, head, recs, None)
    return d


def test_merge_of_shards_equals_the_whole_case_list(tmp_path: Path) -> None:
    recs = _records()
    a = _shard_dir(tmp_path / "artifacts", [r for r in recs if r["index"] % 2 == 0], "1/2")
    b = _shard_dir(tmp_path / "artifacts", [r for r in recs if r["index"] % 2 == 1], "2/2")
    out = tmp_path / "merged"
    out.mkdir()
    head, merged = merge([tmp_path / "artifacts"], out)
    assert [r["id"] for r in merged] == [r["id"] for r in recs]
    assert head["total_runs"] == 5 and len(head["merged_from"]) == 2
    # run folders stay reachable from the merged page
    assert merged[0]["run_dir"] == "../artifacts/1of2/" + recs[0]["run_dir"]
    write_outputs(out, head, merged, tmp_path / "merged.xml")
    assert JUnitXml.fromfile(str(tmp_path / "merged.xml")).tests == 5  # type: ignore[attr-defined]
    page = (out / "campaign.html").read_text()
    assert 'href="../artifacts/1of2/raftkv-register-partition-n3/s1/run/report.html"' in page
    del a, b


def test_merge_refuses_results_of_different_campaigns(tmp_path: Path) -> None:
    recs = _records()
    _shard_dir(tmp_path / "x", recs[:2], "1/2")
    other = _shard_dir(tmp_path / "y", recs[2:], "2/2")
    doc = json.loads((other / "campaign.json").read_text())
    doc["campaign"] = "other"
    (other / "campaign.json").write_text(json.dumps(doc))
    with pytest.raises(UsageError, match="different campaigns"):
        merge([tmp_path / "x", tmp_path / "y"], tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no campaign.json"):
        merge([tmp_path / "empty"], tmp_path)


def test_campaign_page_is_a_matrix_of_cases_by_seed(tmp_path: Path) -> None:
    recs = _records()
    recs[1]["explanation"] = "<script>alert(1)</script>"
    d = _shard_dir(tmp_path, recs, "1/1")
    page = (d / "campaign.html").read_text()
    assert "<th>seed 1</th><th>seed 2</th>" in page
    assert page.count('class="cell c-') == 5
    assert "c-passed" in page and "c-failed" in page and "c-error" in page and "c-not-run" in page
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page
    assert 'href="raftkv-register-partition-n3/s1/run/report.html"' in page


def test_merge_counts_runs_no_shard_brought(tmp_path: Path) -> None:
    recs = [r for r in _records() if r["status"] == "passed"]
    _shard_dir(tmp_path / "only", recs, "1/2")
    head, merged = merge([tmp_path / "only"], tmp_path)
    assert head["missing_runs"] == 5 - len(merged) == 4
