import json

import pytest

from harness.history import History, HistoryError, HistoryWriter, Op, read_jsonl


def _ops():
    return [
        Op(0, 10, 0, "invoke", "write", 1),
        Op(1, 11, 1, "invoke", "read", None),
        Op(2, 20, 0, "ok", "write", 1),
        Op(3, 25, "nemesis", "invoke", "start-kill", "one"),
        Op(4, 30, 1, "info", "read", None, error="timeout"),
        Op(5, 31, "nemesis", "info", "start-kill", ["n1"]),
        Op(6, 40, 6, "invoke", "write", 2),
    ]


def test_pairing_links_invocations_to_completions():
    h = History(_ops())
    assert h.completion(0).index == 2
    assert h.completion(1).type == "info"
    assert h.invocation(2).index == 0
    assert h.completion(6) is None  # never completed: indeterminate
    pairs = list(h.pairs())
    assert [(i.index, c.index if c else None) for i, c in pairs] == [(0, 2), (1, 4), (3, 5), (6, None)]


def test_filters_split_client_and_nemesis():
    h = History(_ops())
    assert all(o.process != "nemesis" for o in h.client_ops())
    assert [o.f for o in h.nemesis_ops()] == ["start-kill", "start-kill"]


def test_writer_roundtrip_and_fsync_batches(tmp_path):
    p = tmp_path / "h.jsonl"
    with HistoryWriter(p, fsync_every=3) as w:
        for o in _ops():
            w.write(o)
    assert w.fsyncs >= 1  # batches in the background, always once on close
    h = read_jsonl(p)
    assert list(h) == _ops()


def test_torn_last_line_is_dropped(tmp_path):
    p = tmp_path / "h.jsonl"
    History(_ops()).to_jsonl(p)
    with open(p, "a") as fh:
        fh.write('{"index": 7, "time_ns": 5')
    assert len(read_jsonl(p)) == 7


def test_malformed_middle_line_names_file_and_line(tmp_path):
    p = tmp_path / "h.jsonl"
    lines = [json.dumps(o.to_dict()) for o in _ops()]
    lines[2] = "not json"
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(HistoryError, match=r"h.jsonl:3: malformed"):
        read_jsonl(p)


def test_bad_type_is_refused(tmp_path):
    p = tmp_path / "h.jsonl"
    p.write_text('{"process": 0, "type": "maybe", "f": "read"}\n')
    with pytest.raises(HistoryError, match="unknown type"):
        read_jsonl(p)


def test_missing_file_is_a_history_error(tmp_path):
    with pytest.raises(HistoryError, match="cannot read"):
        read_jsonl(tmp_path / "nope.jsonl")


def test_torn_tail_ending_in_brace_is_dropped(tmp_path):
    p = tmp_path / "h.jsonl"
    History(_ops()).to_jsonl(p)
    with open(p, "a") as fh:
        fh.write('{"index": 7, "value": {"a": 1}')  # cut inside, yet ends with a brace
    assert len(read_jsonl(p)) == 7


def test_orphan_completion_is_refused(tmp_path):
    p = tmp_path / "h.jsonl"
    p.write_text('{"index":0,"time_ns":0,"process":0,"type":"ok","f":"read","value":3}\n')
    with pytest.raises(HistoryError, match="h.jsonl:1: ok completion of process 0 with no invocation"):
        read_jsonl(p)


def test_completion_f_must_match_invocation(tmp_path):
    p = tmp_path / "h.jsonl"
    p.write_text('{"process":0,"type":"invoke","f":"read"}\n{"process":0,"type":"ok","f":"write"}\n')
    with pytest.raises(HistoryError, match="h.jsonl:2: completion f 'write'"):
        read_jsonl(p)


def test_non_utf8_file_is_a_history_error(tmp_path):
    p = tmp_path / "h.jsonl"
    p.write_bytes(b"\xff\xfe{}\n")
    with pytest.raises(HistoryError, match="not a UTF-8"):
        read_jsonl(p)


