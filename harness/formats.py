"""History importers: our JSONL, Porcupine's logs and Jepsen/Knossos EDN (DESIGN §3).

``load_history(path, fmt=None)`` detects the format (or takes ``fmt``) and
returns a :class:`LoadedHistory`: the history, the format's name, the model it
suggests and that model's initial value.  Formats:

* ``jsonl`` — our own histories (:func:`harness.history.read_jsonl`);
* ``porcupine-etcd`` — Jepsen log lines ``INFO  jepsen.util - P  :type  :f  value``
  (a single register; suggests ``cas-register`` with initial value nil);
* ``porcupine-kv`` — one EDN map per line with ``:key`` (suggests ``kv``; a
  missing key reads as ``""``);
* ``knossos-edn`` (alias ``edn``) — an EDN vector/list of op maps, or one op
  map per line as in Jepsen's ``history.edn``;
* ``jepsen-edn`` (alias ``elle``) — Jepsen/Elle transactional histories, one op
  map per line, ``:f :txn`` with ``:value [[:append k v] [:r k nil-or-vector]]``
  micro-ops (suggests the ``list-append`` checker, see :mod:`checkers.elle`).
  Detected when the first op is a ``:txn`` of ``:append``/``:r`` micro-ops.

Keywords become plain strings (``:read`` -> ``"read"``, ``:nemesis`` ->
``"nemesis"``).  Malformed input raises HistoryError naming the file and line.
The EDN reader (:mod:`harness.edn`) is complete enough for histories, runs in
linear time, and bounds nesting depth.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from harness.edn import (
    MAX_DEPTH,
    EdnError,
    EdnOp,
    Keyword,
    Symbol,
    TimelessOp,
    parse_edn,
    parse_edn_all,
    parse_edn_located,
    plain,
    read_op_rows,
)
from harness.history import (
    NEMESIS,
    TYPES,
    History,
    HistoryError,
    Op,
    line_chunks,
    no_gc,
    read_jsonl,
)

__all__ = [
    "FORMATS",
    "MAX_DEPTH",
    "Keyword",
    "Symbol",
    "EdnError",
    "LoadedHistory",
    "detect_format",
    "is_list_append",
    "load_history",
    "parse_edn",
    "parse_edn_all",
]

FORMATS = ("jsonl", "porcupine-etcd", "porcupine-kv", "knossos-edn", "jepsen-edn")
_ALIASES = {"edn": "knossos-edn", "knossos": "knossos-edn", "porcupine": "porcupine-etcd", "etcd": "porcupine-etcd",
            "elle": "jepsen-edn"}
LIST_APPEND = "list-append"  # the pseudo-model a jepsen-edn txn history suggests
_LIST_APPEND_MOP = re.compile(r"\[:(?:append|r)\s")


@dataclass(frozen=True, slots=True)
class LoadedHistory:
    history: History
    format: str
    model: str | None
    init: Any


def _brief(v: Any) -> str:
    """A short repr of a value from an outside file, for one-line error messages."""
    r = repr(v)
    return r if len(r) <= 60 else r[:57] + "..."


def _row_ops(rows: list[EdnOp], first: int, keyed: bool) -> list[Op]:
    """Ops from the fast path's rows (already validated as :data:`_edn_op` would), numbered
    from ``first``, a missing or non-integer ``:time`` replaced by the op's position.

    Built in C by ``msgspec.convert`` when every ``time_ns`` is an int (always so for
    :class:`TimelessOp` rows, whose times are then set to the positions); the ops are
    new, so numbering them in place is safe.  Else one by one."""
    try:
        ops = msgspec.convert(rows, list[Op], from_attributes=True)
    except msgspec.ValidationError:  # some :time is missing or not an int
        return [Op(i, r.time_ns if type(r.time_ns) is int else i, r.process, r.type, r.f,
                   [r.key, r.value] if keyed else r.value, None, r.error)
                for i, r in enumerate(rows, start=first)]
    put = object.__setattr__
    if rows and type(rows[0]) is TimelessOp:
        for i, o in enumerate(ops, start=first):
            put(o, "index", i)
            put(o, "time_ns", i)
    else:
        for i, o in enumerate(ops, start=first):
            put(o, "index", i)
    if keyed:
        for o, r in zip(ops, rows, strict=True):
            put(o, "value", [r.key, r.value])
    return ops


def _edn_op(d: Any, pos: int, keyed: bool) -> Op:
    """One op from an EDN op map (keys compare equal as keywords or plain strings)."""
    if type(d) is not dict:
        raise ValueError(f"expected an op map, got {type(d).__name__}")
    t = d.get("type")
    f = d.get("f")
    p = d.get("process")
    if not isinstance(t, str) or t not in TYPES or not isinstance(f, str):
        raise ValueError(f"op needs :type (invoke/ok/fail/info) and :f, got {_brief(t)}")
    if type(p) is not int:
        if not isinstance(p, str):
            raise ValueError(f":process must be an int or keyword, got {_brief(p)}")
        p = NEMESIS if p == NEMESIS else str(p)
    value = plain(d.get("value"))
    if keyed:
        value = [plain(d.get("key")), value]
    err = plain(d.get("error"))
    tm = d.get("time")
    return Op(pos, tm if type(tm) is int else pos, p, str(t), str(f), value, None, err)


def _edn_ops(path: Path, text: str, keyed: bool) -> History:
    rows = read_op_rows(text)  # the fast path; None when only the complete reader can tell
    if rows is not None:
        return History(_row_ops(rows, 0, keyed))  # numbered 0, 1, ... already
    try:
        forms, starts, inner = parse_edn_located(text)
    except EdnError as e:
        raise HistoryError(f"{path}:{e.line}: malformed EDN ({e.msg})") from None
    if len(forms) == 1 and isinstance(forms[0], list):
        items, offsets = forms[0], inner[0] if inner else []
    else:
        items, offsets = forms, starts
    ops = []
    for i, d in enumerate(items):
        try:
            ops.append(_edn_op(d, i, keyed))
        except ValueError as e:
            line = text.count("\n", 0, offsets[i]) + 1 if i < len(offsets) else "?"
            raise HistoryError(f"{path}:{line}: {e}") from None
    return History(ops)  # numbered 0, 1, ... already


_ETCD = re.compile(r"jepsen\.util\s+-\s+(\S+)\s+:(\w+)\s+:(\w+)(.*)")  # linear: no lazy tail
_ETCD_INT = re.compile(r"-?[0-9]{1,18}")
_ETCD_PAIR = re.compile(r"\[(-?[0-9]{1,18}) (-?[0-9]{1,18})\]")


def _etcd_value(raw: str, where: str) -> Any:
    if raw in ("", "nil"):
        return None
    if _ETCD_INT.fullmatch(raw):  # the common shapes, without the EDN reader
        return int(raw)
    m = _ETCD_PAIR.fullmatch(raw)
    if m is not None:
        return [int(m[1]), int(m[2])]
    try:
        return plain(parse_edn(raw))
    except EdnError as e:
        raise HistoryError(f"{where}: cannot read value {_brief(raw)} ({e.msg})") from None


def _porcupine_etcd(path: Path, text: str) -> History:
    ops: list[Op] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if "jepsen.util" not in line:
            continue
        m = _ETCD.search(line)
        if m is None:
            continue  # another kind of log line
        where = f"{path}:{n}"
        proc, t, f, raw = m.groups()
        if t not in TYPES:
            raise HistoryError(f"{where}: unknown op type :{t}")
        try:
            p: int | str = int(proc)
        except ValueError:
            p = NEMESIS if proc == ":nemesis" else proc.lstrip(":")
        pos = len(ops)
        ops.append(Op(pos, pos, p, t, f, _etcd_value(raw.strip(), where)))
    return History(ops, reindex=True)


def detect_format(path: str | Path, text: str | None = None) -> str:
    """Guess a history file's format from its name and first meaningful line."""
    p = Path(path)
    if text is None:
        text = _head(p)
    first = next(_meaningful(text), "")
    if not first:
        return "porcupine-etcd" if p.suffix == ".log" else ("knossos-edn" if p.suffix == ".edn" else "jsonl")
    if "jepsen.util" in first:
        return "porcupine-etcd"
    if first.startswith('{"') or p.suffix == ".jsonl":
        return "jsonl"
    if first.startswith("{:") and ":key" in first and first.rstrip().endswith("}"):
        return "porcupine-kv"
    if first.startswith("{:") and ":txn" in first and _LIST_APPEND_MOP.search(first):
        return "jepsen-edn"
    if first[0] in "[({;#" or p.suffix == ".edn":
        return "knossos-edn"
    raise HistoryError(f"{p}:1: cannot tell the history format; pass one of {', '.join(FORMATS)}")


