"""Unit tests for the pure Raft core, one paper rule per test (etcd-io/raft style)."""

from __future__ import annotations

import random

import pytest

from systems.raftkv.core import Config, RaftCore
from systems.raftkv.types import (
    APP,
    APP_RESP,
    CANDIDATE,
    FOLLOWER,
    HEARTBEAT,
    LEADER,
    PRE_CANDIDATE,
    PREVOTE,
    PREVOTE_RESP,
    VOTE,
    VOTE_RESP,
    Entry,
    HardState,
    Message,
)

PEERS = ["n1", "n2", "n3"]


def core(node="n1", peers=PEERS, term=0, entries=(), commit=0, vote=None, **cfg) -> RaftCore:
    return RaftCore(
        node,
        peers,
        random.Random(7),
        Config(**cfg),
        HardState(term, vote, commit),
        None,
        [Entry(t, i + 1, f"e{i + 1}") for i, t in enumerate(entries)],
    )


def drain(c: RaftCore) -> list[Message]:
    rd = c.ready()
    c.advance(rd)
    return list(rd.messages)


def make_leader(c: RaftCore) -> RaftCore:
    c.campaign(transfer=True)  # skip prevote; vote round only
    for p in c.peers:
        if p != c.id:
            c.step(Message(VOTE_RESP, p, c.id, c.term))
    assert c.role == LEADER
    drain(c)
    return c


def test_followers_start_an_election_after_the_randomized_election_timeout():
    c = core()
    for _ in range(c.randomized_timeout - 1):
        c.tick()
    assert c.role == FOLLOWER
    c.tick()
    assert c.role == PRE_CANDIDATE
    msgs = drain(c)
    assert {m.type for m in msgs} == {PREVOTE} and {m.dst for m in msgs} == {"n2", "n3"}
    assert all(m.term == 1 for m in msgs) and c.term == 0, "prevote must not bump our term"


def test_election_timeouts_are_randomized_between_one_and_two_timeouts():
    seen = set()
    for seed in range(50):
        c = RaftCore("n1", PEERS, random.Random(seed), Config(election_ticks=10))
        seen.add(c.randomized_timeout)
    assert min(seen) >= 10 and max(seen) < 20 and len(seen) > 3


def test_candidate_becomes_leader_with_votes_from_a_majority():
    c = core(pre_vote=False)
    c.campaign()
    assert c.role == CANDIDATE and c.term == 1 and c.vote == "n1"
    c.step(Message(VOTE_RESP, "n2", "n1", 1))
    assert c.role == LEADER


def test_candidate_returns_to_follower_when_a_majority_rejects():
    c = core(pre_vote=False)
    c.campaign()
    c.step(Message(VOTE_RESP, "n2", "n1", 1, reject=True))
    assert c.role == CANDIDATE
    c.step(Message(VOTE_RESP, "n3", "n1", 1, reject=True))
    assert c.role == FOLLOWER


def test_each_server_votes_for_at_most_one_candidate_per_term():
    c = core()
    c.step(Message(VOTE, "n2", "n1", 1))
    c.step(Message(VOTE, "n3", "n1", 1))
    resp = [m for m in drain(c) if m.type == VOTE_RESP]
    assert [(m.dst, m.reject) for m in resp] == [("n2", False), ("n3", True)]
    assert c.vote == "n2"


def test_voter_denies_a_candidate_whose_log_is_less_up_to_date():
    c = core(entries=[1, 2])
    c.step(Message(VOTE, "n2", "n1", 3, index=5, log_term=1))  # longer but older last term
    c.step(Message(VOTE, "n3", "n1", 4, index=1, log_term=2))  # same last term, shorter
    resp = [(m.dst, m.reject) for m in drain(c) if m.type == VOTE_RESP]
    assert resp == [("n2", True), ("n3", True)]  # both answered, both denied
    c.step(Message(VOTE, "n3", "n1", 5, index=2, log_term=2))
    assert [m.reject for m in drain(c) if m.type == VOTE_RESP] == [False]


