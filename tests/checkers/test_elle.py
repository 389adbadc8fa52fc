"""Elle-style list-append checker: each anomaly caught and explained, valid histories pass."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checkers.core import UNKNOWN, Result
from checkers.elle import ListAppend, ModelError, check_list_append, parse_models
from checkers.elle.infer import freeze
from checkers.elle.models import boundary, impossible_models, prohibited
from harness.history import History, Op


def a(k: Any, v: Any) -> list[Any]:
    return ["append", k, v]


def r(k: Any, *vs: Any) -> list[Any]:
    return ["r", k, list(vs)]


def blank(mops: list[list[Any]]) -> list[list[Any]]:
    """The invocation's value: reads return nil."""
    return [[f, k, None if f == "r" else v] for f, k, v in mops]


class H:
    """A tiny history builder: ``inv`` and ``done`` append events in order."""

    def __init__(self) -> None:
        self.ops: list[Op] = []
        self.open: dict[int, list[list[Any]]] = {}

    def inv(self, p: int, mops: list[list[Any]]) -> H:
        self.open[p] = mops
        self.ops.append(Op(len(self.ops), len(self.ops), p, "invoke", "txn", blank(mops)))
        return self

    def done(self, p: int, t: str = "ok") -> H:
        mops = self.open.pop(p)
        value = mops if t == "ok" else blank(mops)
        self.ops.append(Op(len(self.ops), len(self.ops), p, t, "txn", value))
        return self

    def txn(self, p: int, mops: list[list[Any]], t: str = "ok") -> H:
        return self.inv(p, mops).done(p, t)

    def history(self) -> History:
        return History(self.ops)


def concurrent(*txns: list[list[Any]]) -> History:
    """All txns invoked, then all completed ok: no realtime or process order between them."""
    h = H()
    for p, m in enumerate(txns):
        h.inv(p, m)
    for p in range(len(txns)):
        h.done(p)
    return h.history()


def check(h: History, *models: str, budget: float = 10.0) -> Result:
    return check_list_append(h, models or ("strict-serializable",), budget)


def kinds(res: Result) -> set[str]:
    return {x.kind for x in res.anomalies}


def only(res: Result, kind: str) -> Any:
    found = [x for x in res.anomalies if x.kind == kind]
    assert found, (kind, kinds(res))
    return found[0]


# ---------------------------------------------------------------- anomalies


def test_g0_write_cycle() -> None:
    h = concurrent([a("x", 1), a("y", 1)], [a("x", 2), a("y", 2)], [r("x", 1, 2), r("y", 2, 1)])
    res = check(h, "read-uncommitted")
    assert res.valid is False
    g0 = only(res, "G0")
    assert set(g0.ops) == {3, 4}  # T1 and T2, named by their completion ops
    assert "appended 1 to key 'x'" in g0.explanation and "(ww)" in g0.explanation
    assert "(wr)" not in g0.explanation and "(rw)" not in g0.explanation
    assert res.details["not"] == ["read-uncommitted"]


def test_g1a_aborted_read() -> None:
    h = H().txn(0, [a("x", 1)], "fail").txn(1, [r("x", 1)]).history()
    res = check(h, "read-committed")
    g1a = only(res, "G1a")
    assert res.valid is False and g1a.ops == (3, 1)
    assert "failed" in g1a.explanation and "T1" in g1a.explanation
    assert res.details["not"] == ["read-committed"]


def test_g1b_intermediate_read() -> None:
    h = concurrent([a("x", 1), a("x", 2)], [r("x", 1)])
    res = check(h, "read-committed")
    g1b = only(res, "G1b")
    assert res.valid is False and "intermediate" in g1b.explanation
    assert g1b.ops == (3, 2)


def test_g1c_circular_information_flow() -> None:
    h = concurrent([a("x", 1), r("y", 1)], [a("y", 1), r("x", 1)])
    res = check(h, "read-committed")
    g1c = only(res, "G1c")
    assert res.valid is False
    assert g1c.explanation.count("(wr)") == 2 and "saw T" in g1c.explanation
    assert "G0" not in kinds(res)


