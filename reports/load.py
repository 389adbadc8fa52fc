"""Reading one stored run from disk, tolerating whatever is missing (DESIGN §6).

A run folder may be incomplete: the harness can be killed mid-run, checking
can crash before ``results.json`` exists, node logs may never have been
collected.  :func:`load_run` never raises for a missing or malformed file; it
records a one-line problem in :attr:`Run.problems` instead, so the report can
show what exists and say what does not.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import FaultboxError
from harness.history import History, HistoryError, read_jsonl

__all__ = [
    "LogFile",
    "Run",
    "RunFileError",
    "load_run",
    "load_json_object",
    "read_json_object",
    "jsonable",
]

TEST_FILE = "test.json"
HISTORY_FILE = "history.jsonl"
RESULTS_FILE = "results.json"
NEMESIS_LOG = "nemesis.log"
NODES_DIR = "nodes"


@dataclass(frozen=True, slots=True)
class LogFile:
    """A log file of the run, as a link relative to the run folder."""

    label: str
    href: str
    size_bytes: int


@dataclass(frozen=True, slots=True)
class Run:
    """Everything the report needs from one run folder."""

    run_dir: Path
    test: Mapping[str, Any]
    history: History | None
    results: Mapping[str, Any] | None
    logs: tuple[LogFile, ...] = ()
    problems: tuple[str, ...] = field(default=())


def jsonable(obj: Any) -> Any:
    """A copy of ``obj`` that strict JSON (and ``JSON.parse``) accepts.

    Non-finite floats become strings, tuples/sets become lists, non-string
    keys become strings and unknown objects their ``repr``.
    """
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else str(obj)
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in obj]
    return repr(obj)


class RunFileError(FaultboxError):
    """A run's JSON file cannot be used; the message is one line naming the file."""


