"""Hypothesis state machine: random txns, deliveries, crashes at any step, cuts and restarts.

Safety properties checked after the schedule, once every node is back and the
network healed: the cluster settles (no txn stays in doubt), every txn is
atomic (all its appends visible or none, in agreement with what the client was
told), and the bank's total is conserved with no negative balance.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from systems.twopc.proto import Timing
from systems.twopc.sim import SimCluster

NODES = ("n1", "n2", "n3")
ACCOUNTS = ("a0", "a1", "a2", "a3")
INITIAL = 10
TIMING = Timing(exec_wait_ticks=4, active_ticks=8, txn_ticks=6, query_ticks=3, resend_ticks=3)


class TwoPCMachine(RuleBasedStateMachine):
    bugs: tuple[str, ...] = ()

    @initialize(seed=st.integers(0, 1000))
    def boot(self, seed: int) -> None:
        self.c = SimCluster(NODES, bugs=self.bugs, timing=TIMING, seed=seed)
        self.n = 0

    @rule(node=st.sampled_from(NODES), keys=st.lists(st.integers(0, 5), min_size=1, max_size=4),
          reads=st.lists(st.booleans(), min_size=4, max_size=4))
    def txn(self, node: str, keys: list[int], reads: list[bool]) -> None:
        self.n += 1
        mops = [["r", k, None] if r else ["append", k, self.n * 10 + i]
                for i, (k, r) in enumerate(zip(keys, reads[: len(keys)], strict=True))]
        self.c.submit(node, f"T{self.n}", mops)

    @rule(node=st.sampled_from(NODES), pair=st.permutations(ACCOUNTS), amount=st.integers(0, 12))
    def transfer(self, node: str, pair: list[str], amount: int) -> None:
        self.n += 1
        self.c.request(node, f"X{self.n}", {"transfer": [pair[0], pair[1], amount], "initial": INITIAL})

    @rule(pick=st.integers(0, 1 << 16))
    def deliver(self, pick: int) -> None:
        if self.c.net:
            self.c.deliver(pick % len(self.c.net))

    @rule(pick=st.integers(0, 1 << 16), after=st.integers(-1, 3))
    def deliver_and_crash(self, pick: int, after: int) -> None:
        if self.c.net:
            self.c.deliver(pick % len(self.c.net), crash_after=after)

    @rule()
    def tick(self) -> None:
        self.c.tick()

    @rule(node=st.sampled_from(NODES))
    def restart(self, node: str) -> None:
        if node in self.c.down:
            self.c.restart(node)

    @rule(a=st.sampled_from(NODES), b=st.sampled_from(NODES))
    def cut(self, a: str, b: str) -> None:
        if a != b:
            self.c.cut(a, b)

    @rule()
    def heal(self) -> None:
        self.c.heal()

    @invariant()
    def locks_are_coherent(self) -> None:
        for n in NODES:
            if n in self.c.down:
                continue
            for k, held in self.c.nodes[n].part.locks.items():
                modes = list(held.values())
                assert "X" not in modes or len(modes) == 1, f"{n} key {k}: {held}"

    def teardown(self) -> None:
        if not hasattr(self, "c"):
            return
        assert self.c.settle(), "the cluster did not settle: a txn stays in doubt"
        assert self.c.atomicity_violations() == []
        bal = self.c.balances(ACCOUNTS, INITIAL)
        assert sum(bal.values()) == INITIAL * len(ACCOUNTS), bal
        assert min(bal.values()) >= 0, bal


TwoPCMachine.TestCase.settings = settings(
    max_examples=80, stateful_step_count=50, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestTwoPC = TwoPCMachine.TestCase