def test_g_single_read_skew() -> None:
    h = concurrent([a("x", 1), a("y", 1)], [r("x"), r("y", 1)])
    res = check(h, "serializable")
    gs = only(res, "G-single-item")
    assert res.valid is False
    assert gs.explanation.count("(rw)") == 1 and "saw it empty" in gs.explanation
    assert res.details["not"] == ["consistent-view", "repeatable-read"]  # Elle's boundary


def test_g2_item_write_skew_is_snapshot_isolation_but_not_serializable() -> None:
    h = concurrent([r("x"), r("y"), a("x", 1)], [r("x"), r("y"), a("y", 1)])
    assert check(h, "snapshot-isolation").valid is True
    res = check(h, "serializable")
    g2 = only(res, "G2-item")
    assert res.valid is False and g2.explanation.count("(rw)") == 2
    assert res.details["not"] == ["repeatable-read"]
    assert kinds(res) == {"G2-item"}


def test_realtime_variant_stale_read() -> None:
    # T1 appends and completes; T2 starts afterwards and still reads the empty list.
    h = H().txn(0, [a("x", 1)]).txn(1, [r("x")]).history()
    assert check(h, "serializable").valid is True  # T2 then T1 is a fine serial order
    res = check(h, "strict-serializable")
    gs = only(res, "G-single-item-realtime")
    assert res.valid is False and "(realtime)" in gs.explanation
    assert "completed (op 1) before T3 was invoked (op 2)" in gs.explanation
    assert res.details["not"] == ["strong-snapshot-isolation"]


def test_process_variant_needs_process_edges() -> None:
    h = H().txn(0, [a("x", 1)]).txn(0, [r("x")]).history()
    res = check(h, "strong-session-snapshot-isolation")
    assert res.valid is False and "G-single-item-process" in kinds(res)
    assert "(process)" in only(res, "G-single-item-process").explanation


def test_incompatible_order() -> None:
    h = concurrent([a("x", 1)], [a("x", 2)], [r("x", 1, 2)], [r("x", 2, 1)])
    res = check(h, "read-committed")
    inc = only(res, "incompatible-order")
    assert res.valid is False and "prefix" in inc.explanation
    assert set(inc.ops) == {6, 7}


def test_duplicate_elements() -> None:
    h = concurrent([a("x", 1)], [r("x", 1, 1)])
    res = check(h, "read-uncommitted")
    assert res.valid is False
    assert "more than once" in only(res, "duplicate-elements").explanation


@pytest.mark.parametrize("mops", [
    [a("x", 3), r("x")],  # its own append is missing
    [r("x", 1), a("x", 3), r("x", 1)],  # read, append, then read without it
    [a("x", 3), r("x", 2)],  # ends with something else
])
def test_internal(mops: list[list[Any]]) -> None:
    h = concurrent([a("x", 1)], [a("x", 2)], mops)
    res = check(h, "serializable")
    assert res.valid is False
    assert "its own earlier" in only(res, "internal").explanation


def test_unobserved_append_comes_after_observed_ones() -> None:
    # T1 appends 1 to x (read by T3); T2 appends 2 to x (never read) and 1 to y; T3 saw
    # x = [1] and T2's y. Only "2 came after every observed element" gives T3 rw T2.
    h = concurrent([a("x", 1)], [a("x", 2), a("y", 1)], [r("x", 1), r("y", 1)])
    res = check(h, "serializable")
    gs = only(res, "G-single-item")
    assert "without T4's append of 2" in gs.explanation


def test_future_read_both_ways() -> None:
    h = concurrent([r("x", 1), a("x", 1)], [r("x", 1)])
    res = check(h, "read-atomic")
    fr = only(res, "future-read")
    assert res.valid is False and fr.ops == (2,)
    assert "micro-op 0 read key 'x' as [1]" in fr.explanation and "only later" in fr.explanation
    assert check(h, "read-uncommitted").valid is True  # PL-1 allows it
    ok = concurrent([a("x", 1), r("x", 1)], [r("x", 1)])  # reading one's own earlier append
    assert check(ok, "read-atomic").valid is True