# Ceilings for a run's JSON files (they come from runs, which may be hostile):
# past them the file is reported unreadable instead of being loaded.
MAX_JSON_BYTES = 64 * 1024 * 1024
MAX_JSON_DEPTH = 64  # nested objects/arrays, the top object included
_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _read_regular(path: Path, limit: int) -> bytes:
    """The bytes of a regular file at ``path``, never through a symlink, a FIFO or a device."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise RunFileError(f"{path.name} is missing") from None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise RunFileError(f"{path.name} is a symlink (not followed)") from None
        raise RunFileError(f"{path.name} cannot be read ({e.strerror})") from None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise RunFileError(f"{path.name} is not a regular file")
        if st.st_size > limit:
            raise RunFileError(f"{path.name} is larger than {limit // 2**20} MiB")
        try:
            data = fh.read(limit + 1)
        except OSError as e:
            raise RunFileError(f"{path.name} cannot be read ({e.strerror})") from None
    if len(data) > limit:
        raise RunFileError(f"{path.name} is larger than {limit // 2**20} MiB")
    return data


def _fix_str(s: str) -> str:
    """``s`` with lone surrogates (legal in JSON escapes, not in UTF-8) replaced by U+FFFD."""
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", s)


def _sanitize(obj: Any, name: str, repair: bool) -> Any:
    """Check nesting depth (and repair strings if ``repair``): level by level, no recursion."""
    level: list[Any] = [obj]
    depth = 1
    while level:
        if depth > MAX_JSON_DEPTH:
            raise RunFileError(f"{name} is nested deeper than {MAX_JSON_DEPTH} levels")
        below: list[Any] = []
        for container in level:
            if repair:
                _repair(container)
            values = container.values() if isinstance(container, dict) else container
            below.extend([v for v in values if isinstance(v, (dict, list))])
        level = below
        depth += 1
    return obj


def _repair(container: dict[str, Any] | list[Any]) -> None:
    """Replace lone surrogates in the keys and string values of one object or array."""
    if isinstance(container, dict):
        if any(_fix_str(k) is not k for k in container):
            items = [(_fix_str(k), v) for k, v in container.items()]
            container.clear()
            container.update(items)
        slots: Any = container.items()
    else:
        slots = enumerate(container)
    for key, value in list(slots):
        if isinstance(value, str):
            fixed = _fix_str(value)
            if fixed is not value:
                container[key] = fixed


def load_json_object(path: Path, limit: int = MAX_JSON_BYTES) -> dict[str, Any]:
    """The JSON object in ``path``; raises :class:`RunFileError` (only) for anything else.

    Linear in the file's size: the file is read once without following a
    symlink (only regular files, at most ``limit`` bytes), must be strict
    UTF-8, is parsed by the C JSON parser (integers over Python's digit limit
    and nesting past the recursion limit are errors), and is then walked once
    to bound the depth at :data:`MAX_JSON_DEPTH` and to replace lone
    surrogates, so that whatever is loaded can be rendered and re-encoded.
    """
    data = _read_regular(path, limit)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise RunFileError(f"{path.name} is not UTF-8 (byte {e.start})") from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise RunFileError(f"{path.name} is not valid JSON (line {e.lineno})") from None
    except ValueError as e:  # an integer past sys.get_int_max_str_digits()
        raise RunFileError(f"{path.name} is not usable JSON ({str(e).split(';')[0]})") from None
    except RecursionError:
        raise RunFileError(f"{path.name} is nested too deeply") from None
    if not isinstance(obj, dict):
        raise RunFileError(f"{path.name} is not a JSON object")
    # A lone surrogate can only come from a \uD800-\uDFFF escape (strict UTF-8 refuses the bytes).
    result: dict[str, Any] = _sanitize(obj, path.name, _SURROGATE_ESCAPE.search(text) is not None)
    return result


def read_json_object(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """(object, None) or (None, problem sentence). Missing files are a problem too."""
    try:
        return load_json_object(path), None
    except RunFileError as e:
        return None, str(e)


def _list_logs(run_dir: Path) -> tuple[LogFile, ...]:
    """Regular log files only: a symlink is neither listed nor followed (``serve`` refuses it too)."""
    logs: list[LogFile] = []
    nodes = run_dir / NODES_DIR
    if _lstat_mode(nodes, stat.S_ISDIR):
        for node_dir in sorted(p for p in nodes.iterdir() if _lstat_mode(p, stat.S_ISDIR)):
            for f in sorted(node_dir.glob("*.log")):
                if _lstat_mode(f, stat.S_ISREG):
                    rel = f.relative_to(run_dir).as_posix()
                    logs.append(LogFile(f"{node_dir.name}/{f.name}", rel, _size(f)))
    nem = run_dir / NEMESIS_LOG
    if _lstat_mode(nem, stat.S_ISREG):
        logs.append(LogFile(NEMESIS_LOG, NEMESIS_LOG, _size(nem)))
    return tuple(logs)


def _lstat_mode(p: Path, test: Callable[[int], bool]) -> bool:
    try:
        return test(p.lstat().st_mode)
    except OSError:
        return False


def _size(p: Path) -> int:
    try:
        return p.lstat().st_size
    except OSError:
        return 0


def load_run(run_dir: Path) -> Run:
    """Load test.json, history.jsonl, results.json and the log list of a run folder."""
    problems: list[str] = []
    test, problem = read_json_object(run_dir / TEST_FILE)
    if problem:
        problems.append(problem)
    results, problem = read_json_object(run_dir / RESULTS_FILE)
    if problem:
        problems.append(problem + " (checking may have crashed)")
    history: History | None = None
    hist_path = run_dir / HISTORY_FILE
    if hist_path.is_symlink():
        problems.append(f"{HISTORY_FILE} is a symlink (not followed)")
    elif hist_path.exists() and not hist_path.is_file():  # a FIFO would block the reader forever
        problems.append(f"{HISTORY_FILE} is not a regular file")
    elif hist_path.exists():
        try:
            history = read_jsonl(hist_path)
        except HistoryError as e:
            problems.append(str(e).replace(str(run_dir) + "/", ""))
    else:
        problems.append(f"{HISTORY_FILE} is missing")
    return Run(
        run_dir=run_dir,
        test=test or {},
        history=history,
        results=results,
        logs=_list_logs(run_dir),
        problems=tuple(problems),
    )
