"""HTML reports and the run browser (DESIGN §6, issue 6).

- :func:`render_report` writes ``<run>/report.html`` — one self-contained,
  offline page per run (header and verdicts, anomalies linked to ops, the
  linearizability counterexample view, a zoomable timeline, latency and
  throughput plots with fault bands, stats, log links).
- :func:`render_index` writes ``<store>/index.html`` listing every run.
- :func:`serve` / :func:`make_server` serve the store over HTTP.

Decisions:

- **One file, no dependency.** Jinja2 (autoescaping on) renders the page;
  CSS and our own JS (``static/``) are inlined; the run's data travels as
  JSON in ``<script type="application/json">`` with ``<``/``>``/``&``
  escaped (see :mod:`reports.render`).  A CSP meta tag forbids every network
  fetch.  No charting library: the plots are ~500 lines of canvas/SVG code.
- **Timeline on canvas**, one row per process (folded to worker rows past 64
  processes), bars invoke→completion coloured ok green / fail red / info
  amber / never-completed dark amber.  Canvas because 20k bars redraw in a
  few ms where 20k SVG nodes would not.  At most 20k ops are drawn (a window
  around the first op an anomaly names, with a note); latency and
  throughput cover every op (:mod:`reports.page`).
- **Zoom and pan**: one shared time window for timeline, latency and
  throughput; mouse wheel zooms around the cursor, drag pans, +/−/reset
  buttons, double-click resets; redraws are coalesced per animation frame.
- **Fault bands**: ``start-X``/``stop-X`` nemesis ops (:mod:`reports.ops`),
  drawn as translucent bands behind every plot and solid labelled bars in
  the timeline's top strip, one colour per fault kind (partition orange,
  kill red, pause purple, clock blue, packet teal, others grey); nemesis ops
  are ticks in that strip.
- **Counterexample view** in SVG (few ops, needs per-op hover and text).
"""

from reports.index import render_index, scan_runs
from reports.report import REPORT_FILE, render_report
from reports.serve import make_server, serve

__all__ = ["render_report", "render_index", "scan_runs", "serve", "make_server", "REPORT_FILE"]
