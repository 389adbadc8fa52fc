"""The participant core: one shard's data, strict two-phase locking, prepare/commit/abort.

Pure (no socket, clock, randomness or file I/O): methods take a message and
the current tick and return an :class:`~systems.twopc.proto.Out`.

Locking: shared (S) locks for reads, exclusive (X) for writes, appends and
``rx`` (a read that will be written, the bank's transfer), all held until the
txn commits or aborts (strict 2PL). One ``exec`` takes every lock it needs at
this shard at once or none. Deadlocks are prevented by **wait-die**: a txn
that finds a lock held by a younger txn waits (for at most
``exec_wait_ticks``); one that finds an older holder dies (votes no, the
coordinator aborts it). Waits-for edges therefore always point from older to
younger txns, so no cycle can form. Age is ``(Lamport ts, txid)``.

A txn whose writes do not depend on its reads (list-append) is *one-shot*:
its ``exec`` carries ``prepare: true`` and the participant executes, prepares
and votes in one step (one round trip less). A transfer executes first
(``rx`` locks), then the coordinator computes the writes and prepares.

Prepare persists ``{"prep": txid, "coord", "age", "writes", "locks"}`` (fsync)
*before* the yes vote leaves; commit persists ``{"commit": txid}`` (fsync)
before the ack (after the ack the coordinator forgets the decision, so a lost
commit record could later be "presumed aborted"). Abort records are buffered
(losing one only makes the restarted participant ask again, and the answer is
abort).

Recovery rules: a restarted participant replays its log: commits apply their
prepared writes; every txn prepared and not finished comes back *prepared*,
holding its locks, in doubt, and asks its coordinator at the first tick and
every ``query_ticks`` after. It never decides alone: without an answer it
keeps the locks (2PC blocks). Txns that were executing but not prepared are
simply gone (no vote was given, so the coordinator cannot have committed).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .proto import Age, Out, Timing

__all__ = ["Participant", "PTxn", "apply_write", "lock_modes"]

S, X = "S", "X"
READS = ("r", "rx")
WRITES = ("append", "w")
ABORTED_MEMORY = 20000  # how many aborted txids are remembered (to refuse late messages)


def lock_modes(mops: Iterable[list[Any]]) -> dict[Any, str]:
    """The strongest lock each key of these micro-ops needs."""
    need: dict[Any, str] = {}
    for f, k, _ in mops:
        if f == "r":
            need.setdefault(k, S)
        else:
            need[k] = X
    return need


def apply_write(value: Any, f: str, v: Any) -> Any:
    if f == "append":
        base = list(value) if isinstance(value, list) else []
        return base + [v]
    return v


@dataclass(slots=True)
class PTxn:
    txid: str
    coord: str
    age: Age
    state: str = "new"  # new | waiting | active | prepared
    locks: dict[Any, str] = field(default_factory=dict)
    writes: list[list[Any]] = field(default_factory=list)
    since: int = 0  # tick of the last state change
    pending: dict[str, Any] | None = None  # the exec waiting for locks
    in_doubt: bool = False
    last_query: int | None = None


class Participant:
    def __init__(self, name: str, timing: Timing, bugs: Iterable[str] = ()) -> None:
        self.name = name
        self.timing = timing
        self.bugs = frozenset(bugs)
        self.store: dict[Any, Any] = {}
        self.txns: dict[str, PTxn] = {}
        self.locks: dict[Any, dict[str, str]] = {}  # key -> {txid: mode}
        self.aborted: dict[str, None] = {}  # insertion-ordered, bounded
        self.committed = 0
        self.aborts = 0

    # -- recovery ----------------------------------------------------------------
    def replay(self, rec: dict[str, Any]) -> None:
        if "snap" in rec:
            snap = rec["snap"]
            self.store = {k: v for k, v in snap["store"]}
            self.committed = int(snap["committed"])
        elif "prep" in rec:
            p = PTxn(rec["prep"], rec["coord"], (int(rec["age"][0]), str(rec["age"][1])))
            p.state, p.writes, p.in_doubt = "prepared", [list(w) for w in rec["writes"]], True
            for k, mode in rec["locks"]:
                p.locks[k] = mode
                self.locks.setdefault(k, {})[p.txid] = mode
            self.txns[p.txid] = p
        elif "commit" in rec:
            t = self.txns.get(rec["commit"])
            if t is not None:
                self._apply(t)
            self.committed += 1
        elif "pabort" in rec:
            t = self.txns.get(rec["pabort"])
            if t is not None:
                self._release(t)

    def snapshot(self) -> list[dict[str, Any]]:
        """Records that rebuild this participant (for rewriting the log)."""
        out: list[dict[str, Any]] = [
            {"snap": {"store": [[k, v] for k, v in self.store.items()], "committed": self.committed}}
        ]
        out += [self._prep_record(t) for t in self.txns.values() if t.state == "prepared"]
        return out

    # -- messages ----------------------------------------------------------------
    def step(self, m: dict[str, Any], now: int) -> Out:
        out = Out()
        kind = m["t"]
        if kind == "exec":
            self._exec(m, now, out)
        elif kind == "prepare":
            self._prepare(m, now, out)
        elif kind == "commit" or (kind == "outcome" and m.get("commit") is True):
            self._commit(m, now, out)
        elif kind == "abort" or (kind == "outcome" and m.get("commit") is False):
            self._abort(m["tx"], now, out)
        return out

    def tick(self, now: int) -> Out:
        out = Out()
        tm = self.timing
        for t in list(self.txns.values()):
            if t.state == "waiting" and now - t.since >= tm.exec_wait_ticks:
                assert t.pending is not None
                out.messages.append(self._reply(t.pending, "exec-no", reason="lock-timeout"))
                self._drop(t, now, out)
            elif t.state == "active" and now - t.since >= tm.active_ticks:
                self._drop(t, now, out)  # the coordinator never prepared it: it can only abort
            elif t.state == "prepared" and (
                (t.in_doubt and t.last_query is None)
                or now - (t.last_query if t.last_query is not None else t.since) >= tm.query_ticks
            ):
                t.in_doubt, t.last_query = True, now
                out.messages.append({"t": "query", "src": self.name, "dst": t.coord, "tx": t.txid})
        return out

    def _reply(self, m: dict[str, Any], kind: str, **body: Any) -> dict[str, Any]:
        return {"t": kind, "src": self.name, "dst": m["src"], "tx": m["tx"], **body}

    def _exec(self, m: dict[str, Any], now: int, out: Out) -> None:
        tx = m["tx"]
        if tx in self.aborted:
            out.messages.append(self._reply(m, "exec-no", reason="aborted"))
            return
        t = self.txns.get(tx)
        if t is None:
            t = PTxn(tx, m["src"], (int(m["age"][0]), str(m["age"][1])), since=now)
            self.txns[tx] = t
        if t.state == "prepared":
            return  # a duplicate from before the prepare; nothing to do
        self._try_exec(t, m, now, out)

    def _try_exec(self, t: PTxn, m: dict[str, Any], now: int, out: Out) -> None:
        need = lock_modes(m["mops"])
        holders = self._conflicts(t, need)
        if holders:
            if all(t.age < self.txns[h].age for h in holders):
                if t.state != "waiting":
                    t.state, t.pending, t.since = "waiting", m, now
                return  # wait-die: older waits
            out.messages.append(self._reply(m, "exec-no", reason="conflict"))
            self._drop(t, now, out)  # wait-die: younger dies
            return
        for k, mode in need.items():
            if t.locks.get(k) != X:
                t.locks[k] = mode
                self.locks.setdefault(k, {})[t.txid] = mode
        results = []
        for f, k, v in m["mops"]:
            if f in READS:
                results.append([f, k, self._view(t, k)])
            else:
                t.writes.append([f, k, v])
                results.append([f, k, v])
        t.state, t.pending, t.since = "active", None, now
        if m.get("prepare"):  # a one-shot txn: execute, prepare and vote in one step
            self._do_prepare(t, m, [], now, out, results)
        else:
            out.messages.append(self._reply(m, "exec-ok", results=results))

    def _conflicts(self, t: PTxn, need: dict[Any, str]) -> set[str]:
        found = set()
        for k, mode in need.items():
            for h, hmode in self.locks.get(k, {}).items():
                if h != t.txid and (mode == X or hmode == X):
                    found.add(h)
        return found

    def _view(self, t: PTxn, k: Any) -> Any:
        value = self.store.get(k)
        for f, wk, v in t.writes:
            if wk == k:
                value = apply_write(value, f, v)
        return value

    def _prepare(self, m: dict[str, Any], now: int, out: Out) -> None:
        t = self.txns.get(m["tx"])
        if t is not None and t.state == "prepared":
            out.messages.append(self._reply(m, "vote", yes=True))  # a re-sent prepare
            return
        extra = [list(w) for w in m.get("writes", ())]
        if t is None or t.state != "active" or any(t.locks.get(w[1]) != X for w in extra):
            out.messages.append(self._reply(m, "vote", yes=False))
            if t is not None:
                self._drop(t, now, out)
            return
        self._do_prepare(t, m, extra, now, out, None)

    def _do_prepare(self, t: PTxn, m: dict[str, Any], extra: list[list[Any]], now: int,
                    out: Out, results: list[Any] | None) -> None:
        t.writes += extra
        t.state, t.since, t.last_query = "prepared", now, None
        rec = self._prep_record(t)
        (out.buffered if "no-prepare-fsync" in self.bugs else out.persist).append(rec)
        body: dict[str, Any] = {"yes": True}
        if results is not None:
            body["results"] = results
        out.messages.append(self._reply(m, "vote", **body))
        if "early-unlock" in self.bugs:
            for k in [k for k, mode in t.locks.items() if mode == S]:
                del t.locks[k]
                self._unlock(k, t.txid)
            self._wake(now, out)

    def _prep_record(self, t: PTxn) -> dict[str, Any]:
        return {"prep": t.txid, "coord": t.coord, "age": list(t.age), "writes": t.writes,
                "locks": [[k, mode] for k, mode in t.locks.items()]}

    def _commit(self, m: dict[str, Any], now: int, out: Out) -> None:
        t = self.txns.get(m["tx"])
        if t is not None:
            assert t.state == "prepared", f"commit of {t.txid} in state {t.state}: never voted yes"
            out.persist.append({"commit": t.txid})
            self._apply(t)
            self.committed += 1
            self._wake(now, out)
        # An unknown txid was committed and forgotten before (or, with no-prepare-fsync,
        # its prepare was lost in a crash): either way there is nothing left to apply.
        out.messages.append(self._reply(m, "ack"))

    def _abort(self, tx: str, now: int, out: Out) -> None:
        self._remember_abort(tx)
        t = self.txns.get(tx)
        if t is None:
            return
        if t.state == "prepared":
            out.buffered.append({"pabort": tx})
        self._drop(t, now, out)

    # -- internals ---------------------------------------------------------------
    def _remember_abort(self, tx: str) -> None:
        self.aborted[tx] = None
        if len(self.aborted) > ABORTED_MEMORY:
            del self.aborted[next(iter(self.aborted))]

    def _drop(self, t: PTxn, now: int, out: Out) -> None:
        """Abort ``t`` here: release its locks, forget its writes, wake waiters."""
        self._remember_abort(t.txid)
        self.aborts += 1
        self._release(t)
        self._wake(now, out)

    def _apply(self, t: PTxn) -> None:
        for f, k, v in t.writes:
            self.store[k] = apply_write(self.store.get(k), f, v)
        self._release(t)

    def _release(self, t: PTxn) -> None:
        for k in t.locks:
            self._unlock(k, t.txid)
        t.locks.clear()
        self.txns.pop(t.txid, None)

    def _unlock(self, k: Any, txid: str) -> None:
        held = self.locks.get(k)
        if held is not None:
            held.pop(txid, None)
            if not held:
                del self.locks[k]

    def _wake(self, now: int, out: Out) -> None:
        waiting = sorted((t for t in self.txns.values() if t.state == "waiting"), key=lambda t: t.age)
        for t in waiting:
            if t.txid in self.txns and t.state == "waiting":
                assert t.pending is not None
                self._try_exec(t, t.pending, now, out)

    # -- observation -------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        states = [t.state for t in self.txns.values()]
        return {
            "prepared": states.count("prepared"),
            "in_doubt": sum(1 for t in self.txns.values() if t.state == "prepared" and t.in_doubt),
            "active": states.count("active") + states.count("waiting"),
            "committed": self.committed,
            "aborted": self.aborts,
            "locked_keys": len(self.locks),
        }
