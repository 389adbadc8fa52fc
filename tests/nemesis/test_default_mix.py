"""`--nemesis default`: the tuned fault mix, named once (nemesis.schedule.DEFAULT_MIX)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from harness.campaign.spec import build_campaign
from harness.mutate.runner import MutateConfig
from nemesis import DEFAULT_INTERVAL_S, DEFAULT_MIX, PACKAGES, expand_mix, schedule_interval
from nemesis.schedule import MIN_NODES, default_mix
from systems import get_system

REPO = Path(__file__).resolve().parents[2]


def test_default_expands_to_the_mix_once_and_keeps_the_rest() -> None:
    assert DEFAULT_MIX and all(f in PACKAGES for f in DEFAULT_MIX)
    assert expand_mix(["default"]) == DEFAULT_MIX
    assert expand_mix(["figure8", "default", DEFAULT_MIX[0]]) == ("figure8", *DEFAULT_MIX)
    assert expand_mix(["partition", "kill"]) == ("partition", "kill")
    assert MutateConfig().docker_nemesis == ("default",)  # faultbox run expands it


def test_a_system_adds_its_own_targeted_faults_where_it_has_the_nodes() -> None:
    raftkv = get_system("raftkv").default_faults
    assert raftkv == ("voter-crash",) and MIN_NODES["voter-crash"] == 5
    assert default_mix(raftkv, 5) == (*DEFAULT_MIX, "voter-crash")
    assert default_mix(raftkv, 3) == DEFAULT_MIX  # voter-crash refuses fewer than 5 nodes
    assert expand_mix(["default", "voter-crash", "kill"], raftkv, 5) == (*DEFAULT_MIX, "voter-crash")
    assert expand_mix(["partition"], raftkv, 5) == ("partition",)  # only `default` grows
    assert get_system("twopc").default_faults == ()


def test_the_default_schedule_brings_its_interval_unless_one_is_given() -> None:
    assert schedule_interval(["default"], None, 5.0) == DEFAULT_INTERVAL_S
    assert schedule_interval(["default"], 7.0, 5.0) == 7.0
    # the same faults named one by one are an ordinary mix: the ordinary default
    assert schedule_interval(list(DEFAULT_MIX), None, 5.0) == 5.0


def test_campaigns_and_faultbox_run_take_default(tmp_path: Path) -> None:
    case = {"system": "raftkv", "nodes": 5, "nemesis": ["default", "kill"], "backend": "sim"}
    camp = build_campaign("c", "", "c.toml", {}, [case])
    assert [r.options.nemesis for r in camp.runs] == [(*DEFAULT_MIX, "voter-crash"), ("kill",)]
    camp = build_campaign("c", "", "c.toml", {}, [dict(case, nodes=3)])
    assert camp.runs[0].options.nemesis == DEFAULT_MIX
    assert [r.options.nemesis_interval_s for r in camp.runs] == [DEFAULT_INTERVAL_S, 5.0]
    camp = build_campaign("c", "", "c.toml", {}, [dict(case, nemesis_interval=3)])
    assert [r.options.nemesis_interval_s for r in camp.runs] == [3.0, 3.0]
    r = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--backend", "sim",
                        "--nemesis", "default", "--time-limit", "2", "--seed", "1",
                        "--store", str(tmp_path), "--no-report"],
                       cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    test = json.loads(next(tmp_path.glob("*/*/test.json")).read_text())
    assert tuple(test["nemesis"]) == DEFAULT_MIX
    assert test["nemesis_interval_s"] == DEFAULT_INTERVAL_S
    assert "--nemesis " + ",".join(DEFAULT_MIX) in r.stdout  # the reproduce line names the mix


def test_the_nightly_runs_every_replicated_system_under_the_default_schedule() -> None:
    from harness.campaign.spec import parse_campaign

    path = REPO / "campaigns" / "nightly.toml"
    camp = parse_campaign(path.read_text(), str(path))
    tuned = {r.options.system for r in camp.runs
             if set(DEFAULT_MIX) <= set(r.options.nemesis)
             and r.options.nemesis_interval_s == DEFAULT_INTERVAL_S}
    assert {"raftkv", "lock", "queue", "twopc", "cache"} <= tuned