def _meaningful(text: str) -> Iterator[str]:
    for line in text.splitlines():
        s = line.strip()
        if s and not s.startswith(";"):
            yield s


def _read(p: Path) -> str:
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise HistoryError(f"{p}: cannot read history ({e.strerror})") from None
    except UnicodeDecodeError as e:
        raise HistoryError(f"{p}: history is not UTF-8 text (byte {e.start})") from None
    nul = text.find("\0")
    if nul >= 0:
        raise HistoryError(f"{p}:{text.count(chr(10), 0, nul) + 1}: history contains a NUL byte (not a text file)")
    return text


def is_list_append(h: History) -> bool:
    """Every client op is a txn whose micro-ops are all appends and reads."""
    seen = False
    for o in h:
        if o.process == NEMESIS:
            continue
        if o.f != "txn" or not isinstance(o.value, list):
            return False
        for m in o.value:
            if not isinstance(m, list) or len(m) != 3 or m[0] not in ("append", "r"):
                return False
        seen = True
    return seen


def _suggest_edn_model(h: History) -> tuple[str | None, Any]:
    if is_list_append(h):  # (every client op a txn: it stops at the first that is not)
        return LIST_APPEND, None
    fs = {o.f for o in h if o.process != NEMESIS}
    if "txn" in fs:
        return "multi-register", None
    if fs & {"acquire", "release"}:
        return "mutex", None
    if fs & {"enqueue", "dequeue"}:
        return "fifo-queue", None
    if fs & {"add"}:
        return "set", None
    if fs & {"read", "write", "cas"}:
        return "cas-register", 0  # Knossos's own suites start a cas-register at 0
    return None, None


