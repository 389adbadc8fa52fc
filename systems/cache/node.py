"""The cache node's pure core: get / set / delete / cas with versions, TTL, LRU, leases.

No sockets, clocks or randomness: time is ``tick()`` (the shell calls it at a
fixed rate; ``ticks_per_s`` is the shell's business), and every call is a
method returning a frozen value. The shell is expected to serialise calls.

**Versions.** Every stored item gets the next value of one per-node counter
(memcached's "CAS unique"); ``cas`` stores only if the item still has the
version the caller read.

**TTL and memory.** ``ttl_ticks > 0`` makes an item expire after that many
ticks (lazily, on access or eviction). Items are kept in LRU order; a store
that would exceed ``memory_limit`` bytes evicts least-recently-used items
first (an item alone above the limit is refused ``too-large``). An item's
size is its key's UTF-8 length plus its JSON-encoded value plus a fixed
overhead.

**Leases** (memcache at Facebook, NSDI 2013). A ``get`` that misses hands
out a lease token when no unexpired lease on that key is outstanding (other
misses get ``lease=None``: read the store but do not fill). ``set`` with a
``lease`` (a fill) is accepted only if that lease is still the key's
outstanding lease; a ``delete`` (the writer's invalidation) cancels it, so
a fill computed from a store read that preceded a write can no longer land
after that write's invalidation — the stale-set race. A ``set`` without a
lease is an unconditional store (not used by look-aside clients).

**Moved ranges (the ownership rule).** Every item remembers the ring epoch
its writer routed by (``epoch`` on ``set``; epochs are the registry's
membership versions, increasing). A ``get``/``cas`` carries ``since``: the
first epoch from which the caller's ring history says this node has owned
the key without interruption (``owner_since``). An item stored before
``since`` was filled during an earlier ownership and may have missed
invalidations that went to the key's other owners meanwhile, so it is
dropped and the get misses. Clients send invalidations to the key's owner
in their current ring.

**Stopped nodes forget (the missed-invalidation rule).** A writer retries
its invalidation at a node ``INVALIDATE_TRIES`` times, ``CACHE_CALL_S``
each (``client.py``: 1.5 s), then gives up. A node that did not answer for
that long was not running (paused, frozen, starved) — and its items may have
missed that invalidation. So the shell reports its monotonic clock before
every tick and every cache request (``wake(mono_ms)``); a gap above
``flush_gap_ms`` (``FLUSH_GAP_MS``, 1 s: derived from the writers' retry window,
``WRITER_RETRY_MS``, and below it by ``FLUSH_MARGIN_MS``) since the last report
flushes every item and lease before anything is answered.
Moved ranges are also keyed on the registry's record of when the node last
*joined* (``joined``, a membership epoch, sent by the client as part of
``since``): a node that left and came back drops what it held before, even
for a client that never saw the ring without it.

**Tokens outlive the process.** A restarted node starts empty, but a
client may still hold a lease from its previous life and fill with it: were
tokens counted from 1 again, that old token could equal a new lease on the
same key and a fill computed before a write would land after it. So the
counter of versions and tokens starts at ``incarnation * 2**28``, where the
shell draws a fresh ``incarnation`` per process start (random: the server;
from the boot's seeded rng: the simulation).

Bug switches (``BUGS``): ``no-lease`` (fills are accepted whatever the lease:
the stale-set race), ``no-invalidate`` (``delete`` leaves the item and the
lease in place), ``stale-owner`` (``since`` is ignored: a node serves items
from an earlier ownership after the ring flips back).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .ring import Ring

__all__ = [
    "BUGS",
    "CacheCore",
    "Hit",
    "Miss",
    "Stored",
    "NotStored",
    "owner_since",
    "member_since",
    "apply_feed",
    "CACHE_CALL_S",
    "INVALIDATE_TRIES",
    "WRITER_RETRY_MS",
    "FLUSH_GAP_MS",
]

BUGS: dict[str, str] = {
    "no-lease": "fills are accepted without a valid lease: the stale-set race",
    "no-invalidate": "delete does not remove the item: writes leave stale values cached",
    "stale-owner": "items from an earlier ownership of a key are served after the ring flips back",
}

ITEM_OVERHEAD = 48
INCARNATIONS = 1 << 24
PER_INCARNATION = 1 << 28  # tokens and versions one process life may hand out
# The missed-invalidation rule's two sides, defined here only (client.py imports them): a
# writer tries its ``cdel`` at a node INVALIDATE_TRIES times, CACHE_CALL_S each, then gives
# up -- a window of WRITER_RETRY_MS. A node silent (stopped) for that whole window may have
# missed the invalidation, and it sees a gap of at least the window minus one request's
# travel, so it must flush on a gap shorter than the window: FLUSH_GAP_MS is derived with
# FLUSH_MARGIN_MS of slack for that travel and the shell's tick (tests/cache/test_node.py
# fails if the relation breaks).
CACHE_CALL_S = 0.5
INVALIDATE_TRIES = 3
WRITER_RETRY_MS = round(INVALIDATE_TRIES * CACHE_CALL_S * 1000)
FLUSH_MARGIN_MS = 500
FLUSH_GAP_MS = WRITER_RETRY_MS - FLUSH_MARGIN_MS
assert 0 < FLUSH_GAP_MS < WRITER_RETRY_MS, "a stopped node must flush within a writer's retries"


@dataclass(frozen=True, slots=True)
class Hit:
    value: Any
    version: int


@dataclass(frozen=True, slots=True)
class Miss:
    lease: int | None  # None: another lease is outstanding (read the store, do not fill)


@dataclass(frozen=True, slots=True)
class Stored:
    version: int


@dataclass(frozen=True, slots=True)
class NotStored:
    reason: str  # "lease" | "exists" | "not-found" | "too-large"


@dataclass(slots=True)
class _Item:
    value: Any
    version: int
    expires: int | None  # tick at which it is gone
    epoch: int
    size: int


@dataclass(frozen=True, slots=True)
class _Lease:
    token: int
    expires: int


def _size(key: str, value: Any) -> int:
    return len(key.encode()) + len(json.dumps(value, separators=(",", ":"))) + ITEM_OVERHEAD


def owner_since(rings: Sequence[tuple[int, Ring]], key: str) -> int:
    """The first epoch of the newest uninterrupted run of rings where ``key``'s owner stayed
    the one it has in the last ring. ``rings``: (epoch, ring) in increasing epoch order, as
    far back as the caller remembers (the answer is then a lower bound: an item filled
    earlier than the remembered history may be served)."""
    if not rings:
        raise ValueError("owner_since needs at least one ring")
    owner = rings[-1][1].lookup(key)
    since = rings[-1][0]
    for epoch, ring in reversed(rings[:-1]):
        if not ring.nodes or ring.lookup(key) != owner:
            break
        since = epoch
    return since


def member_since(rings: Sequence[tuple[int, Ring]], node: str) -> int:
    """The first epoch of the newest uninterrupted run of rings that all have ``node`` as a
    member (the last ring must). The moved-range rule for a client that may read a key at
    any member (bounded loads) and so invalidates every member: an item older than this
    may have missed invalidations sent while ``node`` was out. A lower bound, as
    ``owner_since``, over a truncated history."""
    if not rings or node not in rings[-1][1].nodes:
        raise ValueError(f"member_since: {node!r} is not in the newest ring")
    since = rings[-1][0]
    for epoch, ring in reversed(rings[:-1]):
        if node not in ring.nodes:
            break
        since = epoch
    return since


def apply_feed(cache: CacheCore, reply: Mapping[str, Any], seen: int) -> int:
    """A cache-only node's invalidation feed (store.py: the answer to its heartbeat's
    ``register {seen}``): delete every key put after ``seen`` (``changed`` None: flush);
    returns the new ``seen``. Deletes are always safe, so answers may come out of order."""
    upto = reply.get("upto")
    if not reply.get("ok") or not isinstance(upto, int):
        return seen
    changed = reply.get("changed")
    if changed is None:
        cache.invalidate(None)
    else:
        for key in changed:
            cache.invalidate(str(key))
    return max(seen, upto)


class CacheCore:
    """One cache node's memory (rules in the module docstring)."""

    def __init__(self, memory_limit: int = 64 << 20, lease_ticks: int = 100,
                 bugs: Iterable[str] = (), flush_gap_ms: int = FLUSH_GAP_MS,
                 incarnation: int = 0) -> None:
        bugs = frozenset(bugs)
        unknown = bugs - BUGS.keys()
        if unknown:
            raise ValueError(f"unknown cache bug switch(es): {', '.join(sorted(unknown))}")
        if memory_limit <= 0 or lease_ticks <= 0:
            raise ValueError("memory_limit and lease_ticks must be positive")
        self.bugs = bugs
        self.memory_limit = memory_limit
        self.lease_ticks = lease_ticks
        self.now = 0
        self.used = 0
        self._items: OrderedDict[str, _Item] = OrderedDict()
        self._leases: dict[str, _Lease] = {}
        if not 0 <= incarnation < INCARNATIONS:
            raise ValueError(f"incarnation must be within [0, {INCARNATIONS}), got {incarnation}")
        # versions and lease tokens: unique across the node's restarts (see module docstring)
        self._counter = incarnation * PER_INCARNATION
        self.evictions = 0
        self.flush_gap_ms = flush_gap_ms
        self.flushes = 0  # flushes after a gap (the node was stopped)
        self._mono_ms: int | None = None

    def wake(self, mono_ms: int) -> bool:
        """The shell's monotonic clock, before each tick and request; True if the gap since
        the last call was above ``flush_gap_ms`` and everything was flushed."""
        last, self._mono_ms = self._mono_ms, mono_ms
        if last is not None and mono_ms - last > self.flush_gap_ms:
            self.flush()
            self.flushes += 1
            return True
        return False

    def tick(self, n: int = 1) -> None:
        self.now += n

    def __len__(self) -> int:
        return len(self._items)

    def _next(self) -> int:
        self._counter += 1
        return self._counter

    def _drop(self, key: str) -> None:
        item = self._items.pop(key, None)
        if item is not None:
            self.used -= item.size

    def _live(self, key: str, since: int) -> _Item | None:
        item = self._items.get(key)
        if item is None:
            return None
        stale_owner = item.epoch < since and "stale-owner" not in self.bugs
        if (item.expires is not None and self.now >= item.expires) or stale_owner:
            self._drop(key)
            return None
        self._items.move_to_end(key)
        return item

    def get(self, key: str, since: int = 0) -> Hit | Miss:
        item = self._live(key, since)
        if item is not None:
            return Hit(item.value, item.version)
        lease = self._leases.get(key)
        if lease is not None and lease.expires > self.now:
            return Miss(None)
        token = self._next()
        self._leases[key] = _Lease(token, self.now + self.lease_ticks)
        return Miss(token)

    def set(self, key: str, value: Any, ttl_ticks: int = 0, lease: int | None = None,
            epoch: int = 0) -> Stored | NotStored:
        if lease is not None and "no-lease" not in self.bugs:
            held = self._leases.get(key)
            if held is None or held.token != lease or held.expires <= self.now:
                return NotStored("lease")
        self._leases.pop(key, None)
        return self._store(key, value, ttl_ticks, epoch)

    def cas(self, key: str, value: Any, version: int, ttl_ticks: int = 0, since: int = 0,
            epoch: int = 0) -> Stored | NotStored:
        item = self._live(key, since)
        if item is None:
            return NotStored("not-found")
        if item.version != version:
            return NotStored("exists")
        return self._store(key, value, ttl_ticks, epoch)

    def delete(self, key: str) -> bool:
        """Invalidate: remove the item and cancel any outstanding lease. True if an item went."""
        if "no-invalidate" in self.bugs:
            return False
        self._leases.pop(key, None)
        had = key in self._items
        self._drop(key)
        return had

    def _store(self, key: str, value: Any, ttl_ticks: int, epoch: int) -> Stored | NotStored:
        if ttl_ticks < 0:
            raise ValueError(f"ttl_ticks must be >= 0, got {ttl_ticks}")
        size = _size(key, value)
        if size > self.memory_limit:
            return NotStored("too-large")
        self._drop(key)
        while self.used + size > self.memory_limit:
            _, old = self._items.popitem(last=False)
            self.used -= old.size
            self.evictions += 1
        version = self._next()
        expires = self.now + ttl_ticks if ttl_ticks else None
        self._items[key] = _Item(value, version, expires, epoch, size)
        self.used += size
        assert self.used <= self.memory_limit, "cache memory accounting above its limit"
        return Stored(version)

    def invalidate(self, key: str | None) -> None:
        """The store applied a change: delete ``key`` (``None``: flush everything)."""
        if key is None:
            if "no-invalidate" not in self.bugs:
                self.flush()
        else:
            self.delete(key)

    def flush(self) -> None:
        self._items.clear()
        self._leases.clear()
        self.used = 0

    def stats(self) -> dict[str, int]:
        return {"items": len(self._items), "bytes": self.used, "evictions": self.evictions,
                "leases": len(self._leases), "tick": self.now, "flushes": self.flushes}
