"""Ctrl-C stops a campaign even when it was started with SIGINT ignored (a script's background job)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.campaign.helpers import LOCAL_DEFAULTS, REPO, campaign_dirs, campaign_json, write

pytestmark = pytest.mark.slow


def test_sigint_stops_a_campaign_that_inherited_it_ignored(tmp_path: Path) -> None:
    f = write(tmp_path / "c.toml", '[campaign]\nname = "bg"\n' + LOCAL_DEFAULTS + """
[[case]]
system = "memkv"
time_limit = 20
seeds = [1, 2]
""")
    store = tmp_path / "store"
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "campaign", "run", str(f),
                             "--store", str(store)], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        deadline = time.monotonic() + 60
        while not list(store.glob("campaigns/bg/*/*_s1/*/*/history.jsonl")):
            assert time.monotonic() < deadline, "the first run never started recording"
            time.sleep(0.2)
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 2, out
    assert "interrupted" in out
    (d,) = campaign_dirs(store, "bg")
    assert [r["status"] for r in campaign_json(d)["runs"]] == ["interrupted", "not-run"], out
