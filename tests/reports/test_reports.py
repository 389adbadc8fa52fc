"""Report and index rendering without a browser: content, robustness, escaping, serving."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

import pytest

import reports
from harness.history import History, Op
from reports import ops as rops
from reports import page
from reports.render import embed_json
from tests.reports.fixtures import serving, write_run

EVIL = "<script>window.__pwned=1</script>\"'&\x00\x07\x1b\u2028</ end"


def _data_block(html: str) -> dict:
    m = re.search(r'<script type="application/json" id="fb-data">(.*?)</script>', html, re.S)
    assert m, "data block missing"
    return json.loads(m.group(1))


@pytest.fixture
def stale_run(tmp_path: Path) -> Path:
    return write_run(tmp_path / "store" / "raftkv-register-partition,kill" / "20261125T123456Z")


def test_stale_read_report_names_key_and_failed_read(stale_run: Path) -> None:
    out = reports.render_report(stale_run)
    assert out == stale_run / "report.html"
    html = out.read_text()
    assert 'id="overall-verdict">invalid<' in html
    assert '<code class="cx-key" id="cx-key">k3</code>' in html
    cx = _data_block(html)["cx"]
    failed = cx["failed"]
    assert cx["key"] == "k3" and failed is not None
    assert re.search(
        r'id="cx-failed">read \{&#34;key&#34;:&#34;k3&#34;\} → ok .*&#34;value&#34;:5', html
    )
    # The anomaly links to the ops it names, and those anchors exist.
    assert f'href="#op-{failed}"' in html and f'id="op-{failed}"' in html
    assert len(cx["ops"]) == 4 and len(cx["lins"]) == 2 and len(cx["lins"][0]) == 3
    # Header: reproduce command, faults, seed, nodes.
    assert "faultbox run --system raftkv" in html and "--bug stale-read" in html
    assert "partition, kill, pause" in html and "n1, n2, n3" in html
    # Logs are linked relative to the run folder.
    assert 'href="nodes/n2/server.log"' in html and 'href="nemesis.log"' in html


def test_report_data_has_bands_timeline_and_stats(stale_run: Path) -> None:
    html = reports.render_report(stale_run).read_text()
    data = _data_block(html)
    kinds = [(b["k"], b["closed"]) for b in data["bands"]]
    assert kinds == [("partition", True), ("kill", True), ("pause", False)]
    assert data["bands"][-1]["b"] == data["end_us"]
    tl = data["timeline"]
    assert len(tl["i"]) == tl["total"] and tl["note"] == ""
    assert all(a <= b for a, b in zip(tl["a"], tl["b"], strict=True))
    assert set(tl["o"]) <= {0, 1, 2, 3} and 2 in tl["o"]  # fixture has info ops in the partition
    assert 'id="stats-table"' in html and "<td>partition</td>" in html


def test_missing_results_renders_what_exists(tmp_path: Path) -> None:
    run = write_run(tmp_path / "s" / "t" / "r", results=False)
    html = reports.render_report(run).read_text()
    assert "results.json is missing" in html and "checking did not finish" in html
    assert 'id="overall-verdict">unknown<' in html
    assert len(_data_block(html)["timeline"]["i"]) > 0


def test_empty_folder_still_renders(tmp_path: Path) -> None:
    html = reports.render_report(tmp_path).read_text()
    assert "test.json is missing" in html and "history.jsonl is missing" in html


def test_broken_history_line_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    run = write_run(tmp_path / "r", n_ops=20)
    with open(run / "history.jsonl", "a") as fh:
        fh.write("not json\n{}\n")
    html = reports.render_report(run).read_text()
    assert "malformed history line" in html


def test_unknown_checkers_and_nan_render_generically(stale_run: Path) -> None:
    res = json.loads((stale_run / "results.json").read_text())
    res["checkers"]["elle"] = {
        "valid": "unknown",
        "anomalies": ["a bare string"],
        "details": {"cycles": [[1, 2, {"x": None}]], "ratio": float("nan")},
    }
    res["checkers"]["weird"] = [1, 2, 3]
    (stale_run / "results.json").write_text(json.dumps(res))  # writes NaN, as Python would
    html = reports.render_report(stale_run).read_text()
    assert _data_block(html)  # still strict JSON
    assert "elle" in html and "a bare string" in html and "weird" in html


def test_every_history_value_is_escaped(tmp_path: Path) -> None:
    extra = [
        {
            "process": 0,
            "type": "invoke",
            "f": EVIL,
            "value": {"key": EVIL},
            "time_ns": 5,
            "node": EVIL,
        },
        {"process": 0, "type": "fail", "f": EVIL, "value": EVIL, "error": EVIL, "time_ns": 9},
    ]
    run = write_run(tmp_path / "r", n_ops=30, extra_events=extra)
    test = json.loads((run / "test.json").read_text())
    test["name"] = EVIL
    test["command"] = EVIL
    (run / "test.json").write_text(json.dumps(test))
    res = json.loads((run / "results.json").read_text())
    evil_index = next(
        i
        for i, line in enumerate((run / "history.jsonl").read_text().splitlines())
        if "__pwned" in line
    )
    res["checkers"]["linearizable"]["anomalies"].append(
        {"kind": EVIL, "explanation": EVIL, "ops": [evil_index], "data": {EVIL: EVIL}}
    )
    (run / "results.json").write_text(json.dumps(res))
    html = reports.render_report(run).read_text()
    # Only our three script elements exist; the evil one never opens.
    assert html.count("<script") == 3 and "window.__pwned=1</script>" not in html
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;&#34;&#39;&amp;\\x00\\x07\\x1b" in html
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f]", html)
    data = _data_block(html)
    assert any(EVIL[:20] in t for t in data["timeline"]["text"])
    assert f'id="op-{evil_index}"' in html


def test_embed_json_cannot_break_out() -> None:
    obj = {"v": "</script><script>x()</script><!-- \u2028 &amp;", "n": float("inf")}
    text = str(embed_json(obj))
    assert "<" not in text and ">" not in text and "\u2028" not in text
    assert json.loads(text)["v"] == obj["v"]


def _op(i: int, t: int, p: object, typ: str, f: str, v: object = None) -> Op:
    return Op(index=i, time_ns=t, process=p, type=typ, f=f, value=v)  # type: ignore[arg-type]


def test_fault_bands_conventions() -> None:
    h = History(
        [
            _op(0, 10, "nemesis", "invoke", "start-partition"),
            _op(1, 12, "nemesis", "info", "start-partition", "grudge"),
            _op(2, 20, 0, "invoke", "read"),
            _op(3, 30, "nemesis", "invoke", "stop-partition"),
            _op(4, 35, "nemesis", "info", "stop-partition"),
            _op(5, 40, "nemesis", "invoke", "start-kill"),  # never completes
            _op(6, 50, "nemesis", "invoke", "start-clock"),
            _op(7, 55, "nemesis", "info", "start-clock"),
            _op(8, 60, 0, "ok", "read", 1),
        ]
    )
    bands = rops.fault_bands(h)
    assert [(b.kind, b.start_ns, b.end_ns, b.closed) for b in bands] == [
        ("partition", 10, 35, True),
        ("kill", 40, 60, False),
        ("clock", 50, 60, False),
    ]
    assert bands[0].text == '"grudge"'


def test_intervals_availability_and_stats() -> None:
    h = History(
        [
            _op(0, 0, 0, "invoke", "read"),
            _op(1, 5, 0, "ok", "read", 3),
            _op(2, 6, 1, "invoke", "write", 1),
            _op(3, 10, "nemesis", "invoke", "start-pause"),
            _op(4, 11, "nemesis", "info", "start-pause"),
            _op(5, 12, 0, "invoke", "read"),
            _op(6, 14, 0, "fail", "read"),
            _op(7, 20, "nemesis", "invoke", "stop-pause"),
            _op(8, 21, "nemesis", "info", "stop-pause"),
            _op(9, 25, 2, "invoke", "read"),
            _op(10, 26, 2, "info", "read"),
        ]
    )
    ivs = rops.intervals(h)
    assert [(iv.invoke.index, iv.outcome, iv.end_ns) for iv in ivs] == [
        (0, "ok", 5),
        (2, "open", 26),
        (5, "fail", 14),
        (9, "info", 26),
    ]
    av = {r["during"]: (r["ok"], r["ops"]) for r in rops.availability(ivs, rops.fault_bands(h))}
    assert av == {"no fault": (1, 3), "any fault": (0, 1), "pause": (0, 1)}
    stats = {r["f"]: r for r in rops.stats_by_f(ivs)}
    assert (stats["read"]["ok"], stats["read"]["fail"], stats["read"]["info"]) == (1, 1, 1)
    assert stats["write"]["open"] == 1


def test_long_history_timeline_is_capped_around_the_anomaly(
    stale_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(page, "TIMELINE_CAP", 40)
    monkeypatch.setattr(page, "SCATTER_CAP", 60)
    data = _data_block(reports.render_report(stale_run).read_text())
    tl, cx = data["timeline"], data["cx"]
    assert len(tl["i"]) == 40 and "timeline shows 40" in tl["note"]
    assert min(tl["i"]) <= min(cx["failed"], 454) <= max(tl["i"])  # window holds the named ops
    assert len(data["scatter"]["a"]) <= 60 + 5 and "every" in data["scatter"]["note"]


def _make_store(root: Path) -> None:
    write_run(root / "raftkv-register-partition" / "20261125T100000Z", n_ops=20)
    newer = write_run(root / "memkv-set-kill" / "20261125T110000Z", n_ops=20, stale_read=False)
    t = json.loads((newer / "test.json").read_text())
    t.update(system="memkv", workload="set", start_time="2026-11-25T13:00:00Z", name=EVIL)
    (newer / "test.json").write_text(json.dumps(t))
    write_run(root / "x" / "no-results", n_ops=10, results=False)
    (root / "x" / "no-results" / "test.json").write_text('{"start_time": "2020-01-01T00:00:00Z"}')
    (root / "stray" / "not-a-run").mkdir(parents=True)
    (root / "latest").symlink_to(newer)


def test_index_lists_runs_newest_first_with_filters(tmp_path: Path) -> None:
    _make_store(tmp_path)
    html = reports.render_index(tmp_path).read_text()
    hrefs = re.findall(r'<td><a href="([^"]+)">', html)
    assert hrefs == [
        "memkv-set-kill/20261125T110000Z/report.html",
        "raftkv-register-partition/20261125T100000Z/report.html",
        "x/no-results/report.html",
    ]
    assert re.findall(r'data-verdict="([^"]+)"', html) == ["valid", "invalid", "no results"]
    assert "<option>memkv</option>" in html and "<option>raftkv</option>" in html
    assert "&lt;script&gt;window.__pwned" in html and html.count("<script") == 1
    assert "(no report yet)" in html


def test_serve_store_over_http(tmp_path: Path) -> None:
    _make_store(tmp_path)
    reports.render_index(tmp_path)
    with serving(tmp_path) as base:
        with urllib.request.urlopen(f"{base}/index.html", timeout=5) as resp:
            body = resp.read().decode()
        assert resp.status == 200 and "faultbox runs" in body
        url = f"{base}/raftkv-register-partition/20261125T100000Z/test.json"
        with urllib.request.urlopen(url, timeout=5) as resp:
            assert json.loads(resp.read())["system"] == "raftkv"


def test_real_linearizability_checker_output_renders(tmp_path: Path) -> None:
    """The report reads the real checker's details: key, linearizations, failed read."""
    from checkers.linearizability import check_history

    script = [
        (0, "invoke", "write", ["x", 5]),
        (0, "ok", "write", ["x", 5]),
        (1, "invoke", "write", ["x", 7]),
        (1, "ok", "write", ["x", 7]),
        (2, "invoke", "read", ["x", None]),
        (2, "ok", "read", ["x", 5]),
        (3, "invoke", "read", ["y", None]),
        (3, "ok", "read", ["y", None]),
    ]
    h = History([_op(i, i * 1_000_000, p, t, f, v) for i, (p, t, f, v) in enumerate(script)])
    result = check_history(h, "kv", None)
    assert result.valid is False
    h.to_jsonl(tmp_path / "history.jsonl")
    (tmp_path / "test.json").write_text(json.dumps({"name": "raftkv-kv", "system": "raftkv"}))
    (tmp_path / "results.json").write_text(
        json.dumps(
            {"valid": False, "verdict": "invalid", "checkers": {"linearizable": result.to_dict()}}
        )
    )
    html = reports.render_report(tmp_path).read_text()
    cx = _data_block(html)["cx"]
    assert cx["key"] == "x" and cx["failed"] == 4 and cx["lins"][0] == [0, 2]
    assert all(lin for lin in cx["lins"])
    assert 'id="cx-key">x</code>' in html
    assert 'id="cx-failed">read [&#34;x&#34;,null] → ok [&#34;x&#34;,5]</code>' in html
    # "op 4" in the checker's sentence links to the op's row.
    assert 'op <a class="op-link" href="#op-4">4</a>' in html and 'id="op-4"' in html


