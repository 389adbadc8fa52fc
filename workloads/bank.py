"""Bank transfers across accounts (Jepsen's bank), judged by the conserved total.

Accounts ``a0 .. a{n-1}`` (``n = opts.keys``) each start at ``INITIAL``; a
system stores nothing until written, so an account never written holds the
initial balance (the op values carry it: the system needs no setup step).
Generator: 80 % ``transfer {"from", "to", "amount", "initial"}`` between two
distinct random accounts (amount 1-5; a transfer that would overdraw fails),
20 % ``read {"accounts", "initial"}`` of every account in one txn, which
completes with ``{account: balance}``. Final generator: every thread reads.

Checker: :class:`checkers.bank.BankChecker` (constant total, no negative
balance), composed with stats/perf/crash.
"""

from __future__ import annotations

from typing import Any

from checkers.bank import BankChecker
from harness import generator as gen
from workloads.base import Workload, WorkloadOptions, judged_by

__all__ = ["bank_workload", "INITIAL", "MAX_AMOUNT"]

INITIAL = 10
MAX_AMOUNT = 5
READ_SHARE = 0.2


def bank_workload(opts: WorkloadOptions) -> Workload:
    accounts = [f"a{i}" for i in range(max(2, opts.keys))]
    read = {"f": "read", "value": {"accounts": accounts, "initial": INITIAL}}

    def op(test: Any, ctx: Any) -> dict[str, Any]:
        rng = ctx.rng
        if rng.random() < READ_SHARE:
            return read
        a, b = rng.sample(accounts, 2)
        return {"f": "transfer", "value": {"from": a, "to": b,
                                           "amount": rng.randint(1, MAX_AMOUNT),
                                           "initial": INITIAL}}

    return Workload(
        name="bank",
        generator=gen.stagger(1.0 / opts.rate, op),
        final_generator=gen.each_thread(read),
        checker=judged_by("bank", BankChecker(tuple(accounts), INITIAL)),
        description=f"transfers between {len(accounts)} accounts of {INITIAL}, read-all txns; "
        "constant total, no negative balance",
    )
