"""The EDN reader used by the history importers (harness.formats).

Two readers with one meaning:

* :func:`parse_edn_all` — the complete reader: nil, booleans, integers, floats,
  strings, characters, keywords, symbols, vectors, lists, maps, sets, ``;``
  comments, ``#_`` discards and tagged literals (the tag is dropped, the value
  kept).  One compiled tokenizer regex whose every quantifier is possessive (no
  backtracking: linear time on any input) runs over the whole text with
  ``finditer``; values are built on an explicit stack, so nesting is bounded by
  ``max_depth`` (:class:`EdnError`), never by Python's recursion limit.
* :func:`read_op_rows` — the fast path for histories: it rewrites EDN that
  uses only keywords, integers, floats, nil/true/false, strings, vectors, lists
  and op maps into JSON with a fixed sequence of ``str``/``bytes`` operations
  (all in C, linear) and decodes it with msgspec straight into :class:`EdnOp`
  rows.  Anything else — or anything it is not sure of — returns None and the
  complete reader runs.  :func:`read_plain_forms` decodes the same rewrite into
  plain values (keywords as ``str``, as :func:`plain` makes the complete
  reader's); only the differential tests use it.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterator
from typing import Any, Literal

import msgspec

__all__ = [
    "MAX_DEPTH",
    "EdnError",
    "Keyword",
    "Symbol",
    "parse_edn",
    "parse_edn_all",
    "parse_edn_located",
    "plain",
    "read_op_rows",
    "read_plain_forms",
    "EdnOp",
    "TimelessOp",
    "OP_KEYS",
]


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
    try:
        return int(tok)
    except ValueError:  # Python's int-string limit (4300 digits)
        raise ValueError(f"a number of {len(tok)} digits is too long") from None


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
        keys = [_hashable(k) for k in items[0::2]]
        d = dict(zip(keys, items[1::2], strict=True))
        if len(d) != len(keys):
            _kept_apart(keys, len(d), "map keys")
        return d
    if kind == "#{":
        members = [_hashable(x) for x in items]
        s = frozenset(members)
        if len(s) != len(members):
            _kept_apart(members, len(s), "set elements")
        return s
    return items


def _kept_apart(forms: list[Any], merged: int, what: str) -> None:
    """Python merges 1, true and 1.0 (and :a and "a"), which EDN keeps apart: an error, not
    a map or set that silently lost a member.  (A key written twice stays: the last wins.)"""
    if len({repr(f) for f in forms}) != merged:
        raise ValueError(f"{what} that differ in EDN but not in Python (such as 1, true and 1.0)")


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
    forms, starts, _ = parse_edn_located(text, max_depth)
    return forms, _lines(text, starts)


def _lines(text: str, offsets: list[int]) -> list[int]:
    """1-based line numbers of many offsets, in one pass over the text."""
    newlines = [m.start() for m in re.finditer("\n", text)]
    return [bisect_right(newlines, off - 1) + 1 for off in offsets]


def parse_edn_located(text: str, max_depth: int = MAX_DEPTH) -> tuple[list[Any], list[int], list[list[int]]]:
    """Top-level forms, the offset where each starts, and (for each top-level
    collection) the offsets of the forms inside it — to name lines in errors."""
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


def plain(v: Any) -> Any:
    """Keywords and symbols to plain strings; sets to sorted lists; maps keep their keys."""
    if isinstance(v, Keyword | Symbol):
        return str(v)
    if isinstance(v, list | tuple):
        return [plain(x) for x in v]
    if isinstance(v, frozenset):
        return sorted((plain(x) for x in v), key=repr)
    if isinstance(v, dict):
        return {(plain(k) if isinstance(k, str) else k): plain(x) for k, x in v.items()}
    return v




# -- the fast path for histories --------------------------------------------------------

_FAST_DEPTH = 16  # deeper nesting goes to the complete reader (and its max_depth)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[](){}")
# The swap: ASCII whitespace (as str.isspace and the tokenizer's \s see it) -> ",", commas -> " ",
# lists -> vectors.  Clojure prints ``{:a 1, :b [1 2]}``: a separator is one space, or a comma
# and a space, so after the swap each separator holds exactly one JSON comma (and maybe a space).
_SWAP = bytes.maketrans(b" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f,()", b",,,,,,,,,, []")
# The tidy form for any other spacing: every separator run -> one ",", none next to a bracket.
_BLANK = bytes.maketrans(b",\t\n\r\x0b\x0c\x1c\x1d\x1e\x1f()", b"          []")
_TIDY = ((b"[ ", b"["), (b" ]", b"]"), (b"{ ", b"{"), (b" }", b"}"))
_COMMAS = bytes.maketrans(b" ", b",")
# A keyword (after the swap) with what follows it: "," (a separator), " " (a comma of the
# source), or a closing bracket; a run of keywords one after the other.  A name holds no
# colon (``:a:b`` is left alone: the colon count refuses it) and no control character.
_NAME = rb"[^ ,\[\]{}:\x00-\x1f\x7f]*+"
_TOKEN_OF_RUN = re.compile(rb":(" + _NAME + rb")( ,|[ ,\]}])")
_RUN = re.compile(rb"(?<=[\[{ ,])(?::" + _NAME + rb"(?: ,|[ ,])(?=:))*+:" + _NAME + rb"[ ,\]}]")
# A keyword left over, found by its colon (a fast literal search); the match is taken
# only after a separator or a bracket, or right after a key's colon (see _keywords).  A
# name starting with a digit or sign is not tried (a key's colon before a number is not
# worth a call; such a keyword, if ever, stays and the text is refused).
_LEFT = re.compile(rb":((?:[^ ,\[\]{}:\"\x00-\x1f\x7f0-9+\-][^ ,\[\]{}:\"\x00-\x1f\x7f]*+)?)([ ,\]}])")
_BEFORE_KEYWORD = frozenset(b"[{ ,")
# keywords that a map may have as keys in the fast path: the keys of Jepsen op maps
OP_KEYS = frozenset((b"type", b"f", b"value", b"process", b"time", b"index", b"error", b"key", b"node"))
_FAST_KEYWORDS = 40  # most keyword replace passes per chunk
_SAMPLE = 1 << 16  # bytes at each end of a chunk where its keywords are counted
_NILS = ((b"nil ", b"null"), (b"nil,", b"null,"), (b"nil]", b"null]"), (b"nil}", b"null}"))
_DECODER = msgspec.json.Decoder()
# A string, or an unterminated one to the end (so no search restarts inside it): linear.
_STRING = re.compile(r'("[^"\\]*+(?:\\.[^"\\]*+)*+"?)', re.S)
_CLOSED = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+"', re.S)


class EdnOp(msgspec.Struct, rename={"time_ns": "time", "index": "~index", "node": "~node"}, gc=False):
    """An op map as the fast path decodes it (validated in C; other keys ignored).

    Its attributes carry :class:`harness.history.Op`'s names, so ``msgspec.convert``
    builds the ops in C: ``:time`` lands in ``time_ns``; ``index`` and ``node`` are
    never read from the file (renamed out of reach): the reader numbers the ops and
    EDN histories name no node.  Rows live only until the ops are built and hold no
    cycles: not tracked by the cyclic GC (cheaper to make and free).
    """

    type: Literal["invoke", "ok", "fail", "info"]
    f: str
    process: int | str
    time_ns: Any = None
    value: Any = None
    error: Any = None
    key: Any = None
    index: int = 0
    node: None = None


class TimelessOp(EdnOp, rename={"time_ns": "~time", "index": "~index", "node": "~node"}):
    """An op map of a history with no ``:time`` at all: ``time_ns`` is an int, so the ops
    still come from ``msgspec.convert``, and the reader puts each op's position there."""

    time_ns: int = 0


