"""The cache node core: versions, cas, TTL, LRU, leases, the moved-range rule, bug switches."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from systems.cache.node import (
    BUGS,
    CACHE_CALL_S,
    FLUSH_GAP_MS,
    INVALIDATE_TRIES,
    WRITER_RETRY_MS,
    CacheCore,
    Hit,
    Miss,
    NotStored,
    Stored,
    member_since,
    owner_since,
)
from systems.cache.ring import Ring


def fill(c: CacheCore, key: str, value: object, epoch: int = 0) -> Stored | NotStored:
    miss = c.get(key)
    assert isinstance(miss, Miss) and miss.lease is not None
    return c.set(key, value, lease=miss.lease, epoch=epoch)


def test_miss_lease_fill_then_hit_with_a_version() -> None:
    c = CacheCore()
    assert isinstance(fill(c, "k", 1), Stored)
    hit = c.get("k")
    assert isinstance(hit, Hit) and hit.value == 1 and hit.version > 0


def test_versions_grow_and_cas_checks_them() -> None:
    c = CacheCore()
    v1 = c.set("k", "a")
    assert isinstance(v1, Stored)
    v2 = c.cas("k", "b", v1.version)
    assert isinstance(v2, Stored) and v2.version > v1.version
    assert c.cas("k", "c", v1.version) == NotStored("exists")
    assert c.cas("nope", "c", 1) == NotStored("not-found")
    assert c.get("k") == Hit("b", v2.version)


def test_only_one_lease_outstanding_until_it_expires() -> None:
    c = CacheCore(lease_ticks=5)
    first = c.get("k")
    assert isinstance(first, Miss) and first.lease is not None
    assert c.get("k") == Miss(None)  # second reader: read the store, do not fill
    c.tick(5)
    again = c.get("k")
    assert isinstance(again, Miss) and again.lease not in (None, first.lease)
    assert c.set("k", 1, lease=first.lease) == NotStored("lease")  # expired lease


def test_the_stale_set_race_is_stopped_by_the_lease() -> None:
    """Reader misses (lease), reads the store (old value); a writer updates the store and
    deletes; the reader's fill with the old value must be rejected."""
    c = CacheCore()
    miss = c.get("k")
    assert isinstance(miss, Miss) and miss.lease is not None
    c.delete("k")  # the writer's invalidation lands between the store read and the fill
    assert c.set("k", "old", lease=miss.lease) == NotStored("lease")
    assert isinstance(c.get("k"), Miss)


def test_no_lease_bug_lets_the_stale_fill_land() -> None:
    c = CacheCore(bugs={"no-lease"})
    miss = c.get("k")
    assert isinstance(miss, Miss) and miss.lease is not None
    c.delete("k")
    assert isinstance(c.set("k", "old", lease=miss.lease), Stored)
    assert c.get("k") == Hit("old", 2)


def test_delete_invalidates_and_no_invalidate_bug_keeps_the_item() -> None:
    good, bad = CacheCore(), CacheCore(bugs={"no-invalidate"})
    for c in (good, bad):
        fill(c, "k", "v1")
    assert good.delete("k") is True and isinstance(good.get("k"), Miss)
    assert bad.delete("k") is False and isinstance(bad.get("k"), Hit)


def test_ttl_in_ticks() -> None:
    c = CacheCore()
    c.set("k", 1, ttl_ticks=3)
    c.tick(2)
    assert isinstance(c.get("k"), Hit)
    c.tick(1)
    assert isinstance(c.get("k"), Miss)
    assert c.stats()["items"] == 0
    with pytest.raises(ValueError):
        c.set("k", 1, ttl_ticks=-1)


def test_lru_evicts_least_recently_used_within_the_memory_limit() -> None:
    c = CacheCore(memory_limit=3 * (1 + 1 + 48))  # three one-char items
    for k in "abc":
        c.set(k, 1)
    assert isinstance(c.get("a"), Hit)  # a becomes most recent
    c.set("d", 1)  # evicts b
    assert isinstance(c.get("b"), Miss)
    assert all(isinstance(c.get(k), Hit) for k in "acd")
    assert c.evictions == 1 and c.used <= c.memory_limit
    assert c.set("big", "x" * 500) == NotStored("too-large")


@settings(max_examples=50, deadline=None)
@given(ops=st.lists(st.tuples(st.sampled_from(["set", "get", "del", "tick"]),
                              st.sampled_from("abcdefg"), st.integers(0, 40)), max_size=80))
def test_memory_never_exceeds_the_limit_and_accounting_is_exact(
        ops: list[tuple[str, str, int]]) -> None:
    c = CacheCore(memory_limit=300)
    for op, key, n in ops:
        if op == "set":
            c.set(key, "x" * n, ttl_ticks=n % 3)
        elif op == "get":
            c.get(key)
        elif op == "del":
            c.delete(key)
        else:
            c.tick(n % 3)
        assert c.used <= 300
        assert c.used == sum(i.size for i in c._items.values())


