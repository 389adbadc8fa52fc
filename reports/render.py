"""Rendering: Jinja2 with autoescaping, static CSS/JS inlined, data embedded as JSON.

Safety contract (issue 6, item 4): every value that comes from a run reaches
the page in one of two ways, both inert:

* through a Jinja2 expression, with autoescaping on (``select_autoescape``
  forced on for every template) and C0 control characters shown as visible
  ``\\xNN`` text by the ``printable`` filter;
* inside ``<script type="application/json">``, serialised by
  :func:`embed_json`, which escapes ``<``, ``>``, ``&`` and U+2028/U+2029 so
  no value can close the script element; the page's script reads it with
  ``JSON.parse`` and writes text only through ``textContent``.

Why no plotting library: the report must be one offline file that renders a
100k-op history fast.  A few hundred lines of our own canvas code (timeline,
scatter, throughput, all sharing one zoomable time axis) plus SVG for the
small counterexample view are smaller than any charting library we could
inline, and need no new dependency.
"""

from __future__ import annotations

import gc
import json
import os
import re
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

__all__ = [
    "environment",
    "embed_json",
    "link_ops",
    "no_gc",
    "printable",
    "static_text",
    "write_atomic",
]

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_JSON_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
_JSON_UNSAFE = re.compile("[<>&\u2028\u2029]")


def printable(value: Any) -> str:
    """Text with C0 control characters (except tab/newline/CR) shown as ``\\xNN``."""
    text = "" if value is None else str(value)
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


_OP_REF = re.compile(r"\b(ops? )(\d+)\b|(#)(\d+)\b|\b(T)(\d+)\b")


def link_ops(value: Any, anchors: Collection[int]) -> Markup:
    """Escaped, printable text whose "op 12" / "#12" / "T12" (a txn, named by its op index,
    as the transactional checkers do) mentions link to ``#op-12`` when it exists."""

    def sub(m: re.Match[str]) -> str:
        prefix, num = next((m.group(i), m.group(i + 1)) for i in (1, 3, 5) if m.group(i + 1))
        if int(num) not in anchors:
            return m.group(0)
        return f'{prefix}<a class="op-link" href="#op-{num}">{num}</a>'

    return Markup(_OP_REF.sub(sub, str(escape(printable(value)))))


def embed_json(obj: Any) -> Markup:
    """JSON safe to place verbatim inside ``<script type="application/json">``."""
    try:
        text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError:
        from reports.load import jsonable

        text = json.dumps(jsonable(obj), separators=(",", ":"), ensure_ascii=False)
    return Markup(_JSON_UNSAFE.sub(lambda m: _JSON_ESCAPES[m.group()], text))


@cache
def static_text(name: str) -> str:
    """A file from reports/static, to inline into a page."""
    text = resources.files("reports").joinpath("static", name).read_text(encoding="utf-8")
    if "</script" in text.lower() or "</style" in text.lower():
        raise ValueError(f"static/{name} must not contain a closing script/style tag")
    return text


def _fmt_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _fmt_fraction(v: Any) -> str:
    return "–" if not isinstance(v, (int, float)) else f"{100 * v:.1f}%"


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("reports", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["printable"] = printable
    env.filters["bytes"] = _fmt_bytes
    env.filters["pct"] = _fmt_fraction
    env.filters["link_ops"] = link_ops
    env.globals["static"] = lambda name: Markup(static_text(name))
    env.globals["embed_json"] = embed_json
    return env


@contextmanager
def no_gc() -> Iterator[None]:
    """The cyclic garbage collector paused for a block that builds many acyclic objects.

    Reading a 100k-op history and building its page allocate a few hundred
    thousand objects and free none; each full collection on the way walks all
    of them again (measured: about a third of the page's CPU time).  Reference
    counting still frees everything; the collector runs again afterwards."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so a reader never sees half a page."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