_OPS = msgspec.json.Decoder(list[EdnOp | list[EdnOp]])
_TIMELESS_OPS = msgspec.json.Decoder(list[TimelessOp | list[TimelessOp]])


def read_plain_forms(text: str) -> list[Any] | None:
    """The top-level forms of ``text`` as plain values, or None if the fast path cannot tell.

    Plain: keywords and symbols as ``str``, vectors and lists as ``list``, maps
    as ``dict``.  The fast path takes keywords, numbers, nil/true/false,
    backslash-free strings, vectors, lists and maps whose keys are among
    :data:`OP_KEYS`; for anything else (other map keys, sets, tags, discards,
    characters, comments, escapes, symbols, non-ASCII outside strings, nesting
    deeper than 16) it returns None, and the caller runs the complete reader,
    which also names the line of any error.
    """
    forms: list[Any] | None = _decoded(text, _DECODER)
    return forms


def _decoded(text: str, decoder: msgspec.json.Decoder[Any], timeless: msgspec.json.Decoder[Any] | None = None) -> Any:
    """The first JSON rewrite of ``text`` that ``decoder`` takes, decoded; or None.
    ``timeless`` decodes instead a text where no map has a ``"time"`` key."""
    for j in _json_texts(text):
        use = decoder
        if timeless is not None:
            timed = b'"time":' in j if isinstance(j, bytes) else '"time":' in j
            use = decoder if timed else timeless
        try:
            return use.decode(j)
        except (msgspec.DecodeError, RecursionError, UnicodeEncodeError):  # the last: a lone surrogate
            continue
    return None