def test_a_leader_that_sees_a_higher_term_steps_down():
    c = make_leader(core())
    c.step(Message(APP_RESP, "n2", "n1", c.term + 1))
    assert c.role == FOLLOWER and c.term == 2 and c.lead is None


def test_a_message_from_a_stale_term_is_answered_with_the_current_term():
    c = core(term=5)
    c.step(Message(APP, "n2", "n1", 3, index=0, log_term=0))
    (m,) = drain(c)
    assert m.type == APP_RESP and m.term == 5 and m.dst == "n2"
    assert c.term == 5


def test_prevote_grants_do_not_change_any_term():
    c = core(term=2)
    c.step(Message(PREVOTE, "n2", "n1", 3, index=0, log_term=0))
    (m,) = drain(c)
    assert m.type == PREVOTE_RESP and not m.reject and m.term == 3
    assert c.term == 2 and c.vote is None


def test_a_pre_candidate_with_majority_prevotes_starts_a_real_election():
    c = core(term=2)
    c.campaign()
    drain(c)
    assert c.role == PRE_CANDIDATE and c.term == 2
    c.step(Message(PREVOTE_RESP, "n2", "n1", 3))
    assert c.role == CANDIDATE and c.term == 3
    assert {m.type for m in drain(c)} == {VOTE}


def test_check_quorum_leader_steps_down_when_it_has_not_heard_from_a_majority():
    c = make_leader(core(election_ticks=10))
    for _ in range(20):  # the first check clears recent activity, the second finds none
        c.tick()
    assert c.role == FOLLOWER and c.lead is None


def test_check_quorum_leader_stays_while_a_majority_answers():
    c = make_leader(core(election_ticks=10))
    for _ in range(30):
        c.tick()
        c.step(Message("heartbeat_resp", "n2", "n1", c.term))
    assert c.role == LEADER


def test_a_follower_with_a_live_leader_ignores_vote_requests():
    c = core(term=1)
    c.step(Message(HEARTBEAT, "n2", "n1", 1))
    drain(c)
    c.step(Message(VOTE, "n3", "n1", 2, index=9, log_term=9))
    assert c.term == 1 and not [m for m in drain(c) if m.type == VOTE_RESP]


def test_a_transfer_campaign_overrides_the_leader_lease():
    c = core(term=1)
    c.step(Message(HEARTBEAT, "n2", "n1", 1))
    c.step(Message(VOTE, "n3", "n1", 2, index=0, log_term=0, context="transfer"))
    assert c.term == 2 and c.vote == "n3"


def test_append_is_rejected_when_the_log_lacks_the_previous_entry():
    c = core(term=2, entries=[1])
    c.step(Message(APP, "n2", "n1", 2, index=3, log_term=2, entries=(Entry(2, 4),)))
    (m,) = drain(c)
    assert m.type == APP_RESP and m.reject and m.hint_index == 1 and m.hint_term == 1
    assert c.log.last_index() == 1


def test_append_deletes_a_conflicting_suffix_and_appends_new_entries():
    c = core(term=3, entries=[1, 2, 2])
    c.step(Message(APP, "n2", "n1", 3, index=1, log_term=1, entries=(Entry(3, 2, "x"),)))
    assert [e.term for e in c.log.entries] == [1, 3]
    (m,) = drain(c)
    assert not m.reject and m.index == 2


def test_append_with_matching_entries_keeps_later_entries():
    c = core(term=2, entries=[1, 2, 2])
    c.step(Message(APP, "n2", "n1", 2, index=1, log_term=1, entries=(Entry(2, 2, "e2"),)))
    assert c.log.last_index() == 3, "an old, shorter append must not truncate the log"


