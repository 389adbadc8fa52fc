"""The terminal side of a campaign: one progress bar for the campaign, one line per running run,
and the summary table at the end."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from harness.campaign.results import counts
from harness.campaign.spec import CaseRun

__all__ = ["RichUI", "summary_table"]

_STYLE = {"passed": "green", "failed": "red", "error": "yellow", "interrupted": "magenta",
          "not-run": "dim"}


class RichUI:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), TextColumn("{task.fields[line]}"), console=console,
            refresh_per_second=4,
        )
        self.campaign: TaskID | None = None
        self.runs: dict[str, TaskID] = {}
        self.tally = dict.fromkeys(_STYLE, 0)

    def start(self, name: str, total: int, done: int) -> None:
        self.progress.start()
        line = f"{done} finished earlier (resumed)" if done else ""
        self.campaign = self.progress.add_task(f"campaign {name}", total=total, completed=done, line=line)

    def run_started(self, run: CaseRun) -> None:
        self.runs[run.id] = self.progress.add_task(
            f"  {run.id}", total=run.options.time_limit_s, line="starting")

    def run_progress(self, run: CaseRun, p: dict[str, Any]) -> None:
        task = self.runs.get(run.id)
        if task is None:
            return
        faults = ",".join(p.get("faults") or []) or "none"
        self.progress.update(task, completed=min(float(p.get("elapsed_s", 0)), run.options.time_limit_s),
                             line=f"ops {p.get('invoke', 0)} ok {p.get('ok', 0)} fail {p.get('fail', 0)} "
                                  f"info {p.get('info', 0)}  faults: {faults}")

    def run_finished(self, run: CaseRun, record: dict[str, Any]) -> None:
        task = self.runs.pop(run.id, None)
        if task is not None:
            self.progress.remove_task(task)
        status = str(record.get("status"))
        self.tally[status] = self.tally.get(status, 0) + 1
        style = _STYLE.get(status, "white")
        extra = f" — {record['explanation']}" if status != "passed" and record.get("explanation") else ""
        self.progress.console.print(f"[{style}]{status:<11}[/{style}] {run.id}  "
                                    f"({record.get('verdict')}, expected {run.expect}){extra}",
                                    soft_wrap=True, highlight=False)
        if self.campaign is not None:
            self.progress.advance(self.campaign)
            self.progress.update(self.campaign, line="  ".join(
                f"{k} {v}" for k, v in self.tally.items() if v))

    def notice(self, msg: str) -> None:
        self.progress.console.print(f"[yellow]faultbox:[/yellow] {msg}", highlight=False)

    def close(self) -> None:
        self.progress.stop()


def _secs(v: Any) -> str:
    return f"{float(v):.1f}" if isinstance(v, (int, float)) else "-"


def summary_table(name: str, records: Sequence[dict[str, Any]]) -> Table:
    c = counts(records)
    t = Table(title=f"campaign {name}: " + ", ".join(f"{c[k]} {k}" for k in _STYLE if c[k]),
              title_justify="left")
    for col in ("run", "expect", "verdict", "status", "first anomaly (s)", "caught by", "wall (s)"):
        t.add_column(col, overflow="fold")
    for r in records:
        style = _STYLE.get(str(r.get("status")), "white")
        t.add_row(str(r["id"]), str(r.get("expect")), str(r.get("verdict") or "-"),
                  f"[{style}]{r.get('status')}[/{style}]", _secs(r.get("detected_s")),
                  str(r.get("caught_by") or "-"), _secs(r.get("wall_s")))
    return t
