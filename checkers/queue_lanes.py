"""Per-partition offset lanes: a self-contained HTML page written by the queue checker.

One lane per partition, its x axis the partition's offsets (0 .. highest
seen). Three strips show which offsets an acknowledged send was placed at
(``acked``), which a consumer's poll returned (``polled``: non-drain polls)
and which the final drain holds (``drained``); red marks below them are the
anomalies that name offsets of this partition (an offset, a pair, or a
skipped range), each with its kind and explanation on hover, and listed in
a table under the lane with links to the ops in the run's report. Offsets
are bucketed into at most ``COLS`` pixel columns, so the page stays small
for a million messages. Every history value is escaped.
"""

from __future__ import annotations

import html
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from checkers.core import Anomaly

__all__ = ["LANES_FILE", "PartitionLane", "render_lanes", "anomaly_offsets", "summary_rows"]

LANES_FILE = "lanes.html"
WIDTH = 1200
LEFT = 80
COLS = WIDTH - LEFT - 10
STRIP = 14
STRIPS = (("acked", "#3b6ea5"), ("polled", "#4b9a55"), ("drained", "#888"))
MAX_ROWS = 200  # anomalies listed per partition (all are marked)


@dataclass
class PartitionLane:
    """What one partition's offsets saw (offset sets; an offset is an int >= 0)."""

    part: Hashable
    acked: set[int] = field(default_factory=set)
    polled: set[int] = field(default_factory=set)
    drained: set[int] = field(default_factory=set)

    def top(self) -> int:
        return max((max(s) for s in (self.acked, self.polled, self.drained) if s), default=0)


def anomaly_offsets(a: Anomaly) -> list[tuple[Hashable, int, int]]:
    """(partition, first offset, last offset) spans an anomaly names, from its data."""
    d = a.data if isinstance(a.data, Mapping) else {}
    if "positions" in d:  # duplicate: the value's positions
        return [(_p(p), o, o) for p, o in d["positions"] if type(o) is int]
    part = d.get("partition")
    if part is None:
        return []
    if type(d.get("offset")) is int:
        return [(_p(part), d["offset"], d["offset"])]
    offs = [o for o in d.get("offsets", ()) if type(o) is int]
    if not offs:
        return []
    if a.kind == "poll-skip" and "group" in d:  # a skipped range
        return [(_p(part), min(offs), max(offs))]
    return [(_p(part), o, o) for o in offs]


def _p(part: Any) -> Hashable:
    if isinstance(part, list):
        return tuple(part)
    return part if isinstance(part, Hashable) else repr(part)


def _esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _strip(cols: Iterable[int], scale: float, y: int, color: str) -> list[str]:
    """One rect per run of consecutive marked columns (``scale`` pixels per column)."""
    out: list[str] = []
    run_start = prev = -2
    for c in sorted(set(cols)) + [-5]:
        if c != prev + 1:
            if run_start >= 0:
                out.append(f'<rect x="{LEFT + run_start * scale:.1f}" y="{y}" '
                           f'width="{max(1.0, (prev - run_start + 1) * scale):.1f}" '
                           f'height="{STRIP - 3}" fill="{color}"/>')
            run_start = c
        prev = c
    return out


