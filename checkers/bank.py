"""The bank checker: transfers between accounts never create or destroy money.

Every ``ok`` ``read`` completes with ``{account: balance}``. Rules:

* **wrong-total**: the balances of a read do not sum to the bank's total
  (accounts × initial balance): money was created or lost, which is what a
  partial commit of a transfer, or a read that sees half of one, looks like.
* **negative-balance**: an account read below zero (transfers never overdraw).
* **unexpected-accounts**: a read that does not name exactly the bank's accounts.

Each anomaly names the read op and shows its balances. ``details`` counts the
bad reads and gives the distinct wrong totals seen. A history with no ``ok``
read at all proves nothing: ``unknown``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checkers.core import UNKNOWN, Anomaly, Result, Verdict
from harness.history import NEMESIS, OK, History

__all__ = ["BankChecker"]


@dataclass(frozen=True)
class BankChecker:
    accounts: Sequence[str]
    initial: int
    max_reported: int = 16

    @property
    def total(self) -> int:
        return len(self.accounts) * self.initial

    def check(self, test: Mapping[str, Any], history: History, out_dir: Path | None) -> Result:
        names = set(self.accounts)
        found: list[Anomaly] = []
        wrong_totals: dict[int, int] = {}
        reads = 0
        for op in history:
            if op.process == NEMESIS or op.type != OK or op.f != "read":
                continue
            reads += 1
            bal = op.value
            if not isinstance(bal, dict) or set(bal) != names:
                got = sorted(bal) if isinstance(bal, dict) else bal
                found.append(Anomaly("unexpected-accounts",
                                     f"read op {op.index} returned {got!r}, not the accounts "
                                     f"{sorted(names)}", (op.index,), {"read": bal}))
                continue
            if not all(isinstance(v, int) for v in bal.values()):
                found.append(Anomaly("unexpected-accounts",
                                     f"read op {op.index} returned non-integer balances {bal!r}",
                                     (op.index,), {"read": bal}))
                continue
            total = sum(bal.values())
            if total != self.total:
                wrong_totals[total] = wrong_totals.get(total, 0) + 1
                found.append(Anomaly("wrong-total",
                                     f"read op {op.index} sums to {total}, not {self.total}: "
                                     f"{_show(bal)}", (op.index,), {"read": bal, "total": total}))
            negative = {a: v for a, v in bal.items() if v < 0}
            if negative:
                found.append(Anomaly("negative-balance",
                                     f"read op {op.index} shows negative balances {negative}: "
                                     f"{_show(bal)}", (op.index,), {"read": bal}))
        kinds = sorted({a.kind for a in found})
        valid: Verdict = False if found else (True if reads else UNKNOWN)
        return Result(valid, tuple(found[: self.max_reported]), {
            "anomaly-types": kinds,
            "counts": {k: sum(a.kind == k for a in found) for k in kinds},
            "reads": reads,
            "expected-total": self.total,
            "wrong-totals": {str(t): n for t, n in sorted(wrong_totals.items())},
        })


def _show(bal: Mapping[str, int]) -> str:
    return ", ".join(f"{a}={v}" for a, v in sorted(bal.items()))