@pytest.mark.parametrize("via_info", [False, True])
def test_dirty_update_both_ways(via_info: bool) -> None:
    h = H().txn(0, [a("x", 1)], "fail")
    if via_info:
        h.txn(1, [a("x", 3)], "info")
    h.txn(2, [a("x", 2)]).txn(3, [r("x", 1, 3, 2) if via_info else r("x", 1, 2)])
    res = check(h.history(), "read-committed")
    du = only(res, "dirty-update")
    assert res.valid is False and du.ops[:2] == (5 if via_info else 3, 1)
    assert "T1, a txn that failed" in du.explanation
    assert ("indeterminate append of 3" in du.explanation) is via_info
    assert check(h.history(), "read-uncommitted").valid is True
    clean = H().txn(0, [a("x", 1)], "fail").txn(2, [a("x", 2)]).txn(3, [r("x", 2)]).history()
    assert "dirty-update" not in kinds(check(clean, "read-committed"))


def test_lost_update_rules_out_snapshot_isolation_without_a_cycle_it_forbids() -> None:
    # The two rw edges form a G2-item (adjacent rw), which SI allows: only the lost
    # update rules SI out.
    h = concurrent([r("x"), a("x", 1)], [r("x"), a("x", 2)])
    res = check(h, "snapshot-isolation")
    lu = only(res, "lost-update")
    assert res.valid is False and kinds(res) == {"lost-update"} and set(lu.ops) == {2, 3}
    assert "T2 and T3 both read key 'x' as []" in lu.explanation
    assert res.details["not"] == ["cursor-stability", "update-atomic"]
    assert check(h, "read-committed").valid is True
    after = concurrent([r("x"), a("x", 1)], [r("x", 1), a("x", 2)])  # read different versions
    assert "lost-update" not in kinds(check(after, "snapshot-isolation"))


def test_keys_and_elements_of_any_type_are_frozen() -> None:
    h = concurrent([a(["anti", 3], {"v": [1]}), a({"m": 1}, 1)],
                   [r(["anti", 3]), ["r", {"m": 1}, [1]]])
    res = check(h, "serializable")
    gs = only(res, "G-single-item")
    assert "key ['anti' 3]" in gs.explanation and "{'v' [1]}" in gs.explanation
    assert freeze({"a": 1}) != freeze([["a", 1]]) and hash(freeze({"a": [1]})) == hash(freeze({"a": [1]}))
    assert freeze([1, [2, {"b": 3}]]) == (1, (2, freeze({"b": 3})))


# ------------------------------------------------------------- valid ones


def test_concurrent_serializable_history_is_valid() -> None:
    h = H()
    h.inv(0, [a("x", 1)]).inv(1, [r("x", 1), a("y", 1)]).done(0).done(1)
    h.txn(2, [r("x", 1), r("y", 1), a("x", 2)]).txn(0, [r("x", 1, 2)])
    res = check(h.history(), "strict-serializable")
    assert res.valid is True, [x.explanation for x in res.anomalies]
    assert res.anomalies == () and res.details["not"] == []


def test_info_txn_may_or_may_not_have_happened() -> None:
    h = H()
    h.inv(0, [a("x", 1)]).done(0, "info")  # indeterminate, its append is seen later
    h.txn(1, [r("x", 1)]).txn(2, [a("x", 2)]).txn(1, [r("x", 1, 2)])
    assert check(h.history()).valid is True


def test_failed_and_unread_appends_are_harmless() -> None:
    h = H().txn(0, [a("x", 1)], "fail").txn(1, [r("x")]).txn(1, [a("x", 2)]).history()
    assert check(h).valid is True


# ------------------------------------------------------------------ budget