def _lane_svg(lane: PartitionLane, marks: Sequence[tuple[int, int, Anomaly]]) -> str:
    span = lane.top() + 1
    cols = min(span, COLS)

    def col(off: int) -> int:
        return min(cols - 1, max(0, off * cols // span))

    scale = COLS / cols
    parts: list[str] = []
    y = 4
    labels = []
    for name, color in STRIPS:
        offs: set[int] = getattr(lane, name)
        parts += _strip((col(o) for o in offs), scale, y, color)
        labels.append(f'<text x="4" y="{y + 10}" class="lab">{name}</text>')
        y += STRIP
    for first, last, a in marks:
        x0, x1 = LEFT + col(first) * scale, LEFT + (col(last) + 1) * scale
        parts.append(f'<rect x="{x0:.1f}" y="2" width="{max(2.0, x1 - x0):.1f}" '
                     f'height="{y + 10}" class="anom"><title>{_esc(a.kind)} at offset(s) '
                     f'{first}{"" if last == first else f"..{last}"}: '
                     f"{_esc(a.explanation)}</title></rect>")
    labels.append(f'<text x="4" y="{y + 10}" class="lab bad">anomaly</text>')
    anchors = ["start", "middle", "middle", "middle", "middle", "end"]
    ticks = "".join(f'<text x="{LEFT + COLS * k / 5:.1f}" y="{y + 24}" class="tick" '
                    f'text-anchor="{anchors[k]}">{(span - 1) * k // 5}</text>' for k in range(6))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{y + 30}">'
            f'{"".join(labels)}{"".join(parts)}{ticks}</svg>')


def _table(marks: Sequence[tuple[int, int, Anomaly]]) -> str:
    if not marks:
        return "<p class='ok'>No anomaly names an offset of this partition.</p>"
    rows = []
    for first, last, a in marks[:MAX_ROWS]:
        ops = " ".join(f'<a href="../report.html#op-{int(i)}">#{int(i)}</a>' for i in a.ops[:20])
        where = f"{first}" if first == last else f"{first}..{last}"
        rows.append(f"<tr><td>{_esc(a.kind)}</td><td>{where}</td><td>{ops}</td>"
                    f"<td>{_esc(a.explanation)}</td></tr>")
    more = (f"<p>… and {len(marks) - MAX_ROWS} more marks.</p>" if len(marks) > MAX_ROWS else "")
    return ("<table><tr><th>anomaly</th><th>offset(s)</th><th>ops</th><th>explanation</th></tr>"
            f"{''.join(rows)}</table>{more}")


def _sort_key(part: Hashable) -> tuple[int, str]:
    return (0, f"{part:020d}") if type(part) is int else (1, repr(part))


def _marks(anomalies: Iterable[Anomaly]) -> dict[Hashable, list[tuple[int, int, Anomaly]]]:
    marks: dict[Hashable, list[tuple[int, int, Anomaly]]] = {}
    for a in anomalies:
        for part, first, last in anomaly_offsets(a):
            marks.setdefault(part, []).append((first, last, a))
    return marks


def summary_rows(lanes: Mapping[Hashable, PartitionLane],
                 anomalies: Iterable[Anomaly], cap: int = 64) -> list[dict[str, Any]]:
    """Per partition (at most ``cap``): offsets, acked/polled/drained counts and the anomaly
    kinds that name its offsets — the report's "Partitions" section (JSON-able)."""
    marks = _marks(anomalies)
    rows = []
    for part in sorted(set(lanes) | set(marks), key=_sort_key)[:cap]:
        lane = lanes.get(part) or PartitionLane(part)
        kinds: dict[str, int] = {}
        for _, _, a in marks.get(part, []):
            kinds[a.kind] = kinds.get(a.kind, 0) + 1
        rows.append({"partition": part if type(part) in (int, str) else repr(part),
                     "offsets": lane.top() + 1 if (lane.acked or lane.polled or lane.drained)
                     else 0, "acked": len(lane.acked), "polled": len(lane.polled),
                     "drained": len(lane.drained), "anomalies": kinds})
    return rows


def render_lanes(path: Path, lanes: Mapping[Hashable, PartitionLane],
                 anomalies: Iterable[Anomaly]) -> Path:
    """Write the page: one lane per partition, its anomalies marked and listed."""
    marks = _marks(anomalies)
    sections = []
    for part in sorted(set(lanes) | set(marks), key=_sort_key):
        lane = lanes.get(part) or PartitionLane(part)
        ms = sorted(marks.get(part, []), key=lambda m: (m[0], m[1], m[2].kind))
        summary = (f"offsets 0..{lane.top()}: {len(lane.acked)} acknowledged, "
                   f"{len(lane.polled)} polled by consumers, {len(lane.drained)} in the final "
                   f"drain; {len(ms)} anomaly mark(s)")
        sections.append(f"<section><h3>partition {_esc(part)}</h3><p>{summary}</p>"
                        f"{_lane_svg(lane, ms)}{_table(ms)}</section>")
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>queue partition lanes"
            "</title><style>body{font:13px sans-serif;margin:16px} .lab{font-size:11px}"
            " .bad{fill:#c00} .tick{fill:#666;font-size:11px} .anom{fill:#d00;opacity:.55}"
            " table{border-collapse:collapse;margin:6px 0 18px} td,th{border:1px solid #ddd;"
            "padding:2px 6px;text-align:left;vertical-align:top} .ok{color:#2a7}</style>"
            "</head><body><h2>Offsets per partition</h2><p>Strips: offsets an acknowledged "
            "send was placed at, offsets consumers' polls returned, offsets the final drain "
            "holds (a gap in a strip is an offset nobody saw that way). Red: offsets an anomaly "
            "names (hover for the explanation; the table links its ops in the report).</p>"
            f"{''.join(sections) or '<p>No partition was sent to or polled.</p>'}"
            "</body></html>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
