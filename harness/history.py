"""Operations and histories: the record every checker judges (DESIGN §3).

An :class:`Op` is one event: an invocation or a completion. A history is the
ordered list of these events, with a dense ``index`` and a monotonic
``time_ns`` measured from the start of the test.  Completions name their
invocation implicitly: the next event of the same ``process`` after an
``invoke`` completes it.  ``info`` completions (and invocations that never
complete) are indeterminate: the op may or may not have taken effect.
"""

from __future__ import annotations

import gc
import json
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any, Literal

import msgspec

__all__ = [
    "INVOKE",
    "OK",
    "FAIL",
    "INFO",
    "NEMESIS",
    "Op",
    "History",
    "HistoryError",
    "HistoryWriter",
    "read_jsonl",
    "iter_jsonl",
    "line_chunks",
    "no_gc",
    "op_from_dict",
    "FaultWindow",
    "fault_windows",
]

INVOKE: Literal["invoke"] = "invoke"
OK: Literal["ok"] = "ok"
FAIL: Literal["fail"] = "fail"
INFO: Literal["info"] = "info"
NEMESIS = "nemesis"
TYPES = frozenset({INVOKE, OK, FAIL, INFO})

Process = int | str


class HistoryError(ValueError):
    """A history (file or in-memory) is malformed. The message names where."""


@dataclass(frozen=True, slots=True)
class Op:
    """One event of a history.

    ``process`` is an int for clients and ``"nemesis"`` for the nemesis.
    ``value`` is any JSON value; ``node`` names the node the client talked
    to; ``error`` says why an op failed or is indeterminate.
    """

    index: int
    time_ns: int
    process: Process
    type: str
    f: str
    value: Any = None
    node: str | None = None
    error: Any = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "index": self.index,
            "time_ns": self.time_ns,
            "process": self.process,
            "type": self.type,
            "f": self.f,
            "value": self.value,
        }
        if self.node is not None:
            d["node"] = self.node
        if self.error is not None:
            d["error"] = self.error
        return d

    def with_(self, **changes: Any) -> Op:
        return replace(self, **changes)

    @property
    def is_invoke(self) -> bool:
        return self.type == INVOKE

    @property
    def is_client(self) -> bool:
        return self.process != NEMESIS


def _brief(v: Any) -> str:
    """A short repr of a value read from a file, for one-line error messages."""
    r = repr(v)
    return r if len(r) <= 60 else r[:57] + "..."


def op_from_dict(d: dict[str, Any], where: str = "op") -> Op:
    """Build an Op from a decoded JSON object, validating its fields."""
    try:
        t = d["type"]
        f = d["f"]
        process = d["process"]
    except (KeyError, TypeError) as e:
        raise HistoryError(f"{where}: missing field {e}") from None
    if not isinstance(t, str) or t not in TYPES:
        raise HistoryError(f"{where}: unknown type {_brief(t)}")
    if not isinstance(f, str):
        raise HistoryError(f"{where}: f must be a string, got {_brief(f)}")
    if not isinstance(process, (int, str)) or isinstance(process, bool):
        raise HistoryError(f"{where}: process must be an int or 'nemesis', got {_brief(process)}")
    index = d.get("index", -1)
    time_ns = d.get("time_ns", 0)
    if not isinstance(index, int) or not isinstance(time_ns, int):
        raise HistoryError(f"{where}: index and time_ns must be integers")
    return Op(
        index=index,
        time_ns=time_ns,
        process=process,
        type=t,
        f=f,
        value=d.get("value"),
        node=d.get("node"),
        error=d.get("error"),
    )


