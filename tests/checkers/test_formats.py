"""Importers and the EDN reader (harness.formats)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.formats import (
    EdnError,
    Keyword,
    Symbol,
    detect_format,
    load_history,
    parse_edn,
    parse_edn_all,
)
from harness.history import HistoryError

# -- EDN reader ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("nil", None),
        ("true", True),
        ("false", False),
        ("42", 42),
        ("-7", -7),
        ("+3", 3),
        ("12N", 12),
        ("1.5", 1.5),
        ("-2.5e3", -2500.0),
        ("3.0M", 3.0),
        ('"a \\"q\\" \\n \\u00e9"', 'a "q" \n é'),
        ("\\a", "a"),
        ("\\newline", "\n"),
        ("[1 2 [3]]", [1, 2, [3]]),
        ("(1, 2,3)", [1, 2, 3]),
        ("#{1 2}", frozenset({1, 2})),
        ("[1 #_ 2 3]", [1, 3]),
        ("[#_ #_ 1 2 3]", [3]),
        ("[1 #_ [2 [3]] 4]", [1, 4]),
        ('#inst "2020-01-01"', "2020-01-01"),
        ("[1 ; a comment ] here\n 2]", [1, 2]),
    ],
)
def test_edn_values(text: str, value: object) -> None:
    assert parse_edn(text) == value


def test_edn_keywords_symbols_and_maps() -> None:
    v = parse_edn('{:type :ok, :f :cas, :value [1 2], "s" sym, [1 2] :vec-key}')
    assert v[Keyword("type")] == "ok" and isinstance(v[Keyword("type")], Keyword)
    assert repr(v[Keyword("f")]) == ":cas"
    assert isinstance(v["s"], Symbol) and v["s"] == "sym"
    assert v[(1, 2)] == Keyword("vec-key")  # vector map keys become tuples


def test_edn_top_level_forms_and_lines() -> None:
    forms, lines = parse_edn_all("{:a 1}\n\n#_ {:skip 1}\n{:b 2} ; c\n")
    assert forms == [{Keyword("a"): 1}, {Keyword("b"): 2}]
    assert lines == [1, 4]


@pytest.mark.parametrize(
    ("text", "line"),
    [("[1 2", 1), ("[1\n2)", 2), ("{:a}", 1), ('"open', 1), ("\n\n]", 3), ("[1 #_]", 1), ("1.2.3", 1)],
)
def test_edn_errors_name_the_line(text: str, line: int) -> None:
    with pytest.raises(EdnError) as e:
        parse_edn_all(text)
    assert e.value.line == line


# -- importers -------------------------------------------------------------------


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


ETCD = """INFO  jepsen.util - 0\t:invoke\t:read\tnil
INFO  jepsen.util - 1   :invoke :cas    [1 2]
some other line jepsen.core - starting
INFO  jepsen.util - 0\t:ok\t:read\t3
INFO  jepsen.util - 1\t:fail\t:cas\t[1 2]
INFO  jepsen.util - 2\t:invoke\t:write\t4
INFO  jepsen.util - 2\t:info\t:write\t4
"""


def test_porcupine_etcd(tmp_path: Path) -> None:
    lh = load_history(_write(tmp_path, "x.log", ETCD))
    assert lh.format == "porcupine-etcd" and lh.model == "cas-register" and lh.init is None
    h = lh.history
    assert [(o.process, o.type, o.f, o.value) for o in h] == [
        (0, "invoke", "read", None),
        (1, "invoke", "cas", [1, 2]),
        (0, "ok", "read", 3),
        (1, "fail", "cas", [1, 2]),
        (2, "invoke", "write", 4),
        (2, "info", "write", 4),
    ]
    assert [o.index for o in h] == list(range(6))
    assert h.completion(0) is h[2]


def test_porcupine_etcd_bad_type(tmp_path: Path) -> None:
    p = _write(tmp_path, "x.log", "INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.util - 0\t:weird\t:read\t1\n")
    with pytest.raises(HistoryError, match=r"x\.log:2: unknown op type"):
        load_history(p)


def test_porcupine_kv(tmp_path: Path) -> None:
    text = (
        '{:process 0, :type :invoke, :f :append, :key "k", :value "x 0 0 y"}\n'
        '{:process 1, :type :invoke, :f :get, :key "k", :value nil}\n'
        '{:process 0, :type :ok, :f :append, :key "k", :value "x 0 0 y"}\n'
        '{:process 1, :type :ok, :f :get, :key "k", :value "x 0 0 y"}\n'
    )
    lh = load_history(_write(tmp_path, "c01-ok.txt", text))
    assert (lh.format, lh.model, lh.init) == ("porcupine-kv", "kv", "")
    assert lh.history[1].value == ["k", None]
    assert lh.history[3].value == ["k", "x 0 0 y"]


def test_knossos_edn_vector_with_comments_and_nemesis(tmp_path: Path) -> None:
    text = """; a register