def load_history(path: str | Path, fmt: str | None = None) -> LoadedHistory:
    """Read a history file in any supported format (detected unless ``fmt`` is given)."""
    with no_gc():
        return _load(Path(path), fmt)


def _load(p: Path, fmt: str | None) -> LoadedHistory:
    if fmt is not None:
        fmt = _ALIASES.get(fmt, fmt)
        if fmt not in FORMATS:
            raise HistoryError(f"{p}: unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "jsonl" or (fmt is None and p.suffix == ".jsonl"):
        return LoadedHistory(read_jsonl(p), "jsonl", None, None)
    head = _head(p)
    fmt = fmt or detect_format(p, head)
    if fmt == "jsonl":
        return LoadedHistory(read_jsonl(p), "jsonl", None, None)
    if fmt == "porcupine-etcd":
        return LoadedHistory(_porcupine_etcd(p, _read(p)), fmt, "cas-register", None)
    keyed = fmt == "porcupine-kv"
    h = _edn_streamed(p, keyed) if head.lstrip().startswith("{") else None
    if h is None:  # not one op map per line in the fast path's reach: the whole text at once
        h = _edn_ops(p, _read(p), keyed)
    if keyed:
        return LoadedHistory(h, fmt, "kv", "")
    model, init = _suggest_edn_model(h)
    return LoadedHistory(h, fmt, model, init)


_CHUNK = 8 << 20  # bytes of whole lines read at a time


def _edn_streamed(p: Path, keyed: bool) -> History | None:
    """One op map per line, read 8 MiB of whole lines at a time through the fast path.

    Memory beyond the ops stays bounded by the chunk.  A form or string that
    spans a chunk boundary leaves unbalanced brackets or quotes in both chunks,
    which the fast path refuses, so any chunk it refuses (or any op it cannot
    build) returns None and the caller reads the whole text with the complete
    reader, which also names the line of any error.
    """
    ops: list[Op] = []
    try:
        with open(p, "rb") as fh:
            for chunk, _ in line_chunks(fh, _CHUNK):
                if chunk and not _chunk_ops(chunk, keyed, ops):
                    return None
    except OSError:
        return None
    return History(ops)  # numbered 0, 1, ... already (each chunk's from len(ops))


def _chunk_ops(chunk: bytes, keyed: bool, ops: list[Op]) -> bool:
    try:
        text = chunk.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return "\0" not in text and _text_ops(text, keyed, ops)


def _text_ops(text: str, keyed: bool, ops: list[Op]) -> bool:
    """Whole lines of op maps: the fast path, else around the lines it cannot take.

    A few odd lines (a nemesis op with a string-keyed map, a comment, a tag, an
    escape JSON lacks) are found with one search for what marks them
    (:data:`_ODD`) and read by the complete reader; the runs of lines between
    them go through the fast path whole (or, should one still be refused, in
    8 KiB pieces, each fast or complete).  Cutting at newlines keeps every form
    whole when each piece reads cleanly (a form across a cut leaves an error in
    both pieces: then False, and the caller reads the whole file, naming the
    line of any error).
    """
    if '{"' not in text:  # (a string-keyed map, as nemesis ops have, would fail it whole)
        rows = read_op_rows(text)
        if rows is not None:
            ops.extend(_row_ops(rows, len(ops), keyed))
            return True
    done = 0
    for m in _ODD.finditer(text):
        if m.start() < done:
            continue  # on a line already read
        first = text.rfind("\n", 0, m.start()) + 1
        last = text.find("\n", m.end())
        last = len(text) if last < 0 else last + 1
        if not (_piece_ops(text[done:first], keyed, ops) and _complete_ops(text[first:last], keyed, ops)):
            return False
        done = last
    return _piece_ops(text[done:], keyed, ops)


# What the fast path refuses on sight: a map with a string key, a comment, a tag or
# discard, a character or escape.  (Inside a string too: then that line costs more.)
_ODD = re.compile(r'\{\s*"|[;#\\]')


def _piece_ops(text: str, keyed: bool, ops: list[Op]) -> bool:
    """Lines with nothing odd: the fast path, else 8 KiB pieces, each fast or complete."""
    if not text:
        return True
    rows = read_op_rows(text)
    if rows is not None:
        ops.extend(_row_ops(rows, len(ops), keyed))
        return True
    start = 0
    while start < len(text):
        cut = text.find("\n", start + _PIECE)
        end = len(text) if cut < 0 else cut + 1
        piece = text[start:end]
        start = end
        rows = read_op_rows(piece)
        if rows is not None:
            ops.extend(_row_ops(rows, len(ops), keyed))
        elif not _complete_ops(piece, keyed, ops):
            return False
    return True


def _complete_ops(text: str, keyed: bool, ops: list[Op]) -> bool:
    """The complete reader on whole lines; False (the caller gives up) on any error."""
    try:
        forms, _, _ = parse_edn_located(text)
        ops.extend([_edn_op(d, i, keyed) for i, d in enumerate(forms, start=len(ops))])
    except ValueError:  # EdnError too
        return False
    return True


_PIECE = 8 << 10


_HEAD = 1 << 20


def _head(p: Path) -> str:
    """The first MiB of whole lines, for telling the format (decoding errors replaced)."""
    try:
        with open(p, "rb") as fh:
            raw = fh.read(_HEAD)
    except OSError as e:
        raise HistoryError(f"{p}: cannot read history ({e.strerror})") from None
    cut = raw.rfind(b"\n")
    return (raw[:cut] if len(raw) == _HEAD and cut > 0 else raw).decode("utf-8", "replace")
