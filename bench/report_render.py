"""Report render time and size for 1k/10k/100k-op histories (issue 6 acceptance).

    python bench/report_render.py            # render only
    python bench/report_render.py --browser  # also load each report in headless chromium

Prints one row per size: client ops, history events, render seconds (wall,
best of ``--repeat``), the CPU seconds of that render split into reading the
run folder (``load_run``: mostly the history reader) and building and writing
the page (``build_page``, the template, the file), report.html size, and with
``--browser``: page load to first drawn frame, and the time of one zoom redraw
of every plot (what "stays responsive" means: a frame well under 100 ms).
CPU seconds are what to compare on a busy machine; wall seconds are what a
user waits.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import reports  # noqa: E402
from reports.load import load_run  # noqa: E402
from reports.page import build_page  # noqa: E402
from reports.render import environment, no_gc, write_atomic  # noqa: E402
from tests.reports.fixtures import write_run  # noqa: E402

FRAME_JS = """
const done = arguments[arguments.length - 1];
const fb = window.faultbox, v = fb.view(), t0 = performance.now();
fb.setView(v[0] + (v[1] - v[0]) * 0.25, v[1] - (v[1] - v[0]) * 0.25);
requestAnimationFrame(() => requestAnimationFrame(() => done(performance.now() - t0)));
"""
LOAD_JS = """
const done = arguments[arguments.length - 1];
requestAnimationFrame(() => requestAnimationFrame(() => done(performance.now())));
"""


def _driver():  # type: ignore[no-untyped-def]
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000"):
        opts.add_argument(arg)
    opts.binary_location = "/usr/bin/chromium"
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


def _browser_times(driver, report: Path) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    driver.get(report.as_uri())
    load_ms = float(driver.execute_async_script(LOAD_JS))
    frames = [float(driver.execute_async_script(FRAME_JS)) for _ in range(5)]
    return load_ms, sorted(frames)[len(frames) // 2]


def _split(run: Path) -> tuple[float, float]:
    """CPU seconds of (reading the run folder, building + writing the page), as render_report does."""
    with no_gc():
        t0 = time.process_time()
        loaded = load_run(run)
        t1 = time.process_time()
        context, data = build_page(loaded)
        html = environment().get_template("report.html.j2").render(**context, data=data)
    write_atomic(run / "report.split.html", html)
    return t1 - t0, time.process_time() - t1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--browser", action="store_true")
    args = ap.parse_args()
    driver = _driver() if args.browser else None
    print(f"{'client ops':>10} {'events':>8} {'render s':>9} {'read cpu':>9} {'page cpu':>9} {'size MB':>8}"
          + (f" {'load ms':>8} {'zoom frame ms':>14}" if driver else ""))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for n in (int(s) for s in args.sizes.split(",")):
                run = write_run(Path(tmp) / f"store/bench/{n}", n_ops=n)
                events = sum(1 for _ in open(run / "history.jsonl"))
                best = float("inf")
                split = (float("inf"), float("inf"))
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    out = reports.render_report(run)
                    best = min(best, time.perf_counter() - t0)
                    split = min(split, _split(run), key=sum)
                row = (f"{n:>10} {events:>8} {best:>9.2f} {split[0]:>9.2f} {split[1]:>9.2f} "
                       f"{out.stat().st_size / 1e6:>8.2f}")
                if driver is not None:
                    load_ms, frame_ms = _browser_times(driver, out)
                    row += f" {load_ms:>8.0f} {frame_ms:>14.1f}"
                print(row, flush=True)
    finally:
        if driver is not None:
            driver.quit()


if __name__ == "__main__":
    main()
