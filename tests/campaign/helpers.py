"""Shared helpers of the campaign tests: run the CLI as a user would, read its outputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]

# memkv on the local backend: seconds per run, no Docker.
LOCAL_DEFAULTS = """
[defaults]
backend = "local"
time_limit = 3
recovery = 0.5
nemesis_interval = 1
op_timeout = 1
check_budget = 30
"""


def faultbox(*args: str, timeout_s: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True,
                          text=True, cwd=REPO, timeout=timeout_s)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def campaign_dirs(store: Path, name: str) -> list[Path]:
    return sorted(p.parent for p in (store / "campaigns" / name).glob("*/campaign.json"))


def campaign_json(directory: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((directory / "campaign.json").read_text())
    return doc