[{:process 0, :type :invoke, :f :write, :value 1, :time 100}
 ; the nemesis
 {:process :nemesis, :type :info, :f :kill, :value nil}
 {:process 0  :type :ok, :f :write, :value 1, :time 250, :error :none}]
"""
    lh = load_history(_write(tmp_path, "h.edn", text))
    assert lh.format == "knossos-edn" and lh.model == "cas-register" and lh.init == 0
    h = lh.history
    assert h[1].process == "nemesis" and h[1].f == "kill"
    assert h[0].time_ns == 100 and h[2].error == "none"
    assert h.completion(0) is h[2]


def test_jepsen_history_edn_one_map_per_line(tmp_path: Path) -> None:
    text = (
        "{:type :invoke, :f :txn, :value [[:read :x nil]], :process 3, :index 0}\n"
        "{:type :ok, :f :txn, :value [[:read :x 0]], :process 3, :index 1}\n"
    )
    lh = load_history(_write(tmp_path, "history.edn", text))
    assert lh.format == "knossos-edn" and lh.model == "multi-register"
    assert lh.history[1].value == [["read", "x", 0]]


def test_edn_bad_op_names_file_and_line(tmp_path: Path) -> None:
    text = "[{:process 0, :type :invoke, :f :read}\n {:process 0, :type :bogus, :f :read}]\n"
    with pytest.raises(HistoryError, match=r"h\.edn:2: op needs :type"):
        load_history(_write(tmp_path, "h.edn", text))
    with pytest.raises(HistoryError, match=r"h2\.edn:3: malformed EDN"):
        load_history(_write(tmp_path, "h2.edn", "[{:process 0,\n :type :invoke\n :f :read]"))


def test_jsonl_and_detection(tmp_path: Path) -> None:
    op = {"index": 0, "time_ns": 5, "process": 0, "type": "invoke", "f": "read", "value": None}
    p = _write(tmp_path, "history.jsonl", json.dumps(op) + "\n")
    lh = load_history(p)
    assert lh.format == "jsonl" and lh.model is None and lh.history[0].time_ns == 5
    q = _write(tmp_path, "noext", json.dumps(op) + "\n")
    assert detect_format(q) == "jsonl"
    assert detect_format(_write(tmp_path, "e.log", "")) == "porcupine-etcd"
    with pytest.raises(HistoryError, match="cannot tell the history format"):
        detect_format(_write(tmp_path, "junk.txt", "hello\n"))


def test_format_override_and_unknown_format(tmp_path: Path) -> None:
    p = _write(tmp_path, "weird.dat", "[{:process 0, :type :invoke, :f :acquire}]")
    assert load_history(p, "edn").model == "mutex"
    with pytest.raises(HistoryError, match="unknown format"):
        load_history(p, "yaml")
    with pytest.raises(HistoryError, match="cannot read history"):
        load_history(tmp_path / "missing.edn")


def test_check_path_glue(tmp_path: Path) -> None:
    """The CLI's glue (harness.check.check_path) on imported formats."""
    from harness.check import check_path

    good = (
        "INFO  jepsen.util - 0\t:invoke\t:write\t4\nINFO  jepsen.util - 0\t:ok\t:write\t4\n"
        "INFO  jepsen.util - 1\t:invoke\t:read\tnil\nINFO  jepsen.util - 1\t:ok\t:read\t4\n"
    )
    p = _write(tmp_path, "x.log", good)
    r = check_path(p)
    assert r["format"] == "porcupine-etcd" and r["verdict"] == "valid" and r["model"] == "cas-register"
    r = check_path(p, model="register", budget_s=5)
    assert r["model"] == "register" and r["verdict"] == "valid"
    bad = _write(tmp_path, "bad.log", good + "INFO  jepsen.util - 3\t:invoke\t:read\tnil\nINFO  jepsen.util - 3\t:ok\t:read\t9\n")
    r = check_path(bad)
    assert r["verdict"] == "invalid" and "read returning 9" in r["explanation"]
    j = _write(tmp_path, "h.jsonl", "")
    r = check_path(j)  # a JSONL history names no model: the CLI falls back to cas-register
    assert r["format"] == "jsonl" and r["model"] == "cas-register" and r["ops"] == 0
    r = check_path(j, model="cas-register", init=0, init_given=True)
    assert r["verdict"] == "valid" and r["ops"] == 0


# -- hostile input (issue 11): linear time, the documented error, file and line -----


