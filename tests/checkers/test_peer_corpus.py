"""The in-repo peer corpora are complete and unmodified (SHA256SUMS), and files that
arrived in ``../shared/peer-histories`` but were not copied in are pointed out."""

from __future__ import annotations

import hashlib
import warnings

from tests.peer_data import PEER_HISTORIES, corpus, not_yet_copied


def test_every_corpus_is_in_the_repo_with_its_licence() -> None:
    for name in ("porcupine", "knossos", "elle"):
        folder = corpus(name)
        assert (folder / "LICENSE.md").is_file(), name
    assert (PEER_HISTORIES / "README.md").is_file()
    assert (PEER_HISTORIES.parent / "PROVENANCE.md").is_file()


def test_corpus_files_match_their_digests() -> None:
    sums = (PEER_HISTORIES / "SHA256SUMS").read_text().splitlines()
    listed = set()
    for line in sums:
        digest, rel = line.split(maxsplit=1)
        rel = rel.removeprefix("./")
        listed.add(rel)
        data = (PEER_HISTORIES / rel).read_bytes()
        assert hashlib.sha256(data).hexdigest() == digest, rel
    present = {
        p.relative_to(PEER_HISTORIES).as_posix()
        for p in PEER_HISTORIES.rglob("*")
        if p.is_file() and p.name != "SHA256SUMS"
    }
    assert present == listed  # no file added or dropped without updating SHA256SUMS
    assert len(listed) >= 240


def test_new_arrivals_in_shared_are_noted() -> None:
    missing = not_yet_copied()
    if missing:
        warnings.warn(
            f"{len(missing)} file(s) in ../shared/peer-histories are not in tests/data yet "
            f"(first: {missing[0]}); see tests/data/PROVENANCE.md",
            stacklevel=1,
        )
    assert all(not m.startswith("/") for m in missing)
