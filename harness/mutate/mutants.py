"""Mutants of a system's source: AST operator mutants and curated, named bug mutations.

A :class:`Mutant` is one textual change to one file of ``systems/``: the
byte span of the original source it replaces and the replacement. Operator
mutants are found with the stdlib :mod:`ast` (positions of the nodes) and
their replacements are ``ast.unparse`` of the mutated node, so the rest of
the file — comments, layout, line numbers of everything else — is kept and
the diff is one readable line.

Operators (``OPERATORS``):

* ``cmp`` — a comparison flipped: ``<``↔``<=``, ``>``↔``>=``, ``==``↔``!=``,
  ``is``↔``is not``, ``in``↔``not in``;
* ``num`` — an integer constant ±1 inside arithmetic, a comparison or an
  index (quorum and index expressions), never in defaults or strings;
* ``neg`` — the guard of an ``if`` negated;
* ``del`` — a statement replaced by ``pass``: a call made for its effect
  (persist, send, reset), an assignment to an attribute (a term, a vote, a
  commit index) or an early ``return``. Asserts are never mutated or deleted: they are
  the system's own invariant checks, not its behaviour.

Ids are deterministic: ``<file>:<line>:<col>:<operator>[:<variant>]`` with
the file relative to ``systems/`` — the same source gives the same ids.
Curated mutations (``mutations/<system>.toml``) are rows ``id``,
``description``, ``file``, ``find`` (an exact snippet that must occur once)
and ``replace``; :func:`load_curated` checks every row against the source.
"""

from __future__ import annotations

import ast
import hashlib
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from harness.errors import UsageError

__all__ = ["OPERATORS", "Mutant", "operator_mutants", "load_curated", "sample", "apply"]

OPERATORS = ("cmp", "num", "neg", "del")

_FLIP: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is,
    ast.In: ast.NotIn, ast.NotIn: ast.In,
}


@dataclass(frozen=True, slots=True)
class Mutant:
    id: str
    kind: str  # "operator" or "curated"
    operator: str  # cmp | num | neg | del | curated
    file: str  # relative to the systems/ folder, e.g. "raft/core.py"
    line: int
    start: int  # byte offsets of the replaced span in the original file
    end: int
    before: str
    after: str
    description: str

    def to_json(self) -> dict[str, object]:
        return {"id": self.id, "kind": self.kind, "operator": self.operator, "file": self.file,
                "line": self.line, "before": self.before, "after": self.after,
                "description": self.description}


def apply(src: bytes, m: Mutant) -> bytes:
    """The mutated source of ``m``'s file."""
    return src[: m.start] + m.after.encode() + src[m.end:]


def _offsets(src: bytes) -> list[int]:
    starts = [0]
    for i, b in enumerate(src):
        if b == 0x0A:
            starts.append(i + 1)
    return starts


def _span(lines: list[int], node: ast.AST) -> tuple[int, int]:
    # ast positions: 1-based lines, 0-based UTF-8 byte columns.
    start = lines[node.lineno - 1] + node.col_offset  # type: ignore[attr-defined]
    end = lines[node.end_lineno - 1] + node.end_col_offset  # type: ignore[attr-defined]
    return start, end


def _one_line(s: str) -> str:
    return " ".join(s.split())


