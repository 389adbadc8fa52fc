"""The HTML report of transactional runs: micro-op lists readable, every value escaped,
anomalies linked to the txns they name (checked by the real append and bank checkers)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from harness.runner import check_run
from reports.ops import summarize_value, txn_text
from workloads import WorkloadOptions, get_workload

EVIL = "<script>window.__pwned=1</script>\"'&</ end"
MS = 1_000_000


def write_run(run_dir: Path, workload: str, ops: list[dict[str, Any]]) -> dict[str, Any]:
    run_dir.mkdir(parents=True)
    test = {"name": f"twopc-{workload}-none", "system": "twopc", "workload": workload,
            "nodes": ["n1", "n2", "n3"], "concurrency": 2, "seed": 1, "nemesis": [],
            "command": f"faultbox run --system twopc --workload {workload}"}
    (run_dir / "test.json").write_text(json.dumps(test))
    with open(run_dir / "history.jsonl", "w") as fh:
        for i, o in enumerate(ops):
            fh.write(json.dumps({"index": i, "time_ns": (i + 1) * MS, "node": "n1", **o}) + "\n")
    return test


def txn(process: int, kind: str, mops: list[list[Any]]) -> dict[str, Any]:
    return {"process": process, "type": kind, "f": "txn", "value": mops}


def test_txn_text_reads_like_elle_and_shortens_long_reads() -> None:
    assert txn_text([["r", 3, None], ["append", "k", 7]]) == 'r 3 nil; append "k" 7'
    assert txn_text([["r", 1, list(range(1, 41))]]) == "r 1 [1 2 …34 more… 37 38 39 40]"
    assert txn_text([["r", 1, [1, 2, 3]]]) == "r 1 [1 2 3]"
    assert txn_text({"from": 1}) is None and txn_text([["x", 1, 2]]) is None
    assert txn_text([]) is None
    # not a txn: compact JSON as before
    assert summarize_value({"from": 1, "to": 2}) == '{"from":1,"to":2}'


def test_append_report_is_readable_escaped_and_links_the_partial_commit(tmp_path: Path) -> None:
    run = tmp_path / "run"
    long_read = list(range(100, 140))
    mops = [["append", EVIL, EVIL], ["append", 2, 99]]
    test = write_run(run, "append", [
        txn(0, "invoke", mops), txn(0, "ok", mops),
        txn(1, "invoke", [["r", EVIL, None], ["r", 2, None]]),
        txn(1, "ok", [["r", EVIL, [EVIL]], ["r", 2, long_read]]),
    ])
    checker = get_workload("append", WorkloadOptions(concurrency=2)).checker
    out = check_run(run, checker, test)
    partial = next(a for a in out.results["checkers"]["atomicity"]["anomalies"]
                   if a["kind"] == "partial-commit")
    assert out.valid is False and partial["ops"][0] == 1  # T1: the ok completion's index
    # the sentence shows a long final read by its ends and length, not all of it
    assert "final read T3 = [100, 101, ... 34 more ..., 136, 137, 138, 139] (40 elements)" \
        in partial["explanation"]
    html = (run / "report.html").read_text()
    # escaped: no script element of ours beyond the page's own, the hostile text shown inert
    assert "window.__pwned=1</script>" not in html and html.count("<script") == 3
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html
    # readable: the micro-ops the way Elle writes them, the long read cut in its middle
    assert "append 2 99" in html and "r 2 [100 101 …34 more… 136 137 138 139]" in html
    # the anomaly's "T1" links to the txn's row
    assert re.search(r'T<a class="op-link" href="#op-1">1</a> \(ok\) appended', html)
    assert 'id="op-1"' in html


def test_bank_report_shows_transfers_and_links_the_wrong_total(tmp_path: Path) -> None:
    run = tmp_path / "run"
    read = {"accounts": ["a0", "a1"], "initial": 10}
    transfer = {"from": "a0", "to": "a1", "amount": 3, "initial": 10, "note": EVIL}
    test = write_run(run, "bank", [
        {"process": 0, "type": "invoke", "f": "transfer", "value": transfer},
        {"process": 0, "type": "ok", "f": "transfer", "value": transfer},
        {"process": 1, "type": "invoke", "f": "read", "value": read},
        {"process": 1, "type": "ok", "f": "read", "value": {"a0": 7, "a1": 10}},
        {"process": 1, "type": "invoke", "f": "read", "value": read},
        {"process": 1, "type": "ok", "f": "read", "value": {"a0": 7, EVIL: 13}},
    ])
    checker = get_workload("bank", WorkloadOptions(concurrency=2, keys=2)).checker
    out = check_run(run, checker, test)
    kinds = out.results["checkers"]["bank"]["details"]["anomaly-types"]
    assert out.valid is False and kinds == ["unexpected-accounts", "wrong-total"]
    html = (run / "report.html").read_text()
    assert "window.__pwned=1</script>" not in html and html.count("<script") == 3
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html
    # the wrong total names its read, linked to the read's row, and shows the balances
    assert re.search(r'read op <a class="op-link" href="#op-3">3</a> sums to 17, not 20: '
                     r'a0=7, a1=10', html)
    assert 'id="op-3"' in html
