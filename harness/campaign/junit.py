"""JUnit XML for CI: one ``<testsuite>`` per campaign, one ``<testcase>`` per run (case × seed).

* passed → an empty testcase;
* failed, a correct system judged invalid → ``<failure>`` whose message is the
  anomaly explanation and whose body names the report;
* failed, a planted bug not caught → ``<failure>`` "bug X not detected in N s";
* error (unknown verdict, crash, hang, node never up) → ``<error>``;
* interrupted / not-run → ``<skipped>``.

Times are seconds.  Written with the standard library's ElementTree, which
escapes every value.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.campaign.results import counts

__all__ = ["junit_xml", "write_junit"]


def _case_element(r: Mapping[str, Any], campaign: str, report_base: Path | None) -> ET.Element:
    system = str(r.get("system") or "system")
    tc = ET.Element("testcase", {
        "classname": f"faultbox.{campaign}.{system}",
        "name": f"{r['label']} seed={r['seed']}",
        "time": f"{float(r.get('wall_s') or 0):.3f}",
    })
    status = r.get("status")
    report = r.get("report") or r.get("run_dir")
    where = str(report_base / report) if report and report_base is not None else str(report or "-")
    body = f"expected {r.get('expect')}, verdict {r.get('verdict')}\nreport: {where}\n" \
           f"reproduce: {r.get('command', '')}"
    if status == "failed":
        el = ET.SubElement(tc, "failure", {
            "message": str(r.get("explanation") or "expectation not met"),
            "type": "bug-not-detected" if r.get("verdict") == "valid" else "invalid-history",
        })
        el.text = body
    elif status == "error":
        el = ET.SubElement(tc, "error", {
            "message": str(r.get("explanation") or "error"), "type": str(r.get("verdict") or "error"),
        })
        el.text = body
    elif status in ("interrupted", "not-run"):
        ET.SubElement(tc, "skipped", {"message": f"{status}"})
    return tc


def junit_xml(campaign: str, records: Sequence[Mapping[str, Any]], report_base: Path | None = None,
              timestamp: str | None = None) -> bytes:
    c = counts(records)
    suite = ET.Element("testsuite", {
        "name": campaign, "tests": str(c["total"]), "failures": str(c["failed"]),
        "errors": str(c["error"]), "skipped": str(c["interrupted"] + c["not-run"]),
        "time": f"{sum(float(r.get('wall_s') or 0) for r in records):.3f}",
        **({"timestamp": timestamp} if timestamp else {}),
    })
    for r in sorted(records, key=lambda r: int(r["index"])):
        suite.append(_case_element(r, campaign, report_base))
    root = ET.Element("testsuites", {
        "name": f"faultbox campaign {campaign}", "tests": suite.get("tests", "0"),
        "failures": suite.get("failures", "0"), "errors": suite.get("errors", "0"),
        "time": suite.get("time", "0"),
    })
    root.append(suite)
    ET.indent(root)
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


def write_junit(path: Path, campaign: str, records: Sequence[Mapping[str, Any]],
                report_base: Path | None = None, timestamp: str | None = None) -> Path:
    path = Path(path)
    if path.parent != Path(""):
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(junit_xml(campaign, records, report_base, timestamp))
    tmp.replace(path)
    return path
