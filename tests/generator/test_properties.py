"""Hypothesis properties over random generator trees."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import harness.generator as gen
from harness.generator import simulate

from .helpers import MS, assert_well_formed, counter_fn

# A generator tree is described as nested tuples (readable when hypothesis
# shrinks a failure) and compiled by build().
Tree = Any

leaves = st.one_of(
    st.sampled_from(["a", "b"]).map(lambda f: ("op", f)),
    st.just(("fn",)),
    st.one_of(st.integers(0, 3), st.none()).map(lambda n: ("repeat", n)),
    st.sampled_from([0.0, 0.001, 0.004]).map(lambda s: ("sleep", s)),
    st.just(("log",)),
    st.just(("none",)),
)


def _extend(children: st.SearchStrategy[Tree]) -> st.SearchStrategy[Tree]:
    small = st.lists(children, min_size=0, max_size=3)
    dt = st.sampled_from([0.0005, 0.002, 0.01])
    return st.one_of(
        st.tuples(st.just("limit"), st.integers(0, 6), children),
        st.tuples(st.just("time_limit"), dt, children),
        st.tuples(st.just("stagger"), dt, children),
        st.tuples(st.just("delay"), dt, children),
        st.tuples(st.just("mix"), small),
        st.tuples(st.just("any"), small),
        st.tuples(st.just("concat"), small),
        st.tuples(st.just("phases"), small),
        st.tuples(st.just("cycle"), st.integers(1, 3), children),
        st.tuples(st.just("once"), children),
        st.tuples(st.just("flip_flop"), children, children),
        st.tuples(st.just("until_ok"), children),
        st.tuples(st.just("clients"), children),
        st.tuples(st.just("nemesis"), children),
        st.tuples(st.just("each_thread"), children),
        st.tuples(st.just("on_threads"), st.frozensets(st.integers(0, 3)), children),
        st.tuples(st.just("reserve"), st.integers(0, 2), children, children),
        st.tuples(st.just("synchronize"), children),
    )


trees = st.recursive(leaves, _extend, max_leaves=12)

_FN = counter_fn("fn")


def build(t: Tree) -> Any:
    k = t[0]
    if k == "op":
        return {"f": t[1]}
    if k == "fn":
        return _FN
    if k == "repeat":
        return gen.repeat({"f": "rep"}, t[1])
    if k == "sleep":
        return gen.sleep(t[1])
    if k == "log":
        return gen.log("hello")
    if k == "none":
        return None
    if k in ("mix", "concat", "phases", "any"):
        kids = [build(c) for c in t[1]]
        return gen.mix(kids) if k == "mix" else getattr(gen, k)(*kids)
    if k in ("limit", "time_limit", "stagger", "delay"):
        return getattr(gen, k)(t[1], build(t[2]))
    if k == "cycle":
        return gen.cycle(build(t[2]), t[1])
    if k == "flip_flop":
        return gen.flip_flop(build(t[1]), build(t[2]))
    if k == "on_threads":
        return gen.on_threads(t[1], build(t[2]))
    if k == "reserve":
        return gen.reserve(t[1], build(t[2]), build(t[3]))
    return getattr(gen, k)(build(t[1]))


SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
RUN = {"concurrency": 3, "latency_ns": MS, "limit": 300, "include_meta": True}


def _invocations(h: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every dispatched op, meta ops included: per process, events alternate invoke/complete."""
    open_: set[Any] = set()
    out = []
    for o in h:
        p = o["process"]
        if p in open_:
            open_.remove(p)
        else:
            open_.add(p)
            out.append(o)
    assert not open_
    return out


def _history_only(h: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in h if o["type"] not in ("sleep", "log")]


@SETTINGS
@given(trees, st.integers(0, 2**16))
def test_histories_are_well_formed_and_reproducible(tree: Tree, seed: int) -> None:
    g = build(tree)
    h = simulate(g, seed=seed, **RUN)
    assert_well_formed(_history_only(h), 3)
    assert simulate(g, seed=seed, **RUN) == h


@SETTINGS
@given(st.integers(0, 20), trees, st.integers(0, 2**16))
def test_limit_never_emits_more_than_n(n: int, tree: Tree, seed: int) -> None:
    h = simulate(gen.limit(n, gen.cycle(build(tree), 5)), seed=seed, **RUN)
    assert len(_invocations(h)) <= n


@SETTINGS
@given(st.sampled_from([0.001, 0.003, 0.02]), trees, st.integers(0, 2**16))
def test_time_limit_never_emits_at_or_after_its_deadline(
    dt_s: float, tree: Tree, seed: int
) -> None:
    g = gen.time_limit(dt_s, gen.cycle(build(tree), 50))
    h = simulate(g, seed=seed, **RUN)
    inv = _invocations(h)
    if inv:
        deadline = inv[0]["time_ns"] + int(round(dt_s * 1e9))
        assert all(o["time_ns"] < deadline for o in inv)


@SETTINGS
@given(trees, st.integers(0, 2**16))
def test_clients_and_nemesis_keep_to_their_threads(tree: Tree, seed: int) -> None:
    g = gen.any(gen.clients(build(tree)), gen.nemesis(build(tree)))
    h = simulate(g, seed=seed, **RUN)
    assert_well_formed(_history_only(h), 3)
