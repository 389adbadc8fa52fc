"""Consistent-hash ring: ketama-style virtual nodes, and bounded loads as an option.

Pure and stdlib-only (it runs in clients and in node containers).

**Points.** Like libketama, a node's virtual nodes come from MD5 digests of
``"<node>-<i>"``; each 16-byte digest gives four 32-bit points (little-endian
words), so ``vnodes`` points take ``ceil(vnodes / 4)`` digests. A key hashes to
the first four bytes of its MD5 digest, and belongs to the first point at or
clockwise after its hash (wrapping). Ties between points of two nodes (rare
in 2**32) are broken by node name so every client builds the same ring from
the same membership, whatever order it learnt it in.

**Bounded loads** (Mirrokni, Thorup, Zadimoghaddam, "Consistent Hashing with
Bounded Loads", SODA 2018): every node has capacity ``ceil(c * m / n)`` for
``m`` items on ``n`` nodes and ``c > 1``; an item walks clockwise from its
point to the first node that still has room. No node is then above
``ceil(c * m / n)``; since ``n * ceil(c * m / n) >= m`` the walk always ends.
``bounded_assign`` places a batch of keys in order (the static problem);
``BoundedLoad`` is the dynamic version a client uses for in-flight requests
(capacity counted with the new request, ``ceil(c * (inflight + 1) / n)``).
"""

from __future__ import annotations

import bisect
import hashlib
import math
from collections.abc import Iterable, Iterator, Sequence

__all__ = [
    "DEFAULT_VNODES",
    "DEFAULT_BALANCE",
    "Ring",
    "BoundedLoad",
    "bounded_assign",
    "capacity",
    "key_hash",
    "moved_share",
    "ring_change",
]

# Chosen from bench/ring.py (see systems/cache/README.md): the smallest count
# measured whose max/mean load over 1M keys stays within 1.10 for 3..50 nodes
# (500 gave 1.117 at 50 nodes; 1000 gave at most 1.068).
DEFAULT_VNODES = 1000
DEFAULT_BALANCE = 1.25
HASH_SPACE = 1 << 32


def key_hash(key: str) -> int:
    """The key's 32-bit position on the ring (ketama: first 4 digest bytes, little-endian)."""
    return int.from_bytes(hashlib.md5(key.encode()).digest()[:4], "little")


