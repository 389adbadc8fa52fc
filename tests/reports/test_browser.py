"""Reports in a real headless Chromium (Debian ``chromium`` + ``chromium-driver``).

Selenium is pointed at /usr/bin/chromedriver explicitly so Selenium Manager
never tries to download a driver.  Skipped, with the reason, when either
binary is missing.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import reports
from tests.reports.fixtures import serving, write_run

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
EVIL = "<script>window.__pwned=1</script>\"'\x07<img src=x onerror=window.__pwned=2>"

pytestmark = pytest.mark.browser


def _have_browser() -> str | None:
    if not Path(CHROMIUM).exists():
        return "chromium is not installed (apt-get install -y chromium chromium-driver)"
    if not Path(CHROMEDRIVER).exists():
        return "chromedriver is not installed (apt-get install -y chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    return None


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    reason = _have_browser()
    if reason:
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
        "--disable-extensions",
        "--no-first-run",
    ):
        opts.add_argument(arg)
    opts.binary_location = CHROMIUM
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    d.set_page_load_timeout(30)
    try:
        yield d
    finally:
        d.quit()


def _open(driver: Any, url: str) -> None:
    driver.get(url)
    driver.get_log("browser")  # drop anything from before this page
    driver.get(url)
    time.sleep(0.3)  # one animation frame is plenty; keep a margin for a loaded CI box


def _console_errors(driver: Any) -> list[str]:
    logs = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    return logs + list(driver.execute_script("return window.__fbErrors || []"))


def _screenshot(driver: Any, path: Path) -> Path:
    height = driver.execute_script("return document.body.scrollHeight")
    driver.set_window_size(1400, min(int(height) + 100, 8000))
    time.sleep(0.2)
    driver.save_screenshot(str(path))
    driver.set_window_size(1400, 1000)
    assert path.stat().st_size > 10_000
    return path


def _view(driver: Any) -> list[float]:
    return list(driver.execute_script("return window.faultbox.view()"))


def test_stale_read_report_is_interactive(driver: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.actions.wheel_input import ScrollOrigin
    from selenium.webdriver.common.by import By

    run = write_run(tmp_path / "store" / "raftkv-register-partition,kill" / "20261125T123456Z")
    report = reports.render_report(run)
    _open(driver, report.as_uri())

    # Counterexample: four ops on k3, three numbered, the failed read marked.
    assert driver.find_element(By.ID, "cx-key").text == "k3"
    ops = driver.find_elements(By.CSS_SELECTOR, "#cx-view svg g.cx-op")
    assert len(ops) == 4
    svg_text = driver.find_element(By.CSS_SELECTOR, "#cx-view svg").text
    assert "cannot linearize" in svg_text and "1." in svg_text and "3." in svg_text
    assert driver.find_elements(By.CSS_SELECTOR, "#cx-view svg polyline")

    # Zoom buttons narrow and restore the shared time view.
    full = _view(driver)
    driver.find_element(By.ID, "zoom-in").click()
    time.sleep(0.1)
    zoomed = _view(driver)
    assert zoomed[1] - zoomed[0] == pytest.approx((full[1] - full[0]) / 2, rel=1e-6)
    assert "view" in driver.find_element(By.ID, "view-range").text

    # Mouse wheel zooms in further around the cursor; dragging pans.
    canvas = driver.find_element(By.ID, "timeline-canvas")
    ActionChains(driver).scroll_from_origin(ScrollOrigin.from_element(canvas), 0, -200).perform()
    time.sleep(0.1)
    wheeled = _view(driver)
    assert wheeled[1] - wheeled[0] < zoomed[1] - zoomed[0]
    ActionChains(driver).move_to_element(canvas).click_and_hold().move_by_offset(
        120, 0
    ).release().perform()
    time.sleep(0.1)
    panned = _view(driver)
    assert panned[0] < wheeled[0]
    assert panned[1] - panned[0] == pytest.approx(wheeled[1] - wheeled[0], rel=1e-6)

    # Hover over the stale read's bar shows that op.
    failed = driver.execute_script("return window.faultbox.data.cx.failed")
    assert driver.execute_script("return window.faultbox.focusOp(arguments[0], true)", failed)
    time.sleep(0.2)
    point = driver.execute_script("return window.faultbox.opPoint(arguments[0])", failed)
    assert point is not None
    hover = ActionBuilder(driver)
    hover.pointer_action.move_to_location(int(point["x"]), int(point["y"]))
    hover.perform()
    time.sleep(0.1)
    tip = driver.find_element(By.ID, "tip")
    assert tip.is_displayed() and f"op #{failed}" in tip.text and "k3" in tip.text

    assert _console_errors(driver) == []
    driver.find_element(By.ID, "zoom-reset").click()
    shot = _screenshot(driver, tmp_path / "stale-read-report.png")
    print(f"screenshot: {shot}")


def test_escaped_values_render_as_text(driver: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    extra = [
        {"process": 0, "type": "invoke", "f": "write", "value": {"key": EVIL}, "time_ns": 5},
        {"process": 0, "type": "fail", "f": "write", "value": EVIL, "error": EVIL, "time_ns": 9},
    ]
    run = write_run(tmp_path / "r", n_ops=30, extra_events=extra)
    test = json.loads((run / "test.json").read_text())
    test.update(name=EVIL, command=EVIL)
    (run / "test.json").write_text(json.dumps(test))
    res = json.loads((run / "results.json").read_text())
    res["checkers"]["linearizable"]["anomalies"].append(
        {"kind": "evil", "explanation": EVIL, "ops": [0], "data": {}}
    )
    (run / "results.json").write_text(json.dumps(res))
    _open(driver, reports.render_report(run).as_uri())
    assert driver.execute_script("return window.__pwned === undefined")
    assert "<script>window.__pwned=1</script>" in driver.find_element(By.ID, "command").text
    assert "<img src=x" in driver.find_element(By.ID, "anomalies").text
    assert driver.execute_script("return window.faultbox.focusOp(0, false)")
    assert _console_errors(driver) == []


def test_index_filters_over_http(driver: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    write_run(tmp_path / "raftkv-register-partition" / "20261125T100000Z", n_ops=20)
    ok = write_run(tmp_path / "memkv-set-kill" / "20261125T110000Z", n_ops=20, stale_read=False)
    t = json.loads((ok / "test.json").read_text())
    t.update(system="memkv", start_time="2026-11-25T13:00:00Z")
    (ok / "test.json").write_text(json.dumps(t))
    for run_dir in (tmp_path / "raftkv-register-partition" / "20261125T100000Z", ok):
        reports.render_report(run_dir)
    reports.render_index(tmp_path)
    with serving(tmp_path) as base:
        _open(driver, f"{base}/index.html")
        rows = driver.find_elements(By.CSS_SELECTOR, "#runs tr.run")
        assert [r.is_displayed() for r in rows] == [True, True]
        Select(driver.find_element(By.ID, "f-verdict")).select_by_visible_text("invalid")
        assert [r.is_displayed() for r in rows] == [False, True]
        assert driver.find_element(By.ID, "shown-count").text == "1 of 2 shown"
        rows[1].find_element(By.TAG_NAME, "a").click()
        time.sleep(0.3)
        assert driver.find_element(By.ID, "cx-key").text == "k3"
        assert _console_errors(driver) == []


def test_capped_timeline_opens_on_its_window(
    driver: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from selenium.webdriver.common.by import By

    from reports import page

    monkeypatch.setattr(page, "TIMELINE_CAP", 50)
    run = write_run(tmp_path / "r", n_ops=400)
    _open(driver, reports.render_report(run).as_uri())
    note = driver.find_element(By.ID, "timeline-note")
    assert note.is_displayed() and "shows 50" in note.text
    span = driver.execute_script("return window.faultbox.data.timeline.span")
    assert _view(driver) == pytest.approx(span)
    driver.find_element(By.ID, "zoom-reset").click()
    time.sleep(0.1)
    end_us = driver.execute_script("return window.faultbox.data.end_us")
    assert _view(driver) == pytest.approx([0, end_us])
    assert _console_errors(driver) == []