def test_owner_since_finds_the_start_of_the_current_ownership() -> None:
    r1 = Ring(["a", "b"], 50)
    r2 = r1.with_node("c")
    key = next(k for k in (f"k{i}" for i in range(1000))
               if r2.lookup(k) == "c" and r1.lookup(k) == "a")
    hist = [(1, r1), (2, r2), (3, r1)]  # c joins then leaves: the key goes a -> c -> a
    assert owner_since(hist, key) == 3
    assert owner_since(hist[:1], key) == 1
    other = next(k for k in (f"k{i}" for i in range(1000)) if r2.lookup(k) == r1.lookup(k))
    assert owner_since(hist, other) == 1
    with pytest.raises(ValueError):
        owner_since([], key)


def test_moved_range_rule_and_the_stale_owner_bug() -> None:
    """The key was filled at node a in epoch 1, moved to c in epoch 2 (where a write
    invalidated only c), and came back to a in epoch 3: a must not serve its epoch-1 item."""
    for bugs, served in (((), False), (("stale-owner",), True)):
        a = CacheCore(bugs=bugs)
        fill(a, "k", "old", epoch=1)
        got = a.get("k", since=3)
        assert isinstance(got, Hit) is served
        if not served:
            assert isinstance(got, Miss) and got.lease is not None
            assert isinstance(a.set("k", "new", lease=got.lease, epoch=3), Stored)
            again = a.get("k", since=3)
            assert isinstance(again, Hit) and again.value == "new"


def test_member_since_is_the_start_of_the_nodes_current_membership() -> None:
    r1 = Ring(["a", "b"], 50)
    r2 = r1.with_node("c")
    hist = [(1, r2), (2, r1), (3, r2), (4, r2.with_node("d"))]  # c leaves, comes back
    assert member_since(hist, "c") == 3
    assert member_since(hist, "a") == 1
    assert member_since(hist, "d") == 4
    with pytest.raises(ValueError):
        member_since(hist[:2], "c")


def test_a_node_that_was_stopped_longer_than_the_gap_forgets_items_and_leases() -> None:
    """A writer gives up invalidating a node that did not answer for its retry window; a
    node whose clock jumped by more than the gap (it was paused) may have missed that."""
    c = CacheCore()
    assert c.wake(1000) is False
    fill(c, "k", "v")
    held = c.get("j")
    assert isinstance(held, Miss) and held.lease is not None
    assert c.wake(1000 + FLUSH_GAP_MS) is False  # exactly the gap: still running
    assert isinstance(c.get("k"), Hit)
    assert c.wake(1001 + 2 * FLUSH_GAP_MS) is True  # stopped for longer
    assert isinstance(c.get("k"), Miss)
    assert c.set("j", "stale", lease=held.lease) == NotStored("lease")  # the lease went too
    assert c.stats()["flushes"] == 1


class _Store:
    """Just enough of the store client for one write: the put lands, members has one node."""

    def now(self) -> float:
        return 0.0

    async def session(self, msg: dict[str, Any]) -> tuple[dict[str, Any], bool, None]:
        return {"ok": True}, False, None

    async def request(self, msg: dict[str, Any], _: bool) -> tuple[dict[str, Any], bool, None]:
        return {"ok": True, "epoch": 1, "members": {"n1": "h:1"}}, False, None


def test_a_node_silent_through_a_writers_retries_flushes() -> None:
    """One relation, defined once (node.py): a writer gives up on a node after
    INVALIDATE_TRIES calls of CACHE_CALL_S; a node silent for that window (less one
    request's travel) may have missed the invalidation, so a gap that long flushes it.
    Fails if the client's tries or timeout change on their own, or the gap grows to the
    window."""
    from systems.cache import client as cc

    class Silent(cc.CacheClient):
        calls: list[dict[str, Any]] = []

        async def _cache_call(self, node: str, msg: dict[str, Any]) -> dict[str, Any] | None:
            self.calls.append(msg)
            return None  # the owner never answers: every try times out (CACHE_CALL_S each)

    w = Silent({"n1": ("h", 1)}, "n1", 1.0, store=_Store())  # type: ignore[arg-type]
    assert asyncio.run(w.invoke("write", {"key": "k", "value": 1}))[0] == "ok"
    assert [m["op"] for m in w.calls] == ["cdel"] * INVALIDATE_TRIES
    assert (cc.INVALIDATE_TRIES, cc.CACHE_CALL_S) == (INVALIDATE_TRIES, CACHE_CALL_S)
    window_ms = len(w.calls) * cc.CACHE_CALL_S * 1000
    assert window_ms == WRITER_RETRY_MS
    assert FLUSH_GAP_MS <= window_ms - 500  # the slack for a request's travel and a tick
    c = CacheCore()
    assert c.flush_gap_ms == FLUSH_GAP_MS
    c.wake(0)
    fill(c, "k", "v")
    assert c.wake(int(window_ms) - 500 + 1) is True  # silent through the retries: flushed
    assert isinstance(c.get("k"), Miss)


def test_unknown_bug_and_bad_limits_are_refused() -> None:
    assert set(BUGS) == {"no-lease", "no-invalidate", "stale-owner"}
    with pytest.raises(ValueError, match="nope"):
        CacheCore(bugs={"nope"})
    with pytest.raises(ValueError):
        CacheCore(memory_limit=0)