def _node_points(node: str, vnodes: int) -> list[int]:
    out: list[int] = []
    for i in range((vnodes + 3) // 4):
        d = hashlib.md5(f"{node}-{i}".encode()).digest()
        out.extend(int.from_bytes(d[j:j + 4], "little") for j in (0, 4, 8, 12))
    return out[:vnodes]


def capacity(items: int, nodes: int, balance: float) -> int:
    """Per-node cap of a bounded-load ring: ``ceil(balance * items / nodes)``."""
    if nodes <= 0:
        raise ValueError("capacity of an empty ring")
    if balance < 1.0:
        raise ValueError(f"balance must be >= 1, got {balance}")
    return max(1, math.ceil(balance * items / nodes - 1e-9))


class Ring:
    """An immutable ring; ``with_node`` / ``without_node`` return new rings."""

    __slots__ = ("vnodes", "nodes", "_points", "_owners")

    def __init__(self, nodes: Iterable[str] = (), vnodes: int = DEFAULT_VNODES) -> None:
        if vnodes < 1:
            raise ValueError(f"vnodes must be >= 1, got {vnodes}")
        self.vnodes = vnodes
        self.nodes: frozenset[str] = frozenset(nodes)
        pairs = sorted((p, n) for n in self.nodes for p in _node_points(n, vnodes))
        self._points: list[int] = [p for p, _ in pairs]
        self._owners: list[str] = [n for _, n in pairs]

    def __len__(self) -> int:
        return len(self.nodes)

    def __repr__(self) -> str:
        return f"Ring({sorted(self.nodes)!r}, vnodes={self.vnodes})"

    def with_node(self, node: str) -> Ring:
        return Ring(self.nodes | {node}, self.vnodes)

    def without_node(self, node: str) -> Ring:
        return Ring(self.nodes - {node}, self.vnodes)

    def points(self) -> list[tuple[int, str]]:
        """Every (point, node) in clockwise order (for benches and load reports)."""
        return list(zip(self._points, self._owners, strict=True))

    def _index(self, h: int) -> int:
        if not self._points:
            raise LookupError("lookup on an empty ring")
        i = bisect.bisect_left(self._points, h)
        return 0 if i == len(self._points) else i

    def owner_of_hash(self, h: int) -> str:
        return self._owners[self._index(h)]

    def lookup(self, key: str) -> str:
        """The node that owns ``key``."""
        return self.owner_of_hash(key_hash(key))

    def walk_hash(self, h: int) -> Iterator[str]:
        """Distinct nodes clockwise from ``h``, the owner first."""
        start = self._index(h)
        seen: set[str] = set()
        n = len(self._points)
        for k in range(n):
            node = self._owners[(start + k) % n]
            if node not in seen:
                seen.add(node)
                yield node
                if len(seen) == len(self.nodes):
                    return

    def preference(self, key: str) -> list[str]:
        """All nodes in the order a key would try them (its owner first)."""
        return list(self.walk_hash(key_hash(key)))

    def spans(self) -> dict[str, int]:
        """How much of the 2**32 hash space each node owns (ideal: 2**32 / n)."""
        out = dict.fromkeys(self.nodes, 0)
        prev = self._points[-1] - HASH_SPACE if self._points else 0
        for p, n in zip(self._points, self._owners, strict=True):
            out[n] += p - prev
            prev = p
        return out


def moved_share(a: Ring, b: Ring) -> float:
    """The share of the hash space (so of uniformly hashed keys) whose owner differs
    between rings ``a`` and ``b`` — exact, from the merged points, no key sample.

    Between two consecutive points of either ring every hash has one owner in
    each ring: that of the arc's closing point (the wrap arc closes at the first).
    """
    if not a.nodes or not b.nodes:
        return 0.0 if a.nodes == b.nodes else 1.0
    cuts = sorted({p for p, _ in a.points()} | {p for p, _ in b.points()})
    moved = 0
    prev = cuts[-1] - HASH_SPACE
    for p in cuts:
        if a.owner_of_hash(p) != b.owner_of_hash(p):
            moved += p - prev
        prev = p
    return moved / HASH_SPACE


def ring_change(before: Iterable[str], after: Iterable[str],
                vnodes: int = DEFAULT_VNODES) -> dict[str, object]:
    """Figures of one membership change: who joined and left, the share of keys
    that changed owner against the ideal (``|joined| / |after|`` for joins,
    ``|left| / |before|`` for leaves, their sum when both), and the new ring's
    max/mean share of the hash space."""
    a, b = Ring(before, vnodes), Ring(after, vnodes)
    joined, left = sorted(b.nodes - a.nodes), sorted(a.nodes - b.nodes)
    ideal = (len(joined) / len(b.nodes) if b.nodes else 0.0) + (
        len(left) / len(a.nodes) if a.nodes else 0.0)
    moved = moved_share(a, b)
    spans = b.spans()
    out: dict[str, object] = {
        "members": sorted(b.nodes), "joined": joined, "left": left,
        "moved": round(moved, 4), "ideal": round(ideal, 4),
        "moved_over_ideal": round(moved / ideal, 3) if ideal else None,
    }
    if spans:
        out["load_max_over_mean"] = round(max(spans.values()) * len(spans) / HASH_SPACE, 3)
    return out


def bounded_assign(ring: Ring, hashes: Sequence[int], balance: float = DEFAULT_BALANCE
                   ) -> list[str]:
    """Owners of ``hashes`` (placed in order) with no node above ``capacity``."""
    cap = capacity(len(hashes), len(ring), balance)
    loads = dict.fromkeys(ring.nodes, 0)
    out: list[str] = []
    for h in hashes:
        for node in ring.walk_hash(h):
            if loads[node] < cap:
                loads[node] += 1
                out.append(node)
                break
        else:  # pragma: no cover - n * cap >= m makes this impossible
            raise AssertionError("bounded-load walk found no node with room")
    return out


class BoundedLoad:
    """Dynamic bounded loads for in-flight requests: ``acquire`` a node, ``release`` it after.

    A request goes to the first node clockwise from its key whose in-flight
    count is below ``ceil(balance * (inflight + 1) / n)``; so no node ever
    carries more than that at the moment it is chosen.
    """

    __slots__ = ("ring", "balance", "_load", "_total")

    def __init__(self, ring: Ring, balance: float = DEFAULT_BALANCE) -> None:
        capacity(1, max(1, len(ring)), balance)  # validates balance
        self.ring = ring
        self.balance = balance
        self._load = dict.fromkeys(ring.nodes, 0)
        self._total = 0

    def cap(self) -> int:
        return capacity(self._total + 1, len(self.ring), self.balance)

    def load(self, node: str) -> int:
        return self._load.get(node, 0)

    @property
    def inflight(self) -> int:
        return self._total

    def acquire(self, key: str) -> str:
        cap = self.cap()
        for node in self.ring.walk_hash(key_hash(key)):
            if self._load[node] < cap:
                self._load[node] += 1
                self._total += 1
                return node
        raise AssertionError("bounded-load walk found no node with room")  # pragma: no cover

    def release(self, node: str) -> None:
        if self._load.get(node, 0) <= 0:
            raise ValueError(f"release of {node!r} with nothing in flight there")
        self._load[node] -= 1
        self._total -= 1