def read_op_rows(text: str) -> list[EdnOp] | None:
    """The op maps of ``text`` (one per form, or all in one vector), or None (as above)."""
    forms: list[EdnOp | list[EdnOp]] | None = _decoded(text, _OPS, _TIMELESS_OPS)  # None also for a bad :type/:f/:process
    if forms is None:
        return None
    if len(forms) == 1 and type(forms[0]) is list:
        return forms[0]
    if list in map(type, forms):
        return None
    return forms  # type: ignore[return-value]  # no lists among them, checked above


def _to_json(text: str) -> str | bytes | None:
    """Rewrite EDN into JSON with a few C-level str/bytes passes (linear), or None.

    Strings are set aside (NUL stands for each).  One ``translate`` turns
    whitespace into commas and commas into spaces (and lists into vectors):
    on Clojure's printed form every separator then holds one JSON comma.  Then
    each keyword of the chunk's sample becomes a JSON string with one
    ``replace`` per (keyword, what follows it): an op-map key ``:type,``
    becomes ``"type":``, a value ``:ok `` becomes ``"ok"`` (a comma of the
    source gives up its place), ``:r,`` becomes ``"r",``; then nil becomes
    null.  Other spacing (two blanks in a row, a blank inside a bracket) fails
    that and is tidied first, to one comma per separator; :func:`_decoded`
    tries both.

    Nothing here can change a meaning: whatever is not in the subset leaves
    invalid JSON (a bare word, a comma too many or too few, a key out of place),
    which the decoder refuses, and every colon left must be one a key
    replacement wrote (else some keyword was missed and the result is refused).
    """
    return next(_json_texts(text), None)


def _json_texts(text: str) -> Iterator[str | bytes]:
    """The JSON rewrites of ``text`` to try in turn (see :func:`_to_json`): assuming Clojure's
    spacing, then tidied; none when the fast path cannot take it."""
    split = _set_strings_aside(text)
    if split is not None:
        for tidy in (False, True):
            j = _rewrite(*split, tidy)
            if j is not None:
                yield j


def _set_strings_aside(text: str) -> tuple[list[str], str, bytes] | None:
    """The text split at its strings, what joins the pieces again, and what lies outside
    the strings (NUL for each) as ASCII bytes; None when the fast path cannot take it."""
    if "\0" in text:
        return None
    if "\\" in text:  # escapes: set whole strings aside (JSON reads EDN's escapes alike or refuses)
        parts = _STRING.split(text)
        if len(parts) > 1 and not _CLOSED.fullmatch(parts[-2]):  # only the last can be open
            return None
        glue = ""
    else:
        parts = text.split('"')  # the strings' insides, at odd places
        if len(parts) % 2 == 0:  # an unterminated string
            return None
        glue = '"'
    outside = "\0".join(parts[0::2])
    if not outside.isascii() or any(c in outside for c in ('"', "\\", ";", "#", "null")):
        return None
    raw = outside.encode("ascii")
    return (parts, glue, raw) if _shallow(raw) else None