def test_blank_run_before_unterminated_string_is_linear(tmp_path: Path) -> None:
    """The old whitespace/comment skip backtracked exponentially in the blank run (>15 s at 24)."""
    from tests.fuzz.guard import hang_guard

    for blanks in (24, 64, 100_000):
        p = _write(tmp_path, "h.edn", "; comment\n" + " " * blanks + '"unterminated\n')
        with hang_guard(5), pytest.raises(HistoryError, match=r"h\.edn:2: malformed EDN \(unterminated string\)"):
            load_history(p)
    with hang_guard(5), pytest.raises(EdnError, match="unterminated"):
        parse_edn_all(";;;;" * 10_000 + "\n" + ", " * 50_000 + '"\\"\\"' + "\\" * 1001)


def test_porcupine_etcd_long_blank_runs_are_linear(tmp_path: Path) -> None:
    from tests.fuzz.guard import hang_guard

    line = "INFO  jepsen.util - 0\t:invoke\t:read\t" + " " * 200_000 + "x" + " " * 200_000 + "\n"
    with hang_guard(5):
        assert load_history(_write(tmp_path, "x.log", line)).history[0].value == "x"


@pytest.mark.parametrize(
    ("text", "msg"),
    [
        ("[" + "9" * 5000 + "]", "5000 digits is too long"),
        ("[-" + "9" * 5000 + "N]", "too long"),
        ("[" * 100_000, "nested deeper than 200 levels"),
        ("#{" * 300 + "}" * 300, "nested deeper"),
        ('"\\ud800"', "lone UTF-16 surrogate"),
        ("[1 \x01]", "unexpected character"),
        ("\\\x00", "unexpected character"),
    ],
)
def test_edn_hostile_values_are_edn_errors(text: str, msg: str) -> None:
    with pytest.raises(EdnError, match=msg):
        parse_edn_all(text)


def test_edn_surrogate_pairs_join_and_depth_limit_is_configurable() -> None:
    assert parse_edn('"\\ud83d\\ude00"') == "\U0001F600"
    deep = "[" * 250 + "]" * 250
    with pytest.raises(EdnError, match="deeper than 200"):
        parse_edn(deep)
    forms, _ = parse_edn_all(deep, max_depth=300)
    assert len(forms) == 1


@pytest.mark.parametrize(
    ("name", "data", "msg"),
    [
        ("nul.edn", b"{:type :invoke, :f :read, :process 0}\n{:value \x00}", r"nul\.edn:2: .*NUL byte"),
        ("bad.edn", b"[{:type :invoke \xff}]", r"bad\.edn: history is not UTF-8 text \(byte 16\)"),
        ("t.edn", b"[{:type [1], :f :read, :process 0}]", r"t\.edn:1: op needs :type"),
        ("f.edn", b"[{:type :ok, :f [1], :process 0}]", r"f\.edn:1: op needs :type"),
        ("x.log", b"INFO  jepsen.util - 0 :invoke :read " + b"[" * 300 + b"\n",
         r"x\.log:1: cannot read value .*nested deeper"),
    ],
)
def test_hostile_history_files_name_file_and_line(tmp_path: Path, name: str, data: bytes, msg: str) -> None:
    p = tmp_path / name
    p.write_bytes(data)
    with pytest.raises(HistoryError, match=msg):
        load_history(p)