def test_timeout_never_reports_valid() -> None:
    h = concurrent([r("x"), r("y"), a("x", 1)], [r("x"), r("y"), a("y", 1)])
    res = check(h, "serializable", budget=0.0)
    assert res.valid is False
    assert "cycle-search-timeout" in kinds(res)
    # Elle's canonical names: PL-2.99 (repeatable-read) is the weakest model this cycle rules
    # out, so serializable's PL-3 one is redundant and left out, as Elle does.
    assert "PL-2.99-cycle-exists" in kinds(res) and "PL-3-cycle-exists" not in kinds(res)
    assert res.details["not"] == ["repeatable-read"]


def test_timeout_without_a_forbidden_cycle_is_unknown() -> None:
    # consistent-view (PL-2+) has no cheap cycle-exists test: an unfinished search is unknown.
    h = concurrent([a("x", 1), a("y", 1)], [r("x"), r("y", 1)])
    res = check(h, "consistent-view", budget=0.0)
    assert res.valid == UNKNOWN and "ran out" in res.details["reason"]
    assert check(h, "consistent-view").valid is False


def test_not_a_list_append_history_is_unknown() -> None:
    h = History([Op(0, 0, 0, "invoke", "txn", [["w", "x", 1]]), Op(1, 1, 0, "ok", "txn", [["w", "x", 1]])])
    res = check(h)
    assert res.valid == UNKNOWN and "micro-op" in res.details["error"]


def test_register_history_given_to_the_elle_checker_is_not_valid() -> None:
    """No txn at all but client ops: judging zero txns would call it valid."""
    h = History([Op(0, 0, 0, "invoke", "write", 1), Op(1, 1, 0, "ok", "write", 1)])
    res = check(h, "serializable")
    assert res.valid == UNKNOWN and "no txn op" in res.details["error"]
    empty = check(History([]), "serializable")  # no edges: Elle's empty-transaction-graph
    assert empty.valid == UNKNOWN and kinds(empty) == {"empty-transaction-graph"}


@pytest.mark.parametrize("second", [[a("x", 1)], [a("y", 2), a("x", 1)]])
def test_duplicate_appends_are_refused(second: list[list[Any]]) -> None:
    """Edges come from "who appended this element": two writers of one element are bad input."""
    h = H().txn(0, [a("x", 1), r("x", 1)]).txn(1, second).history()
    res = check(h, "serializable")
    assert res.valid == UNKNOWN and "already appended" in res.details["error"]
    same_txn = H().txn(0, [a("x", 1), a("x", 1)]).history()
    assert "already appended" in check(same_txn).details["error"]
    other_key = H().txn(0, [a("x", 1)]).txn(1, [a("y", 1), r("y", 1), r("x", 1)]).history()
    assert check(other_key, "serializable").valid is True  # equal elements of two keys are fine


def test_two_txn_g_single_is_a_snapshot_isolation_cycle_even_unsearched() -> None:
    """T1 -rw-> T2 -wr-> T1: the one-rw-hop extension makes it a self-loop, still a cycle."""
    h = concurrent([r("x"), r("y", 1)], [a("x", 1), a("y", 1)])
    res = check(h, "snapshot-isolation", budget=0.0)
    assert res.valid is False
    ce = only(res, "PL-SI-cycle-exists")
    assert len(ce.ops) == 2 and res.details["not"] == ["snapshot-isolation"]


def test_g_single_found_across_a_long_realtime_chain() -> None:
    """The rank pruning (topological order of the way-back subgraph) keeps the far-back path."""
    h = H().txn(0, [a("x", 1)])
    for i in range(30):
        h.txn(1 + i % 3, [a("k", i)])
    h.txn(0, [r("x")])  # reads x empty long after T0 appended to it
    res = check(h.history(), "strict-serializable")
    assert "G-single-item-realtime" in kinds(res) and res.valid is False


# ------------------------------------------------------------------ models


