"""``render_report(run_dir)``: one self-contained HTML report per stored run."""

from __future__ import annotations

from pathlib import Path

from reports.load import load_run
from reports.page import build_page
from reports.render import environment, no_gc, write_atomic

__all__ = ["render_report", "REPORT_FILE"]

REPORT_FILE = "report.html"


def render_report(run_dir: Path) -> Path:
    """Render run_dir/report.html from whatever the run folder holds; return its path.

    Reads test.json, history.jsonl and results.json (each may be missing or
    broken: the report says so and shows the rest) and links node logs and
    nemesis.log.  Never needs the network to view.
    """
    run_dir = Path(run_dir)
    with no_gc():
        run = load_run(run_dir)
        context, data = build_page(run)
        html = environment().get_template("report.html.j2").render(**context, data=data)
    out = run_dir / REPORT_FILE
    write_atomic(out, html)
    return out