def test_throughput_bins_count_completions_per_second() -> None:
    h = History(
        [
            *(
                op
                for k in range(10)
                for op in (
                    _op(2 * k, k * 100_000_000, 0, "invoke", "read"),
                    _op(
                        2 * k + 1,
                        k * 100_000_000 + 50_000_000,
                        0,
                        "ok" if k % 2 else "fail",
                        "read",
                    ),
                )
            ),
        ]
    )
    tp = rops.throughput(rops.intervals(h), rops.end_time_ns(h))
    assert tp["bin_us"] == 47_500  # 0.95 s of history: bins of 1/20 of it
    assert sum(tp["series"]["ok"]) * tp["bin_us"] / 1e6 == pytest.approx(5, rel=0.1)
    assert sum(tp["series"]["fail"]) * tp["bin_us"] / 1e6 == pytest.approx(5, rel=0.1)
    assert max(tp["series"]["info"]) == 0


def test_nemesis_ops_become_strip_marks(stale_run: Path) -> None:
    data = _data_block(reports.render_report(stale_run).read_text())
    fs = [m["f"] for m in data["nemesis"]]
    assert fs == ["start-partition", "stop-partition", "start-kill", "stop-kill", "start-pause"]
    assert '"n3"' in data["nemesis"][0]["text"] and data["nemesis"][0]["text"].startswith(
        "start-partition → info"
    )