def test_model_names_and_table() -> None:
    assert parse_models("snapshot-isolation, strong-serializable") == (
        "snapshot-isolation", "strict-serializable")
    with pytest.raises(ModelError):
        parse_models("snapshot-isolaton")
    with pytest.raises(ModelError):
        ListAppend(consistency_models=("nope",))
    assert "G2-item" in prohibited(["repeatable-read"])
    assert "G-single-item" in prohibited(["repeatable-read"])  # its rw edge is an item one
    assert "G-single-item" in prohibited(["snapshot-isolation"])
    assert "G2-item" not in prohibited(["snapshot-isolation"])
    assert boundary(["G2-item-realtime"])[0] == ["strict-serializable"]
    assert boundary(["G1c"])[0] == ["read-committed"]
    # Elle's lattice: the boundaries its own docs and tests give.
    assert boundary(["G-single-item"])[0] == ["consistent-view", "repeatable-read"]
    assert boundary(["G-nonadjacent-item"])[0] == ["repeatable-read", "snapshot-isolation"]
    assert boundary(["lost-update"])[0] == ["cursor-stability", "update-atomic"]
    assert boundary(["future-read"])[0] == ["read-committed"]
    assert boundary(["dirty-update"])[0] == ["read-committed"]
    assert boundary(["internal"])[0] == ["read-atomic"]
    assert boundary(["G-single-item-process"])[0] == ["strong-session-snapshot-isolation"]
    assert parse_models("PL-2.99,PL-SI,PL-3") == ("repeatable-read", "snapshot-isolation",
                                                  "serializable")
    assert "lost-update" in prohibited(["snapshot-isolation"])
    assert "lost-update" not in prohibited(["read-committed"])
    assert "future-read" in prohibited(["read-atomic"]) and "dirty-update" in prohibited(["read-committed"])


def test_checker_protocol_and_artifacts(tmp_path: Any) -> None:
    h = concurrent([a("x", 1), r("y", 1)], [a("y", 1), r("x", 1)])
    res = ListAppend(("serializable",)).check({}, h, tmp_path)
    assert res.valid is False
    assert "G1c" in (tmp_path / "elle" / "anomalies.txt").read_text()


# -------------------------------------------------------------- property


def _serial_history(seed: int, n: int, keys: int, processes: int) -> History:
    """Random txns executed one at a time against a real list-append store."""
    rng = random.Random(seed)
    store: dict[int, list[int]] = {}
    counter: dict[int, int] = {}
    h = H()
    for _ in range(n):
        mops: list[list[Any]] = []
        for _ in range(rng.randint(1, 4)):
            k = rng.randrange(keys)
            if rng.random() < 0.5:
                counter[k] = counter.get(k, 0) + 1
                mops.append(a(k, counter[k]))
            else:
                mops.append(["r", k, None])
        fate = rng.choices(["ok", "fail", "info"], [8, 1, 1])[0]
        apply = fate == "ok" or (fate == "info" and rng.random() < 0.5)
        local = {k: list(v) for k, v in store.items()}
        done = []
        for f, k, v in mops:
            if f == "append":
                local.setdefault(k, []).append(v)
                done.append([f, k, v])
            else:
                done.append([f, k, list(local.get(k, []))])
        if apply:
            store = local
        p = rng.randrange(processes)
        while p in h.open:
            p += processes
        h.inv(p, done).done(p, fate)
    return h.history()


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32), st.integers(1, 60), st.integers(1, 5), st.integers(1, 4))
def test_serial_histories_are_strict_serializable(seed: int, n: int, keys: int, procs: int) -> None:
    res = check(_serial_history(seed, n, keys, procs), "strict-serializable")
    if res.details["edges"] == 0:  # e.g. one txn: nothing to check, as Elle says
        assert res.valid == UNKNOWN and kinds(res) == {"empty-transaction-graph"}
    else:
        assert res.valid is True, [x.explanation for x in res.anomalies]


