"""The coordinator core: runs a client's txn over the participants with two-phase commit.

Pure, like the participant. Phases of a txn, all driven by messages and ticks:

1. **exec** - (a one-shot txn, whose writes do not depend on its reads,
   skips to 2: its exec carries ``prepare: true``) the micro-ops go to the participants owning their keys (one
   ``exec`` each, locks taken there); their results come back.
   A transfer (the bank) is ``rx`` of both accounts, then its writes are
   computed here and ride on the prepare.
2. **prepare** - every participant persists its intents and votes.
3. **decision** - all yes: ``{"decide": txid, "parts": [...]}`` is persisted
   (fsync) BEFORE any commit leaves and before the client hears ``ok``; then
   commit goes to every participant, re-sent every ``resend_ticks`` to those
   that have not acknowledged. Any no, any exec refusal, or no decision within
   ``txn_ticks``: abort, sent to all, never logged.
4. **GC** - when every participant acknowledged, a buffered ``{"end": txid}``
   lets the log forget the decision (losing it only re-drives the commit).

Recovery rules (presumed abort): a restarted coordinator re-drives every
logged decision without an ``end`` (commit to all, until all ack). Every txn
it knew nothing durable about was never committed by anybody (commit is only
sent after the decision is durable), so a ``query`` about an unknown txid is
answered *abort*. A query about a txn still collecting votes is answered
``commit: null`` (undecided; the participant keeps waiting).

Conflicts: a txn that died under wait-die (``conflict``) is aborted
everywhere and restarted by the coordinator itself, under a new txid but with
its original age (the textbook wait-die restart: it only grows older, so it
cannot starve), ``retry_ticks`` later, at most ``conflict_retries`` times and
within its ``txn_ticks`` deadline. This is not a client retry: the aborted
attempt is definitely not committed anywhere.

Client answers: ``ok`` with the read results once the decision is durable;
``fail`` (definite: the txn is aborted and will never commit) with the reason
- ``conflict`` (wait-die), ``lock-timeout``, ``vote-no``, ``timeout``,
``insufficient`` (a transfer from too small a balance), ``bad-request``. A
client that loses its connection reports ``info`` (the shell's business).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .proto import Age, Out, Timing, owner

__all__ = ["Coordinator", "CTxn", "parse_request"]

MOP_FS = ("r", "append", "w", "rx")


@dataclass(slots=True)
class CTxn:
    txid: str
    age: Age
    token: Any  # the client's reply token; None after a restart
    mops: list[list[Any]]
    parts: list[str]
    phase: str = "exec"  # exec | prepare | commit
    transfer: tuple[Any, Any, int, int] | None = None  # (from, to, amount, initial)
    results: list[Any] = field(default_factory=list)
    positions: dict[str, list[int]] = field(default_factory=dict)  # part -> mop indexes
    got: set[str] = field(default_factory=set)  # exec-ok / yes votes / acks of this phase
    started: int = 0
    last_send: int = 0  # phase retry: the tick at which to restart
    attempt: int = 0


def parse_request(req: dict[str, Any]) -> tuple[list[list[Any]], tuple[Any, Any, int, int] | None]:
    """The micro-ops of a client request (and the transfer, if it is one); ValueError if bad."""
    if "transfer" in req:
        src, dst, amount = req["transfer"]
        initial = int(req.get("initial", 0))
        if src == dst or not isinstance(amount, int) or amount < 0:
            raise ValueError(f"bad transfer {req['transfer']!r}")
        return [["rx", src, None], ["rx", dst, None]], (src, dst, amount, initial)
    mops = req.get("mops")
    if not isinstance(mops, list) or not mops:
        raise ValueError("a txn needs a non-empty list of micro-ops")
    for m in mops:
        if not (isinstance(m, list) and len(m) == 3 and m[0] in MOP_FS):
            raise ValueError(f"bad micro-op {m!r}")
        if isinstance(m[1], (list, dict)):
            raise ValueError(f"keys are JSON scalars, not {m[1]!r}")
    return [list(m) for m in mops], None


class Coordinator:
    def __init__(
        self, name: str, nodes: Sequence[str], boot: str, timing: Timing, bugs: Iterable[str] = ()
    ) -> None:
        self.name = name
        self.nodes = sorted(nodes)
        self.boot = boot
        self.timing = timing
        self.bugs = frozenset(bugs)
        self.txns: dict[str, CTxn] = {}
        self.seq = 0
        self.commits = 0
        self.aborts = 0
        self.retries = 0

    # -- recovery ----------------------------------------------------------------
    def replay(self, rec: dict[str, Any]) -> None:
        if "decide" in rec:
            tx = rec["decide"]
            self.txns[tx] = CTxn(tx, (0, tx), None, [], list(rec["parts"]), phase="commit",
                                 last_send=-(1 << 30))
        elif "end" in rec:
            self.txns.pop(rec["end"], None)

    def snapshot(self) -> list[dict[str, Any]]:
        return [self._decide_record(t) for t in self.txns.values() if t.phase == "commit"]

    # -- client requests -----------------------------------------------------------
    def submit(self, token: Any, req: dict[str, Any], clock: int, now: int) -> Out:
        out = Out()
        try:
            mops, transfer = parse_request(req)
        except (ValueError, TypeError, KeyError) as e:
            out.replies.append((token, {"ok": False, "error": "bad-request", "msg": str(e)}))
            return out
        tx = self._txid()
        t = CTxn(tx, (clock, tx), token, mops, [], transfer=transfer, started=now, last_send=now)
        self._start(t, out)
        return out

    def _txid(self) -> str:
        self.seq += 1
        return f"{self.name}.{self.boot}.{self.seq}"

    def _start(self, t: CTxn, out: Out) -> None:
        """Send the execs of ``t`` (a new txn, or a retry under a new txid with its old age)."""
        mops = t.mops
        t.results = [list(m) for m in mops]
        t.positions = {}
        for i, (_, k, _) in enumerate(mops):
            t.positions.setdefault(owner(k, self.nodes), []).append(i)
        t.parts = sorted(t.positions)
        self.txns[t.txid] = t
        one_shot = t.transfer is None
        t.phase = "prepare" if one_shot else "exec"
        for p in t.parts:
            out.messages.append(self._msg(t, p, "exec", age=list(t.age), prepare=one_shot,
                                          mops=[mops[i] for i in t.positions[p]]))

    # -- messages ----------------------------------------------------------------
    def step(self, m: dict[str, Any], now: int) -> Out:
        out = Out()
        kind, tx = m["t"], m["tx"]
        if kind == "query":
            t = self.txns.get(tx)
            decided: bool | None = False if t is None else (True if t.phase == "commit" else None)
            out.messages.append({"t": "outcome", "src": self.name, "dst": m["src"], "tx": tx,
                                 "commit": decided})
            return out
        t = self.txns.get(tx)
        if t is None:
            return out  # a late answer about a txn already finished
        src = m["src"]
        if "results" in m and t.phase in ("exec", "prepare"):
            for i, r in zip(t.positions[src], m["results"], strict=True):
                t.results[i] = r
        if kind == "exec-ok" and t.phase == "exec":
            self._got(t, src, now, out)
        elif kind == "exec-no" and t.phase in ("exec", "prepare"):
            self._abort(t, str(m.get("reason", "conflict")), out, now)
        elif kind == "vote" and t.phase == "prepare":
            if m.get("yes"):
                self._got(t, src, now, out)
            else:
                self._abort(t, "vote-no", out)
        elif kind == "ack" and t.phase == "commit":
            t.got.add(src)
            if t.got >= set(t.parts):
                del self.txns[tx]
                out.buffered.append({"end": tx})
        return out

    def tick(self, now: int) -> Out:
        out = Out()
        tm = self.timing
        for t in list(self.txns.values()):
            if t.phase in ("exec", "prepare", "retry") and now - t.started >= tm.txn_ticks:
                self._abort(t, "timeout", out)
            elif t.phase == "retry" and now >= t.last_send:
                del self.txns[t.txid]
                self._start(t, out)
            elif t.phase == "commit" and now - t.last_send >= tm.resend_ticks:
                t.last_send = now
                for p in t.parts:
                    if p not in t.got:
                        out.messages.append(self._msg(t, p, "commit"))
        return out

    # -- internals ---------------------------------------------------------------
    def _msg(self, t: CTxn, dst: str, kind: str, **body: Any) -> dict[str, Any]:
        return {"t": kind, "src": self.name, "dst": dst, "tx": t.txid, **body}

    def _got(self, t: CTxn, src: str, now: int, out: Out) -> None:
        t.got.add(src)
        if t.got < set(t.parts):
            return
        t.got = set()
        if t.phase == "exec":
            self._to_prepare(t, out)
        else:
            self._decide(t, now, out)

    def _to_prepare(self, t: CTxn, out: Out) -> None:
        writes: dict[str, list[list[Any]]] = {}
        if t.transfer is not None:
            src, dst, amount, initial = t.transfer
            a, b = (initial if r[2] is None else int(r[2]) for r in t.results)
            if a < amount:
                self._abort(t, "insufficient", out)
                return
            writes = {}
            for k, v in ((src, a - amount), (dst, b + amount)):
                writes.setdefault(owner(k, self.nodes), []).append(["w", k, v])
            t.results = [["r", src, a], ["r", dst, b]]
        t.phase = "prepare"
        for p in t.parts:
            out.messages.append(self._msg(t, p, "prepare", writes=writes.get(p, [])))

    def _decide(self, t: CTxn, now: int, out: Out) -> None:
        t.phase, t.last_send = "commit", now
        self.commits += 1
        if "no-decision-log" not in self.bugs:
            out.persist.append(self._decide_record(t))
        if t.token is not None:
            out.replies.append((t.token, {"ok": True, "tx": t.txid, "txn": t.results}))
            t.token = None
        for p in t.parts:
            out.messages.append(self._msg(t, p, "commit"))

    def _decide_record(self, t: CTxn) -> dict[str, Any]:
        return {"decide": t.txid, "parts": t.parts}

    def _abort(self, t: CTxn, reason: str, out: Out, now: int | None = None) -> None:
        del self.txns[t.txid]
        if reason == "conflict" and now is not None and t.attempt < self.timing.conflict_retries:
            # wait-die restarts the dead txn with its ORIGINAL age, so it only gets older
            # and cannot starve; a new txid, since the participants refuse the old one.
            for p in t.parts:
                out.messages.append(self._msg(t, p, "abort"))
            retry = CTxn(self._txid(), t.age, t.token, t.mops, [], phase="retry",
                         transfer=t.transfer, started=t.started,
                         last_send=now + self.timing.retry_ticks, attempt=t.attempt + 1)
            self.txns[retry.txid] = retry
            self.retries += 1
            return
        self.aborts += 1
        if t.token is not None:
            out.replies.append((t.token, {"ok": False, "error": reason, "tx": t.txid}))
        for p in t.parts:
            out.messages.append(self._msg(t, p, "abort"))

    # -- observation -------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        phases = [t.phase for t in self.txns.values()]
        return {
            "deciding": phases.count("commit"),  # decided commit, not every ack back yet
            "running": phases.count("exec") + phases.count("prepare") + phases.count("retry"),
            "decided_commits": self.commits,
            "decided_aborts": self.aborts,
            "conflict_retries": self.retries,
        }

    def awaiting(self, writes_only: bool = False) -> dict[str, int]:
        """Per participant, how many decided-commit txns still wait for its ack (only those
        that write there, with ``writes_only``: a txn recovered from the log counts as one)."""
        out: dict[str, int] = {}
        for t in self.txns.values():
            if t.phase == "commit":
                for p in t.parts:
                    if p not in t.got and (not writes_only or _writes_at(t, p)):
                        out[p] = out.get(p, 0) + 1
        return dict(sorted(out.items()))


def _writes_at(t: CTxn, part: str) -> bool:
    if t.transfer is not None or not t.mops:  # a transfer writes both; recovered: unknown
        return True
    return any(t.mops[i][0] in ("append", "w") for i in t.positions.get(part, ()))
