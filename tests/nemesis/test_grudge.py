"""The grudge algebra: exhaustive over small clusters, hypothesis over random ones."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nemesis import grudge as gr

NODES = [f"n{i}" for i in range(1, 10)]
sizes = st.integers(min_value=1, max_value=9)
seeds = st.integers(min_value=0, max_value=2**32)


def nodes_of(n: int) -> list[str]:
    return NODES[:n]


def test_complete_grudge_cuts_exactly_between_components() -> None:
    g = gr.complete_grudge([["n1", "n2"], ["n3"], ["n4", "n5"]])
    assert g == {
        "n1": frozenset({"n3", "n4", "n5"}),
        "n2": frozenset({"n3", "n4", "n5"}),
        "n3": frozenset({"n1", "n2", "n4", "n5"}),
        "n4": frozenset({"n1", "n2", "n3"}),
        "n5": frozenset({"n1", "n2", "n3"}),
    }


def test_complete_grudge_refuses_overlapping_components() -> None:
    with pytest.raises(ValueError, match="overlap"):
        gr.complete_grudge([["n1", "n2"], ["n2", "n3"]])


@given(sizes)
def test_bisect_is_symmetric_minority_first(n: int) -> None:
    nodes = nodes_of(n)
    g = gr.bisect(nodes)
    assert gr.is_symmetric(g)
    vs = gr.views(nodes, g)
    sides = {v for v in vs.values()}
    if n >= 2:
        assert len(sides) == 2
        small, big = sorted(sides, key=len)
        assert len(small) == n // 2 and len(big) == n - n // 2
        assert small | big == frozenset(nodes) and not small & big
    for node in nodes:
        assert node not in g[node]


@given(sizes, seeds)
def test_isolate_one_cuts_one_node_from_all_others(n: int, seed: int) -> None:
    nodes = nodes_of(n)
    g = gr.isolate_one(nodes, random.Random(seed))
    assert gr.is_symmetric(g)
    alone = [x for x in nodes if gr.views(nodes, g)[x] == {x}]
    if n >= 3:
        assert len(alone) == 1
        others = frozenset(nodes) - set(alone)
        assert all(gr.views(nodes, g)[o] == others for o in others)


def test_isolate_named_node_and_unknown_node() -> None:
    g = gr.isolate(["n1", "n2", "n3"], "n2")
    assert g["n2"] == {"n1", "n3"} and g["n1"] == {"n2"} and g["n3"] == {"n2"}
    with pytest.raises(ValueError):
        gr.isolate(["n1", "n2"], "n9")


@given(st.integers(min_value=3, max_value=9), seeds)
def test_majorities_ring_every_node_sees_a_majority(n: int, seed: int) -> None:
    nodes = nodes_of(n)
    g = gr.majorities_ring(nodes, random.Random(seed))
    assert gr.is_symmetric(g)
    vs = gr.views(nodes, g)
    for node, view in vs.items():
        assert node in view
        assert len(view) >= n // 2 + 1, (node, view)
    if n >= 5:
        # nobody hears everyone, and the majorities differ between nodes
        assert all(len(v) < n for v in vs.values())
        assert len(set(vs.values())) == n


@given(st.integers(min_value=3, max_value=9))
def test_bridge_middle_sees_both_sides_which_see_only_it(n: int) -> None:
    nodes = nodes_of(n)
    g = gr.bridge(nodes)
    assert gr.is_symmetric(g)
    vs = gr.views(nodes, g)
    middle = [x for x in nodes if vs[x] == frozenset(nodes)]
    assert len(middle) == 1
    m = middle[0]
    left = vs[nodes[0]] - {m}
    right = frozenset(nodes) - left - {m}
    assert left and right and not left & right
    for a in left:
        assert vs[a] == left | {m}
    for b in right:
        assert vs[b] == right | {m}


def test_one_way_is_asymmetric() -> None:
    g = gr.one_way(["n1"], ["n2", "n3"])
    assert g == {"n2": frozenset({"n1"}), "n3": frozenset({"n1"})}
    assert not gr.is_symmetric(g)
    assert "n1" not in g  # n1 still hears n2 and n3


@given(st.sets(st.sampled_from(NODES), min_size=1), st.sets(st.sampled_from(NODES), min_size=1))
def test_one_way_never_drops_self(src: set[str], dst: set[str]) -> None:
    g = gr.one_way(src, dst)
    assert set(g) == dst
    for d, drops in g.items():
        assert d not in drops and drops == frozenset(src) - {d}


def test_grudge_to_json_sorted_and_without_empty_entries() -> None:
    assert gr.grudge_to_json({"n2": frozenset({"n3", "n1"}), "n1": frozenset()}) == {
        "n2": ["n1", "n3"]
    }
