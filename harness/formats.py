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
The EDN reader here is small and complete enough for histories: nil, booleans,
integers, floats, strings, characters, keywords, symbols, vectors, lists,
maps, sets, ``;`` comments, ``#_`` discards and tagged literals (the tag is
dropped, the value kept).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.history import NEMESIS, TYPES, History, HistoryError, Op, read_jsonl

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


class Keyword(str):
    """An EDN keyword, without its colon."""

    __slots__ = ()

    def __repr__(self) -> str:
        return ":" + str.__str__(self)


class Symbol(str):
    """An EDN symbol."""

    __slots__ = ()


class EdnError(ValueError):
    """Malformed EDN; ``line`` is 1-based."""

    def __init__(self, msg: str, line: int) -> None:
        super().__init__(f"line {line}: {msg}")
        self.line = line
        self.msg = msg


# Every pattern is linear-time: possessive quantifiers never backtrack, alternatives
# start with distinct characters, and ``bad`` matches any character nothing else
# does, so ``finditer`` never has to search ahead.  An unterminated string is a
# ``str`` token without its ``end`` group.
_TOKEN = re.compile(
    r"""(?:[\s,]|;[^\n]*+)*+
    (?:(?P<str>"[^"\\]*+(?:\\.[^"\\]*+)*+(?P<end>")?)
    |(?P<open>\#\{|[\[({])
    |(?P<close>[\])}])
    |(?P<disc>\#_)
    |(?P<tag>\#[A-Za-z][^\s,\[\](){}";\\\x00-\x1f\x7f]*+)
    |(?P<char>\\(?:newline|space|tab|return|u[0-9a-fA-F]{4}|[^\x00-\x1f\x7f]))
    |(?P<atom>[^\s,\[\](){}";\\\x00-\x1f\x7f]++)
    |(?P<eof>\Z)
    |(?P<bad>.))""",
    re.X | re.S,
)
MAX_DEPTH = 200  # deepest nesting of EDN collections accepted (histories need a handful)
_INT = re.compile(r"[+-]?[0-9]+N?")
_FLOAT = re.compile(r"[+-]?[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?M?")
_CHARS = {"newline": "\n", "space": " ", "tab": "\t", "return": "\r"}
_ESC = re.compile(r"\\(u[0-9a-fA-F]{4}|.)", re.S)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "b": "\b", "f": "\f"}
_CLOSE = {"[": "]", "(": ")", "{": "}", "#{": "}"}


