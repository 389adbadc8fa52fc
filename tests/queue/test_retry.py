"""A producer's send whose answer is lost is retried by the client within the same op (same
producer id and seq): the idempotent partition answers the first offset again, and with
``no-idempotence`` the retry is appended a second time — a duplicate the queue checker names.

The client runs on the library's engine with its transport replaced by a one-partition
simulated Raft group and a virtual clock: an attempt whose reply is dropped costs the
engine's whole attempt timeout, as a paused or partitioned leader does in Docker.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from checkers.queue import check_queue
from systems.queue.client import QueueClient, make_queue_client
from systems.queue.sim import PartitionSim
from systems.raft.client import ATTEMPT_TIMEOUT_S, DEADLINE_SHARE, Lost, RaftClient
from tests.queue.test_checker import H

OP_TIMEOUT_S = 3.0  # the harness's default --op-timeout


class SimEngine(RaftClient):
    """The real engine over a simulated group; the first ``lose`` send replies are dropped."""

    def __init__(self, sim: PartitionSim, lose: int) -> None:
        super().__init__({n: ("sim", 0) for n in sim.names}, sim.names[0], OP_TIMEOUT_S)
        self.sim, self.lose, self.clock, self.attempts = sim, lose, 0.0, 0

    async def _call(self, node: str, msg: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        s = self.sim
        t = s._token()
        assert s.nodes[node].request(t, {k: v for k, v in msg.items() if k != "id"})
        s.process(node)
        for _ in range(200):
            s.stabilize()
            if t in s.replies:
                break
            s.tick()
        reply = s.replies.pop(t, None)
        if msg.get("op") == "send" and reply is not None and reply.get("ok"):
            self.attempts += 1  # sends a leader applied and answered
            if self.lose > 0:
                self.lose -= 1
                self.clock += timeout_s  # the whole attempt waited for an answer
                raise Lost("timeout")
        self.clock += 0.01
        if reply is None:
            self.clock += timeout_s
            raise Lost("timeout")
        return reply

    def now(self) -> float:
        return self.clock

    async def sleep(self, seconds: float) -> None:
        self.clock += seconds


def run(bugs: tuple[str, ...]) -> tuple[Any, SimEngine, list[tuple[str, Any, Any]]]:
    sim = PartitionSim(3, seed=5, bugs=bugs, session_timeout_ticks=1000)
    sim.run(60)
    engine = SimEngine(sim, lose=1)
    client = QueueClient([engine])
    h = H()

    async def ops() -> list[tuple[str, Any, Any]]:
        outs = []
        for i, (proc, f, value) in enumerate([(0, "send", ["a", "a"]), (0, "send", ["b", "b"]),
                                              (1, "poll", {"group": None, "drain": True})]):
            h.invoke(proc, f, value)
            typ, out, err = await client.invoke(f, value)
            h.complete(proc, f, out, typ)
            outs.append((typ, out, err))
            if i == 0:
                engine.lose = 0
        return outs

    outs = asyncio.run(ops())
    return check_queue(h.history()), engine, outs


def test_a_lost_ack_is_retried_within_the_op_and_answered_once() -> None:
    result, engine, outs = run(())
    assert outs[0] == ("ok", [0, 0], None)  # the retry got the first attempt's offset
    assert engine.attempts == 3  # the first send applied twice (lost, retried), the second once
    assert outs[1][:2] == ("ok", [0, 1])
    assert outs[2][1] == {"0": [[0, "a"], [1, "b"]]}
    assert result.valid is True, [a.explanation for a in result.anomalies]


def test_no_idempotence_appends_the_retry_again_and_the_checker_names_the_duplicate() -> None:
    result, _, outs = run(("no-idempotence",))
    assert outs[0][:2] == ("ok", [0, 1])  # the retry was appended after the lost original
    assert outs[2][1] == {"0": [[0, "a"], [1, "a"], [2, "b"]]}
    assert result.valid is False
    dups = [a for a in result.anomalies if a.kind == "duplicate"]
    assert dups and "0" in dups[0].explanation and "1" in dups[0].explanation, \
        [a.explanation for a in result.anomalies]


@pytest.mark.parametrize("partitions", [1, 3, 5])
def test_a_send_has_the_whole_op_deadline_for_its_retries(partitions: int) -> None:
    # A send is one request: its engine must not get only a 1/(P+1) share of the op's
    # deadline (then the first lost attempt, ATTEMPT_TIMEOUT_S long, used it all and the
    # retry never happened: no-idempotence was never exposed in Docker).
    client = make_queue_client({"n1": ("127.0.0.1", 1)}, "n1", OP_TIMEOUT_S, partitions)
    assert isinstance(client, QueueClient)
    for e in client.engines:
        assert e.timeout_s == pytest.approx(OP_TIMEOUT_S * DEADLINE_SHARE)
        assert e.timeout_s > ATTEMPT_TIMEOUT_S + 1.0  # room for a retry after a lost attempt
