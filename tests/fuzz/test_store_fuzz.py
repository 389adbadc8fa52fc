"""Fuzzing the loading of a run's ``results.json`` / ``test.json`` and the store index.

Whatever bytes a run folder holds, :func:`reports.load.load_json_object` returns a
dict or raises :class:`reports.load.RunFileError` (never anything else), and the
store index lists the run (as unreadable when it must) instead of failing.  Each
input gets a loose hang guard, not a timing claim (bench/ holds timings).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import reports
from reports.load import MAX_JSON_DEPTH, RunFileError, load_json_object

HANG_GUARD_S = 5.0  # per input; the largest generated input loads in milliseconds
FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Fragments a hostile file would be made of.
FRAGMENTS = st.sampled_from(
    [
        b"{", b"}", b"[", b"]", b",", b":", b'"', b"\\", b"\\u", b"d800", b"\\ud800",
        b"\\udfff", b"\\u0000", b"\x00", b"\xff", b"\xc3", b"\xed\xa0\x80", b" " * 40,
        b"\n", b"\t", b"1e999999", b"-0", b"NaN", b"Infinity", b"true", b"null",
        b'"valid"', b'"checkers"', b'{"valid": false}', b"9" * 4400, b"1." + b"0" * 5000,
        b"[" * 2000, b"]" * 2000, b'{"a":' * 300, b"}" * 300, b'"' + b"x" * 3000,
    ]
)
HOSTILE_BYTES = st.one_of(
    st.binary(max_size=2000),
    st.lists(FRAGMENTS, max_size=30).map(b"".join),
    st.lists(FRAGMENTS, max_size=10).map(lambda xs: b'{"k": ' + b"".join(xs) + b"}"),
)

JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=40,
)


def _load_guarded(path: Path) -> dict[str, Any] | None:
    t0 = time.monotonic()
    try:
        obj = load_json_object(path)
    except RunFileError as e:
        assert str(e).startswith(path.name), str(e)
        assert "\n" not in str(e)
        obj = None
    assert time.monotonic() - t0 < HANG_GUARD_S
    return obj


@FUZZ
@given(HOSTILE_BYTES)
def test_loading_hostile_bytes_raises_only_run_file_error(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "results.json"
        path.write_bytes(data)
        obj = _load_guarded(path)
    if obj is not None:
        assert isinstance(obj, dict)
        json.dumps(obj, ensure_ascii=False).encode("utf-8")  # renderable as UTF-8


@FUZZ
@given(st.dictionaries(st.text(max_size=10), JSON_VALUES, max_size=8))
def test_valid_objects_load_back_unchanged(obj: dict[str, Any]) -> None:
    text = json.dumps(obj)  # astral characters become surrogate pairs, which must pair up
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "test.json"
        path.write_text(text, encoding="utf-8")
        assert _load_guarded(path) == obj


@FUZZ
@given(st.integers(min_value=1, max_value=3 * MAX_JSON_DEPTH))
def test_depth_bound_is_exact(depth: int) -> None:
    text = '{"v": ' + "[" * depth + "]" * depth + "}"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "results.json"
        path.write_text(text)
        obj = _load_guarded(path)
    assert (obj is not None) == (depth + 1 <= MAX_JSON_DEPTH)  # the top object counts


FIELD_NAMES = st.sampled_from(
    ["name", "system", "workload", "nemesis", "nodes", "seed", "start_time", "bugs",
     "verdict", "valid", "ops", "checkers", "anomalies"]
)
TYPED_OBJECTS = st.dictionaries(FIELD_NAMES | st.text(max_size=5), JSON_VALUES, max_size=10)
START_TIMES = st.sampled_from(
    ["0001-01-01T00:00:00", "9999-12-31T23:59:59", "2026-11-25T12:34:56Z", "not a date", ""]
)


@FUZZ
@given(
    test_obj=TYPED_OBJECTS,
    start=START_TIMES,
    results_obj=TYPED_OBJECTS,
    checkers=st.dictionaries(st.text(max_size=5), JSON_VALUES, max_size=4),
    poison=st.one_of(st.none(), HOSTILE_BYTES),
)
def test_index_survives_any_run_contents(
    test_obj: dict[str, Any],
    start: str,
    results_obj: dict[str, Any],
    checkers: dict[str, Any],
    poison: bytes | None,
) -> None:
    tmp = Path(tempfile.mkdtemp())
    try:
        good = tmp / "good" / "1"
        good.mkdir(parents=True)
        (good / "test.json").write_text(json.dumps({"name": "good", "start_time": "2026-01-01T00:00:00"}))
        run = tmp / "fuzzed" / "1"
        run.mkdir(parents=True)
        (run / "test.json").write_text(json.dumps({**test_obj, "start_time": start}))
        (run / "results.json").write_text(json.dumps({**results_obj, "checkers": checkers}))
        if poison is not None:
            (run / "results.json").write_bytes(poison)
        t0 = time.monotonic()
        html = reports.render_index(tmp).read_text(encoding="utf-8")
        assert time.monotonic() - t0 < HANG_GUARD_S
        names = {r.href.split("/")[0]: r for r in reports.scan_runs(tmp)}
        assert set(names) == {"good", "fuzzed"}  # the fuzzed run never hides the good one
        assert names["good"].verdict == "no results"
        assert 'href="good/1/report.html"' in html and 'href="fuzzed/1/report.html"' in html
    finally:
        shutil.rmtree(tmp)