class _Finder(ast.NodeVisitor):
    """Walks one module and yields (node, operator, variant, replacement source)."""

    def __init__(self, skip_functions: frozenset[str], skip_guards: tuple[str, ...]) -> None:
        self.found: list[tuple[ast.AST, str, str, str]] = []
        self.skip_functions = skip_functions
        self.skip_guards = skip_guards
        self._in_function = 0
        self._numeric_ctx = 0

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        if node.name in self.skip_functions:
            return
        self._in_function += 1
        self.generic_visit(node)
        self._in_function -= 1

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def _numeric(self, node: ast.AST) -> None:
        self._numeric_ctx += 1
        self.generic_visit(node)
        self._numeric_ctx -= 1

    def visit_Assert(self, node: ast.Assert) -> None:
        return  # the system's own invariant checks: never mutated (nor deleted)

    def visit_Compare(self, node: ast.Compare) -> None:
        if self._in_function:
            for k, op in enumerate(node.ops):
                flip = _FLIP.get(type(op))
                if flip is None:
                    continue
                ops = list(node.ops)
                ops[k] = flip()
                new = ast.Compare(left=node.left, ops=ops, comparators=node.comparators)
                self.found.append((node, "cmp", str(k), ast.unparse(new)))
        self._numeric(node)

    def visit_BinOp(self, node: ast.BinOp) -> None:
        self._numeric(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        self._numeric(node)

    def visit_Slice(self, node: ast.Slice) -> None:
        self._numeric(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        v = node.value
        if self._in_function and self._numeric_ctx and type(v) is int:
            self.found.append((node, "num", "+1", repr(v + 1)))
            if v > 0:
                self.found.append((node, "num", "-1", repr(v - 1)))

    def visit_If(self, node: ast.If) -> None:
        guard = ast.unparse(node.test)
        if guard in self.skip_guards:
            # Code under a bug switch runs only with that switch on: every mutant of
            # it is equivalent for the correct build. The else branch stays.
            for stmt in node.orelse:
                self.visit(stmt)
            return
        if self._in_function:
            self.found.append((node.test, "neg", "", f"not ({ast.unparse(node.test)})"))
        self.generic_visit(node)

    def _deletable(self, stmt: ast.stmt, last: bool) -> bool:
        if isinstance(stmt, ast.Expr):
            return isinstance(stmt.value, ast.Call)
        if isinstance(stmt, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            return all(isinstance(t, (ast.Attribute, ast.Subscript)) for t in targets)
        if isinstance(stmt, ast.Return):
            return not last  # an early return; the last one only ends the function
        return False

    def generic_visit(self, node: ast.AST) -> None:
        if self._in_function:
            for field in ("body", "orelse", "finalbody"):
                body = getattr(node, field, None)
                if not isinstance(body, list) or not body or not isinstance(body[0], ast.stmt):
                    continue
                for i, stmt in enumerate(body):
                    # A return is early unless it ends the function's own body.
                    last = i == len(body) - 1 and isinstance(
                        node, (ast.FunctionDef, ast.AsyncFunctionDef))
                    if self._deletable(stmt, last):
                        self.found.append((stmt, "del", "", "pass"))
        super().generic_visit(node)


def operator_mutants(systems_dir: Path, files: tuple[str, ...],
                     operators: tuple[str, ...] = OPERATORS,
                     skip_functions: frozenset[str] = frozenset(),
                     skip_guards: tuple[str, ...] = ()) -> list[Mutant]:
    """Every operator mutant of ``files`` (relative to ``systems_dir``), deduplicated:
    a mutant whose mutated file equals an earlier one's is dropped. Functions named in
    ``skip_functions`` (status, debug output) and ``if`` blocks whose guard is one
    of ``skip_guards`` (bug switches) are not mutated."""
    out: list[Mutant] = []
    seen: set[str] = set()
    for rel in files:
        src = (systems_dir / rel).read_bytes()
        tree = ast.parse(src, filename=rel)
        lines = _offsets(src)
        finder = _Finder(skip_functions, skip_guards)
        finder.visit(tree)
        for node, op, variant, after in finder.found:
            if op not in operators:
                continue
            start, end = _span(lines, node)
            before = src[start:end].decode()
            if _one_line(before) == _one_line(after):
                continue
            mutated = src[:start] + after.encode() + src[end:]
            digest = hashlib.sha256(rel.encode() + b"\0" + mutated).hexdigest()
            if digest in seen:
                continue
            seen.add(digest)
            col = node.col_offset  # type: ignore[attr-defined]
            mid = f"{rel}:{node.lineno}:{col}:{op}" + (f":{variant}" if variant else "")  # type: ignore[attr-defined]
            out.append(Mutant(
                id=mid, kind="operator", operator=op, file=rel,
                line=node.lineno, start=start, end=end,  # type: ignore[attr-defined]
                before=_one_line(before), after=after,
                description=_describe(op, _one_line(before), after)))
    return out


def _describe(op: str, before: str, after: str) -> str:
    short = before if len(before) <= 60 else before[:57] + "..."
    return {
        "cmp": f"comparison flipped: {short} -> {after}",
        "num": f"constant {before} -> {after}",
        "neg": f"guard negated: if {short}",
        "del": f"statement deleted: {short}",
    }.get(op, f"{before} -> {after}")


def load_curated(path: Path, systems_dir: Path) -> list[Mutant]:
    """The named mutations of a curated TOML file, each checked against the source:
    a row whose ``find`` snippet is absent or not unique is a one-line UsageError."""
    try:
        doc = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise UsageError(f"{path}: cannot read the curated mutations: {e}") from None
    rows = doc.get("mutation")
    if not isinstance(rows, list):
        raise UsageError(f"{path}: expected [[mutation]] tables")
    out: list[Mutant] = []
    ids: set[str] = set()
    for k, row in enumerate(rows):
        out.append(_curated_row(path, systems_dir, k, row, ids))
    return out


def _curated_row(path: Path, systems_dir: Path, k: int, row: object, ids: set[str]) -> Mutant:
    if not isinstance(row, dict):
        raise UsageError(f"{path}: mutation #{k + 1} is not a table")
    fields = {}
    for name in ("id", "description", "file", "find", "replace"):
        v = row.get(name)
        if not isinstance(v, str) or (name != "replace" and not v.strip()):
            raise UsageError(f"{path}: mutation #{k + 1} needs a string {name!r}")
        fields[name] = v
    mid = fields["id"]
    if mid in ids:
        raise UsageError(f"{path}: mutation id {mid!r} appears twice")
    ids.add(mid)
    target = (systems_dir / fields["file"]).resolve()
    if systems_dir.resolve() not in target.parents or not target.is_file():
        raise UsageError(f"{path}: mutation {mid}: no file systems/{fields['file']}")
    src = target.read_bytes()
    find = fields["find"].encode()
    count = src.count(find)
    if count != 1:
        raise UsageError(f"{path}: mutation {mid}: its 'find' snippet occurs {count} times "
                         f"in systems/{fields['file']} (must be exactly once)")
    start = src.index(find)
    line = src[:start].count(b"\n") + 1
    return Mutant(id=mid, kind="curated", operator="curated", file=fields["file"], line=line,
                  start=start, end=start + len(find), before=_one_line(fields["find"]),
                  after=fields["replace"], description=_one_line(fields["description"]))


def sample(mutants: list[Mutant], n: int | None, seed: int = 0) -> list[Mutant]:
    """A deterministic sample of ``n`` operator mutants spread over operators and files
    (round-robin over (file, operator) groups in an order drawn from a hash of the ids)."""
    if n is None or n >= len(mutants):
        return list(mutants)
    groups: dict[tuple[str, str], list[Mutant]] = {}
    for m in mutants:
        groups.setdefault((m.file, m.operator), []).append(m)
    for ms in groups.values():
        ms.sort(key=lambda m: hashlib.sha256(f"{seed}:{m.id}".encode()).hexdigest())
    picked: list[Mutant] = []
    iters = [iter(groups[k]) for k in sorted(groups)]
    while len(picked) < n and iters:
        nxt: list[Iterator[Mutant]] = []
        for it in iters:
            got = next(it, None)
            if got is None:
                continue
            nxt.append(it)
            if len(picked) < n:
                picked.append(got)
        iters = nxt
    order = {m.id: i for i, m in enumerate(mutants)}
    return sorted(picked, key=lambda m: order[m.id])