def test_fast_backtracking_skips_a_whole_term_per_round_trip():
    leader = core(term=7, entries=[1, 1, 4, 4, 4, 6, 6])
    leader = make_leader(leader)
    last = leader.log.last_index()
    follower = core("n2", term=7, entries=[1, 1, 2, 2, 2, 3, 3, 3, 3])
    rounds = 0
    prev = leader.progress["n2"].next - 1  # the probe make_leader's broadcast sent
    msg = Message(APP, "n1", "n2", leader.term, index=prev, log_term=leader.log.term(prev) or 0)
    while True:
        follower.step(msg)
        (resp,) = drain(follower)
        if not resp.reject:
            break
        leader.step(resp)
        msg = next(m for m in drain(leader) if m.dst == "n2" and m.type == APP)
        rounds += 1
    assert rounds <= 2, f"took {rounds} round trips"
    assert [e.term for e in follower.log.entries][:2] == [1, 1]
    assert follower.log.last_index() == last


def test_a_leader_never_commits_an_old_term_entry_by_counting_replicas():
    c = core(term=2, entries=[1, 2])  # entry 2 of term 2, uncommitted
    c = make_leader(c)  # term 3, no-op at 3
    c.step(Message(APP_RESP, "n2", "n1", c.term, index=2))
    assert c.log.committed == 0, "§5.4.2: the term-2 entry must not commit by counting"
    c.step(Message(APP_RESP, "n2", "n1", c.term, index=3))
    assert c.log.committed == 3


def test_the_commit_old_term_bug_commits_by_counting():
    c = make_leader(core(term=2, entries=[1, 2], commit_old_term=True))
    assert c.log.last_index() == 2, "the bug appends no election no-op (Figure 8's premise)"
    assert c.read_index("r1")
    assert not [m for m in drain(c) if m.type == HEARTBEAT], "reads wait until entry 2 commits"
    c.step(Message(APP_RESP, "n2", "n1", c.term, index=2))
    assert c.log.committed == 2
    assert any(m.type == HEARTBEAT and m.context == "r1" for m in drain(c))


def test_followers_learn_the_commit_index_from_the_leader():
    c = core(term=1, entries=[1, 1])
    c.step(Message(APP, "n2", "n1", 1, index=2, log_term=1, commit=2))
    assert c.log.committed == 2
    rd = c.ready()
    assert [e.index for e in rd.committed_entries] == [1, 2]


def test_commit_never_exceeds_what_the_append_proved():
    c = core(term=1, entries=[1, 1, 1])
    c.step(Message(APP, "n2", "n1", 1, index=1, log_term=1, commit=3))
    assert c.log.committed == 1


def test_two_leaders_in_one_term_crash_the_node():
    c = make_leader(core())
    with pytest.raises(AssertionError, match="election safety"):
        c.step(Message(APP, "n2", "n1", c.term))


def test_truncating_a_committed_entry_crashes_the_node():
    c = core(term=2, entries=[1, 1], commit=2)
    with pytest.raises(AssertionError, match="committed"):
        c.log.append([Entry(2, 2)])


def test_ready_hands_out_new_entries_and_hard_state_once():
    c = make_leader(core())
    c.propose({"op": "put"})
    rd = c.ready()
    assert [e.index for e in rd.entries] == [2] and rd.hard_state is None
    c.advance(rd)
    assert c.ready().entries == ()
    c2 = core()
    c2.step(Message(VOTE, "n2", "n1", 4))
    rd2 = c2.ready()
    assert rd2.hard_state == HardState(4, "n2", 0)
    assert rd2.messages, "the vote must be persisted in the same Ready that sends it"


def test_leader_read_index_waits_for_a_quorum_of_heartbeat_acks():
    c = make_leader(core())
    c.step(Message(APP_RESP, "n2", "n1", c.term, index=1))
    drain(c)
    assert c.read_index("r1")
    hb = [m for m in drain(c) if m.type == HEARTBEAT]
    assert {m.context for m in hb} == {"r1"}
    assert c.ready().read_states == ()
    c.step(Message("heartbeat_resp", "n3", "n1", c.term, context="r1"))
    (rs,) = c.ready().read_states
    assert rs.context == "r1" and rs.index == 1


def test_a_new_leader_defers_reads_until_it_commits_in_its_term():
    c = make_leader(core())
    c.read_index("r1")
    assert not [m for m in drain(c) if m.context == "r1"]
    c.step(Message(APP_RESP, "n2", "n1", c.term, index=1))
    assert [m for m in drain(c) if m.context == "r1"]
