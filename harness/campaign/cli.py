"""``faultbox campaign run`` and ``faultbox campaign merge`` (added to the main CLI group)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console

from harness.errors import FaultboxError

__all__ = ["campaign"]

console = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)


def _fail(msg: str) -> NoReturn:
    console.print(f"[red]faultbox:[/red] {msg}")
    sys.exit(2)


def _csv(value: str | None) -> list[str]:
    return [x.strip() for x in (value or "").split(",") if x.strip()]


@click.group()
def campaign() -> None:
    """Run many tests from a campaign file (or a quick sweep), merge sharded results."""


@campaign.command("run")
@click.argument("file", required=False, type=click.Path(path_type=Path))
@click.option("--system", default=None, help="Quick sweep: systems, comma-separated (instead of FILE).")
@click.option("--workload", default=None, help="Quick sweep: workloads, comma-separated.")
@click.option("--nemesis", default=None,
              help="Quick sweep: fault mixes, comma-separated; join faults of one mix with '+' "
                   "(partition+kill); 'none' for no faults.")
@click.option("--bug", default=None, help="Quick sweep: bug switches, comma-separated (expect invalid).")
@click.option("--seeds", default=None, type=int, help="Quick sweep: seeds 1..N per case [default: 1].")
@click.option("--nodes", default=None, type=int, help="Quick sweep: nodes per run.")
@click.option("--time-limit", default=None, type=float, help="Quick sweep: main phase, seconds.")
@click.option("--backend", default=None, help="Quick sweep: docker or local.")
@click.option("--expect", default=None, help="Quick sweep: valid or invalid [default: by bug].")
@click.option("--name", default="sweep", show_default=True, help="Quick sweep: the campaign's name.")
@click.option("--jobs", default=1, show_default=True, type=int,
              help="Runs at once (each on its own network and subnet).")
@click.option("--shard", default=None, help="Run only slice i of n (e.g. 2/4), for CI matrices.")
@click.option("--resume", is_flag=True, help="Continue the newest interrupted run of this campaign.")
@click.option("--fail-fast", is_flag=True, help="Start no new run after one misses its expectation.")
@click.option("--max-time", default=None, type=float, help="Stop after this many seconds (summary kept).")
@click.option("--junit", default=None, type=click.Path(path_type=Path), help="Also write JUnit XML here.")
@click.option("--store", default="store", show_default=True, type=click.Path(path_type=Path))
@click.option("--no-report", is_flag=True, help="Skip each run's HTML report.")
@click.option("--dry-run", is_flag=True, help="Validate and list the runs (of this shard); run nothing.")
def run_cmd(file: Path | None, **kw: Any) -> None:
    """Run every case of a campaign FILE (TOML), or a quick sweep given by options.

    Each run is an ordinary run folder under store/campaigns/<name>/<timestamp>/,
    next to campaign.json, campaign.html and junit.xml. Exit code 0 only when every
    run met its expectation; 1 when one did not; 2 for errors, unknown verdicts or
    runs that did not finish.
    """
    from harness.campaign import RunConfig, parse_shard, run_campaign, select
    from harness.campaign.ui import RichUI, summary_table

    try:
        camp = _campaign_from(file, kw)
        shard = parse_shard(kw["shard"]) if kw["shard"] else None
        if kw["dry_run"]:
            for r in select(camp.runs, shard):
                out.print(f"{r.index:4d}  {r.id}  expect {r.expect}")
            sys.exit(0)
        cfg = RunConfig(store=kw["store"], jobs=kw["jobs"], fail_fast=kw["fail_fast"],
                        max_time_s=kw["max_time"], resume=kw["resume"], shard=shard,
                        junit=kw["junit"], report=not kw["no_report"])
        outcome = run_campaign(camp, cfg, RichUI(console))
    except FaultboxError as e:
        _fail(str(e))
    out.print(summary_table(camp.name, list(outcome.records)))
    out.print(f"campaign: {outcome.directory / 'campaign.json'}")
    out.print(f"page:     {outcome.directory / 'campaign.html'}")
    if kw["junit"]:
        out.print(f"junit:    {kw['junit']}")
    if outcome.interrupted:
        out.print("[yellow]interrupted: resume with --resume[/yellow]")
    sys.exit(outcome.exit_code)


_SWEEP_KEYS = ("system", "workload", "nemesis", "bug", "seeds", "nodes", "time_limit", "backend",
               "expect")


def _campaign_from(file: Path | None, kw: dict[str, Any]) -> Any:
    from harness.campaign import build_campaign, load_campaign

    given = [k for k in _SWEEP_KEYS if kw[k] is not None]
    if file is not None:
        if given:
            raise click.UsageError(f"give a campaign FILE or sweep options, not both "
                                   f"(--{given[0].replace('_', '-')})")
        if not file.is_file():
            raise FaultboxError(f"{file}: no such campaign file")
        return load_campaign(file)
    if kw["system"] is None:
        raise FaultboxError("campaign run: give a campaign FILE or at least --system for a quick sweep")
    case: dict[str, Any] = {"system": _csv(kw["system"])}
    for key in ("workload", "nemesis", "bug"):
        if kw[key] is not None:
            case[key] = _csv(kw[key]) or [""]
    for key in ("seeds", "nodes", "time_limit", "backend", "expect"):
        if kw[key] is not None:
            case[key] = kw[key]
    return build_campaign(kw["name"], "quick sweep from the command line", "command line", {}, [case])


@campaign.command("merge")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", "out_dir", default=None, type=click.Path(path_type=Path),
              help="Folder for the merged campaign.json/html/junit.xml "
                   "[default: store/campaigns/<name>/merged-<timestamp>].")
@click.option("--junit", default=None, type=click.Path(path_type=Path), help="Also write JUnit XML here.")
@click.option("--store", default="store", show_default=True, type=click.Path(path_type=Path))
def merge_cmd(paths: tuple[Path, ...], out_dir: Path | None, junit: Path | None, store: Path) -> None:
    """Combine shard results (campaign folders, or folders holding them) into one campaign."""
    from harness.campaign import exit_code, merge, read_campaign, write_outputs
    from harness.campaign.results import find_campaign_files
    from harness.campaign.ui import summary_table

    try:
        files = find_campaign_files(list(paths))
        name = read_campaign(files[0])["campaign"]
        if out_dir is None:
            out_dir = store / "campaigns" / name / time.strftime("merged-%Y%m%dT%H%M%S", time.gmtime())
        out_dir.mkdir(parents=True, exist_ok=True)
        head, records = merge(files, out_dir.resolve())
        write_outputs(out_dir, head, records, junit)
    except FaultboxError as e:
        _fail(str(e))
    except OSError as e:
        _fail(f"merge: {e}")
    out.print(summary_table(head["campaign"], records))
    out.print(f"merged {len(files)} result file(s) → {out_dir / 'campaign.json'}")
    code = exit_code(records)
    if head["missing_runs"]:
        out.print(f"[yellow]{head['missing_runs']} of {head['total_runs']} runs are in none of the "
                  "given results (a shard missing?)[/yellow]")
        code = max(code, 2) if code != 1 else 1
    sys.exit(code)
