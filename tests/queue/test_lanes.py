"""The queue checker's per-partition lanes page: acked/polled/drained offsets per partition,
anomalies marked at the offsets they name and listed with links to their ops; escaped."""

from __future__ import annotations

import re
from pathlib import Path

from checkers.core import Anomaly
from checkers.queue import QueueChecker
from checkers.queue_lanes import LANES_FILE, anomaly_offsets
from tests.queue.test_checker import H


def history_with_anomalies() -> H:
    h = H()
    x = "<script>alert(1)</script>"
    for i, v in enumerate([x, "m1", "m2", "m3"]):
        h.send(0, v, 0, i)
    h.send(0, "first", 1, 0)
    h.send(0, "lost", 1, 1)
    h.send(0, "late", 1, 2)
    h.join(10)
    h.poll(10, {0: [[0, x], [1, "m1"]]}, group="g")
    h.poll(10, {0: [[3, "m3"]]}, group="g")  # skipped offset 2 (poll-skip)
    h.poll(20, {0: [[0, x], [1, "m1"], [2, "m2"], [3, "m3"], [4, x]],  # x twice: duplicate
                1: [[0, "first"], [1, "late"]]}, drain=True)  # late at 1: inconsistent
    return h


def test_the_page_marks_each_anomaly_at_its_partition_and_offsets(tmp_path: Path) -> None:
    r = QueueChecker().check({}, history_with_anomalies().history(), tmp_path)
    assert r.valid is False
    kinds = {a.kind for a in r.anomalies}
    assert {"duplicate", "poll-skip", "inconsistent-offsets"} <= kinds, kinds
    assert r.details["lanes"] == f"queue/{LANES_FILE}"
    page = (tmp_path / "queue" / LANES_FILE).read_text()
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page, page
    sections = page.split("<h3>")[1:]
    assert [s.split("<", 1)[0] for s in sections] == ["partition 0", "partition 1"]
    p0, p1 = sections
    assert "offsets 0..4: 4 acknowledged, 3 polled by consumers, 5 in the final drain" in p0
    assert "offsets 0..2: 3 acknowledged, 0 polled by consumers, 2 in the final drain" in p1, p1
    rows0 = re.findall(r"<tr><td>([a-z-]+)</td><td>([0-9.]+)</td>", p0)
    rows1 = re.findall(r"<tr><td>([a-z-]+)</td><td>([0-9.]+)</td>", p1)
    assert ("duplicate", "0") in rows0 and ("duplicate", "4") in rows0, rows0
    assert ("poll-skip", "1") in rows0 or ("poll-skip", "3") in rows0, rows0
    assert ("inconsistent-offsets", "1") in rows1, rows1
    bad = next(a for a in r.anomalies if a.kind == "inconsistent-offsets")
    for i in bad.ops:
        assert f'href="../report.html#op-{i}"' in p1
    assert p1.count('class="anom"') == len(rows1)


def test_a_valid_run_has_full_strips_and_no_marks(tmp_path: Path) -> None:
    h = H()
    for i in range(3):
        h.send(0, i, 0, i)
    h.poll(20, {0: [[0, 0], [1, 1], [2, 2]]}, drain=True)
    r = QueueChecker().check({}, h.history(), tmp_path)
    assert r.valid is True
    page = (tmp_path / "queue" / LANES_FILE).read_text()
    assert 'class="anom"' not in page and "No anomaly names an offset" in page
    # acked and drained are one unbroken run each; nothing was polled by a consumer
    assert page.count('fill="#3b6ea5"') == 1 and page.count('fill="#888"') == 1
    assert page.count('fill="#4b9a55"') == 0


def test_no_page_without_an_out_dir_or_without_messages(tmp_path: Path) -> None:
    h = H()
    assert QueueChecker().check({}, h.history(), tmp_path).details.get("lanes") is None
    assert not (tmp_path / "queue").exists()


def test_many_offsets_are_bucketed_into_pixel_columns(tmp_path: Path) -> None:
    from checkers.queue_lanes import COLS, PartitionLane, render_lanes

    lane = PartitionLane(0, acked=set(range(0, 200_000, 2)), drained=set(range(200_000)))
    page = render_lanes(tmp_path / "l.html", {0: lane}, []).read_text()
    assert page.count("<rect") <= 2 * COLS and len(page) < 200_000


def test_anomaly_offsets_read_each_shape() -> None:
    def a(kind: str, **data: object) -> Anomaly:
        return Anomaly(kind, "x", (1,), data)

    assert anomaly_offsets(a("duplicate", value=1, positions=[[0, 3], [1, 5]])) == [
        (0, 3, 3), (1, 5, 5)]
    assert anomaly_offsets(a("lost-write", partition=2, offset=7)) == [(2, 7, 7)]
    assert anomaly_offsets(a("poll-skip", group="g", partition=0, offsets=[4, 9])) == [
        (0, 4, 9)]
    assert anomaly_offsets(a("nonmonotonic-poll", partition=0, offsets=[6, 2])) == [
        (0, 6, 6), (0, 2, 2)]
    assert anomaly_offsets(a("malformed")) == []


def test_the_run_report_has_a_partitions_section_linking_the_lanes(tmp_path: Path) -> None:
    import json

    from harness.runner import check_run
    from workloads import WorkloadOptions, get_workload

    h = history_with_anomalies()
    h.poll(21, {"<b>x</b>": []}, drain=True)  # a partition name planted by the system: escaped
    h.history().to_jsonl(tmp_path / "history.jsonl")
    test = {"name": "queue-queue-none", "system": "queue", "workload": "queue", "nodes": ["n1"]}
    (tmp_path / "test.json").write_text(json.dumps(test))
    checker = get_workload("queue", WorkloadOptions()).checker
    out = check_run(tmp_path, checker, test)
    rows = out.results["checkers"]["queue"]["details"]["partition_lanes"]
    assert [r["partition"] for r in rows] == [0, 1, "<b>x</b>"]
    assert rows[0]["anomalies"]["duplicate"] == 2 and rows[0]["acked"] == 4, rows[0]
    page = (tmp_path / "report.html").read_text()
    section = page.split('<section id="partitions">', 1)[1].split("</section>", 1)[0]
    assert "&lt;b&gt;x&lt;/b&gt;" in section and "<b>x</b>" not in section
    assert f'href="queue/{LANES_FILE}"' in section
    assert re.search(r"<td>0</td><td>5</td><td>4</td><td>3</td><td>5</td><td>[^<]*duplicate 2",
                     section), section
    assert 'href="#partitions"' in page
