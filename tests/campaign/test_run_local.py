"""Campaigns run end to end through the CLI on the local backend (memkv: seconds per run)."""

from __future__ import annotations

from pathlib import Path

import pytest
from junitparser import Failure, JUnitXml

from tests.campaign.helpers import LOCAL_DEFAULTS, campaign_dirs, campaign_json, faultbox, write

pytestmark = pytest.mark.slow

# memkv keeps data in memory: a kill loses acknowledged writes (invalid); no faults: valid.
# The last case expects the correct, fault-free system to be invalid: a wrong expectation.
WRONG = """
[campaign]
name = "wrong"
""" + LOCAL_DEFAULTS + """
[[case]]
system = "memkv"
workload = ["register", "set"]
[[case]]
name = "loses-data"
system = "memkv"
nemesis = "kill"
# a kill shows only if a read is the first op to succeed after a restart (memkv's reads of
# the lost key then return nil); at 8 s / 2 s that was 3 restarts, missed ~1 run in 6
time_limit = 12
nemesis_interval = 1
recovery = 1
expect = "invalid"
[[case]]
name = "wrongly-expected"
system = "memkv"
expect = "invalid"
"""


@pytest.fixture(scope="module")
def wrong_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, str]:
    tmp = tmp_path_factory.mktemp("wrong")
    f = write(tmp / "wrong.toml", WRONG)
    r = faultbox("campaign", "run", str(f), "--store", str(tmp / "store"), "--junit", str(tmp / "out.xml"))
    return tmp, r.returncode, r.stdout + r.stderr


def test_a_wrong_expectation_exits_1_and_junit_shows_exactly_that_failure(
        wrong_run: tuple[Path, int, str]) -> None:
    tmp, rc, output = wrong_run
    assert rc == 1, output
    suite = next(iter(JUnitXml.fromfile(str(tmp / "out.xml"))))
    assert (suite.tests, suite.failures, suite.errors, suite.skipped) == (4, 1, 0, 0), output
    failed = [c for c in suite if not c.is_passed]
    assert [c.name for c in failed] == ["wrongly-expected seed=1"]
    (failure,) = failed[0].result
    assert isinstance(failure, Failure)
    assert failure.message == "the expected anomaly not detected in 3 s"
    (d,) = campaign_dirs(tmp / "store", "wrong")
    assert "report: " + str(d) in (failure.text or "")
    assert all(float(c.time) > 0 for c in suite)


def test_each_run_is_a_normal_run_folder_with_its_report(wrong_run: tuple[Path, int, str]) -> None:
    tmp, _, _ = wrong_run
    (d,) = campaign_dirs(tmp / "store", "wrong")
    doc = campaign_json(d)
    assert doc["counts"] == {"passed": 3, "failed": 1, "error": 0, "interrupted": 0, "not-run": 0,
                             "total": 4}
    for rec in doc["runs"]:
        run = d / rec["run_dir"]
        for name in ("test.json", "history.jsonl", "results.json", "report.html"):
            assert (run / name).is_file(), (rec["id"], name)
    lost = next(r for r in doc["runs"] if r["id"] == "loses-data/s1")
    assert lost["verdict"] == "invalid" and lost["caught_by"] and lost["detected_s"] is not None
    assert (d / "campaign.html").is_file() and (d / "junit.xml").is_file()
    index = (tmp / "store" / "index.html").read_text()
    assert "campaigns/wrong/" in index and "campaign.html" in index


SHARDED = """
[campaign]
name = "sharded"
""" + LOCAL_DEFAULTS + """
[[case]]
time_limit = 1
system = "memkv"
workload = ["register", "kv", "set"]
seeds = [1, 2]
"""


def test_shards_cover_each_case_once_and_merge_equals_the_unsharded_list(tmp_path: Path) -> None:
    f = write(tmp_path / "sharded.toml", SHARDED)
    whole = faultbox("campaign", "run", str(f), "--dry-run")
    assert whole.returncode == 0, whole.stderr
    expected = [ln.split()[1] for ln in whole.stdout.splitlines() if ln.strip()]
    assert len(expected) == 6
    for i in (1, 2):
        r = faultbox("campaign", "run", str(f), "--shard", f"{i}/2",
                     "--store", str(tmp_path / f"runner{i}"), "--no-report")
        assert r.returncode == 0, r.stdout + r.stderr
    shard_ids = [[rec["id"] for rec in campaign_json(d)["runs"]]
                 for i in (1, 2) for d in campaign_dirs(tmp_path / f"runner{i}", "sharded")]
    assert len(shard_ids) == 2 and not set(shard_ids[0]) & set(shard_ids[1])
    assert sorted(shard_ids[0] + shard_ids[1]) == sorted(expected)
    m = faultbox("campaign", "merge", str(tmp_path / "runner1"), str(tmp_path / "runner2"),
                 "--out", str(tmp_path / "merged"), "--junit", str(tmp_path / "merged.xml"))
    assert m.returncode == 0, m.stdout + m.stderr
    merged = campaign_json(tmp_path / "merged")
    assert [r["id"] for r in merged["runs"]] == expected
    assert all(r["status"] == "passed" for r in merged["runs"])
    assert next(iter(JUnitXml.fromfile(str(tmp_path / "merged.xml")))).tests == 6
    assert (tmp_path / "merged" / "campaign.html").is_file()
    for r in merged["runs"]:
        assert (tmp_path / "merged" / r["run_dir"] / "results.json").is_file()