def test_serial_generator_can_fail_the_checker() -> None:
    """The property above can fail: corrupting one read of a serial history is caught."""
    h = _serial_history(7, 40, 2, 3)
    ops = list(h)
    for i, o in enumerate(ops):
        if o.type == "ok" and any(m[0] == "r" and len(m[2]) >= 2 for m in o.value):
            value = [[f, k, v[:-1] if f == "r" and len(v) >= 2 else v] for f, k, v in o.value]
            ops[i] = o.with_(value=value)
            break
    else:
        pytest.fail("no read of two elements to corrupt")
    assert check(History(ops), "strict-serializable").valid is False


# ------------------------------------------------------------------ import


def test_cli_check_routes_a_jsonl_txn_history_to_elle(tmp_path: Any) -> None:
    """A list-append run's history.jsonl names no model: it must not go to cas-register."""
    from harness.check import check_path

    path = tmp_path / "history.jsonl"
    H().txn(0, [a("x", 1)]).txn(0, [r("x")]).history().to_jsonl(path)
    out = check_path(path)
    assert out["model"] == "list-append" and out["verdict"] == "invalid"
    assert "G-single-item-realtime" in out["anomaly_types"]


def test_jepsen_edn_import(tmp_path: Any) -> None:
    from harness.formats import load_history

    p = tmp_path / "h.edn"
    p.write_text(
        "; a comment line\n"
        "{:type :invoke, :f :txn, :value [[:append :x 1] [:r :y nil]], :process 0, :index 0}\n"
        "{:type :ok, :f :txn, :value [[:append :x 1] [:r :y [2 3]]], :process 0, :index 1}\n",
        encoding="utf-8",
    )
    lh = load_history(p)
    assert (lh.format, lh.model) == ("jepsen-edn", "list-append")
    assert lh.history[1].value == [["append", "x", 1], ["r", "y", [2, 3]]]
    assert type(lh.history[1].value[0][0]) is str  # plain strings, not EDN keywords
    assert load_history(p, "elle").format == "jepsen-edn"


# ------------------------------------------- the lattice against Elle's own tables
# The sets Elle's consistency-model tests expect (its friendly name for PL-SS there is
# strong-serializable; ours is strict-serializable).

_RC_PROHIBITS = {"dirty-update", "G1a", "G1b", "G1c", "G1", "G0", "PL-1-cycle-exists",
                 "PL-2-cycle-exists", "cyclic-versions", "duplicate-elements",
                 "incompatible-order", "future-read"}
_TOP = {"strict-serializable", "serializable", "strong-session-serializable",
        "strong-session-snapshot-isolation", "strong-snapshot-isolation"}
_IMPOSSIBLE = {
    "G-single": _TOP | {"consistent-view", "forward-consistent-view", "snapshot-isolation",
                        "update-serializable"},
    "G-SI": _TOP | {"snapshot-isolation"},
    "internal": _TOP | {"causal-cerone", "parallel-snapshot-isolation", "prefix", "read-atomic",
                        "update-atomic", "snapshot-isolation"},
    "dirty-update": _TOP | {
        "read-committed", "monotonic-atomic-view", "snapshot-isolation", "repeatable-read",
        "update-atomic", "update-serializable", "cursor-stability", "forward-consistent-view",
        "consistent-view", "monotonic-view", "monotonic-snapshot-read", "causal-cerone",
        "parallel-snapshot-isolation", "prefix", "read-atomic", "strong-session-read-committed",
        "strong-read-committed"},
}


def test_read_committed_prohibits_what_elle_says() -> None:
    assert prohibited(["read-committed"]) == _RC_PROHIBITS


@pytest.mark.parametrize("anomaly", sorted(_IMPOSSIBLE))
def test_impossible_models_as_elle_says(anomaly: str) -> None:
    assert impossible_models([anomaly]) == _IMPOSSIBLE[anomaly]


def test_boundaries_as_elle_says() -> None:
    nots, also = boundary(["cyclic-versions"])
    assert nots == ["read-uncommitted"]
    assert set(also) == _IMPOSSIBLE["dirty-update"] | {"strong-read-uncommitted",
                                                       "strong-session-read-uncommitted"}
    assert boundary(["internal"])[0] == ["read-atomic"]
    assert boundary([]) == ([], [])


