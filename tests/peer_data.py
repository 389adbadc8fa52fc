"""Where the peer corpora live: ``tests/data/peer-histories`` in the repo (see
``tests/data/PROVENANCE.md``).  A missing corpus is an error, never a skip: a
fresh clone must run every peer-agreement test.  ``../shared/peer-histories``
beside the repo is only where new corpora arrive from (:func:`not_yet_copied`)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PEER_HISTORIES = REPO / "tests" / "data" / "peer-histories"
ARRIVALS = REPO.parent / "shared" / "peer-histories"


def corpus(name: str) -> Path:
    """The folder of one peer corpus (``porcupine``, ``knossos``, ``elle``); raises if absent."""
    folder = PEER_HISTORIES / name
    if not (folder / "expected.tsv").is_file():
        raise FileNotFoundError(
            f"peer corpus {name} is missing from {folder} (it is part of the repo; "
            "see tests/data/PROVENANCE.md)"
        )
    return folder


def not_yet_copied() -> list[str]:
    """Files under ``../shared/peer-histories`` that ``tests/data`` does not have (if it exists)."""
    if not ARRIVALS.is_dir():
        return []
    return sorted(
        p.relative_to(ARRIVALS).as_posix()
        for p in ARRIVALS.rglob("*")
        if p.is_file() and not (PEER_HISTORIES / p.relative_to(ARRIVALS)).is_file()
    )
