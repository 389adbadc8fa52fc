"""Checker contract: ``check(test, history, out_dir) -> Result`` (DESIGN §3).

Verdicts are tri-state: ``True`` (valid), ``False`` (invalid) and
``"unknown"`` (the checker could not decide: a budget ran out, or it raised).
Composition merges False > unknown > True.
"""

from __future__ import annotations

import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from harness.history import History

__all__ = [
    "UNKNOWN",
    "Verdict",
    "Anomaly",
    "Result",
    "Checker",
    "Compose",
    "merge_valid",
    "safe_check",
    "verdict_word",
]

UNKNOWN: Literal["unknown"] = "unknown"
Verdict = bool | Literal["unknown"]


@dataclass(frozen=True, slots=True)
class Anomaly:
    """One thing that is wrong, explained in a sentence, naming the ops involved."""

    kind: str
    explanation: str
    ops: tuple[int, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "explanation": self.explanation,
            "ops": list(self.ops),
            "data": dict(self.data),
        }


@dataclass(frozen=True, slots=True)
class Result:
    valid: Verdict
    anomalies: tuple[Anomaly, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "anomalies": [a.to_dict() for a in self.anomalies],
            "details": dict(self.details),
        }


@runtime_checkable
class Checker(Protocol):
    def check(self, test: Mapping[str, Any], history: History, out_dir: Path | None) -> Result: ...


def merge_valid(verdicts: list[Verdict]) -> Verdict:
    """False beats unknown beats True; no verdicts at all is True."""
    if any(v is False for v in verdicts):
        return False
    if any(v == UNKNOWN for v in verdicts):
        return UNKNOWN
    return True


def verdict_word(v: Verdict) -> str:
    return "valid" if v is True else "invalid" if v is False else "unknown"


def safe_check(
    checker: Checker, test: Mapping[str, Any], history: History, out_dir: Path | None
) -> Result:
    """Run a checker; an exception becomes an ``unknown`` verdict with its traceback."""
    try:
        return checker.check(test, history, out_dir)
    except Exception as e:  # noqa: BLE001 - a checker bug must not crash the run
        return Result(
            UNKNOWN,
            details={
                "error": f"{type(e).__name__}: {e}",
                "traceback": traceback.format_exc(limit=8),
            },
        )


@dataclass(frozen=True)
class Compose:
    """Runs several named checkers; the composite verdict merges theirs."""

    checkers: Mapping[str, Checker]

    def check(self, test: Mapping[str, Any], history: History, out_dir: Path | None) -> Result:
        results = {
            name: safe_check(c, test, history, out_dir) for name, c in self.checkers.items()
        }
        valid = merge_valid([r.valid for r in results.values()])
        anomalies = tuple(a for r in results.values() for a in r.anomalies)
        return Result(
            valid,
            anomalies,
            details={name: r.to_dict() for name, r in results.items()},
        )