def test_fault_windows_pair_start_stop_restart_and_unclosed():
    from harness.history import fault_windows

    N = "nemesis"
    h = History([
        Op(0, 10, N, "invoke", "start-kill", "one"), Op(1, 12, N, "info", "start-kill", ["n1"]),
        Op(2, 20, N, "invoke", "start-kill", "all"), Op(3, 22, N, "info", "start-kill", ["n2"]),
        Op(4, 30, N, "invoke", "stop-kill"), Op(5, 33, N, "info", "stop-kill", ["n2"]),
        Op(6, 40, N, "invoke", "stop-pause"), Op(7, 41, N, "info", "stop-pause"),
        Op(8, 50, N, "invoke", "start-partition", "halves"),
        Op(9, 60, 0, "invoke", "read"), Op(10, 70, 0, "ok", "read", 1),
    ])
    got = [(w.fault, w.start_ns, w.end_ns, w.closed, w.start_index, w.value) for w in fault_windows(h)]
    assert got == [
        ("kill", 10, 20, True, 0, ["n1"]),  # from the invocation; a second start closes the first
        ("kill", 20, 33, True, 2, ["n2"]),
        ("partition", 50, 70, False, 8, "halves"),  # never completed, never stopped
    ]


@pytest.mark.parametrize(
    ("line", "msg"),
    [
        ('{"type":"invoke","f":"read","process":0,"value":' + "9" * 5000 + "}", "too many digits"),
        ('{"type":"invoke","f":"read","process":0,"value":' + "[" * 100_000 + "]" * 100_000 + "}",
         "nested too deeply"),
        ('{"type":["invoke"],"f":"read","process":0}', "unknown type"),
        ('{"type":"invoke","f":["read"],"process":0}', "f must be a string"),
        ('{"type":"invoke","f":"read","process":0,"value":"a\x00b"}', "not JSON"),
        ('[1, 2]', "not a JSON object"),
    ],
)
def test_hostile_jsonl_lines_are_history_errors(tmp_path, line, msg):
    p = tmp_path / "h.jsonl"
    p.write_text('{"type":"invoke","f":"read","process":1}\n' + line + "\n")
    with pytest.raises(HistoryError, match=r"h\.jsonl:2: .*" + msg):
        read_jsonl(p)


@pytest.mark.parametrize("tail", ["\n", "", '\n{"index": 9', "\n\n  \n"])
def test_jsonl_read_in_chunks_equals_one_read(tmp_path, monkeypatch, tail):
    """Lines split across the streaming reader's chunk boundaries (multi-byte characters
    included), with or without a final newline or a torn last line, read the same."""
    import harness.history as history

    lines = []
    for i in range(60):
        lines.append(json.dumps({"index": 2 * i, "time_ns": 2 * i, "process": i % 5, "type": "invoke",
                                 "f": "write", "value": i}))
        lines.append(json.dumps({"index": 2 * i + 1, "time_ns": 2 * i + 1, "process": i % 5,
                                 "type": ("ok", "info", "fail")[i % 3], "f": "write", "value": "é" * (i % 4)},
                                ensure_ascii=False))
    p = tmp_path / "h.jsonl"
    p.write_text("\n".join(lines) + tail, encoding="utf-8")
    whole = [o.to_dict() for o in read_jsonl(p)]
    assert len(whole) == 120 and whole[7]["value"] == "ééé"
    for size in (1, 3, 7, 97):
        monkeypatch.setattr(history, "_CHUNK", size)
        assert [o.to_dict() for o in read_jsonl(p)] == whole, size
    (tmp_path / "bad.jsonl").write_text("\n".join(lines[:10]) + "\nxx\n" + "\n".join(lines[10:]) + "\n")
    for size in (1, 7):
        monkeypatch.setattr(history, "_CHUNK", size)
        with pytest.raises(HistoryError, match="bad.jsonl:11:"):
            read_jsonl(tmp_path / "bad.jsonl")
