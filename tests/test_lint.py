"""The test command also runs the linters: ruff on everything, mypy --strict on package code."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ["harness", "workloads", "checkers", "nemesis", "systems", "reports"]


def _run(*argv):
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=600)


def test_ruff_clean():
    if shutil.which("ruff") is None and not Path(sys.executable).with_name("ruff").exists():
        pytest.skip("ruff is not installed (pip install -e '.[dev]')")
    ruff = str(Path(sys.executable).with_name("ruff")) if Path(sys.executable).with_name("ruff").exists() else "ruff"
    r = _run(ruff, "check", ".")
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy_strict_clean():
    r = _run(sys.executable, "-m", "mypy", "--strict", *PACKAGES)
    assert r.returncode == 0, r.stdout[-5000:] + r.stderr[-2000:]
