"""Campaign files: matrix expansion, expectations, sharding, and one-line errors for bad files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.campaign import load_campaign, parse_shard, select
from harness.campaign.spec import parse_campaign, split_mix
from harness.errors import UsageError

REPO = Path(__file__).resolve().parents[2]

GOOD = """
[campaign]
name = "t"
[defaults]
time_limit = 5
backend = "local"
[[case]]
system = "raftkv"
workload = ["register", "kv"]
nemesis = ["partition", "kill+pause", "none"]
seeds = 2
[[case]]
system = "raftkv"
bug = ["stale-read", "no-fsync"]
nemesis = "partition"
seeds = [7]
[[case]]
name = "mem"
system = "memkv"
expect = "invalid"
nemesis = "kill"
"""


def test_cases_expand_to_the_product_of_axes_and_seeds() -> None:
    c = parse_campaign(GOOD, "good.toml")
    assert len(c.runs) == 2 * 3 * 2 + 2 + 1
    assert [r.index for r in c.runs] == list(range(len(c.runs)))
    assert len({r.id for r in c.runs}) == len(c.runs)
    first = c.runs[0]
    assert (first.options.system, first.options.workload, first.options.nemesis) == (
        "raftkv", "register", ("partition",))
    assert first.options.seed == 1 and first.options.time_limit_s == 5.0
    assert first.options.backend == "local" and first.expect == "valid"
    mixed = [r for r in c.runs if r.options.nemesis == ("kill", "pause")]
    assert len(mixed) == 4 and all("kill+pause" in r.id for r in mixed)
    assert any(r.options.nemesis == () and "-none-" in r.id for r in c.runs)


def test_a_bug_switch_expects_invalid_and_a_case_expect_wins() -> None:
    c = parse_campaign(GOOD, "good.toml")
    bugs = [r for r in c.runs if r.options.bugs]
    assert {r.options.bugs for r in bugs} == {("stale-read",), ("no-fsync",)}
    assert all(r.expect == "invalid" and r.seed == 7 for r in bugs)
    mem = [r for r in c.runs if r.options.system == "memkv"]
    assert len(mem) == 1 and mem[0].expect == "invalid" and mem[0].options.nodes == 1
    assert mem[0].id == "mem/s1"


def test_split_mix() -> None:
    assert split_mix("partition,kill") == ("partition", "kill")
    assert split_mix("partition+kill") == ("partition", "kill")
    assert split_mix("none") == () and split_mix("") == ()


def test_shards_cover_every_run_exactly_once() -> None:
    c = parse_campaign(GOOD, "good.toml")
    for n in (1, 2, 3, 5):
        seen = [r.id for i in range(1, n + 1) for r in select(c.runs, parse_shard(f"{i}/{n}"))]
        assert sorted(seen) == sorted(r.id for r in c.runs)
    assert select(c.runs, parse_shard("1/2")) == select(c.runs, parse_shard("1/2"))


@pytest.mark.parametrize("text", ["0/2", "3/2", "1/0", "a/b", "1"])
def test_bad_shard(text: str) -> None:
    with pytest.raises(UsageError, match="--shard"):
        parse_shard(text)


BAD = {
    "unknown-key": ('[[case]]\nsystem = "raftkv"\ntimelimit = 3\n', "case 1: unknown key 'timelimit'"),
    "hyphen-key": ('[[case]]\nsystem = "raftkv"\ntime-limit = 3\n', "did you mean 'time_limit'"),
    "unknown-system": ('[[case]]\nsystem = "nosuch"\n', "case 1: key 'system': unknown system 'nosuch'"),
    "bad-expect": ('[[case]]\nsystem = "raftkv"\nexpect = "maybe"\n', "case 1: key 'expect'"),
    "toml-syntax": ('[[case]\nsystem = "raftkv"\n', "TOML syntax error"),
    "unknown-workload": ('[[case]]\nsystem = "raftkv"\nworkload = "bank"\n', "key 'workload'"),
    "unknown-nemesis": ('[[case]]\nsystem = "raftkv"\nnemesis = "flood"\n', "key 'nemesis'"),
    "unknown-bug": ('[[case]]\nsystem = "memkv"\nbug = "stale-read"\n', "key 'bug': system memkv"),
    "bad-number": ('[[case]]\nsystem = "raftkv"\nnodes = 0\n', "key 'nodes'"),
    "bad-type": ('[[case]]\nsystem = "raftkv"\ntime_limit = "long"\n', "key 'time_limit'"),
    "bad-seeds": ('[[case]]\nsystem = "raftkv"\nseeds = 0\n', "key 'seeds'"),
    "no-cases": ('[campaign]\nname = "x"\n', "no [[case]] tables"),
    "second-case": ('[[case]]\nsystem = "raftkv"\n[[case]]\nsystem = "raftkv"\nnodes = -1\n',
                    "case 2: key 'nodes'"),
    "duplicate": ('[[case]]\nsystem = "raftkv"\n[[case]]\nsystem = "raftkv"\n', "duplicates"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_files_are_one_line_errors(tmp_path: Path, name: str) -> None:
    text, needle = BAD[name]
    f = tmp_path / f"{name}.toml"
    f.write_text(text)
    with pytest.raises(UsageError) as e:
        load_campaign(f)
    msg = str(e.value)
    assert needle in msg and str(f) in msg and "\n" not in msg


@pytest.mark.parametrize("name", ["unknown-key", "unknown-system", "bad-expect", "toml-syntax"])
def test_cli_rejects_bad_files_with_one_line_and_exit_2(tmp_path: Path, name: str) -> None:
    text, needle = BAD[name]
    f = tmp_path / f"{name}.toml"
    f.write_text(text)
    r = subprocess.run([sys.executable, "-m", "harness.cli", "campaign", "run", str(f),
                        "--store", str(tmp_path / "store")],
                       capture_output=True, text=True, cwd=REPO, timeout=60)
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "store").exists()  # nothing started


def test_shipped_campaigns_parse() -> None:
    for f in sorted((REPO / "campaigns").glob("*.toml")):
        c = load_campaign(f)
        assert c.runs, f


def test_quick_sweep_shorthand_lists_its_runs() -> None:
    r = subprocess.run([sys.executable, "-m", "harness.cli", "campaign", "run", "--system", "raftkv",
                        "--workload", "register,kv", "--nemesis", "partition,kill", "--seeds", "2",
                        "--dry-run"], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert r.returncode == 0, r.stderr
    ids = [ln.split()[1] for ln in r.stdout.splitlines() if ln.strip()]
    assert len(ids) == 8 and "raftkv-kv-kill-n3/s2" in ids


def test_a_runs_options_survive_the_trip_to_its_worker_process() -> None:
    """The runner sends ``Options.to_json`` (``--opt`` values as a mapping) to the worker;
    a case with ``opt`` failed there (ValueError unpacking the mapping's keys)."""
    import json

    from harness.campaign.worker import options_from_json
    from harness.options import Options

    opts = Options(system="cache", workload="cache", nemesis=("pause", "membership"),
                   bugs=("no-lease",), system_opts=(("fill_delay_ms", "300"),), keys=32,
                   backend="sim")
    back = options_from_json(json.loads(json.dumps(opts.to_json())))
    assert back == opts
    assert back.command() == opts.command() and "--opt fill_delay_ms=300" in back.command()
