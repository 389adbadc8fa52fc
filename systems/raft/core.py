"""A pure Raft core in the etcd-io/raft shape: ``tick``, ``step``, ``ready``, ``advance``.

No sockets, clocks, threads, files or global randomness: time arrives as
``tick()`` calls and randomness through an injected ``Rng``. Safety invariants
are plain asserts that stay on — a broken one crashes the node, which the
harness records.

Implemented: leader election with randomized timeouts, PreVote and
CheckQuorum (leader leases on followers; a leader that has not heard from a
quorum for an election timeout steps down), log replication with fast
conflict backtracking, commit by majority restricted to current-term entries
(§5.4.2), ReadIndex reads (local or forwarded by a follower), snapshots
(compaction and InstallSnapshot) and leadership transfer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .log import RaftLog
from .progress import PROBE, REPLICATE, SNAPSHOT, Progress
from .types import (
    APP,
    APP_RESP,
    CANDIDATE,
    FOLLOWER,
    HEARTBEAT,
    HEARTBEAT_RESP,
    LEADER,
    PRE_CANDIDATE,
    PREVOTE,
    PREVOTE_RESP,
    READ_INDEX,
    READ_INDEX_RESP,
    SNAP,
    TIMEOUT_NOW,
    VOTE,
    VOTE_RESP,
    Entry,
    HardState,
    Message,
    ReadState,
    Ready,
    Rng,
    Snapshot,
)

__all__ = ["Config", "RaftCore"]

TRANSFER = "transfer"


@dataclass(frozen=True, slots=True)
class Config:
    election_ticks: int = 10  # randomized in [election_ticks, 2 * election_ticks)
    heartbeat_ticks: int = 2
    max_msg_entries: int = 64
    pre_vote: bool = True
    check_quorum: bool = True
    # Bug switch commit-old-term: count replicas of old-term entries toward commit, and
    # (the premise of Figure 8) append no no-op on election.
    commit_old_term: bool = False


@dataclass(slots=True)
class _Read:
    context: Any
    index: int
    src: str
    acks: set[str] = field(default_factory=set)


class RaftCore:
    def __init__(
        self,
        node_id: str,
        peers: Sequence[str],
        rng: Rng,
        config: Config | None = None,
        hard_state: HardState | None = None,
        snapshot: Snapshot | None = None,
        entries: Sequence[Entry] = (),
    ) -> None:
        assert node_id in peers, "a node is one of its own peers"
        self.id = node_id
        self.peers = tuple(sorted(set(peers)))
        self.rng = rng
        self.cfg = config or Config()
        hs = hard_state or HardState()
        self.term = hs.term
        self.vote = hs.vote
        self.log = RaftLog(snapshot, entries, hs.commit)
        self.role = FOLLOWER
        self.lead: str | None = None
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.randomized_timeout = self.cfg.election_ticks
        self.votes: dict[str, bool] = {}
        self.progress: dict[str, Progress] = {}
        self.msgs: list[Message] = []
        self.read_states: list[ReadState] = []
        self.reads: list[_Read] = []  # leader: ReadIndex requests awaiting quorum acks
        self.reads_waiting_commit: list[_Read] = []  # until read_floor is committed
        # Leader: reads wait until this index commits (the election no-op's; without the
        # no-op, the last index the leader held when elected).
        self.read_floor = 0
        self.lead_transferee: str | None = None
        self.prev_hard_state = HardState(self.term, self.vote, self.log.committed)
        self._reset_randomized_timeout()

    # -- helpers ---------------------------------------------------------------
    def quorum(self) -> int:
        return len(self.peers) // 2 + 1

    def hard_state(self) -> HardState:
        return HardState(self.term, self.vote, self.log.committed)

    def _send(self, m: Message) -> None:
        assert m.dst != self.id
        self.msgs.append(m)

    def _msg(self, typ: str, dst: str, term: int | None = None, **kw: Any) -> None:
        self._send(Message(typ, self.id, dst, self.term if term is None else term, **kw))

    def _others(self) -> list[str]:
        return [p for p in self.peers if p != self.id]

    def _reset_randomized_timeout(self) -> None:
        e = self.cfg.election_ticks
        self.randomized_timeout = e + self.rng.randrange(0, e)

    def _reset(self, term: int) -> None:
        if term != self.term:
            assert term > self.term, "term went back"
            self.term = term
            self.vote = None
        self.lead = None
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self._reset_randomized_timeout()
        self.votes = {}
        self.lead_transferee = None
        self.reads = []
        self.reads_waiting_commit = []

    # -- role changes ----------------------------------------------------------
    def become_follower(self, term: int, lead: str | None) -> None:
        self._reset(term)
        self.role = FOLLOWER
        self.lead = lead

    def _become_pre_candidate(self) -> None:
        assert self.role != LEADER
        self.votes = {}
        self.lead = None
        self.role = PRE_CANDIDATE

    def _become_candidate(self) -> None:
        assert self.role != LEADER
        self._reset(self.term + 1)
        self.vote = self.id
        self.role = CANDIDATE

    def _become_leader(self) -> None:
        assert self.role == CANDIDATE
        self._reset(self.term)
        self.role = LEADER
        self.lead = self.id
        last = self.log.last_index()
        self.progress = {p: Progress(match=0, next=last + 1) for p in self.peers}
        self.progress[self.id].state = REPLICATE
        if self.cfg.commit_old_term:
            # The bug: no no-op, so an earlier term's entry can be the only thing a
            # majority holds when this leader counts replicas (Figure 8, (c)).
            self.read_floor = last
            self.progress[self.id].maybe_update(last)
            self._maybe_commit()
        else:
            # A no-op of the new term lets entries of earlier terms commit (§5.4.2, §8).
            self.read_floor = last + 1
            self._append([Entry(self.term, last + 1, None)])
        self._bcast_append()

    def campaign(self, transfer: bool = False) -> None:
        """Start an election: a PreVote round first unless forced by a transfer."""
        if self.role == LEADER:
            return
        if self.cfg.pre_vote and not transfer:
            self._become_pre_candidate()
            self._start_round(PREVOTE, self.term + 1, None)
        else:
            self._elect(TRANSFER if transfer else None)

    def _elect(self, context: Any) -> None:
        self._become_candidate()
        self._start_round(VOTE, self.term, context)

    def _start_round(self, typ: str, term: int, context: Any) -> None:
        self.votes[self.id] = True
        if self._poll() == 1:
            return self._won_round()
        for p in self._others():
            self._msg(
                typ,
                p,
                term=term,
                index=self.log.last_index(),
                log_term=self.log.last_term(),
                context=context,
            )

    def _poll(self) -> int:
        granted = sum(1 for v in self.votes.values() if v)
        rejected = len(self.votes) - granted
        if granted >= self.quorum():
            return 1
        if rejected > len(self.peers) - self.quorum():
            return -1
        return 0

    def _won_round(self) -> None:
        if self.role == PRE_CANDIDATE:
            self._elect(None)
        else:
            self._become_leader()

    # -- time ------------------------------------------------------------------
    def tick(self) -> None:
        self.election_elapsed += 1
        if self.role != LEADER:
            if self.election_elapsed >= self.randomized_timeout:
                self.election_elapsed = 0
                self.campaign()
            return
        self.heartbeat_elapsed += 1
        if self.election_elapsed >= self.cfg.election_ticks:
            self.election_elapsed = 0
            self.lead_transferee = None
            if self.cfg.check_quorum:
                if not self._quorum_active():
                    self.become_follower(self.term, None)
                    return
                for p, pr in self.progress.items():
                    pr.recent_active = p == self.id
        if self.heartbeat_elapsed >= self.cfg.heartbeat_ticks:
            self.heartbeat_elapsed = 0
            self._bcast_heartbeat(self.reads[-1].context if self.reads else None)

    def _quorum_active(self) -> bool:
        active = sum(1 for p, pr in self.progress.items() if p == self.id or pr.recent_active)
        return active >= self.quorum()

    # -- proposals and commands -----------------------------------------------
    def propose(self, data: Any) -> int | None:
        """Append a command on the leader; its index, or None if not accepted here."""
        if self.role != LEADER or self.lead_transferee is not None:
            return None
        index = self.log.last_index() + 1
        self._append([Entry(self.term, index, data)])
        self._bcast_append()
        return index

    def read_index(self, context: Any) -> bool:
        """Ask for a linearizable read point; answered later as a ReadState.

        False when no leader is known (the caller should fail the read).
        """
        if self.role == LEADER:
            self._leader_read(_Read(context, self.log.committed, self.id))
            return True
        if self.lead is None:
            return False
        self._msg(READ_INDEX, self.lead, context=context)
        return True

    def transfer_leadership(self, target: str) -> None:
        if self.role != LEADER or target == self.id or target not in self.peers:
            return
        self.lead_transferee = target
        self.election_elapsed = 0
        if self.progress[target].match == self.log.last_index():
            self._msg(TIMEOUT_NOW, target)
        else:
            self._send_append(target)

    def compact(self, index: int, data: Any, digest: str = "") -> Snapshot:
        return self.log.compact(index, data, digest)

    # -- leader internals ------------------------------------------------------
    def _append(self, entries: list[Entry]) -> None:
        assert entries[0].index == self.log.last_index() + 1, "leader overwrote its log"
        self.log.append(entries)
        self.progress[self.id].maybe_update(self.log.last_index())
        self._maybe_commit()

    def _maybe_commit(self) -> bool:
        matches = sorted((pr.match for pr in self.progress.values()), reverse=True)
        q = matches[self.quorum() - 1]
        if q <= self.log.committed:
            return False
        if self.log.term(q) != self.term and not self.cfg.commit_old_term:
            return False  # §5.4.2: only current-term entries commit by counting replicas
        self.log.commit_to(q)
        self._release_reads_waiting_commit()
        return True

    def _bcast_append(self) -> None:
        for p in self._others():
            self._send_append(p)

    def _bcast_heartbeat(self, ctx: Any) -> None:
        """Heartbeats carry the read context they confirm leadership for (None: no read)."""
        for p in self._others():
            commit = min(self.progress[p].match, self.log.committed)
            self._msg(HEARTBEAT, p, commit=commit, context=ctx)

    def _send_append(self, to: str) -> None:
        pr = self.progress[to]
        if pr.is_paused():
            return
        prev = pr.next - 1
        prev_term = self.log.term(prev)
        if prev_term is None:
            snap = self.log.snapshot
            self._msg(SNAP, to, snapshot=snap)
            pr.become_snapshot(snap.index)
            return
        hi = min(self.log.last_index() + 1, pr.next + self.cfg.max_msg_entries)
        ents = tuple(self.log.slice(pr.next, hi))
        self._msg(
            APP, to, index=prev, log_term=prev_term, entries=ents, commit=self.log.committed
        )
        if pr.state == REPLICATE and ents:
            pr.next = ents[-1].index + 1
        elif pr.state == PROBE:
            pr.paused = True

    def _leader_read(self, r: _Read) -> None:
        if self.log.committed < self.read_floor:
            self.reads_waiting_commit.append(r)
            return
        r.index = self.log.committed
        r.acks = {self.id}
        if len(self.peers) == 1:
            return self._release_read(r)
        self.reads.append(r)
        self._bcast_heartbeat(r.context)

    def _release_reads_waiting_commit(self) -> None:
        if self.reads_waiting_commit and self.log.committed >= self.read_floor:
            waiting, self.reads_waiting_commit = self.reads_waiting_commit, []
            for r in waiting:
                self._leader_read(r)

    def _release_read(self, r: _Read) -> None:
        if r.src == self.id:
            self.read_states.append(ReadState(r.index, r.context))
        else:
            self._msg(READ_INDEX_RESP, r.src, index=r.index, context=r.context)

    def _ack_read(self, src: str, context: Any) -> None:
        for k, r in enumerate(self.reads):
            if r.context == context:
                r.acks.add(src)
                if len(r.acks) >= self.quorum():
                    # Confirming leadership for this read confirms it for all earlier ones.
                    done, self.reads = self.reads[: k + 1], self.reads[k + 1 :]
                    for d in done:
                        self._release_read(d)
                return

    # -- messages --------------------------------------------------------------
    def step(self, m: Message) -> None:
        assert m.dst == self.id, f"{self.id} got a message for {m.dst}"
        if m.src not in self.peers:
            return
        if m.term > self.term:
            if m.type in (PREVOTE, VOTE) and self._in_lease() and m.context != TRANSFER:
                return  # CheckQuorum lease: a live leader exists; do not disrupt it
            if m.type == PREVOTE or (m.type == PREVOTE_RESP and not m.reject):
                pass  # prevotes and their grants never change terms
            elif m.type in (APP, HEARTBEAT, SNAP):
                self.become_follower(m.term, m.src)
            else:
                self.become_follower(m.term, None)
        elif m.term < self.term:
            if m.type in (APP, HEARTBEAT):
                # Tell a stale leader about the newer term so it steps down (a
                # node that was partitioned cannot keep acting as leader).
                self._msg(APP_RESP, m.src)
            elif m.type == PREVOTE:
                self._msg(PREVOTE_RESP, m.src, reject=True)
            return
        if m.type in (PREVOTE, VOTE):
            return self._handle_vote(m)
        if self.role == LEADER:
            return self._step_leader(m)
        if self.role in (CANDIDATE, PRE_CANDIDATE):
            return self._step_candidate(m)
        return self._step_follower(m)

    def _in_lease(self) -> bool:
        return (
            self.cfg.check_quorum
            and self.lead is not None
            and self.election_elapsed < self.cfg.election_ticks
        )

    def _handle_vote(self, m: Message) -> None:
        resp = PREVOTE_RESP if m.type == PREVOTE else VOTE_RESP
        can_vote = (
            self.vote == m.src
            or (self.vote is None and self.lead is None)
            or (m.type == PREVOTE and m.term > self.term)
        )
        if can_vote and self.log.is_up_to_date(m.index, m.log_term):
            # A granted prevote answers in the term asked about, so the
            # pre-candidate counts it; our own term stays put.
            self._msg(resp, m.src, term=m.term)
            if m.type == VOTE:
                self.election_elapsed = 0
                self.vote = m.src
        else:
            self._msg(resp, m.src, reject=True)

    def _step_leader(self, m: Message) -> None:
        if m.type in (APP, HEARTBEAT, SNAP):
            raise AssertionError(f"election safety: two leaders in term {self.term}")
        pr = self.progress.get(m.src)
        if pr is None:
            return
        if m.type == APP_RESP:
            pr.recent_active = True
            self._handle_app_resp(m, pr)
        elif m.type == HEARTBEAT_RESP:
            pr.recent_active = True
            if pr.state == SNAPSHOT:
                pr.become_probe()
            pr.paused = False
            if pr.match < self.log.last_index():
                self._send_append(m.src)
            if m.context is not None:
                self._ack_read(m.src, m.context)
        elif m.type == READ_INDEX:
            self._leader_read(_Read(m.context, self.log.committed, m.src))

    def _handle_app_resp(self, m: Message, pr: Progress) -> None:
        if m.reject:
            hint = m.hint_index
            if m.hint_term > 0:
                hint, _ = self.log.find_conflict_by_term(m.hint_index, m.hint_term)
            if pr.maybe_decr_to(m.index, hint):
                if pr.state == REPLICATE:
                    pr.become_probe()
                self._send_append(m.src)
            return
        was_paused = pr.is_paused()
        if not pr.maybe_update(m.index):
            return
        if pr.state == PROBE:
            pr.become_replicate()
        elif pr.state == SNAPSHOT and pr.match >= pr.pending_snapshot:
            pr.become_probe()
            pr.become_replicate()
        if self._maybe_commit():
            self._bcast_append()
        elif was_paused or pr.next <= self.log.last_index():
            self._send_append(m.src)  # more entries, or a commit index it missed while paused
        if m.src == self.lead_transferee and pr.match == self.log.last_index():
            self._msg(TIMEOUT_NOW, m.src)

    def _step_candidate(self, m: Message) -> None:
        if m.type in (APP, HEARTBEAT, SNAP):
            self.become_follower(m.term, m.src)
            return self._step_follower(m)
        want = PREVOTE_RESP if self.role == PRE_CANDIDATE else VOTE_RESP
        if m.type != want:
            return
        self.votes.setdefault(m.src, not m.reject)
        outcome = self._poll()
        if outcome == 1:
            self._won_round()
        elif outcome == -1:
            self.become_follower(self.term, None)

    def _step_follower(self, m: Message) -> None:
        if m.type == APP:
            self.election_elapsed = 0
            self.lead = m.src
            self._handle_append(m)
        elif m.type == HEARTBEAT:
            self.election_elapsed = 0
            self.lead = m.src
            self.log.commit_to(min(m.commit, self.log.last_index()))
            self._msg(HEARTBEAT_RESP, m.src, context=m.context)
        elif m.type == SNAP:
            self.election_elapsed = 0
            self.lead = m.src
            self._handle_snapshot(m)
        elif m.type == TIMEOUT_NOW:
            self.campaign(transfer=True)
        elif m.type == READ_INDEX_RESP:
            self.read_states.append(ReadState(m.index, m.context))

    def _handle_append(self, m: Message) -> None:
        if m.index < self.log.committed:
            for e in m.entries:
                if self.log.snapshot.index < e.index <= self.log.committed:
                    # Log Matching + Leader Completeness: every later leader holds our
                    # committed entries as they are, so a different one here means some
                    # leader committed what it must not have (Figure 8).
                    mine = self.log.term(e.index)
                    assert mine == e.term, (
                        f"state machine safety: {m.src} sent entry {e.index} of term {e.term} "
                        f"where the committed entry has term {mine} (commit {self.log.committed})"
                    )
            self._msg(APP_RESP, m.src, index=self.log.committed)
            return
        last_new = self.log.maybe_append(m.index, m.log_term, m.commit, m.entries)
        if last_new is not None:
            self._msg(APP_RESP, m.src, index=last_new)
            return
        hint_index, hint_term = self.log.find_conflict_by_term(
            min(m.index, self.log.last_index()), m.log_term
        )
        self._msg(
            APP_RESP, m.src, index=m.index, reject=True, hint_index=hint_index, hint_term=hint_term
        )

    def _handle_snapshot(self, m: Message) -> None:
        s = m.snapshot
        assert s is not None
        if s.index <= self.log.committed:
            self._msg(APP_RESP, m.src, index=self.log.committed)
        elif self.log.match_term(s.index, s.term):
            self.log.commit_to(s.index)  # we already hold this prefix: fast-forward only
            self._msg(APP_RESP, m.src, index=self.log.committed)
        else:
            self.log.restore(s)
            self._msg(APP_RESP, m.src, index=s.index)

    # -- the Ready contract ----------------------------------------------------
    def ready(self) -> Ready:
        hs = self.hard_state()
        rd = Ready(
            hard_state=hs if hs != self.prev_hard_state else None,
            entries=tuple(self.log.unstable_entries()),
            snapshot=self.log.pending_snapshot,
            messages=tuple(self.msgs),
            committed_entries=tuple(self.log.next_committed()),
            read_states=tuple(self.read_states),
        )
        self.msgs = []
        self.read_states = []
        return rd

    def advance(self, rd: Ready) -> None:
        """The shell persisted, sent and applied ``rd``; no step may come in between."""
        if rd.hard_state is not None:
            assert rd.hard_state.commit >= self.prev_hard_state.commit, "commit went back"
            self.prev_hard_state = rd.hard_state
        if rd.snapshot is not None:
            self.log.pending_snapshot = None
            self.log.applied = max(self.log.applied, rd.snapshot.index)
        if rd.entries:
            self.log.stable_to(rd.entries[-1].index)
        if rd.committed_entries:
            self.log.applied_to(rd.committed_entries[-1].index)

    def status(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "leader": self.lead,
            "term": self.term,
            "commit": self.log.committed,
            "applied": self.log.applied,
            "last_index": self.log.last_index(),
            "last_term": self.log.last_term(),
        }
