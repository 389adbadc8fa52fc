"""--keys: how many keys a multi-key workload spreads its ops over, from the CLI, campaigns and re-checks."""

import json
import subprocess
import sys
from pathlib import Path

from harness.campaign.spec import build_campaign
from harness.errors import UsageError
from harness.options import Options

REPO = Path(__file__).resolve().parents[2]


def fb(*args, timeout=180):
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=REPO)


def test_keys_reach_the_workload_and_the_reproduce_command():
    opts = Options(system="twopc", workload="bank", keys=5)
    assert opts.workload_options().keys == 5
    assert "--keys 5" in opts.command()
    assert "--keys" not in Options().command()  # the default stays implicit
    assert opts.to_json()["keys"] == 5


def test_bad_keys_are_one_line_exit_2():
    r = fb("run", "--system", "memkv", "--backend", "local", "--keys", "0", "--time-limit", "1")
    assert r.returncode == 2, r.stdout + r.stderr
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "--keys" in lines[0] and "Traceback" not in r.stderr


def test_campaign_case_takes_keys():
    case = {"system": "cache", "workload": "cache", "keys": 32, "backend": "local", "seeds": [1]}
    camp = build_campaign("c", "", "c.toml", {}, [case])
    assert camp.runs[0].options.keys == 32
    try:
        build_campaign("c", "", "c.toml", {}, [dict(case, keys="many")])
    except UsageError as e:
        assert "keys" in str(e)
    else:
        raise AssertionError("a string key count was accepted")


def test_a_cache_run_uses_exactly_the_keys_asked_for_and_recheck_agrees(tmp_path):
    store = tmp_path / "store"
    r = fb("run", "--system", "cache", "--backend", "local", "--keys", "3", "--time-limit", "3",
           "--recovery", "0.5", "--seed", "4", "--store", str(store), "--no-report")
    assert r.returncode == 0, r.stdout + r.stderr
    run = (store / "latest").resolve()
    assert json.loads((run / "test.json").read_text())["keys"] == 3
    keys = set()
    for line in (run / "history.jsonl").read_text().splitlines():
        value = json.loads(line).get("value")
        if isinstance(value, dict) and "key" in value:
            keys.add(value["key"])
    assert keys == {"k0", "k1", "k2"}, keys
    r = fb("check", str(run))
    assert r.returncode == 0, r.stdout + r.stderr