@dataclass(frozen=True)
class History(Sequence[Op]):
    """An immutable, indexed sequence of ops with invocation/completion pairing."""

    ops: tuple[Op, ...]
    _pair: tuple[int, ...] = field(default=(), repr=False, compare=False)

    def __init__(self, ops: Iterable[Op], reindex: bool = False) -> None:
        seq = tuple(ops)
        if reindex:
            seq = tuple(o if o.index == i else replace(o, index=i) for i, o in enumerate(seq))
        object.__setattr__(self, "ops", seq)
        object.__setattr__(self, "_pair", _pairs(seq))

    # Sequence protocol -------------------------------------------------
    def __len__(self) -> int:
        return len(self.ops)

    def __getitem__(self, i: int) -> Op:  # type: ignore[override]
        return self.ops[i]

    def __iter__(self) -> Iterator[Op]:
        return iter(self.ops)

    # Pairing -----------------------------------------------------------
    def completion(self, op: Op | int) -> Op | None:
        """The completion of an invocation (by op or position), or None if it never completed."""
        i = op if isinstance(op, int) else self._position(op)
        j = self._pair[i]
        return self.ops[j] if j >= 0 and j > i else None

    def invocation(self, op: Op | int) -> Op | None:
        """The invocation of a completion (by op or position)."""
        i = op if isinstance(op, int) else self._position(op)
        j = self._pair[i]
        return self.ops[j] if 0 <= j < i else None

    def pairs(self) -> Iterator[tuple[Op, Op | None]]:
        """(invocation, completion-or-None) for every invocation, in invocation order."""
        for i, o in enumerate(self.ops):
            if o.type == INVOKE:
                j = self._pair[i]
                yield o, (self.ops[j] if j > i else None)

    def _position(self, op: Op) -> int:
        if 0 <= op.index < len(self.ops) and self.ops[op.index] is op:
            return op.index
        return self.ops.index(op)

    # Filters -----------------------------------------------------------
    def filter(self, pred: Any) -> History:
        return History((o for o in self.ops if pred(o)), reindex=False)

    def client_ops(self) -> History:
        return self.filter(lambda o: o.process != NEMESIS)

    def nemesis_ops(self) -> History:
        return self.filter(lambda o: o.process == NEMESIS)

    def invokes(self) -> list[Op]:
        return [o for o in self.ops if o.type == INVOKE]

    def completions(self) -> list[Op]:
        return [o for o in self.ops if o.type != INVOKE]

    # I/O ---------------------------------------------------------------
    def to_jsonl(self, path: str | os.PathLike[str]) -> None:
        with open(path, "w", encoding="utf-8") as fh:
            for o in self.ops:
                fh.write(json.dumps(o.to_dict(), separators=(",", ":")))
                fh.write("\n")


@dataclass(frozen=True, slots=True)
class FaultWindow:
    """When a fault was in force, from nemesis ops named ``start-<fault>`` / ``stop-<fault>``."""

    fault: str
    start_ns: int  # the start op's invocation (a fault may act while its op runs)
    end_ns: int  # the stop op's completion (invocation), or the end of the history
    closed: bool  # False: still in force when the history ends
    start_index: int  # index of the start op's invocation
    value: Any  # what the start op's completion said (else its invocation's value)


def fault_windows(history: History) -> list[FaultWindow]:
    """Every fault window of the history, sorted by start time.

    The one definition of the fault convention, used by the stats checker and
    the report: a ``start-X`` opens a window for fault X when it is invoked
    (a fault may take effect while its op runs: a multi-phase schedule such as
    figure8 does all its work there), the next ``stop-X`` closes it when it
    completes, a second ``start-X`` while one is open closes the first, and an
    unclosed window runs to the end of the history.
    """
    end = max((o.time_ns for o in history), default=0)
    opened: dict[str, tuple[int, int, Any]] = {}
    out: list[FaultWindow] = []
    for inv, comp in history.pairs():
        if inv.process != NEMESIS:
            continue
        edge, _, fault = inv.f.partition("-")
        if edge not in ("start", "stop") or not fault:
            continue
        t = comp.time_ns if comp is not None else inv.time_ns
        if fault in opened:
            s, idx, v = opened.pop(fault)
            out.append(FaultWindow(fault, s, max(s, t if edge == "stop" else inv.time_ns), True,
                                   idx, v))
        if edge == "start":
            value = comp.value if comp is not None and comp.value is not None else inv.value
            opened[fault] = (inv.time_ns, inv.index, value)
    out.extend(FaultWindow(f, s, max(s, end), False, idx, v) for f, (s, idx, v) in opened.items())
    out.sort(key=lambda w: (w.start_ns, w.fault))
    return out


