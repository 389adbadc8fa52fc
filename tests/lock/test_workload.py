"""The lock workload's generator against a fake lock service (no cluster): every client
loops acquire -> read -> [stall] -> write read+1 -> release, and the result checks valid."""

from __future__ import annotations

from checkers.lock import check_lock
from harness import generator as gen
from harness.generator.simulate import simulate
from harness.history import History, op_from_dict
from workloads import REGISTRY, WorkloadOptions
from workloads.lock import KEY, LockOps


class FakeLock:
    """A perfect lock + fenced counter, applied when the op is invoked."""

    def __init__(self, fail_every: int = 0) -> None:
        self.holder: int | None = None
        self.token = 0
        self.counter = 0
        self.n = 0
        self.fail_every = fail_every

    def __call__(self, c: dict) -> dict:
        f, v, p = c["f"], dict(c["value"]), c["process"]
        self.n += 1
        if self.fail_every and self.n % self.fail_every == 0 and f != "acquire":
            if f in ("read", "write") and self.holder == p:
                self.holder = None  # the client dies mid-section: its lease is dropped
            return {"type": "info", "error": "timeout"}
        if f == "acquire":
            if self.holder is not None:
                return {"type": "fail", "error": "held"}
            self.holder, self.token = p, self.token + 1
            return {"value": {**v, "token": self.token}}
        if f == "read":
            return {"value": {**v, "value": self.counter}}
        if f == "write":
            self.counter = v["value"]
        if f == "release":
            self.holder = None
        return {}


def run(seed: int, fail_every: int = 0, stall_p: float = 0.2) -> list[dict]:
    return simulate(gen.limit(400, LockOps(stall_p=stall_p)), seed=seed, concurrency=4,
                    complete=FakeLock(fail_every), nemesis=False)


def test_each_client_runs_whole_critical_sections_in_order():
    ops = run(1)
    steps: dict[int, list[str]] = {}
    for o in ops:
        if o["type"] != "invoke":
            continue
        seq = steps.setdefault(o["process"], [])
        seq.append(o["f"])
    for p, seq in steps.items():
        text = " ".join(seq).replace("acquire read stall write release", "S").replace(
            "acquire read write release", "S")
        assert set(text.split()) <= {"S", "acquire"}, (p, text[:200])
    assert any("stall" in s for s in steps.values())


def test_writes_carry_the_read_value_plus_one_and_the_grants_token():
    ops = run(2)
    tokens: dict[int, int] = {}
    last_read: dict[int, int] = {}
    for o in ops:
        p, v = o["process"], o["value"]
        if o["type"] == "ok" and o["f"] == "acquire":
            tokens[p] = v["token"]
        elif o["type"] == "ok" and o["f"] == "read":
            last_read[p] = v["value"]
        elif o["type"] == "invoke" and o["f"] in ("read", "write", "release", "stall"):
            assert v["token"] == tokens[p]
            if o["f"] == "write":
                assert v["value"] == last_read[p] + 1 and v["key"] == KEY


def test_a_retired_process_starts_over_with_an_acquire():
    ops = run(3, fail_every=7)
    first: dict[int, str] = {}
    for o in ops:
        if o["type"] == "invoke":
            first.setdefault(o["process"], o["f"])
    assert any(p >= 4 for p in first), "some process was retired"
    assert set(first.values()) == {"acquire"}


def test_the_generated_history_checks_valid():
    ops = run(4, stall_p=0.0)
    ops.append({"type": "invoke", "process": 0, "f": "peek", "value": {"key": KEY},
                "time_ns": ops[-1]["time_ns"] + 1})
    final = max(o["value"]["value"] for o in ops if o["f"] == "write" and o["type"] == "ok")
    ops.append({"type": "ok", "process": 0, "f": "peek", "value": {"key": KEY, "value": final},
                "time_ns": ops[-1]["time_ns"] + 2})
    h = History([op_from_dict({**o, "index": i}) for i, o in enumerate(ops)])
    res = check_lock(h)
    assert res.valid is True, res.anomalies
    assert res.details["acknowledged_increments"][KEY] == final > 10
    assert res.details["mutex_model"] == "applied: valid"


def test_the_workload_is_registered():
    w = REGISTRY["lock"](WorkloadOptions())
    assert w.name == "lock" and w.final_generator is not None
