"""Crash checker: a node that died on its own is a finding (DESIGN §4).

Systems keep their invariants as asserts that stay on, so a broken invariant
kills the node; the runner records each such death as a nemesis op pair
``invoke crash`` (value: the node) / ``info crash`` (value: ``{node,
exit_code, log}``). Like Jepsen reporting a crashed or panicked process, any
crash makes the run invalid, whatever the other checkers say: the history
may look fine only because the node stopped before it could do harm.

Pure: a function of the history only. Histories with no crash ops (older
runs, imported Porcupine/Knossos files) are valid here.
"""

from __future__ import annotations

import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from checkers.core import Anomaly, Result
from harness.history import NEMESIS, History

__all__ = ["Crashes", "CRASH", "telling_line", "describe_exit"]

CRASH = "crash"
_LINE_CAP = 240


def _signame(n: int) -> str:
    try:
        return signal.Signals(n).name
    except ValueError:
        return f"signal {n}"


def describe_exit(code: Any) -> str:
    """How a process ended, in words: a negative code is a signal (subprocess's convention),
    128+n is a signal as a shell or Docker reports it."""
    if not isinstance(code, int) or isinstance(code, bool):
        return "exit code unknown"
    if code < 0:
        return f"{_signame(-code)}, exit code {code}"
    if 128 < code <= 128 + 64:
        return f"exit code {code} = 128+{_signame(code - 128)}"
    return f"exit code {code}"


def telling_line(lines: list[str]) -> str | None:
    """The log line that best says why a node died.

    The exception line that ends the last traceback (``AssertionError: …``)
    if there is one, else the last line naming an AssertionError, else the
    last line.
    """
    clean = [str(x).rstrip() for x in lines if str(x).strip()]
    if not clean:
        return None
    tb = max((i for i, x in enumerate(clean) if x.lstrip().startswith("Traceback")), default=-1)
    if tb >= 0:
        tail = [x for x in clean[tb + 1:] if not x[:1].isspace()]
        if tail:
            return _cap(tail[-1])
    for x in reversed(clean):
        if "AssertionError" in x:
            return _cap(x)
    return _cap(clean[-1])


def _cap(s: str) -> str:
    s = s.strip()
    return s if len(s) <= _LINE_CAP else s[: _LINE_CAP - 1] + "…"


class Crashes:
    """Every recorded node crash is an anomaly; no crash ops means valid."""

    def check(self, test: Mapping[str, Any], history: History, out_dir: Path | None) -> Result:
        anomalies: list[Anomaly] = []
        for inv, comp in history.pairs():
            if inv.process != NEMESIS or inv.f != CRASH:
                continue
            value = comp.value if comp is not None and isinstance(comp.value, Mapping) else {}
            node = value.get("node", inv.value)
            code = value.get("exit_code")
            raw_log = value.get("log")
            log = [str(x) for x in raw_log] if isinstance(raw_log, list) else []
            line = telling_line(log)
            said = f"its log says: {line}" if line else "it left no output"
            if comp is None:
                said = "the record of how it ended was never written"
            ops = (inv.index,) if comp is None else (inv.index, comp.index)
            anomalies.append(
                Anomaly(
                    kind="crash",
                    explanation=(
                        f"Node {node} died without the harness killing it "
                        f"({describe_exit(code)}); {said}."
                    ),
                    ops=ops,
                    data={"node": node, "exit_code": code, "log_line": line, "log": log},
                )
            )
        nodes = sorted({str(a.data["node"]) for a in anomalies})
        return Result(
            valid=not anomalies,
            anomalies=tuple(anomalies),
            details={"crashes": len(anomalies), "nodes": nodes},
        )
