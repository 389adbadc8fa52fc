"""A store with hostile runs in it: poisoned ``test.json``/``results.json`` files are rows
marked unreadable (the rest of the index still works), and ``serve`` follows no symlink
out of the store, lists no folder and serves nothing from a node's ``data/`` or ``ctl/``
(real HTTP requests against a served temporary store)."""

from __future__ import annotations

import http.client
import json
import os
import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import reports
from reports.load import RunFileError, load_json_object, load_run
from tests.reports.fixtures import serving, write_run

SECRET = "host secret: must never be served\n"

# name of a poisoned run -> (file name, bytes or None for a symlink to the host file)
POISON: dict[str, tuple[str, bytes | None]] = {
    "huge-int": ("results.json", b'{"valid": ' + b"9" * 5000 + b"}"),
    "deep": ("results.json", b'{"valid": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
    "deep-but-parsable": ("test.json", b'{"name": ' + b"[" * 500 + b"]" * 500 + b"}"),
    "bad-utf8": ("test.json", b'{"name": "\xff\xfe"}'),
    "not-object": ("test.json", b"[1, 2, 3]"),
    "symlinked": ("test.json", None),
}


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def raw_get(base: str, path: str) -> int:
    """Status of GET ``path`` sent verbatim (urllib would normalise ``..`` away)."""
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


def hostile_store(tmp_path: Path) -> tuple[Path, Path]:
    """A store with one good run, the poisoned runs above, and planted symlinks."""
    store = tmp_path / "store"
    victim = tmp_path / "host-secret.txt"
    victim.write_text(SECRET)
    good = write_run(store / "good" / "20261125T100000Z", n_ops=20)
    for name, (file, data) in POISON.items():
        run = write_run(store / name / "20261125T090000Z", n_ops=5)
        target = run / file
        target.unlink()
        if data is None:
            target.symlink_to(victim)
        else:
            target.write_bytes(data)
    # What a container can do to its bind-mounted folders, and a link out of the store.
    for sub in ("data", "ctl"):
        folder = good / sub / "n1"
        folder.mkdir(parents=True)
        (folder / "evil").symlink_to(victim)
        (folder / "plain.txt").write_text("written by the container\n")
    (good / "nodes" / "n1" / "evil.log").symlink_to(victim)
    (store / "escape.txt").symlink_to(victim)
    (store / "escape-dir").symlink_to(tmp_path, target_is_directory=True)
    (store / "into-data").symlink_to(good / "data" / "n1", target_is_directory=True)
    (store / "latest").symlink_to(good.relative_to(store), target_is_directory=True)
    return store, good


def test_poisoned_runs_are_listed_unreadable_and_the_index_still_renders(tmp_path: Path) -> None:
    store, _ = hostile_store(tmp_path)
    runs = {r.href.split("/")[0]: r for r in reports.scan_runs(store)}
    assert set(runs) == {"good", *POISON}
    assert runs["good"].verdict in {"valid", "invalid"} and runs["good"].problem == ""
    for name in POISON:
        assert runs[name].verdict == "unreadable", name
        assert runs[name].problem, name
    assert "4300" in runs["huge-int"].problem or "digits" in runs["huge-int"].problem
    assert "nested" in runs["deep"].problem
    assert "nested deeper than" in runs["deep-but-parsable"].problem
    assert "UTF-8" in runs["bad-utf8"].problem
    assert "not a JSON object" in runs["not-object"].problem
    assert "symlink" in runs["symlinked"].problem
    html = reports.render_index(store).read_text()
    assert html.count('data-verdict="unreadable"') == len(POISON)
    assert "host secret" not in html
    assert re.search(r'class="hint problem">test.json is a symlink', html)


def test_load_json_object_raises_only_its_error_type(tmp_path: Path) -> None:
    cases = {
        "fifo": None,
        "surrogate.json": b'{"k\\ud800": "\\udfff", "ok": "\\ud83d\\ude00"}',
        "big-float.json": b'{"x": 1e999999}',
    }
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(RunFileError, match="not a regular file"):
        load_json_object(tmp_path / "fifo")  # and does not block on it
    for name, data in cases.items():
        if data is not None:
            (tmp_path / name).write_bytes(data)
    obj = load_json_object(tmp_path / "surrogate.json")
    assert json.dumps(obj, ensure_ascii=False).encode("utf-8")  # re-encodable
    assert obj["ok"] == "\U0001f600" and obj["k\ufffd"] == "\ufffd"
    assert load_json_object(tmp_path / "big-float.json")["x"] == float("inf")
    (tmp_path / "big.json").write_bytes(b'{"a": "' + b"x" * 2000 + b'"}')
    with pytest.raises(RunFileError, match="larger than"):
        load_json_object(tmp_path / "big.json", limit=1024)
    with pytest.raises(RunFileError, match="missing"):
        load_json_object(tmp_path / "absent.json")


def test_report_of_a_poisoned_run_renders_with_the_problem(tmp_path: Path) -> None:
    store, good = hostile_store(tmp_path)
    (good / "history.jsonl").rename(good / "real-history.jsonl")
    (good / "history.jsonl").symlink_to(tmp_path / "host-secret.txt")
    run = load_run(good)
    assert "history.jsonl is a symlink (not followed)" in run.problems
    assert [log.href for log in run.logs if "evil" in log.href] == []  # symlinked log not listed
    assert "host secret" not in reports.render_report(good).read_text()
    for name in POISON:
        run = store / name / "20261125T090000Z"
        html = reports.render_report(run).read_text()
        assert "host secret" not in html, name
        assert 'id="problems"' in html, name


def test_serve_follows_no_symlink_out_and_serves_no_container_folder(tmp_path: Path) -> None:
    store, good = hostile_store(tmp_path)
    reports.render_index(store)
    reports.render_report(good)
    with serving(store) as base:
        status, body = get(f"{base}/index.html")
        assert status == 200 and b"faultbox runs" in body
        status, body = get(f"{base}/")
        assert status == 200 and b"faultbox runs" in body  # a folder only via index.html
        assert get(f"{base}/good/20261125T100000Z/report.html")[0] == 200
        assert get(f"{base}/latest/test.json")[0] == 200  # in-store symlink: fine
        assert get(f"{base}/good/20261125T100000Z/nodes/n1/server.log")[0] == 200
        refused = [
            "/escape.txt",  # symlink out of the store
            "/escape-dir/host-secret.txt",
            "/into-data/plain.txt",  # in-store link into a data folder
            "/good/20261125T100000Z/nodes/n1/evil.log",
            "/symlinked/20261125T090000Z/test.json",
            "/latest/data/n1/plain.txt",
        ]
        for sub in ("data", "ctl"):
            refused += [
                f"/good/20261125T100000Z/{sub}/n1/evil",
                f"/good/20261125T100000Z/{sub}/n1/plain.txt",
                f"/good/20261125T100000Z/{sub}/n1/",
                f"/good/20261125T100000Z/{sub}/",
            ]
        refused += ["/good/", "/good/20261125T100000Z/", "/good/20261125T100000Z/nodes/n1/"]
        for path in refused:
            status, body = get(base + path)
            assert status == 404, (path, status)
            assert b"host secret" not in body and b"container" not in body, path
        for path in ("/../host-secret.txt", "/good/../../host-secret.txt", "/%2e%2e/host-secret.txt"):
            assert raw_get(base, path) == 404, path


def test_serve_of_a_poisoned_store_serves_the_index(tmp_path: Path) -> None:
    store, _ = hostile_store(tmp_path)
    reports.render_index(store)
    with serving(store) as base:
        status, body = get(f"{base}/index.html")
    assert status == 200
    assert body.decode().count('data-verdict="unreadable"') == len(POISON)


def test_report_of_a_run_whose_history_is_a_fifo_does_not_block(tmp_path: Path) -> None:
    """A FIFO with no writer blocks open() forever: it is a problem of the run, not a read.
    (The thread join is a loose hang guard, not a timing claim.)"""
    import threading

    run_dir = write_run(tmp_path / "fifo" / "20261125T100000Z")
    (run_dir / "history.jsonl").unlink()
    os.mkfifo(run_dir / "history.jsonl")
    got: list[tuple[str, ...]] = []
    t = threading.Thread(target=lambda: got.append(load_run(run_dir).problems), daemon=True)
    t.start()
    t.join(30)
    if not got:  # unblock the reader so the daemon thread ends
        os.close(os.open(run_dir / "history.jsonl", os.O_WRONLY | os.O_NONBLOCK))
    assert got and "history.jsonl is not a regular file" in got[0]


def test_serve_answers_404_to_a_nul_byte_or_an_overlong_name(tmp_path: Path) -> None:
    """realpath/stat raise on these (ValueError, ENAMETOOLONG): the handler must answer,
    not drop the connection with a traceback on the server's stderr."""
    store, good = hostile_store(tmp_path)
    reports.render_report(good)
    with serving(store) as base:
        for path in ("/%00", "/good/20261125T100000Z/report.html%00", "/" + "a" * 5000,
                     "/good/20261125T100000Z/report.html/"):  # a file is not a folder
            assert raw_get(base, path) == 404, path[:60]
        assert raw_get(base, "/good/20261125T100000Z/report.html") == 200
