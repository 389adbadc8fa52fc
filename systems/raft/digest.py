"""A rolling digest of the entries a node applied, so divergence is visible from outside.

``digest_i = H(digest_{i-1}, term_i, data_i)`` over every applied entry
(no-ops included), starting from :data:`GENESIS` at index 0. Two nodes that
report the same digest at index ``i`` applied the same commands in the same
order up to ``i``; one differing command anywhere before ``i`` makes every
later digest differ, so any index both nodes report is a comparison point.

The digest at a snapshot's index travels inside the snapshot
(``Snapshot.digest``): a node restored from a snapshot, at boot or by
InstallSnapshot, continues the same chain. A snapshot without one (written
before digests existed) leaves the chain *unanchored*: the node reports no
digests until a later snapshot anchors it again, never a made-up one.

The table kept is bounded: every index of the last :data:`DENSE` applied,
plus checkpoints at multiples of :data:`EVERY` (the last :data:`SPARSE` of
them). ``rows()`` is what ``status`` reports: the newest :data:`RECENT`
indices and every checkpoint, at most ``RECENT + SPARSE`` rows.

Equal commands do not guarantee equal states: a replica can apply the same
chain and still hold another state (a snapshot restore that drops part of
the state, a machine that is not deterministic). So the node also reports
**state checkpoints**: after applying an index that is a multiple of
:data:`STATE_EVERY` (and after restoring a snapshot at such an index) the
digest of its machine's whole image (``StateMachine.snapshot()``, which the
library's contract makes deterministic and JSON-able), ``[index, digest]``
rows, the last :data:`STATE_KEEP` of them (``state_rows()``).

Pure: hashlib and json only.
"""

from __future__ import annotations

import hashlib
import json
from collections import deque
from typing import Any

from .types import Entry

__all__ = ["Digests", "GENESIS", "STATE_EVERY", "digest_step", "state_digest"]

GENESIS = "0" * 16
DENSE = 64
EVERY = 64
SPARSE = 16
RECENT = 8
STATE_EVERY = 32
STATE_KEEP = 8


def _canonical(data: Any) -> bytes:
    """The command as JSON with sorted keys (a wire round trip turns tuples into lists)."""
    try:
        return json.dumps(data, sort_keys=True, separators=(",", ":"), default=repr).encode()
    except TypeError:  # keys of mixed types cannot be sorted
        return json.dumps(data, separators=(",", ":"), default=repr).encode()


def digest_step(prev: str, term: int, data: Any) -> str:
    """The digest after applying one entry of ``term`` carrying ``data``."""
    h = hashlib.blake2b(digest_size=8)
    h.update(prev.encode())
    h.update(b"|%d|" % term)
    h.update(_canonical(data))
    return h.hexdigest()


def state_digest(image: Any) -> str:
    """The digest of a state machine's whole image."""
    return hashlib.blake2b(_canonical(image), digest_size=8).hexdigest()


class Digests:
    """The digest chain of one node's applied entries and its bounded table."""

    def __init__(self) -> None:
        self.index = 0
        self.digest: str | None = GENESIS
        self._dense: deque[tuple[int, int, str]] = deque(maxlen=DENSE)
        self._sparse: deque[tuple[int, int, str]] = deque(maxlen=SPARSE)
        self._states: deque[tuple[int, str]] = deque(maxlen=STATE_KEEP)

    def restore(self, index: int, term: int, digest: str) -> None:
        """Continue from a snapshot at ``index`` (``digest`` empty: unknown, unanchored)."""
        self.index = index
        self._states = deque((r for r in self._states if r[0] < index), maxlen=STATE_KEEP)
        if index == 0:
            self.digest = GENESIS
        else:
            self.digest = digest or None
        if self.digest is not None:
            self._record(index, term, self.digest)

    def apply(self, entry: Entry) -> None:
        assert entry.index == self.index + 1, (
            f"applied entry {entry.index} after {self.index}: the apply order has a gap"
        )
        self.index = entry.index
        if self.digest is not None:
            self.digest = digest_step(self.digest, entry.term, entry.data)
            self._record(entry.index, entry.term, self.digest)

    def at(self, index: int) -> str:
        """The digest at ``index`` if it is the current one (what a snapshot stores), else ''."""
        return (self.digest or "") if index == self.index else ""

    def state(self, index: int, image: Any) -> None:
        """After applying ``index`` (or restoring a snapshot there): a state checkpoint of
        the machine's ``image`` when ``index`` is a multiple of :data:`STATE_EVERY`."""
        if index > 0 and index % STATE_EVERY == 0:
            self._states.append((index, state_digest(image)))

    def state_rows(self) -> list[list[Any]]:
        """``[index, state digest]`` rows for ``status``: the newest checkpoints."""
        return [list(r) for r in self._states]

    def rows(self) -> list[list[Any]]:
        """``[index, term, digest]`` rows for ``status``: recent indices plus checkpoints."""
        recent = list(self._dense)[-RECENT:]
        seen = {r[0] for r in recent}
        rows = [r for r in self._sparse if r[0] not in seen] + recent
        return [list(r) for r in rows]

    def _record(self, index: int, term: int, digest: str) -> None:
        row = (index, term, digest)
        if self._dense and self._dense[-1][0] >= index:
            # A snapshot restore moved the chain back or sideways: drop what it supersedes.
            self._dense = deque((r for r in self._dense if r[0] < index), maxlen=DENSE)
            self._sparse = deque((r for r in self._sparse if r[0] < index), maxlen=SPARSE)
        self._dense.append(row)
        if index % EVERY == 0:
            self._sparse.append(row)