def _rewrite(parts: list[str], glue: str, raw: bytes, tidy: bool) -> str | bytes | None:
    """JSON text for :func:`_to_json`: Clojure's spacing assumed, or (``tidy``) any."""
    if tidy:
        o = raw.translate(_BLANK)
        while b"  " in o:
            o = o.replace(b"  ", b" ")
        for a, b in _TIDY:
            o = o.replace(a, b)
        o = o.strip().translate(_COMMAS)
    else:
        o = raw.translate(_SWAP).strip(b", ")
        while b",," in o:  # a run of blanks (a newline and an indent): one separator
            o = o.replace(b",,", b",")
    k = _keywords(b"[" + o + b"]")
    if k is None:
        return None
    # nil as what follows it needs: on Clojure's spacing only the patterns seen at the ends
    # (a nil left elsewhere is a bare word JSON refuses, and the tidy retry does them all)
    ends = k[:_SAMPLE] + k[-_SAMPLE:]
    for a, b in _NILS:
        if tidy or a in ends:
            k = k.replace(a, b)
    if len(parts) == 1:
        return k  # no strings: msgspec reads the bytes as they are
    out = parts.copy()
    out[0::2] = k.decode("ascii").split("\0")
    return glue.join(out)


def _keywords(o: bytes) -> bytes | None:
    """Every keyword of ``o`` as a JSON string (op-map keys with their colon), or None.

    The sample's keywords come in runs (``:type,:ok ,:f,:txn ,:process,`` in a
    Jepsen op map); each distinct run, or each distinct piece of a run cut every
    one or two keywords, whichever makes the fewest, is one ``replace`` (the
    longest first, at most _FAST_KEYWORDS of them).  Keywords outside the sample
    are then quoted one match at a time by :data:`_LEFT`.  A colon that no key
    replacement wrote (a keyword after a closing quote, a separator not
    Clojure's) means the result would not mean the same: then None.
    """
    runs = Counter(_RUN.findall(o, 0, _SAMPLE))
    if len(o) > 2 * _SAMPLE:
        runs.update(_RUN.findall(o, len(o) - _SAMPLE))
    best: Counter[tuple[tuple[bytes, bytes], ...]] | None = None
    for width in (1, 2, 0):  # 0: whole runs
        pieces: Counter[tuple[tuple[bytes, bytes], ...]] = Counter()
        for run, n in runs.items():
            toks = tuple(_TOKEN_OF_RUN.findall(run))
            step = width or len(toks)
            for i in range(0, len(toks), step):
                pieces[toks[i:i + step]] += n
        if best is None or len(pieces) < len(best):
            best = pieces
    keys = 0  # colons written by key replacements
    chosen = [t for t, _ in best.most_common(_FAST_KEYWORDS)] if best else []
    for toks in sorted(chosen, key=len, reverse=True):
        old = b"".join(b":" + kw + nxt for kw, nxt in toks)
        new = b"".join(_json_keyword(kw, nxt) for kw, nxt in toks)
        n = len(o)
        o = o.replace(old, new)
        grown = len(new) - len(old)
        if grown:
            keys += (len(o) - n) // grown * sum(1 for kw, nxt in toks if nxt == b"," and kw in OP_KEYS)
    if o.count(b":") != keys:  # keywords the sample did not see (or that cannot be read so)
        written = [0]

        def one(m: re.Match[bytes]) -> bytes:
            at = m.start()
            if not (o[at - 1] in _BEFORE_KEYWORD or o[at - 2:at] == b'":'):
                return m.group(0)  # a key's own colon (then a value), or inside a token
            kw, nxt = m.group(1), m.group(2)
            written[0] += nxt == b"," and kw in OP_KEYS
            return _json_keyword(kw, nxt)

        o = _LEFT.sub(one, o)
        keys += written[0]
        if o.count(b":") != keys:
            return None
    return o


def _json_keyword(kw: bytes, nxt: bytes) -> bytes:
    """A keyword and the character after it, in JSON: an op-map key, or a string."""
    if nxt == b"," and kw in OP_KEYS:
        return b'"' + kw + b'":'
    return b'"' + kw + (b'"' + nxt[1:] if nxt[0] == 32 else b'"' + nxt)  # a comma of the source gives way


def _shallow(raw: bytes) -> bool:
    """Brackets match and nest at most _FAST_DEPTH deep (innermost pairs removed per pass)."""
    br = raw.translate(None, _NOT_BRACKETS)
    for _ in range(_FAST_DEPTH):
        if not br:
            return True
        nb = br.replace(b"[]", b"").replace(b"()", b"").replace(b"{}", b"")
        if len(nb) == len(br):
            return False  # mismatched: the complete reader says where
        br = nb
    return not br
