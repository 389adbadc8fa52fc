"""Crafted history files through the real CLI: one line on stderr, exit 2, no traceback, no hang."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

OP = '{:type :invoke, :f :read, :process 0, :value '
JOP = '{"type":"invoke","f":"read","process":0,"value":'

CRAFTED: dict[str, bytes] = {
    # the exponential backtracking of the old whitespace/comment skip (> 15 s at 24 blanks)
    "blank-run.edn": b"; comment\n" + b" " * 24 + b'"unterminated\n',
    "blank-run-etcd.log": b"INFO  jepsen.util - 0\t:invoke\t:read\t; c\n" + b" " * 30 + b'"x\n',
    "comment-semicolons.edn": b";" * 5000 + b"\n" + b" " * 5000 + b'"x',
    "huge-int.edn": (OP + "9" * 5000 + "}\n").encode(),
    "huge-int.jsonl": (JOP + "9" * 5000 + "}\n").encode(),
    "deep.edn": (OP + "[" * 100_000 + "]" * 100_000 + "}\n").encode(),
    "deep.jsonl": (JOP + "[" * 100_000 + "]" * 100_000 + "}\n").encode(),
    "deep-kv.edn": b'{:process 0, :type :invoke, :f :get, :key "k", :value ' + b"#{" * 50_000 + b"\n",
    "bad-utf8.edn": (OP + '"').encode() + b"\xff\xfe" + b'"}\n',
    "bad-utf8.jsonl": (JOP + '"').encode() + b"\xc3\x28" + b'"}\n',
    "nul.edn": OP.encode() + b"\x00}\n",
    "nul.jsonl": JOP.encode() + b"\x00}\n" + JOP.encode() + b"1}\n",
    "truncated.edn": (OP + "[1 2").encode(),
    "markup.log": b"INFO  jepsen.util - 0\t:invoke\t:read\t[/red]]\n",
    "markup.jsonl": b'{"type":"[/red]","f":"read","process":0}\n',
    "unhashable-type.jsonl": b'{"type":[1],"f":"read","process":0}\n',
    "lone-surrogate.edn": (OP + '"\\ud800"}\n').encode(),
    "etcd-deep.log": b"INFO  jepsen.util - 0\t:invoke\t:read\t" + b"[" * 10_000 + b"\n",
}


def _check(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args, "check", str(path)],
        capture_output=True, text=True, timeout=60,  # a loose hang guard, not a timing claim
    )


@pytest.mark.parametrize("name", sorted(CRAFTED))
def test_crafted_file_is_one_line_and_exit_2(tmp_path: Path, name: str) -> None:
    p = tmp_path / name
    p.write_bytes(CRAFTED[name])
    r = _check(p)
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr[-2000:]
    assert lines[0].startswith("faultbox: ") and name in lines[0]
    assert "Traceback" not in r.stderr


def test_unexpected_error_is_exit_2_with_a_debug_hint(monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str],
                                                      tmp_path: Path) -> None:
    import harness.check
    from harness import cli

    def boom(*a: object, **k: object) -> None:
        raise RuntimeError("a bug\nover two lines")

    monkeypatch.setattr(harness.check, "check_path", boom)
    p = tmp_path / "h.jsonl"
    p.write_text("")
    for argv, traced in ((["faultbox", "check", str(p)], False),
                         (["faultbox", "--debug", "check", str(p)], True)):
        monkeypatch.setattr(sys, "argv", argv)
        with pytest.raises(SystemExit) as e:
            cli.main()
        assert e.value.code == 2
        err = capsys.readouterr().err
        assert ("Traceback" in err) is traced
        last = err.strip().splitlines()[-1]
        assert last.startswith("faultbox: unexpected RuntimeError")
        if not traced:
            assert len(err.strip().splitlines()) == 1
            assert "a bug over two lines" in last and "--debug" in last


@pytest.mark.parametrize("init", ["9" * 5000, "[" * 100_000, "{"])
def test_hostile_init_is_one_line_and_exit_2(tmp_path: Path, init: str) -> None:
    p = tmp_path / "h.jsonl"
    p.write_text("")
    r = subprocess.run([sys.executable, "-m", "harness.cli", "check", str(p), "--init", init],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [r.stderr.strip()]
    assert r.stderr.startswith("faultbox: --init: not valid JSON")
