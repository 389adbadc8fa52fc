"""The shipped GitHub Actions workflow runs only commands the CLI accepts."""

from __future__ import annotations

import itertools
import re
import shlex
from typing import Any

import click
import pytest
import yaml

from harness.campaign import parse_shard
from harness.cli import cli
from tests.campaign.helpers import REPO, faultbox

WORKFLOW = REPO / ".github" / "workflows" / "nightly.yml"
_EXPR = re.compile(r"\$\{\{\s*matrix\.(\w+)\s*\}\}")


def _workflow() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text())
    return doc


def _commands() -> list[tuple[str, list[str]]]:
    """(job, argv after 'faultbox') for each faultbox command, once per matrix combination."""
    out = []
    for job_name, job in _workflow()["jobs"].items():
        matrix = (job.get("strategy") or {}).get("matrix") or {}
        keys = sorted(matrix)
        combos = [dict(zip(keys, vals, strict=True)) for vals in itertools.product(*(matrix[k] for k in keys))]
        for step in job["steps"]:
            for line in str(step.get("run", "")).splitlines():
                for combo in combos or [{}]:
                    text = _EXPR.sub(lambda m, c=combo: str(c[m.group(1)]), line)  # type: ignore[misc]
                    words = shlex.split(text)
                    if words[:1] == ["sudo"]:
                        words = words[1:]
                    if not words or not words[0].endswith("faultbox"):
                        continue
                    assert words[0] == ".venv/bin/faultbox", line
                    out.append((job_name, words[1:]))
    return out


def _parse(argv: list[str]) -> click.Context:
    """Parse argv exactly as `faultbox` would, down to the leaf command, without running it."""
    ctx = cli.make_context("faultbox", list(argv))
    cmd: click.Command = cli
    while isinstance(cmd, click.Group):
        name, sub, rest = cmd.resolve_command(ctx, [*ctx.protected_args, *ctx.args])
        assert sub is not None and name is not None
        ctx = sub.make_context(name, rest, parent=ctx)
        cmd = sub
    return ctx


def test_workflow_is_scheduled_sharded_and_merged() -> None:
    doc = _workflow()
    triggers = doc.get("on", doc.get(True))  # YAML 1.1 reads a bare `on` as true
    assert triggers["schedule"][0]["cron"]
    jobs = doc["jobs"]
    shards = jobs["campaign"]["strategy"]["matrix"]["shard"]
    assert shards == list(range(1, len(shards) + 1))
    assert jobs["merge"]["needs"] == "campaign"
    runs = [str(s.get("run", "")) for job in jobs.values() for s in job["steps"]]
    assert any("./install.sh" in r for r in runs)
    uses = [str(s.get("uses", "")) for job in jobs.values() for s in job["steps"]]
    assert any(u.startswith("actions/upload-artifact") for u in uses)
    assert any(u.startswith("actions/download-artifact") for u in uses)


def test_every_faultbox_command_in_the_workflow_is_accepted_by_the_cli() -> None:
    commands = _commands()
    n_shards = len(_workflow()["jobs"]["campaign"]["strategy"]["matrix"]["shard"])
    runs = [argv for job, argv in commands if argv[:2] == ["campaign", "run"]]
    merges = [argv for job, argv in commands if argv[:2] == ["campaign", "merge"]]
    assert len(runs) == n_shards and len(merges) == 1
    shards = []
    for _, argv in commands:
        ctx = _parse(argv)
        if ctx.info_name == "run":
            assert (REPO / ctx.params["file"]).is_file()
            shard = parse_shard(ctx.params["shard"])
            assert shard.count == n_shards
            shards.append(shard.index)
            assert ctx.params["junit"] is not None
        else:
            assert ctx.info_name == "merge" and ctx.params["junit"] is not None
    assert sorted(shards) == list(range(1, n_shards + 1))


@pytest.mark.parametrize("bad", [["campaign", "run", "x.toml", "--shards", "1/4"],
                                 ["campaign", "merge"], ["campaign", "run", "--jobs", "two"]])
def test_the_parse_check_rejects_what_the_cli_rejects(bad: list[str]) -> None:
    with pytest.raises(click.UsageError):
        _parse(bad)


def test_each_workflow_shard_selects_a_valid_slice_of_the_nightly_campaign() -> None:
    argv = next(a for _, a in _commands() if a[:2] == ["campaign", "run"])
    file = argv[2]
    listed = []
    n = len(_workflow()["jobs"]["campaign"]["strategy"]["matrix"]["shard"])
    for i in range(1, n + 1):
        r = faultbox("campaign", "run", file, "--shard", f"{i}/{n}", "--dry-run")
        assert r.returncode == 0, r.stderr
        listed += [ln.split()[1] for ln in r.stdout.splitlines() if ln.strip()]
    whole = faultbox("campaign", "run", file, "--dry-run")
    assert sorted(listed) == sorted(ln.split()[1] for ln in whole.stdout.splitlines() if ln.strip())