def test_edn_streamed_in_chunks_equals_the_whole_text_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One op map per line is read a chunk at a time; forms or strings across a chunk
    boundary send the whole file to the complete reader, with the same result."""
    import harness.formats as formats

    lines = [f'{{:type :{t}, :f :txn, :process {i % 3}, :time {i}, :value [[:append {i} {i}] [:r {i} [1 2]]]}}'
             for i, t in enumerate(["invoke", "ok"] * 40)]
    text = "\n".join(lines) + "\n"
    spanning = text.replace("[:r 3 [1 2]]", "[:r 3\n [1 2]]").replace(":process 2, :time 8,", ':process 2, :error "a\nb", :time 8,')
    for body in (text, spanning):
        p = _write(tmp_path, "history.edn", body)
        monkeypatch.setattr(formats, "_CHUNK", 1 << 20)
        whole = load_history(p, "jepsen-edn").history
        monkeypatch.setattr(formats, "_CHUNK", 1)  # every line is a chunk
        streamed = formats._edn_streamed(p, keyed=False)
        assert (streamed is None) == (body is spanning)  # the spanning file falls back
        monkeypatch.setattr(formats, "_CHUNK", 97)  # boundaries here and there
        chunked = load_history(p, "jepsen-edn").history
        assert [o.to_dict() for o in chunked] == [o.to_dict() for o in whole]
        assert len(whole) == 80 and whole[9].value == [["append", 9, 9], ["r", 9, [1, 2]]]
    assert whole[8].error == "a\nb"


def test_odd_lines_cost_a_piece_not_the_file_and_read_the_same(tmp_path: Path) -> None:
    """Lines the fast path refuses (string-keyed maps, escapes, sets, comments) are read by
    the complete reader around them; the result equals the complete reader's on the file."""
    from harness.edn import parse_edn_located
    from harness.formats import _edn_op

    odd = ['{:type :info, :f :kill, :value {"n1" "", "n2" "ERR"}, :process :nemesis, :time 5}',
           '{:type :info, :f :txn, :value [[:r 1 nil]], :process 3, :error "a\\"b\\nc", :time 6}',
           '{:type :info, :f :start, :value #{:n1 :n2}, :process :nemesis} ; a comment']
    lines = []
    for i in range(600):
        lines.append(f"{{:type :invoke, :f :txn, :value [[:append {i} {i}] [:r {i} nil]], :process {i % 7}, :time {i}}}")
        if i % 150 == 75:
            lines.append(odd[(i // 150) % len(odd)])
    text = "\n".join(lines) + "\n"
    p = _write(tmp_path, "history.edn", text)
    got = [o.to_dict() for o in load_history(p, "jepsen-edn").history]
    forms, _, _ = parse_edn_located(text)
    assert got == [_edn_op(d, i, False).to_dict() for i, d in enumerate(forms)]
    assert "error" not in got[76] and got[76]["value"] == {"n1": "", "n2": "ERR"}
    assert got[227]["error"] == 'a"b\nc' and got[378]["value"] == ["n1", "n2"]


def test_many_distinct_keywords_read_in_linear_time(tmp_path: Path) -> None:
    """The EDN fast path replaced each distinct keyword of a chunk's first 64 KiB with one
    pass over the whole chunk: ~6000 keywords there and 4 MB behind them took ~18 s.
    (The subprocess timeout is a loose hang guard, not a timing claim.)"""
    import subprocess
    import sys

    lines = [f"{{:type :invoke, :f :read, :process 0, :value [{' '.join(f':k{i}-{j}' for j in range(10))}]}}"
             for i in range(600)]
    lines += ["{:type :invoke, :f :read, :process 0, :value [1 2 3]}"] * 75_000
    p = tmp_path / "many-keywords.edn"
    p.write_text("\n".join(lines) + "\n")
    code = ("import sys; from harness.formats import load_history; "
            "h = load_history(sys.argv[1]).history; print(len(h), h[0].value[:2])")
    r = subprocess.run([sys.executable, "-c", code, str(p)], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["75600", "['k0-0',", "'k0-1']"]


def test_a_read_leaves_the_young_gc_generation_empty_and_frozen_objects_alone(tmp_path: Path) -> None:
    """What a reader built goes to the oldest generation (no young collection walks it right
    after); a caller's own gc.freeze() is left as it was."""
    import gc

    lines = [f"{{:type :invoke, :f :txn, :process {i % 5}, :time {i}, :value [[:append {i} {i}] [:r {i} nil]]}}"
             for i in range(3000)]
    p = _write(tmp_path, "history.edn", "\n".join(lines) + "\n")
    assert gc.isenabled()
    h = load_history(p, "jepsen-edn").history
    assert len(h) == 3000 and gc.isenabled()
    oldest = {id(o) for o in gc.get_objects(generation=2)}
    assert id(h.ops[0]) in oldest and id(h.ops[-1].value) in oldest
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        load_history(p, "jepsen-edn")
        assert gc.get_freeze_count() == frozen and gc.isenabled()
    finally:
        gc.unfreeze()


@pytest.mark.parametrize("value", ["{1 :a true :b}", "{1 :a 1.0 :b}", '{:k 1 "k" 2}', "#{1 true}", "{[1] 2 [true] 3}"])
def test_edn_keys_python_would_merge_are_an_error_not_a_lost_entry(tmp_path: Path, value: str) -> None:
    """The complete EDN reader refuses a map or set whose members differ in EDN but are
    equal in Python (1, true, 1.0; :k and "k"): the file and line are named (exit 2), no
    entry is silently dropped.  A key written twice is still read, the last one winning."""
    text = f"[{{:process 0, :type :invoke, :f :write, :value 1}}\n {{:process 0, :type :ok, :f :write, :value {value}}}]\n"
    p = _write(tmp_path, "merge.edn", text)
    with pytest.raises(HistoryError, match=r"merge\.edn:2: .*differ in EDN but not in Python"):
        load_history(p, "knossos-edn")
    p = _write(tmp_path, "twice.edn", text.replace(value, "{1 :a 1 :b}"))
    assert load_history(p, "knossos-edn").history[1].value == {1: "b"}
