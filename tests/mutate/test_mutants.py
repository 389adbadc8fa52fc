"""The mutant generator: operators, ids, curated rows, sampling (pure, fast)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.mutate import apply, load_curated, operator_mutants, sample
from harness.mutate.overlay import REPO_ROOT, SYSTEMS_DIR
from harness.mutate.targets import TARGETS

SRC = '''\
"""doc"""
LIMIT = 3


class Core:
    def quorum(self):
        return len(self.peers) // 2 + 1

    def step(self, m):
        if m.term < self.term:
            return
        self.term = m.term
        self.persist()
        assert self.term >= 0, "term went back"
        if self.bug_switch:
            self.leak = 1
        return self.term == m.term

    def status(self):
        return {"term": self.term > 0}
'''


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "core.py").write_text(SRC)
    return tmp_path


def _gen(tree: Path) -> list:
    return operator_mutants(tree, ("pkg/core.py",), skip_functions=frozenset({"status"}),
                            skip_guards=("self.bug_switch",))


def test_each_operator_kind_makes_the_expected_mutants(tree: Path) -> None:
    ms = _gen(tree)
    changes = {(m.operator, m.before, m.after) for m in ms}
    assert ("cmp", "m.term < self.term", "m.term <= self.term") in changes
    assert ("cmp", "self.term == m.term", "self.term != m.term") in changes
    assert ("num", "1", "2") in changes and ("num", "2", "1") in changes  # // 2 + 1
    assert ("neg", "m.term < self.term", "not (m.term < self.term)") in changes
    assert ("del", "self.persist()", "pass") in changes  # a persist call
    assert ("del", "self.term = m.term", "pass") in changes  # a term update
    assert ("del", "return", "pass") in changes  # the early return
    befores = {m.before for m in ms}
    # Never: the system's own asserts, module constants, the skipped function or the
    # block under a bug switch, nor the function's final return.
    assert not any(b.startswith("assert") for b in befores)
    assert "3" not in {m.before for m in ms if m.operator == "num"}
    assert "self.term > 0" not in befores and "self.leak = 1" not in befores
    assert "return self.term == m.term" not in befores


def test_every_mutant_compiles_and_changes_only_its_span(tree: Path) -> None:
    src = (tree / "pkg" / "core.py").read_bytes()
    for m in _gen(tree):
        out = apply(src, m)
        assert out != src
        ast.parse(out)  # syntactically valid
        assert out[: m.start] == src[: m.start]
        assert out[m.start + len(m.after.encode()):] == src[m.end:]


def test_ids_are_deterministic_and_unique(tree: Path) -> None:
    a, b = _gen(tree), _gen(tree)
    assert [m.id for m in a] == [m.id for m in b]
    assert len({m.id for m in a}) == len(a)
    assert all(m.id.startswith("pkg/core.py:") for m in a)


def test_the_sample_is_deterministic_and_spread_over_operators() -> None:
    t = TARGETS["raftkv"]
    ms = operator_mutants(SYSTEMS_DIR, t.files, skip_functions=t.skip_functions,
                          skip_guards=t.skip_guards)
    assert len(ms) > 200
    s1, s2 = sample(ms, 40, seed=0), sample(ms, 40, seed=0)
    assert [m.id for m in s1] == [m.id for m in s2] and len(s1) == 40
    assert {m.operator for m in s1} == {"cmp", "num", "neg", "del"}
    assert len({m.file for m in s1}) == len(t.files)
    assert [m.id for m in sample(ms, 40, seed=1)] != [m.id for m in s1]


@pytest.mark.parametrize("system", sorted(TARGETS))
def test_every_curated_row_applies_and_compiles(system: str) -> None:
    for rel in TARGETS[system].curated:
        rows = load_curated(REPO_ROOT / rel, SYSTEMS_DIR)
        assert rows, rel
        for m in rows:
            src = (SYSTEMS_DIR / m.file).read_bytes()
            assert m.description and m.kind == "curated"
            ast.parse(apply(src, m))


def test_a_curated_row_that_does_not_match_is_a_usage_error(tree: Path, tmp_path: Path) -> None:
    bad = tmp_path / "m.toml"
    bad.write_text('[[mutation]]\nid = "x"\ndescription = "d"\nfile = "pkg/core.py"\n'
                   'find = "self.nothing_like_this"\nreplace = "y"\n')
    with pytest.raises(UsageError, match="occurs 0 times"):
        load_curated(bad, tree)
    bad.write_text('[[mutation]]\nid = "x"\ndescription = "d"\nfile = "pkg/core.py"\n'
                   'find = "self.term"\nreplace = "y"\n')
    with pytest.raises(UsageError, match="occurs [0-9]+ times"):
        load_curated(bad, tree)
    bad.write_text('[[mutation]]\nid = "x"\ndescription = "d"\nfile = "../etc/passwd"\n'
                   'find = "a"\nreplace = "b"\n')
    with pytest.raises(UsageError, match="no file"):
        load_curated(bad, tree)
    bad.write_text("not toml [")
    with pytest.raises(UsageError, match="cannot read"):
        load_curated(bad, tree)


def test_every_equivalent_id_still_names_a_mutant() -> None:
    """Operator ids carry line numbers: an edit above a judged line moves it, and its
    [equivalent] row then names nothing (or another line) while the judged mutant comes
    back unjudged under its new id (raft/node.py grew by the state checkpoints)."""
    from harness.mutate.runner import load_equivalent

    for target in TARGETS.values():
        ops = operator_mutants(SYSTEMS_DIR, target.files, skip_functions=target.skip_functions,
                               skip_guards=target.skip_guards)
        curated = [m for f in target.curated for m in load_curated(REPO_ROOT / f, SYSTEMS_DIR)]
        ids = {m.id for m in ops} | {m.id for m in curated}
        equivalent = load_equivalent([REPO_ROOT / f for f in target.curated])
        assert not set(equivalent) - ids, sorted(set(equivalent) - ids)