def test_report_needs_no_network(stale_run: Path) -> None:
    html = reports.render_report(stale_run).read_text()
    assert not re.search(r"""\b(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "@import" not in html and "url(" not in html
    assert "default-src 'none'" in html  # CSP: the page may not fetch anything


def test_pages_a_checker_wrote_are_linked_and_planted_ones_are_not(stale_run: Path) -> None:
    checker = next(iter(json.loads((stale_run / "results.json").read_text())["checkers"]))
    (stale_run / checker).mkdir()
    (stale_run / checker / "lanes.html").write_text("<p>lanes</p>")
    (stale_run / checker / "planted.html").symlink_to("/etc/passwd")
    (stale_run / "elsewhere").mkdir()
    (stale_run / "elsewhere" / "other.html").write_text("<p>not a checker's</p>")
    html = reports.render_report(stale_run).read_text()
    links = re.findall(r'class="checker-page" href="([^"]+)"', html)
    assert links == [f"{checker}/lanes.html"]


def test_flat_detail_records_render_as_an_escaped_table(tmp_path: Path) -> None:
    run = write_run(tmp_path / "s" / "cache-cache-membership" / "r")
    results = json.loads((run / "results.json").read_text())
    rows = [{"op": 7, "action": "join", "node": EVIL, "members": ["n1", EVIL], "moved": 0.2},
            {"op": 9, "action": "flap", "node": "n2", "members": ["n1"], "moved": 0.19}]
    results["checkers"]["cache"] = {"valid": True, "anomalies": [], "details": {
        "membership": rows, "nested": [{"a": {"b": 1}}]}}
    (run / "results.json").write_text(json.dumps(results))
    html = reports.render_report(run).read_text()
    assert "<h4>membership</h4>" in html and "<th>moved_over_ideal" not in html
    assert "<th>action</th>" in html and "<td>flap</td>" in html and "<td>0.19</td>" in html
    assert "<h4>nested</h4>" not in html  # only flat records become tables
    assert "<script>window.__pwned" not in html and "&lt;script&gt;window.__pwned" in html