def _pairs(ops: tuple[Op, ...]) -> tuple[int, ...]:
    pair = [-1] * len(ops)
    open_by_process: dict[Process, int] = {}
    for i, o in enumerate(ops):
        if o.type == INVOKE:
            open_by_process[o.process] = i
        else:
            j = open_by_process.pop(o.process, -1)
            if j >= 0:
                pair[i] = j
                pair[j] = i
    return tuple(pair)


_CHUNK = 8 << 20  # bytes read at a time: memory beyond the ops themselves stays bounded


class _Row(msgspec.Struct):
    """The fast decoder's shape of one history line (validated in C; unknown keys ignored)."""

    type: Literal["invoke", "ok", "fail", "info"]
    f: str
    process: int | str
    index: int = -1
    time_ns: int = 0
    value: Any = None
    node: Any = None
    error: Any = None


_ROW = msgspec.json.Decoder(_Row)


@contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic GC while a reader builds millions of acyclic objects (it halves the time).

    On the way out, what was built goes straight to the oldest generation
    (``gc.freeze`` then ``gc.unfreeze``: two list moves, and the young
    generation's count starts afresh).  Else the first allocation after
    ``gc.enable`` finds the young count in the millions and walks every new
    object at once, then again as it ages: about 0.1 s per 100k list-append
    ops, for objects that live as long as the history.  Skipped when something
    else keeps objects frozen (``unfreeze`` would thaw them too).
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            if not gc.get_freeze_count():
                gc.freeze()
                gc.unfreeze()
            gc.enable()


def read_jsonl(path: str | os.PathLike[str], tolerate_torn_tail: bool = True) -> History:
    """Read a JSON Lines history.

    A last line with no newline after it is where a killed harness stopped
    writing: if it does not parse it is dropped. Any other malformed line, a
    completion with no open invocation of its process, or a completion whose
    ``f`` differs from its invocation's raises :class:`HistoryError` naming the
    file and line.  See :func:`iter_jsonl` for the streaming reader underneath.
    """
    with no_gc():
        return History(iter_jsonl(path, tolerate_torn_tail), reindex=True)


def iter_jsonl(path: str | os.PathLike[str], tolerate_torn_tail: bool = True) -> Iterator[Op]:
    """The ops of a JSON Lines history, streamed: the file is read 8 MiB at a time.

    Each chunk of whole lines is decoded by msgspec into validated rows, a line
    at a time (C calls only); a chunk that does not decode so is read again line
    by line with the stdlib ``json`` and :func:`op_from_dict`, which accept the
    same histories and name the file and line of any problem.  Indices are
    those in the file (:func:`read_jsonl` renumbers them).
    """
    p = Path(path)
    open_f: dict[Process, str] = {}
    line = 0  # lines before the current chunk
    try:
        fh = open(p, "rb")
    except OSError as e:
        raise HistoryError(f"{p}: cannot read history ({e.strerror})") from None
    with fh:
        try:
            for chunk, tail in line_chunks(fh, _CHUNK):
                if not tail:
                    yield from _chunk_ops(p, chunk, line, open_f)
                    line += chunk.count(b"\n")
                elif chunk.strip():  # no newline after the last line: maybe where a killed writer stopped
                    yield from _slow_ops(p, chunk + b"\n", line, open_f, torn=tolerate_torn_tail)
        except OSError as e:
            raise HistoryError(f"{p}: cannot read history ({e.strerror})") from None


def line_chunks(fh: IO[bytes], size: int) -> Iterator[tuple[bytes, bool]]:
    """``(chunk, False)`` for each run of whole lines read ``size`` bytes at a time, then
    ``(tail, True)``: what follows the last newline (maybe empty).  A line longer than a
    read is kept as pieces and joined once (no quadratic copying)."""
    rest: list[bytes] = []
    while data := fh.read(size):
        cut = data.rfind(b"\n")
        if cut < 0:
            rest.append(data)
            continue
        yield b"".join([*rest, data[:cut + 1]]), False
        rest = [data[cut + 1:]]
    yield b"".join(rest), True


def _chunk_ops(p: Path, chunk: bytes, line: int, open_f: dict[Process, str]) -> Iterator[Op]:
    lines = chunk.split(b"\n")
    lines.pop()  # the chunk ends with a newline
    before = dict(open_f)
    try:
        rows = list(map(_ROW.decode, lines))
    except (msgspec.DecodeError, RecursionError):
        rows = None  # a blank or malformed line, or one the stdlib reads differently
    if rows is not None:
        ops = [Op(r.index, r.time_ns, r.process, r.type, r.f, r.value, r.node, r.error) for r in rows]
        for o in ops:
            if o.type == INVOKE:
                open_f[o.process] = o.f
            elif open_f.pop(o.process, None) != o.f:
                break
        else:
            yield from ops
            return
        open_f.clear()
        open_f.update(before)  # the slow path names the line of the pairing problem
    yield from _slow_ops(p, chunk, line, open_f, torn=False)


def _slow_ops(p: Path, chunk: bytes, line: int, open_f: dict[Process, str], torn: bool) -> Iterator[Op]:
    """Line by line with the stdlib: the reference reading, and the one that names lines."""
    for n, raw in enumerate(chunk.split(b"\n")[:-1], start=line + 1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            if torn:
                return
            raise HistoryError(f"{p}:{n}: not a UTF-8 text line (byte {e.start})") from None
        if not text.strip():
            continue
        try:
            try:
                d = json.loads(text)
            except (ValueError, RecursionError) as e:  # also the int-digits limit, deep nesting
                raise HistoryError(f"{p}:{n}: malformed history line ({_json_problem(e)})") from None
            if not isinstance(d, dict):
                raise HistoryError(f"{p}:{n}: history line is not a JSON object")
            op = op_from_dict(d, where=f"{p}:{n}")
        except HistoryError:
            if torn:
                return  # the torn last line of a killed writer: dropped
            raise
        if op.type == INVOKE:
            open_f[op.process] = op.f
        else:
            f = open_f.pop(op.process, None)
            if f is None:
                raise HistoryError(
                    f"{p}:{n}: {op.type} completion of process {op.process!r} with no invocation"
                )
            if f != op.f:
                raise HistoryError(
                    f"{p}:{n}: completion f {op.f!r} does not match its invocation's {f!r}"
                )
        yield op


def _json_problem(e: BaseException) -> str:
    if isinstance(e, RecursionError):
        return "nested too deeply"
    if isinstance(e, json.JSONDecodeError):
        return f"not JSON: {e.msg} at column {e.colno}"
    if "digits" in str(e):
        return "a number has too many digits"
    return str(e)


class HistoryWriter:
    """Appends ops to a JSONL file as the test runs.

    Every op is written and flushed to the OS at once (a SIGKILLed harness
    loses at most the op being written: the kernel keeps what was flushed);
    ``fsync`` runs every ``fsync_every`` ops in a background thread, so the
    file is durable in batches (group commit) without stalling the event
    loop, and once more, synchronously, on close.
    """

    def __init__(self, path: str | os.PathLike[str], fsync_every: int = 256) -> None:
        self.path = Path(path)
        self._fh = open(self.path, "a", encoding="utf-8", buffering=1 << 16)
        self._fsync_every = fsync_every
        self._since_sync = 0
        self.count = 0
        self.fsyncs = 0
        self._dumps = json.JSONEncoder(separators=(",", ":"), default=repr).encode
        self._want_sync = threading.Event()
        self._closing = False
        self._syncer = threading.Thread(target=self._sync_loop, name="history-fsync", daemon=True)
        self._syncer.start()

    def write(self, op: Op) -> None:
        self._fh.write(self._dumps(op.to_dict()) + "\n")
        self._fh.flush()
        self.count += 1
        self._since_sync += 1
        if self._since_sync >= self._fsync_every:
            self._since_sync = 0
            self._want_sync.set()

    def _sync_loop(self) -> None:
        fd = self._fh.fileno()
        while True:
            self._want_sync.wait()
            self._want_sync.clear()
            if self._closing:
                return
            try:
                os.fsync(fd)
                self.fsyncs += 1
            except OSError:
                return

    def sync(self) -> None:
        """Flush and fsync now, in the caller's thread."""
        if self._fh.closed:
            return
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self.fsyncs += 1
        self._since_sync = 0

    def close(self) -> None:
        if self._fh.closed:
            return
        self._closing = True
        self._want_sync.set()
        self._syncer.join(timeout=5)
        self.sync()
        self._fh.close()

    def __enter__(self) -> HistoryWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