def test_merge_of_nothing_is_a_one_line_error(tmp_path: Path) -> None:
    r = faultbox("campaign", "merge", str(tmp_path))
    assert r.returncode == 2 and "no campaign.json" in r.stderr and len(r.stderr.splitlines()) == 1


def test_fail_fast_starts_nothing_after_a_miss(tmp_path: Path) -> None:
    f = write(tmp_path / "ff.toml", '[campaign]\nname = "ff"\n' + LOCAL_DEFAULTS + """
[[case]]
name = "wrong"
system = "memkv"
expect = "invalid"
[[case]]
system = "memkv"
workload = ["register", "set"]
""")
    r = faultbox("campaign", "run", str(f), "--store", str(tmp_path / "store"), "--fail-fast")
    assert r.returncode == 1, r.stdout + r.stderr
    (d,) = campaign_dirs(tmp_path / "store", "ff")
    doc = campaign_json(d)
    assert [x["status"] for x in doc["runs"]] == ["failed", "not-run", "not-run"]
    assert doc["stopped"].startswith("--fail-fast")


def test_max_time_interrupts_the_running_case_and_keeps_the_summary(tmp_path: Path) -> None:
    f = write(tmp_path / "mt.toml", '[campaign]\nname = "mt"\n' + LOCAL_DEFAULTS + """
[[case]]
system = "memkv"
workload = ["register", "set"]
time_limit = 30
""")
    r = faultbox("campaign", "run", str(f), "--store", str(tmp_path / "store"), "--max-time", "4")
    assert r.returncode == 2, r.stdout + r.stderr
    (d,) = campaign_dirs(tmp_path / "store", "mt")
    doc = campaign_json(d)
    assert [x["status"] for x in doc["runs"]] == ["interrupted", "not-run"]
    assert "--max-time" in doc["stopped"]
    first = doc["runs"][0]
    assert (d / first["run_dir"] / "results.json").is_file()  # torn down and checked
    assert first["wall_s"] < 30  # stopped long before its 30 s time limit
    junit = next(iter(JUnitXml.fromfile(str(d / "junit.xml"))))
    assert (junit.tests, junit.skipped, junit.failures) == (2, 2, 0)


def test_a_run_that_cannot_start_is_an_error_and_the_campaign_goes_on(tmp_path: Path) -> None:
    # the local backend cannot partition: that run fails at setup; the next still runs
    f = write(tmp_path / "err.toml", '[campaign]\nname = "err"\n' + LOCAL_DEFAULTS + """
[[case]]
system = "memkv"
nemesis = ["partition", "none"]
""")
    r = faultbox("campaign", "run", str(f), "--store", str(tmp_path / "store"), "--junit",
                 str(tmp_path / "e.xml"))
    assert r.returncode == 2, r.stdout + r.stderr
    (d,) = campaign_dirs(tmp_path / "store", "err")
    runs = campaign_json(d)["runs"]
    assert [x["status"] for x in runs] == ["error", "passed"]
    assert "cannot do partition" in runs[0]["explanation"]
    suite = next(iter(JUnitXml.fromfile(str(tmp_path / "e.xml"))))
    assert (suite.tests, suite.errors, suite.failures) == (2, 1, 0)


def test_a_run_past_its_time_limit_plus_margin_is_stopped_and_recorded_as_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.campaign import runner
    from harness.campaign.spec import parse_campaign

    camp = parse_campaign('[campaign]\nname = "hang"\n' + LOCAL_DEFAULTS + """
[[case]]
system = "memkv"
time_limit = 60
""", "hang.toml")
    (run,) = camp.runs
    # shrink the margin so the 60 s run counts as hung two seconds in
    monkeypatch.setattr(runner, "SETUP_MARGIN_S", 2.0 - (runner.run_margin_s(run) - runner.SETUP_MARGIN_S))
    assert runner.run_margin_s(run) == pytest.approx(2.0)
    out = runner.run_campaign(camp, runner.RunConfig(store=tmp_path / "store", report=False),
                              runner.NullUI())
    (rec,) = out.records
    assert out.exit_code == 2
    assert rec["status"] == "error" and rec["explanation"].startswith("hung:")
    assert rec["wall_s"] < 60  # stopped (SIGTERM: torn down like Ctrl-C), not waited for
    assert (out.directory / rec["run_dir"] / "test.json").is_file()
