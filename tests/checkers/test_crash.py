"""The crash checker: recorded node crashes are findings; histories without them are untouched."""

from checkers import Crashes
from checkers.crash import describe_exit, telling_line
from harness.history import History, Op, read_jsonl
from workloads import WorkloadOptions, get_workload

RAFT_LOG = [
    "INFO raftkv: n2 became leader in term 3",
    "CRITICAL raftkv: invariant violated, crashing: AssertionError('term went back')",
    "Traceback (most recent call last):",
    '  File "/app/systems/raftkv/core.py", line 136, in _become_follower',
    '    assert term > self.term, "term went back"',
    "AssertionError: term went back",
]


def _client_ops(start: int = 0) -> list[Op]:
    return [
        Op(start, 10, 0, "invoke", "write", 1),
        Op(start + 1, 20, 0, "ok", "write", 1),
        Op(start + 2, 30, 1, "invoke", "read", None),
        Op(start + 3, 40, 1, "ok", "read", 1),
    ]


def _with_crash(node: str = "n2", code: int | None = 70, log: list[str] | None = None) -> History:
    ops = _client_ops()
    ops += [
        Op(4, 50, "nemesis", "invoke", "crash", node),
        Op(5, 50, "nemesis", "info", "crash",
           {"node": node, "exit_code": code, "log": RAFT_LOG if log is None else log}),
    ]
    ops += [Op(6, 60, 0, "invoke", "read", None), Op(7, 70, 0, "ok", "read", 1)]
    return History(ops)


def test_history_without_crash_ops_is_valid():
    faults = [Op(4, 45, "nemesis", "invoke", "start-kill", "one"),
              Op(5, 46, "nemesis", "info", "start-kill", ["n1"])]
    r = Crashes().check({}, History(_client_ops() + faults), None)
    assert r.valid is True and r.anomalies == ()
    assert r.details["crashes"] == 0


def test_a_crash_makes_the_run_invalid_and_names_node_code_and_assertion():
    r = Crashes().check({}, _with_crash(), None)
    assert r.valid is False
    (a,) = r.anomalies
    assert a.kind == "crash" and a.ops == (4, 5)
    assert "n2" in a.explanation
    assert "70" in a.explanation
    assert "AssertionError: term went back" in a.explanation
    assert a.data["node"] == "n2" and a.data["exit_code"] == 70
    assert r.details["nodes"] == ["n2"]


def test_each_crash_is_its_own_anomaly():
    ops = list(_with_crash())
    ops += [Op(8, 80, "nemesis", "invoke", "crash", "n3"),
            Op(9, 81, "nemesis", "info", "crash", {"node": "n3", "exit_code": -9, "log": []})]
    r = Crashes().check({}, History(ops), None)
    assert [a.data["node"] for a in r.anomalies] == ["n2", "n3"]
    assert "SIGKILL" in r.anomalies[1].explanation and "no output" in r.anomalies[1].explanation


def test_a_crash_whose_completion_was_never_written_still_counts():
    ops = _client_ops() + [Op(4, 50, "nemesis", "invoke", "crash", "n1")]
    r = Crashes().check({}, History(ops), None)
    assert r.valid is False
    assert r.anomalies[0].ops == (4,) and "n1" in r.anomalies[0].explanation


def test_telling_line_prefers_the_traceback_exception_line():
    assert telling_line(RAFT_LOG) == "AssertionError: term went back"
    assert telling_line(["a", "AssertionError: x", "shutting down"]) == "AssertionError: x"
    assert telling_line(["starting", "bye"]) == "bye"
    assert telling_line([]) is None


def test_describe_exit_reads_signals():
    assert describe_exit(70) == "exit code 70"
    assert "SIGKILL" in describe_exit(137) and "SIGKILL" in describe_exit(-9)
    assert "unknown" in describe_exit(None)


def test_workload_checkers_flag_a_crash_and_ignore_its_nemesis_ops(tmp_path):
    hist = _with_crash()
    path = tmp_path / "history.jsonl"
    hist.to_jsonl(path)
    back = read_jsonl(path)  # the strict reader accepts the crash pair
    wl = get_workload("register", WorkloadOptions())
    r = wl.checker.check({}, back, tmp_path)
    assert r.valid is False
    assert r.details["crash"]["valid"] is False
    assert r.details["linearizable"]["valid"] is True
    assert r.details["stats"]["details"]["faults"] == []  # a crash is not a fault window
    assert r.details["stats"]["details"]["ops"] == 3
