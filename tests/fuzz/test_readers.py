"""Fuzzing every history reader: only the documented error, no hang, and the fast paths agree.

Readers: JSONL, Jepsen/Knossos EDN, jepsen-edn (list-append), porcupine-etcd,
porcupine-kv.  For arbitrary bytes and for structured mutations of valid
histories (long blank runs, unterminated strings, huge numbers, deep nesting,
invalid UTF-8, NUL bytes, truncation) a reader either returns a history or
raises :class:`HistoryError`; each input runs under a loose hang guard (a few
seconds of wall time: a hang, not a timing claim).  The fast EDN and JSONL
paths are checked against the complete/stdlib readers on the same inputs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.edn import EdnError, parse_edn_all, plain, read_plain_forms
from harness.formats import load_history
from harness.history import HistoryError, op_from_dict, read_jsonl
from tests.fuzz.guard import hang_guard

FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

SAMPLES: dict[str, tuple[str, str]] = {  # format -> (file name, a valid history)
    "jsonl": ("h.jsonl", '{"index":0,"time_ns":1,"process":0,"type":"invoke","f":"write","value":1}\n'
                         '{"index":1,"time_ns":2,"process":0,"type":"ok","f":"write","value":1}\n'
                         '{"index":2,"time_ns":3,"process":"nemesis","type":"info","f":"start-kill","value":["n1"]}\n'),
    "knossos-edn": ("h.edn", '; a register\n[{:process 0, :type :invoke, :f :write, :value 1, :time 100}\n'
                             ' {:process :nemesis, :type :info, :f :kill, :value nil}\n'
                             ' {:process 0 :type :ok, :f :write, :value 1, :time 250, :error "none"}]\n'),
    "jepsen-edn": ("history.edn", '{:type :invoke, :f :txn, :process 0, :time 0, :value [[:append 6 1] [:r 4 nil]]}\n'
                                  '{:type :ok, :f :txn, :process 0, :time 9, :value [[:append 6 1] [:r 4 [1 2]]]}\n'),
    "porcupine-etcd": ("x.log", "INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.util - 1   :invoke :cas    [1 2]\n"
                                "INFO  jepsen.util - 0\t:ok\t:read\t3\nINFO  jepsen.util - 1\t:fail\t:cas\t[1 2]\n"),
    "porcupine-kv": ("c.txt", '{:process 0, :type :invoke, :f :append, :key "k", :value "x 0 0 y"}\n'
                              '{:process 0, :type :ok, :f :append, :key "k", :value "x 0 0 y"}\n'),
}
FORMATS = sorted(SAMPLES)

MUTATIONS: list[bytes] = [
    b" " * 40, b"\n" * 30, b"; comment\n" + b" " * 40, b'"unterminated', b'"\\', b"\\u12",
    b"9" * 5000, b"-" + b"9" * 4400 + b"N", b"1e99999", b"[" * 5000, b"{" * 3000, b"(" * 300 + b")" * 300,
    b"#{" * 500, b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80", b"\x00", b"\"\x00\"", b"#_", b"#inst",
    b"\\", b"]", b"}", b")", b":", b"::", b'"\\ud800"', b"nil", b"null", b"NaN", b",", b"\r",
]


def _load(tmp_path: Path, fmt: str | None, data: bytes, name: str) -> None:
    p = tmp_path / name
    p.write_bytes(data)
    with hang_guard(10):
        try:
            load_history(p, fmt)
        except HistoryError as e:
            assert str(e).startswith(str(p)) and "\n" not in str(e)


@pytest.mark.parametrize("fmt", [*FORMATS, None])
@FUZZ
@given(data=st.binary(max_size=400))
def test_arbitrary_bytes_give_a_history_or_a_history_error(tmp_path: Path, fmt: str | None,
                                                            data: bytes) -> None:
    _load(tmp_path, fmt, data, "fuzz.edn" if fmt is None else SAMPLES[fmt][0])


@pytest.mark.parametrize("fmt", FORMATS)
@FUZZ
@given(st.data())
def test_mutated_histories_give_a_history_or_a_history_error(tmp_path: Path, fmt: str,
                                                              data: st.DataObject) -> None:
    name, text = SAMPLES[fmt]
    raw = text.encode()
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(raw)))
        kind = data.draw(st.sampled_from(["insert", "replace", "truncate"]))
        piece = data.draw(st.sampled_from(MUTATIONS))
        if kind == "truncate":
            raw = raw[:at]
        elif kind == "insert":
            raw = raw[:at] + piece + raw[at:]
        else:
            raw = raw[:at] + piece + raw[at + len(piece):]
    _load(tmp_path, fmt, raw, name)


# -- the fast EDN path agrees with the complete reader ------------------------------------

# Mostly what the fast path takes (so it runs), with the near misses it must refuse or
# read exactly as the complete reader does: keywords named nil/null, symbols, odd numbers.
NEAR_MISSES = ["sym", "null", "-", "+1", "01", "1.", "1N", "2M", "nil2", "nilly", "true1", "1/2", "0x1"]
_FAST_SCALARS = st.one_of(
    st.integers(-(10**30), 10**30).map(str),
    st.integers(-(10**30), 10**30).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["nil", "true", "false", ":a", ":type", ":r", ":append", ":nil", ":a:b", "::x",
                     ":null", ":", ":true", "-0", "1e5", "1E-2", "0.5"]),
    st.sampled_from(["nil", "true", "false", ":a", ":type", ":r", ":append", ":nil", ":a:b", "::x",
                     ":null", ":", ":true", "-0", "1e5", "1E-2", "0.5"]),
    st.text(st.characters(blacklist_characters='"\\', blacklist_categories=["Cs"]), max_size=6)
    .map(lambda s: f'"{s}"'),
    st.sampled_from(NEAR_MISSES),
)
_SCALARS = st.one_of(_FAST_SCALARS, st.sampled_from(["\\c", '#inst "x"', "#_ 1", '"a\\"b"']))
_FAST_SEPS = st.sampled_from([" ", ", ", "\n", "  ", "\t", "", ",", "\u3000"])
_SEPS = st.one_of(_FAST_SEPS, st.just(" ; c\n"))


def _edn(scalars: st.SearchStrategy[str], seps: st.SearchStrategy[str], sets: bool) -> st.SearchStrategy[str]:
    def forms(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        seq = st.lists(st.tuples(children, seps), max_size=5).map(lambda xs: "".join(a + b for a, b in xs))
        pairs = st.lists(st.tuples(scalars, seps, children, seps), max_size=3).map(
            lambda xs: "".join("".join(x) for x in xs))
        kinds = [seq.map(lambda s: f"[{s}]"), seq.map(lambda s: f"({s})"), pairs.map(lambda s: f"{{{s}}}"),
                 seq.map(lambda s: f"{{{s}}}")]
        return st.one_of(*kinds, *([seq.map(lambda s: f"#{{{s}}}")] if sets else []))

    top = st.recursive(scalars, forms, max_leaves=12)
    return st.lists(st.tuples(top, seps), max_size=4).map(lambda xs: "".join(a + b for a, b in xs))


EDN = st.one_of(_edn(_FAST_SCALARS, _FAST_SEPS, False), _edn(_SCALARS, _SEPS, True))
_OP_FIELDS = st.sampled_from([":type :invoke", ":type :ok", ":type :bogus", ":f :txn", ":f :read", ":f 3",
                              ":process 0", ":process :nemesis", ":process 1.5", ":time 7", ":time nil",
                              ":index 3", ":error :timeout", ':error "x"', ":node :n1", ":key :k", ":extra 1",
                              ":value nil", ":value {:type 1}"])
OPS = st.lists(  # op-map-shaped histories, one per line or in one vector
    st.tuples(st.lists(_OP_FIELDS, max_size=4), _edn(_FAST_SCALARS, _FAST_SEPS, False)).map(
        lambda t: "{:type :invoke, :f :txn, :process 0, " + ", ".join(t[0]) + f" :value [{t[1]}]}}"),
    max_size=4,
).flatmap(lambda ops: st.sampled_from(["\n".join(ops), "[" + " ".join(ops) + "]"]))


def _reference(text: str) -> list[Any] | None:
    try:
        forms, _ = parse_edn_all(text)
    except EdnError:
        return None
    return [plain(f) for f in forms]


def _same(fast: Any, ref: Any) -> bool:
    if isinstance(fast, float) and isinstance(ref, float):
        return fast == ref or (fast != fast and ref != ref)
    if isinstance(fast, dict) and isinstance(ref, dict):
        return len(fast) == len(ref) and all(k in ref and _same(v, ref[k]) for k, v in fast.items())
    if isinstance(fast, list) and isinstance(ref, list):
        return len(fast) == len(ref) and all(_same(a, b) for a, b in zip(fast, ref, strict=True))
    return type(fast) is type(ref) and fast == ref


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.one_of(EDN, OPS))
def test_fast_edn_path_never_disagrees_with_the_complete_reader(text: str) -> None:
    with hang_guard(10):
        fast = read_plain_forms(text)
        ref = _reference(text)
    if fast is not None:
        assert ref is not None, f"the fast path accepted what the complete reader rejects: {text!r}"
        assert _same(fast, ref), (text, fast, ref)


@pytest.mark.parametrize("text", [
    "null", "[null]", "[nil nil nil]", "nil", ":nil", "[:nil nil]", "::x", ":a:b", ":", "[: 1]",
    '"a :b nil [ ] { } ( ) , ;"', '{:a "x"}', '["a""b"]', '"a":b', '[1 2)', '{:a}', '{}', '[{}]',
    '{[1 2] 3}', '{:a {:b 1}}', '[{:a 1} {:b 2}]', '{:a 1}{:b 2}', '1\u3000 2', "1\xa02", '[1 "x"2]',
    "[" * 17 + "]" * 17, "[" * 16 + "]" * 16, '"\u0001"', "[1,2,,3]", "-0", "1e400", "9" * 5000,
    '[:a\n:b]', '{:type :ok :f :r :value [[:r 1 nil]]} {:x 1}', "true false", "[true1]", "nilly",
    "{:a 1 :a 2}", "[01]", "(:x)", '"x', '"', '"\ud800"', '"\\ud800"', '"\\ud83d\\ude00"',
    # the swap of blanks and commas: a comma that gives way must not let a keyword read as a key
    # colon, a boolean or nil; Clojure's spacing and any other must read alike
    ":\x7f", "[:a\x7f]", "{:f,:true}", "{:f :true}", "[:a,:true]", "{:f :a,:true}", "{:f :a, :true 1}",
    "{:value nil,:f :r}", "{:value nil, :f :r}", "[nil,1]", "[nil, 1]", "[:a,1]", "[:a, 1]", "[:a ,1]",
    "[:a :b,:c]", "{:f :x}{:f :y}", "[{:f :a}\n {:f :b}]", "[ :a ]", "{ :f :a , :value 1 }", "[:a,,:b]",
    "{:type :ok,:f :r}", "{:f :nil, :value nil}", "[:r 1 nil] [:append 2 3]", "{:f :type}", "[:type 1]",
    "{:type :invoke, :f :txn, :value [[:r 1 nil]], :error :timeout}", "[:a:type, 1]", "{:f :x:y}",
])
def test_fast_edn_path_on_known_traps(text: str) -> None:
    fast = read_plain_forms(text)
    ref = _reference(text)
    if fast is not None:
        assert ref is not None and _same(fast, ref), (text, fast, ref)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.text(st.sampled_from(list(' ,\n[](){}#_:;"\\abnil01-+.eN\x00\t')), max_size=60))
def test_fast_edn_path_on_token_soup(text: str) -> None:
    with hang_guard(10):
        fast = read_plain_forms(text)
        ref = _reference(text)
    if fast is not None:
        assert ref is not None and _same(fast, ref), (text, fast, ref)


def test_fast_edn_path_takes_the_histories_it_is_for() -> None:
    from harness.edn import _rewrite, _set_strings_aside

    for fmt in ("jepsen-edn", "porcupine-kv"):
        assert read_plain_forms(SAMPLES[fmt][1]) is not None
        split = _set_strings_aside(SAMPLES[fmt][1])  # Clojure's spacing needs no tidying
        assert split is not None and _rewrite(*split, False) is not None
    knossos = "[{:process 0, :type :ok, :f :read, :value nil}\n {:process 1, :type :ok, :f :cas, :value [1 2]}]"
    split = _set_strings_aside(knossos)
    assert split is not None and _rewrite(*split, False) is not None
    assert read_plain_forms(knossos) == [[{"process": 0, "type": "ok", "f": "read", "value": None},
                                          {"process": 1, "type": "ok", "f": "cas", "value": [1, 2]}]]
    assert read_plain_forms("[{:type :ok} {:value [1 2], :f {:key nil}}]") == [
        [{"type": "ok"}, {"value": [1, 2], "f": {"key": None}}]]
    assert read_plain_forms("{:a 1}") is None  # not an op key: the complete reader


@settings(max_examples=150, deadline=None, derandomize=True)
@given(OPS)
def test_fast_op_rows_agree_with_the_complete_reader(text: str) -> None:
    """The ops load_history builds from the fast path equal those from the complete reader."""
    from harness.edn import parse_edn_located, read_op_rows
    from harness.formats import _edn_op, _row_ops

    rows = read_op_rows(text)
    try:
        forms, _, _ = parse_edn_located(text)
        items = forms[0] if len(forms) == 1 and isinstance(forms[0], list) else forms
        ref: list[Any] | None = [_edn_op(d, i, False).to_dict() for i, d in enumerate(items)]
    except (EdnError, ValueError):
        ref = None
    if rows is not None:
        assert ref is not None, text
        assert [o.to_dict() for o in _row_ops(rows, 0, False)] == ref, text


# -- the msgspec JSONL path agrees with the stdlib line reader ---------------------------

_JVALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.text(max_size=5),
              st.floats(allow_nan=False, allow_infinity=False)),
    lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(st.text(max_size=3), c, max_size=3)),
    max_leaves=8,
)
def _mostly(good: list[Any], bad: list[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.sampled_from(good), st.sampled_from(good), st.sampled_from(good), st.sampled_from(bad))


_JOPS = st.fixed_dictionaries(
    {"type": _mostly(["invoke", "ok", "invoke", "fail", "info"], ["bogus", 3, None]),
     "f": _mostly(["read", "write"], [7, None]), "process": _mostly([0, 1, "nemesis"], [True, 2.5])},
    optional={"index": st.integers(-3, 3), "time_ns": _mostly([0, 5, 10**20], [1.5, "x"]),
              "value": _JVALUES, "node": st.sampled_from(["n1", None, 3]), "error": _JVALUES},
)


def _jsonl_reference(lines: list[str]) -> list[Any] | str:
    ops, open_f = [], {}
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            if not isinstance(d, dict):
                return f":{n}:"
            op = op_from_dict(d, where=f":{n}")
        except (ValueError, RecursionError):
            return f":{n}:"
        if op.type == "invoke":
            open_f[op.process] = op.f
        elif open_f.pop(op.process, None) != op.f:
            return f":{n}:"
        ops.append(op.to_dict() | {"index": len(ops)})
    return ops


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(*[_JOPS.map(json.dumps)] * 6, st.sampled_from(["", " ", "[1]", "{}", "x", "NaN"])),
                max_size=8))
def test_jsonl_fast_path_agrees_with_the_stdlib_line_reader(tmp_path: Path, lines: list[str]) -> None:
    p = tmp_path / "h.jsonl"
    p.write_text("".join(line + "\n" for line in lines))
    ref = _jsonl_reference(lines)
    try:
        got: list[Any] | str = [o.to_dict() for o in read_jsonl(p)]
    except HistoryError as e:
        got = f":{str(e).split(':')[1]}:"
    assert got == ref


def test_keywords_the_sample_missed_are_still_read_fast() -> None:
    """A keyword seen only in the middle of a long chunk (outside the sample at its ends),
    even right after a key the sample did see, is quoted by the leftover pass: the fast
    path still takes the text, and reads it as the complete reader does."""
    from harness.edn import parse_edn_located, read_op_rows
    from harness.formats import _edn_op, _row_ops

    line = "{{:type :{t}, :f :txn, :value [[:append {i} {i}] [:r {i} nil]], :process {p}, :time {i}{extra}}}"
    extras = [", :error :timeout"] * 3 + [", :error [:x 1]"] * 3  # both shapes of :error in the sample
    lines = [line.format(t="invoke" if i % 2 == 0 else "ok", i=i, p=i % 7, extra=extras[i] if i < 6 else "")
             for i in range(6000)]
    lines[3000] = line.format(t="info", i=3000, p=3, extra=", :error :eof")
    lines[3001] = line.format(t="fail", i=3001, p=4, extra=", :error [:no-leader :n2]")
    text = "\n".join(lines) + "\n"
    rows = read_op_rows(text)
    assert rows is not None
    forms, _, _ = parse_edn_located(text)
    assert [o.to_dict() for o in _row_ops(rows, 0, False)] == [_edn_op(d, i, False).to_dict() for i, d in enumerate(forms)]
    assert rows[3000].error == "eof" and rows[3001].error == ["no-leader", "n2"]
