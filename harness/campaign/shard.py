"""``--shard i/n``: a deterministic slice of a campaign's runs.

Run ``k`` (its position in the expanded run list) belongs to shard
``k % n + 1``: round-robin, so every shard gets a similar mix of systems and
faults and the shards' wall times stay close, and the same file always yields
the same slices on every CI runner.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from harness.campaign.spec import CaseRun
from harness.errors import UsageError

__all__ = ["Shard", "parse_shard", "select"]

_SHARD_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True, slots=True)
class Shard:
    index: int  # 1-based
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def owns(self, position: int) -> bool:
        return position % self.count == self.index - 1


def parse_shard(text: str) -> Shard:
    m = _SHARD_RE.match(text)
    if not m:
        raise UsageError(f"--shard: want i/n such as 1/4, got {text!r}")
    i, n = int(m.group(1)), int(m.group(2))
    if n < 1 or not 1 <= i <= n:
        raise UsageError(f"--shard: want 1 ≤ i ≤ n, got {text!r}")
    return Shard(i, n)


def select(runs: Sequence[CaseRun], shard: Shard | None) -> list[CaseRun]:
    if shard is None:
        return list(runs)
    return [r for r in runs if shard.owns(r.index)]
