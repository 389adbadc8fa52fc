"""Who held each lock when: a self-contained HTML page of lanes, written by the lock checker.

One lane per lock. Each grant is a bar from its acquire's completion to the
earlier of its holder's release (invocation; solid end) and the end of its
lease as the client sees it (acquire or last ok renew + TTL; a dashed end
marks an expiry). Bars that overlap in time are stacked on separate rows, so
two rows lit at one instant are two clients acting as holders. Stalls are
hatched on their holder's bar; fault windows are bands behind the lanes;
anomalies are red ticks with their kind. Every history value is escaped.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from checkers.core import Anomaly
from harness.history import FaultWindow, Op

__all__ = ["render_lanes", "LANES_FILE"]

LANES_FILE = "lanes.html"
WIDTH = 1200
LEFT = 90
ROW = 16
COLORS = ("#3b6ea5", "#c0762b", "#4b9a55", "#8c5aa8", "#b0464f", "#2f8f8f", "#7a7a2a", "#555")
FAULT_COLORS = {"partition": "#f2c744", "kill": "#e4572e", "pause": "#76b041",
                "clock": "#4aa3df", "packet": "#a05195"}


def _rows(bars: list[tuple[int, int, Any]]) -> list[tuple[int, int, Any, int]]:
    """Greedy interval colouring: each bar on the first row free at its start."""
    ends: list[int] = []
    out = []
    for start, end, data in sorted(bars, key=lambda b: (b[0], b[1])):
        row = next((i for i, e in enumerate(ends) if e <= start), len(ends))
        if row == len(ends):
            ends.append(end)
        else:
            ends[row] = end
        out.append((start, end, data, row))
    return out


class _Scale:
    def __init__(self, span_ns: int) -> None:
        self.span = max(span_ns, 1)

    def __call__(self, ns: int) -> float:
        return LEFT + (WIDTH - LEFT - 10) * min(max(ns, 0), self.span) / self.span


def _lanes(x: _Scale, sections: Iterable[Any], stalls: Sequence[tuple[Op, Op | None]],
           end_ns: int) -> tuple[list[str], int]:
    """The SVG of every lock's lane, and the height they take."""
    by_lock: dict[str, list[tuple[int, int, Any]]] = {}
    for s in sections:
        g = s.grant
        lease_end = s.valid_until(end_ns)
        expired = s.release_ns is None or s.release_ns > lease_end
        by_lock.setdefault(g.lock, []).append((g.comp.time_ns, max(lease_end, g.comp.time_ns + 1),
                                               (s, expired)))
    stall_by_holder: dict[tuple[Any, Any], list[tuple[int, int]]] = {}
    for inv, comp in stalls:
        v = inv.value if isinstance(inv.value, dict) else {}
        done = comp.time_ns if comp is not None else end_ns
        stall_by_holder.setdefault((inv.process, repr(v.get("token"))), []).append(
            (inv.time_ns, done))
    parts: list[str] = []
    y = 30
    for lock in sorted(by_lock):
        placed = _rows(by_lock[lock])
        height = (max((r for *_, r in placed), default=0) + 1) * ROW + 8
        parts.append(f'<text x="4" y="{y + 14}" class="lock">{html.escape(lock)}</text>')
        parts.append(f'<rect x="{LEFT}" y="{y}" width="{WIDTH - LEFT - 10}" height="{height}" '
                     'class="lane"/>')
        for start, end, (s, expired), row in placed:
            g = s.grant
            top = y + 4 + row * ROW
            p = g.inv.process
            color = COLORS[p % len(COLORS)] if isinstance(p, int) else COLORS[-1]
            title = html.escape(f"process {p}, token {g.token!r}, granted "
                                f"{g.comp.time_ns / 1e9:.3f}s, "
                                f"{'lease ran out' if expired else 'released'} "
                                f"{end / 1e9:.3f}s (ops {g.inv.index}, {g.comp.index})")
            dash = ' stroke-dasharray="3,2" class="expired"' if expired else ""
            parts.append(f'<rect x="{x(start):.1f}" y="{top}" width="{max(1.0, x(end) - x(start)):.1f}" '
                         f'height="{ROW - 3}" fill="{color}"{dash}><title>{title}</title></rect>')
            for s0, s1 in stall_by_holder.get((p, repr(g.token)), []):
                parts.append(f'<rect x="{x(s0):.1f}" y="{top}" width="{max(1.0, x(s1) - x(s0)):.1f}" '
                             f'height="{ROW - 3}" fill="url(#hatch)"><title>stall '
                             f'{(s1 - s0) / 1e9:.3f}s</title></rect>')
        y += height + 12
    return parts, y + 20


def _overlays(x: _Scale, faults: Sequence[FaultWindow], anomalies: Sequence[Anomaly],
              total: int) -> list[str]:
    """Fault bands (behind) and anomaly lines (in front)."""
    out = []
    for w in faults:
        c = FAULT_COLORS.get(w.fault, "#999")
        out.append(f'<rect x="{x(w.start_ns):.1f}" y="20" width="{max(1.0, x(w.end_ns) - x(w.start_ns)):.1f}" '
                   f'height="{total - 30}" fill="{c}" opacity="0.18"><title>'
                   f'{html.escape(w.fault)} {w.start_ns / 1e9:.2f}-{w.end_ns / 1e9:.2f}s</title></rect>')
    for a in anomalies:
        t = a.data.get("time_s") if isinstance(a.data, Mapping) else None
        if isinstance(t, (int, float)):
            xs = x(int(t * 1e9))
            out.append(f'<line x1="{xs:.1f}" y1="20" x2="{xs:.1f}" y2="{total - 10}" class="anom">'
                       f'<title>{html.escape(a.kind)}: {html.escape(a.explanation)}</title></line>')
    return out


def render_lanes(path: Path, sections: Iterable[Any], stalls: Sequence[tuple[Op, Op | None]],
                 faults: Sequence[FaultWindow], anomalies: Sequence[Anomaly],
                 end_ns: int) -> Path:
    """Write the page; ``sections`` are the lock checker's (``grant``, ``valid_until``,
    ``release_ns``)."""
    x = _Scale(end_ns)
    lanes, total = _lanes(x, sections, stalls, end_ns)
    over = _overlays(x, faults, anomalies, total)
    bands = [o for o in over if o.startswith("<rect")]
    marks = [o for o in over if o.startswith("<line")]
    axis = "".join(f'<text x="{x(int(x.span * k / 10)):.1f}" y="14" class="tick">'
                   f'{x.span * k / 10 / 1e9:.1f}s</text>' for k in range(11))
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{total}">'
           '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
           'patternTransform="rotate(45)"><rect width="3" height="6" fill="#fff" opacity="0.7"/>'
           f'</pattern></defs>{axis}{"".join(bands)}{"".join(lanes)}{"".join(marks)}</svg>')
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>lock lanes</title><style>"
            "body{font:13px sans-serif;margin:16px} .lane{fill:#f6f6f6;stroke:#ddd}"
            " .lock{font-weight:bold} .tick{fill:#666;font-size:11px} .expired{stroke:#000}"
            " .anom{stroke:#d00;stroke-width:1.5}</style></head><body>"
            "<h2>Who held each lock when</h2><p>Bars: grant &rarr; release (solid) or lease end "
            "(dashed outline: it ran out). Stacked rows overlap in time. Hatched: the holder was "
            "stalled. Bands: faults. Red lines: anomalies (hover for details).</p>"
            f"{svg}</body></html>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