@pytest.mark.parametrize("one, other", [(1, True), (0, False), (1, 1.0), ([1, 2], [True, 2.0])])
def test_keys_that_python_equates_stay_distinct(one: Any, other: Any) -> None:
    """EDN/JSON (and Elle) tell 1 from true and from 1.0; Python's == and hash do not.
    Conflated keys turned this valid history into G-single-item + incompatible-order + internal."""
    keys = H().txn(0, [a(one, "a")]).txn(1, [a(other, "b")]).txn(2, [r(one, "a"), r(other, "b")])
    res = check(keys.history(), "strict-serializable")
    assert res.valid is True, [x.explanation for x in res.anomalies]


@pytest.mark.parametrize("one, other", [(1, True), (0, False), (1, 1.0)])
def test_elements_that_python_equates_stay_distinct(one: Any, other: Any) -> None:
    """Conflated elements refused a valid history as appending one element twice."""
    elems = H().txn(0, [a("x", one)]).txn(1, [a("x", other)]).txn(2, [r("x", one, other)])
    res = check(elems.history(), "strict-serializable")
    assert res.valid is True, [x.explanation for x in res.anomalies]
    stale = H().txn(0, [a("x", one)]).txn(1, [a("x", other)]).txn(2, [r("x", one)])
    assert "G-single-item-realtime" in kinds(check(stale.history(), "strict-serializable"))


def test_future_read_search_is_linear_in_a_long_txn(tmp_path: Any) -> None:
    """One txn with 800 reads of a 2000-element list, then 800 appends to that key: every
    append scanned every earlier read (1.3e9 comparisons, ~19 s). The last append is a
    future read (of the last read only) and must still be reported.
    (The subprocess timeout is a loose hang guard, not a timing claim.)"""
    import subprocess
    import sys

    n_reads, length = 800, 2000
    seen = list(range(length))
    mops = [r("x", *seen) for _ in range(n_reads - 1)] + [r("x", *seen, 10**6)]
    mops += [a("x", length + i) for i in range(n_reads - 1)] + [a("x", 10**6)]
    h = H().txn(0, mops).history()
    path = tmp_path / "history.jsonl"
    h.to_jsonl(path)
    code = ("import sys; from harness.formats import load_history; "
            "from checkers.elle import check_list_append; "
            "res = check_list_append(load_history(sys.argv[1]).history, ['read-committed'], 60); "
            "print([(x.kind, x.data.get('mop')) for x in res.anomalies if x.kind == 'future-read'])")
    r_ = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=10)
    assert r_.returncode == 0, r_.stderr
    assert r_.stdout.strip() == f"[('future-read', {n_reads - 1})]"


def test_internal_check_is_linear_in_a_txn_with_many_appends(tmp_path: Any) -> None:
    """One txn reading x, appending 100k elements to it and reading it again: the expected
    state was rebuilt as a new tuple per append (quadratic, ~27 s). A wrong final read is
    still an internal anomaly. (The subprocess timeout is a loose hang guard.)"""
    import subprocess
    import sys

    n = 100_000
    good = [r("x")] + [a("x", i) for i in range(n)] + [r("x", *range(n))]
    bad = [r("y")] + [a("y", i) for i in range(n)] + [r("y", *range(n - 1))]
    path = tmp_path / "history.jsonl"
    H().txn(0, good).txn(1, bad).history().to_jsonl(path)
    code = ("import sys; from harness.formats import load_history; "
            "from checkers.elle import check_list_append; "
            "res = check_list_append(load_history(sys.argv[1]).history, ['serializable'], 60); "
            "print(sorted((x.kind, x.data.get('key')) for x in res.anomalies if x.kind == 'internal'))")
    r_ = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=10)
    assert r_.returncode == 0, r_.stderr
    assert r_.stdout.strip() == "[('internal', 'y')]"
