"""The pytest plugin: campaign files as pytest items (one per run), failures explained."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.campaign.helpers import LOCAL_DEFAULTS, REPO, write


def _pytest(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                          capture_output=True, text=True, cwd=cwd, timeout=600)


def test_the_plugin_is_registered_through_the_pytest11_entry_point() -> None:
    from importlib.metadata import entry_points

    eps = [ep for ep in entry_points(group="pytest11") if ep.name == "faultbox"]
    assert [ep.value for ep in eps] == ["harness.pytest_plugin"]


def test_smoke_campaign_collects_one_item_per_run() -> None:
    r = _pytest(REPO, "--faultbox-campaign", "campaigns/smoke.toml", "--collect-only", "-q")
    assert r.returncode == 0, r.stdout + r.stderr
    from harness.campaign import load_campaign

    runs = load_campaign(REPO / "campaigns" / "smoke.toml").runs
    items = [ln for ln in r.stdout.splitlines() if ln.startswith("campaigns/smoke.toml::")]
    assert items == [f"campaigns/smoke.toml::{run.id}" for run in runs]
    assert f"{len(runs)} tests collected" in r.stdout


def test_a_bad_campaign_file_is_a_usage_error(tmp_path: Path) -> None:
    f = write(tmp_path / "bad.toml", '[[case]]\nsystem = "nosuch"\n')
    r = _pytest(tmp_path, "--faultbox-campaign", str(f), "--collect-only", "-q")
    assert r.returncode == 4, r.stdout + r.stderr
    assert "key 'system': unknown system 'nosuch'" in r.stderr


@pytest.mark.slow
def test_campaign_items_run_and_a_failure_prints_explanation_and_report(tmp_path: Path) -> None:
    f = write(tmp_path / "mini.toml", '[campaign]\nname = "mini"\n' + LOCAL_DEFAULTS + """
[[case]]
system = "memkv"
[[case]]
name = "wrong"
system = "memkv"
expect = "invalid"
""")
    r = _pytest(tmp_path, "--faultbox-campaign", str(f), "--faultbox-store", str(tmp_path / "store"),
                "--junitxml", str(tmp_path / "junit.xml"), "-q")
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert "1 failed, 1 passed" in out
    assert "the expected anomaly not detected in 3 s" in out
    assert "report: " + str(tmp_path / "store" / "campaigns" / "mini") in out
    assert "reproduce: faultbox run --system memkv" in out
    from junitparser import JUnitXml

    suite = next(iter(JUnitXml.fromfile(str(tmp_path / "junit.xml"))))
    assert (suite.tests, suite.failures) == (2, 1)
    (d,) = (tmp_path / "store" / "campaigns" / "mini").iterdir()
    assert (d / "campaign.json").is_file() and (d / "campaign.html").is_file()
