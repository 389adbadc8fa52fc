"""HTML reports and the run browser (DESIGN §6, issue 6).

- :func:`render_report` writes ``<run>/report.html`` — one self-contained,
  offline page per run (header and verdicts, anomalies linked to ops, the
  linearizability counterexample view, a zoomable timeline, latency and
  throughput plots with fault bands, stats, log links).
- :func:`render_index` writes ``<store>/index.html`` listing every run.
- :func:`serve` / :func:`make_server` serve the store over HTTP.
"""

from reports.index import render_index, scan_runs
from reports.report import REPORT_FILE, render_report
from reports.serve import make_server, serve

__all__ = ["render_report", "render_index", "scan_runs", "serve", "make_server", "REPORT_FILE"]
