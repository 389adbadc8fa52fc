"""``render_campaign(dir)``: ``campaign.html``, one page per campaign (issue 12).

A matrix: one row per matrix point of a case (system × workload × faults ×
bug × nodes …), one column per seed; each cell is coloured by outcome
(passed, failed, error, interrupted, not run), links to its run's report and
shows the verdict, the seconds to the first anomaly and the checker that
caught it.  Below it, the failures with their explanations.  Like every
page here it is one offline file rendered with autoescaping.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from reports.load import read_json_object
from reports.render import environment, write_atomic

__all__ = ["CAMPAIGN_PAGE", "CampaignSummary", "campaign_matrix", "render_campaign", "scan_campaigns"]

CAMPAIGN_PAGE = "campaign.html"
_STATUSES = ("passed", "failed", "error", "interrupted", "not-run")


@dataclass(frozen=True, slots=True)
class Cell:
    status: str
    verdict: str
    expect: str
    href: str | None
    detected: str
    caught_by: str
    title: str


@dataclass(frozen=True, slots=True)
class Row:
    label: str
    case: int
    cells: tuple[Cell | None, ...]


def _cell(r: Mapping[str, Any]) -> Cell:
    det = r.get("detected_s")
    detected = f"{float(det):.1f} s" if isinstance(det, (int, float)) else ""
    status = str(r.get("status") or "not-run")
    title = f"{r.get('id')}: {status}, verdict {r.get('verdict')}, expected {r.get('expect')}"
    if r.get("explanation"):
        title += f" — {r['explanation']}"
    href = r.get("report") or r.get("run_dir")
    return Cell(status if status in _STATUSES else "error", str(r.get("verdict") or "-"),
                str(r.get("expect")), str(href) if href else None, detected,
                str(r.get("caught_by") or ""), title)


def campaign_matrix(runs: list[Mapping[str, Any]]) -> tuple[list[int], list[Row]]:
    """(seed columns, rows in run order) of a campaign's run records."""
    seeds = sorted({int(r["seed"]) for r in runs if isinstance(r.get("seed"), int)})
    col = {s: i for i, s in enumerate(seeds)}
    order: dict[str, tuple[int, list[Cell | None]]] = {}
    for r in sorted(runs, key=lambda r: int(r.get("index", 0))):
        label = str(r.get("label") or r.get("id"))
        _, cells = order.setdefault(label, (int(r.get("case") or 0), [None] * len(seeds)))
        if isinstance(r.get("seed"), int):
            cells[col[int(r["seed"])]] = _cell(r)
    return seeds, [Row(label, case, tuple(cells)) for label, (case, cells) in order.items()]


def render_campaign(directory: Path) -> Path:
    """Write directory/campaign.html from directory/campaign.json; return its path."""
    directory = Path(directory)
    doc, err = read_json_object(directory / "campaign.json")
    if doc is None:
        raise ValueError(f"{directory}: {err or 'no campaign.json'}")
    runs = [r for r in doc.get("runs") or [] if isinstance(r, Mapping)]
    seeds, rows = campaign_matrix(runs)
    counts = {s: sum(1 for r in runs if r.get("status") == s) for s in _STATUSES}
    problems = [r for r in runs if r.get("status") in ("failed", "error")]
    html = environment().get_template("campaign.html.j2").render(
        doc=doc, seeds=seeds, rows=rows, counts=counts, total=len(runs), problems=problems,
        generated=datetime.now().astimezone().isoformat(timespec="seconds"),
    )
    out = directory / CAMPAIGN_PAGE
    write_atomic(out, html)
    return out


@dataclass(frozen=True, slots=True)
class CampaignSummary:
    """One campaign row of the store index."""

    href: str
    name: str
    started: str
    shard: str
    counts: tuple[tuple[str, int], ...]
    total: int
    ok: bool


def scan_campaigns(store_root: Path) -> list[CampaignSummary]:
    """Every ``<store>/campaigns/<name>/<stamp>/campaign.json``, newest first."""
    store_root = Path(store_root)
    out: list[tuple[str, CampaignSummary]] = []
    for path in (store_root / "campaigns").glob("*/*/campaign.json"):
        doc, _ = read_json_object(path)
        if doc is None or not isinstance(doc.get("runs"), list):
            continue
        runs = [r for r in doc["runs"] if isinstance(r, Mapping)]
        counts = tuple((s, n) for s in _STATUSES
                       if (n := sum(1 for r in runs if r.get("status") == s)))
        started = str(doc.get("started") or path.parent.name)
        out.append((started, CampaignSummary(
            href=(path.parent / CAMPAIGN_PAGE).relative_to(store_root).as_posix(),
            name=str(doc.get("campaign") or path.parent.parent.name), started=started,
            shard=str(doc.get("shard") or ""), counts=counts, total=len(runs),
            ok=bool(runs) and all(r.get("status") == "passed" for r in runs),
        )))
    return [s for _, s in sorted(out, key=lambda t: (t[0], t[1].href), reverse=True)]
