from checkers.core import UNKNOWN, Anomaly, Compose, Result, merge_valid
from checkers.stats import Perf, Stats, fault_intervals
from harness.history import History, Op


class Const:
    def __init__(self, v):
        self.v = v

    def check(self, test, history, out_dir):
        return Result(self.v, (Anomaly("x", "explained", (1,)),) if self.v is False else ())


class Boom:
    def check(self, test, history, out_dir):
        raise RuntimeError("checker bug")


def test_merge_false_beats_unknown_beats_true():
    assert merge_valid([True, True]) is True
    assert merge_valid([True, UNKNOWN]) == UNKNOWN
    assert merge_valid([UNKNOWN, False, True]) is False
    assert merge_valid([]) is True


def test_raising_checker_gives_unknown_not_crash():
    r = Compose({"a": Const(True), "b": Boom()}).check({}, History([]), None)
    assert r.valid == UNKNOWN
    assert "checker bug" in r.details["b"]["details"]["error"]


def test_compose_collects_anomalies():
    r = Compose({"a": Const(False), "b": Const(True)}).check({}, History([]), None)
    assert r.valid is False
    assert r.anomalies[0].ops == (1,)


def _h():
    return History([
        Op(0, 0, 0, "invoke", "read"), Op(1, 5_000_000, 0, "ok", "read", 1),
        Op(2, 6_000_000, "nemesis", "invoke", "start-pause", "one"),
        Op(3, 7_000_000, "nemesis", "info", "start-pause", ["n1"]),
        Op(4, 8_000_000, 0, "invoke", "write", 2), Op(5, 9_000_000, 0, "info", "write", 2),
        Op(6, 9_500_000, 7, "invoke", "write", 3), Op(7, 9_600_000, 7, "fail", "write", 3),
        Op(8, 10_000_000, "nemesis", "invoke", "stop-pause"),
        Op(9, 11_000_000, "nemesis", "info", "stop-pause", ["n1"]),
    ])


def test_fault_intervals_pair_start_and_stop():
    # from the start op's invocation (the fault may act while it runs) to the stop's completion
    assert fault_intervals(_h()) == [("pause", 6_000_000, 11_000_000)]


def test_stats_counts_by_f_and_availability():
    r = Stats().check({}, _h(), None)
    assert r.valid is True
    assert r.details["by_f"]["write"] == {"ok": 0, "fail": 1, "info": 1}
    assert r.details["availability"] == 1 / 3
    assert r.details["availability_during_faults"] == 0.0


def test_stats_unknown_when_nothing_succeeded():
    h = History([Op(0, 0, 0, "invoke", "read"), Op(1, 1, 0, "fail", "read")])
    assert Stats().check({}, h, None).valid == UNKNOWN


def _tries(f, outcomes, start=0):
    ops = []
    for k, t in enumerate(outcomes):
        i = start + 2 * k
        ops += [Op(i, i, k % 3, "invoke", f), Op(i + 1, i + 1, k % 3, t, f)]
    return ops


def test_stats_invalid_when_a_function_never_succeeded_jepsen_style():
    # every write fails (9 fail, 1 indeterminate) while reads work: invalid, named
    h = History(_tries("read", ["ok"] * 12) + _tries("write", ["fail"] * 9 + ["info"], start=24))
    r = Stats(never_ok_min=10).check({}, h, None)
    assert r.valid is False and r.details["never_succeeded"] == ["write"]
    (a,) = r.anomalies
    assert a.kind == "never-succeeded" and "write was invoked 10 times" in a.explanation
    assert a.ops == (24, 26, 28) and a.data["fail"] == 9 and a.data["info"] == 1
    # one ok is enough; fewer tries than the floor are not judged
    assert Stats(never_ok_min=10).check({}, History(_tries("read", ["ok"] * 3) + _tries(
        "write", ["fail"] * 9 + ["ok"], start=6)), None).valid is True
    assert Stats().check({}, History(_tries("read", ["ok"] * 3) + _tries(
        "write", ["fail"] * 49, start=6)), None).valid is True  # under the default floor (50)
    assert Stats(never_ok_min=3).check({}, History(_tries("read", ["ok"] * 3) + _tries(
        "write", ["fail"] * 3, start=6)), None).valid is False


def test_stats_invalid_when_ten_ops_and_none_succeeded_unknown_below():
    # an unresponsive system: every op times out, so few are tried, none ok
    h = History(_tries("read", ["fail"] * 6) + _tries("write", ["info"] * 4, start=12))
    r = Stats().check({}, h, None)
    (a,) = r.anomalies
    assert r.valid is False and a.kind == "nothing-succeeded" and a.data == {"ops": 10}
    assert "none of 10 client operations succeeded" in a.explanation
    assert Stats().check({}, History(_tries("read", ["fail"] * 9)), None).valid == UNKNOWN


def test_perf_latency_quantiles():
    r = Perf().check({}, _h(), None)
    assert r.details["latency_ms"]["read"]["ok"]["p50"] == 5.0
    assert r.details["latency_ms"]["write"]["fail"]["n"] == 1


def test_stats_invalid_when_nothing_succeeded_after_the_final_heal():
    main = _tries("read", ["ok"] * 40)
    heal = [Op(80, 80, "nemesis", "invoke", "stop-partition"),
            Op(81, 81, "nemesis", "info", "stop-partition", "healed")]
    final = _tries("read", ["fail"] * 3, start=82)
    r = Stats().check({}, History(main + heal + final), None)
    (a,) = r.anomalies
    assert r.valid is False and a.kind == "no-recovery" and a.ops == (82, 84, 86)
    assert "none of the 3 client operations invoked after the final heal" in a.explanation
    # one final op ok, fewer than 3 after the heal, or faults not ending with a heal: valid
    ok_one = _tries("read", ["fail", "fail", "ok"], start=82)
    assert Stats().check({}, History(main + heal + ok_one), None).valid is True
    assert Stats().check({}, History(main + heal + final[:4]), None).valid is True
    start = [Op(80, 80, "nemesis", "invoke", "start-kill"), Op(81, 81, "nemesis", "info",
                                                             "start-kill", ["n1"])]
    assert Stats().check({}, History(main + start + final), None).valid is True