def _line(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _unescape(m: re.Match[str]) -> str:
    e = m.group(1)
    if e[0] == "u" and len(e) == 5:
        return chr(int(e[1:], 16))
    return _ESCAPES.get(e, e)


def _int(tok: str) -> int:
    if len(tok) > 4000:  # below Python's int-string limit (4300 digits)
        raise ValueError(f"a number of {len(tok)} digits is too long")
    return int(tok)


def _atom(tok: str) -> Any:
    if tok == "nil":
        return None
    if tok == "true":
        return True
    if tok == "false":
        return False
    c = tok[0]
    if c == ":":
        return Keyword(tok[1:])
    if c.isdigit() or (c in "+-" and len(tok) > 1 and tok[1].isdigit()):
        if _INT.fullmatch(tok):
            return _int(tok.rstrip("N"))
        if _FLOAT.fullmatch(tok):
            return float(tok.rstrip("M"))
        raise ValueError(f"bad number {tok!r}")
    return Symbol(tok)


def _hashable(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(_hashable(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted(((_hashable(k), _hashable(x)) for k, x in v.items()), key=repr))
    return v


def _finish(kind: str, items: list[Any]) -> Any:
    if kind == "{":
        if len(items) % 2:
            raise ValueError("a map needs an even number of forms")
        return {_hashable(items[i]): items[i + 1] for i in range(0, len(items), 2)}
    if kind == "#{":
        return frozenset(_hashable(x) for x in items)
    return items


class _Frame:
    """An open container: its opening token, forms so far, start offset, pending #_/tags."""

    __slots__ = ("kind", "items", "start", "pending", "starts", "inner")

    def __init__(self, kind: str, start: int) -> None:
        self.kind = kind
        self.items: list[Any] = []
        self.start = start
        self.pending: list[tuple[str, int]] = []  # (#_ or #tag, offset)
        self.starts: list[int] = []  # offset where each kept form began
        self.inner: list[list[int]] = []  # (root only) starts of the forms inside each form

    def add(self, value: Any, start: int) -> None:
        """Add a finished form, honouring pending discards (#_) and tags (dropped)."""
        while self.pending:
            tok, start = self.pending.pop()
            if tok == "#_":
                return
        self.items.append(value)
        self.starts.append(start)


def _value_of(kind: str, tok: str) -> Any:
    if kind == "str":
        s = _ESC.sub(_unescape, tok[1:-1])
        return _no_surrogates(s) if "\\u" in tok else s
    if kind == "char":
        body = tok[1:]
        return _no_surrogates(_CHARS.get(body) or (chr(int(body[1:], 16)) if len(body) == 5 else body))
    return _atom(tok)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _no_surrogates(s: str) -> str:
    """Join UTF-16 surrogate pairs written as two \\u escapes; a lone surrogate is an error."""
    if _SURROGATE.search(s) is None:
        return s
    try:
        return s.encode("utf-16", "surrogatepass").decode("utf-16")
    except UnicodeDecodeError:
        raise ValueError("a \\u escape names a lone UTF-16 surrogate") from None


def parse_edn_all(text: str, max_depth: int = MAX_DEPTH) -> tuple[list[Any], list[int]]:
    """All top-level forms of an EDN text, and the 1-based line where each starts.

    Collections nested deeper than ``max_depth`` raise :class:`EdnError`."""
    forms, starts, _ = _parse(text, max_depth)
    return forms, _lines(text, starts)


def _lines(text: str, offsets: list[int]) -> list[int]:
    """1-based line numbers of many offsets, in one pass over the text."""
    newlines = [m.start() for m in re.finditer("\n", text)]
    return [bisect_right(newlines, off - 1) + 1 for off in offsets]


def _parse(text: str, max_depth: int = MAX_DEPTH) -> tuple[list[Any], list[int], list[list[int]]]:
    root = _Frame("", 0)
    stack = [root]
    pos = 0
    n = len(text)
    for m in _TOKEN.finditer(text):
        if m.start() != pos or pos == n:
            break
        pos = m.end()
        kind = m.lastgroup or ""
        if kind == "eof":
            break
        tok = m.group(kind)
        at = m.start(kind)
        top = stack[-1]
        try:
            if kind == "atom" and not top.pending:  # the common case, inlined
                c = tok[0]
                if c == ":":
                    top.items.append(Keyword(tok[1:]))
                    top.starts.append(at)
                    continue
                if tok.isascii() and tok.isdigit():
                    top.items.append(_int(tok))
                    top.starts.append(at)
                    continue
            if kind == "open":
                if len(stack) > max_depth:
                    raise ValueError(f"nested deeper than {max_depth} levels")
                stack.append(_Frame(tok, at))
                continue
            if kind in ("disc", "tag"):
                top.pending.append((tok, at))
                continue
            if kind == "close":
                if top is root or _CLOSE[top.kind] != tok:
                    raise ValueError(f"unexpected {tok!r}")
                if top.pending:
                    raise ValueError(f"{top.pending[-1][0]} with no form after it")
                stack.pop()
                if stack[-1] is root:
                    root.inner.append(top.starts)
                stack[-1].add(_finish(top.kind, top.items), top.start)
            elif kind == "bad":
                raise ValueError(f"unexpected character {tok!r}")
            elif kind == "str" and m.group("end") is None:
                raise ValueError("unterminated string")
            else:
                top.add(_value_of(kind, tok), at)
        except ValueError as e:
            raise EdnError(str(e), _line(text, at)) from None
    if pos != len(text):
        raise EdnError(f"cannot read {text[pos:pos + 20]!r}", _line(text, pos))
    if len(stack) > 1:
        raise EdnError(f"unclosed {stack[-1].kind!r}", _line(text, stack[-1].start))
    if root.pending:
        raise EdnError("a #_ or tag with no form after it", _line(text, root.pending[-1][1]))
    return root.items, root.starts, root.inner


def parse_edn(text: str) -> Any:
    """The single EDN form in ``text``."""
    forms, _ = parse_edn_all(text)
    if len(forms) != 1:
        raise EdnError(f"expected one form, found {len(forms)}", 1)
    return forms[0]


@dataclass(frozen=True, slots=True)
class LoadedHistory:
    history: History
    format: str
    model: str | None
    init: Any


def _plain(v: Any) -> Any:
    """Keywords and symbols to plain strings; sets to sorted lists; maps keep their keys."""
    if isinstance(v, Keyword | Symbol):
        return str(v)
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    if isinstance(v, frozenset):
        return sorted((_plain(x) for x in v), key=repr)
    if isinstance(v, dict):
        return {(_plain(k) if isinstance(k, str) else k): _plain(x) for k, x in v.items()}
    return v


def _brief(v: Any) -> str:
    """A short repr of a value from an outside file, for one-line error messages."""
    r = repr(v)
    return r if len(r) <= 60 else r[:57] + "..."


def _edn_op(d: Any, pos: int, keyed: bool) -> Op:
    if not isinstance(d, dict):
        raise ValueError(f"expected an op map, got {type(d).__name__}")
    t = d.get(Keyword("type"))
    f = d.get(Keyword("f"))
    p = d.get(Keyword("process"))
    if not isinstance(t, str) or t not in TYPES or not isinstance(f, str):
        raise ValueError(f"op needs :type (invoke/ok/fail/info) and :f, got {_brief(t)}")
    if isinstance(p, Keyword | Symbol | str):
        p = NEMESIS if str(p) == NEMESIS else str(p)
    elif not isinstance(p, int) or isinstance(p, bool):
        raise ValueError(f":process must be an int or keyword, got {_brief(p)}")
    value = _plain(d.get(Keyword("value")))
    if keyed:
        value = [_plain(d.get(Keyword("key"))), value]
    tm = d.get(Keyword("time"))
    err = d.get(Keyword("error"))
    return Op(
        index=pos,
        time_ns=tm if isinstance(tm, int) and not isinstance(tm, bool) else pos,
        process=p,
        type=str(t),
        f=str(f),
        value=value,
        error=None if err is None else _plain(err),
    )


def _edn_ops(path: Path, text: str, keyed: bool) -> History:
    try:
        forms, starts, inner = _parse(text)
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
            line = _line(text, offsets[i]) if i < len(offsets) else "?"
            raise HistoryError(f"{path}:{line}: {e}") from None
    return History(ops, reindex=True)


_ETCD = re.compile(r"jepsen\.util\s+-\s+(\S+)\s+:(\w+)\s+:(\w+)(.*)")  # linear: no lazy tail


def _etcd_value(raw: str, where: str) -> Any:
    if raw in ("", "nil"):
        return None
    try:
        return _plain(parse_edn(raw))
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
        raw = raw.strip()
        if t not in TYPES:
            raise HistoryError(f"{where}: unknown op type :{t}")
        try:
            p: int | str = int(proc)
        except ValueError:
            p = NEMESIS if proc == ":nemesis" else proc.lstrip(":")
        pos = len(ops)
        ops.append(Op(pos, pos, p, t, f, _etcd_value(raw, where)))
    return History(ops, reindex=True)


def detect_format(path: str | Path, text: str | None = None) -> str:
    """Guess a history file's format from its name and first meaningful line."""
    p = Path(path)
    if text is None:
        text = _read(p)
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
        raise HistoryError(f"{p}:{_line(text, nul)}: history contains a NUL byte (not a text file)")
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
    fs = {o.f for o in h if o.process != NEMESIS}
    if "txn" in fs and is_list_append(h):
        return LIST_APPEND, None
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
    p = Path(path)
    if fmt is not None:
        fmt = _ALIASES.get(fmt, fmt)
        if fmt not in FORMATS:
            raise HistoryError(f"{p}: unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "jsonl" or (fmt is None and p.suffix == ".jsonl"):
        return LoadedHistory(read_jsonl(p), "jsonl", None, None)
    text = _read(p)
    fmt = fmt or detect_format(p, text)
    if fmt == "jsonl":
        return LoadedHistory(read_jsonl(p), "jsonl", None, None)
    if fmt == "porcupine-etcd":
        return LoadedHistory(_porcupine_etcd(p, text), fmt, "cas-register", None)
    if fmt == "porcupine-kv":
        return LoadedHistory(_edn_ops(p, text, keyed=True), fmt, "kv", "")
    h = _edn_ops(p, text, keyed=False)
    model, init = _suggest_edn_model(h)
    return LoadedHistory(h, fmt, model, init)
