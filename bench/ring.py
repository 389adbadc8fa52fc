"""Load spread and key movement of the cache's consistent-hash ring (prints tables; no Docker).

    python3 bench/ring.py [--keys 1000000] [--nodes 3,5,10,20,50]
                          [--vnodes 1,10,50,100,160,200,300,500,1000] [--balance 1.25]
                          [--bounded-keys 100000]

Keys are ``key-0 .. key-(K-1)`` hashed as the ring hashes them
(systems/cache/ring.py). For every (nodes, vnodes) pair of the plain ring:
max/mean keys per node, the fraction of keys that change owner when one node
joins (``node-N`` added to N nodes) and when one leaves (``node-0`` removed),
each as a ratio to the ideal (1/(N+1) for a join: the newcomer's fair share;
1/N for a leave: the leaver's share). Plain-ring loads are counted per arc
(bisecting the sorted key hashes), so 1M keys cost little.

The bounded-load table places ``--bounded-keys`` keys one by one (the
static problem of Mirrokni-Thorup-Zadimoghaddam, cap ``ceil(c * m / n)``) at
the vnode counts given by ``--bounded-vnodes``; its "moved" columns compare
two whole placements, so they include keys displaced by overflow shifts.
"""

from __future__ import annotations

import argparse
import bisect
import sys
import time
from collections import Counter
from pathlib import Path
from typing import NoReturn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from systems.cache.ring import Ring, bounded_assign, capacity, key_hash  # noqa: E402


def _die(msg: str) -> NoReturn:
    print(f"bench/ring.py: {msg}", file=sys.stderr)
    raise SystemExit(2)


def _ints(text: str, what: str) -> list[int]:
    try:
        out = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        _die(f"{what} must be comma-separated integers, got {text!r}")
    if not out or min(out) < 1:
        _die(f"{what} must be integers >= 1, got {text!r}")
    return out


def arc_loads(ring: Ring, sorted_hashes: list[int]) -> Counter[str]:
    """Keys per node: each point owns the keys in (previous point, point]."""
    loads: Counter[str] = Counter()
    pts = ring.points()
    prev_i = 0
    for p, node in pts:
        i = bisect.bisect_right(sorted_hashes, p)
        loads[node] += i - prev_i
        prev_i = i
    loads[pts[0][1]] += len(sorted_hashes) - prev_i  # wrap: after the last point
    return loads


def arc_moved(a: Ring, b: Ring, sorted_hashes: list[int]) -> int:
    """Keys whose owner differs between rings a and b (over merged arcs)."""
    cuts = sorted({p for p, _ in a.points()} | {p for p, _ in b.points()})
    moved = 0
    prev_i = 0
    for p in cuts:
        i = bisect.bisect_right(sorted_hashes, p)
        if i > prev_i and a.owner_of_hash(p) != b.owner_of_hash(p):
            moved += i - prev_i
        prev_i = i
    if len(sorted_hashes) > prev_i and a.owner_of_hash(0) != b.owner_of_hash(0):
        moved += len(sorted_hashes) - prev_i
    return moved


def names(n: int) -> list[str]:
    return [f"node-{i}" for i in range(n)]


def plain_table(hashes: list[int], sizes: list[int], vnodes: list[int]) -> None:
    k = len(hashes)
    print(f"plain ring, {k} keys: max/mean load, keys moved on join/leave (ratio to ideal)")
    print(f"{'nodes':>5} {'vnodes':>6} {'max/mean':>9} {'join':>8} {'join/ideal':>10} "
          f"{'leave':>8} {'leave/ideal':>11}")
    for n in sizes:
        for v in vnodes:
            ring = Ring(names(n), v)
            loads = arc_loads(ring, hashes)
            ratio = max(loads.values()) / (k / n)
            join = arc_moved(ring, ring.with_node(f"node-{n}"), hashes) / k
            leave = arc_moved(ring, ring.without_node("node-0"), hashes) / k if n > 1 else 1.0
            print(f"{n:>5} {v:>6} {ratio:>9.3f} {join:>8.4f} {join * (n + 1):>10.3f} "
                  f"{leave:>8.4f} {leave * n:>11.3f}")


def bounded_table(hashes: list[int], sizes: list[int], vnodes: list[int], balance: float) -> None:
    k = len(hashes)
    print(f"\nbounded loads c={balance}, {k} keys placed in order: max/mean, cap, moved")
    print(f"{'nodes':>5} {'vnodes':>6} {'max/mean':>9} {'cap/mean':>9} {'join':>8} "
          f"{'join/ideal':>10} {'leave':>8} {'leave/ideal':>11} {'secs':>6}")
    for n in sizes:
        for v in vnodes:
            t0 = time.perf_counter()
            ring = Ring(names(n), v)
            base = bounded_assign(ring, hashes, balance)
            loads = Counter(base)
            ratio = max(loads.values()) / (k / n)
            cap = capacity(k, n, balance) / (k / n)
            joined = bounded_assign(ring.with_node(f"node-{n}"), hashes, balance)
            join = sum(1 for x, y in zip(base, joined, strict=True) if x != y) / k
            left = bounded_assign(ring.without_node("node-0"), hashes, balance) if n > 1 else base
            leave = sum(1 for x, y in zip(base, left, strict=True) if x != y) / k
            secs = time.perf_counter() - t0
            print(f"{n:>5} {v:>6} {ratio:>9.3f} {cap:>9.3f} {join:>8.4f} {join * (n + 1):>10.3f} "
                  f"{leave:>8.4f} {leave * n:>11.3f} {secs:>6.1f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--keys", default="1000000")
    ap.add_argument("--nodes", default="3,5,10,20,50")
    ap.add_argument("--vnodes", default="1,10,50,100,160,200,300,500,1000")
    ap.add_argument("--balance", default="1.25")
    ap.add_argument("--bounded-keys", default="100000")
    ap.add_argument("--bounded-vnodes", default="1,100,1000")
    ap.add_argument("--bounded-nodes", default="3,10,50")
    a = ap.parse_args(argv)
    keys = _ints(a.keys, "--keys")[0]
    try:
        balance = float(a.balance)
    except ValueError:
        _die(f"--balance must be a number, got {a.balance!r}")
    if balance < 1.0:
        _die(f"--balance must be >= 1, got {balance}")
    t0 = time.perf_counter()
    hashes = [key_hash(f"key-{i}") for i in range(keys)]
    print(f"hashed {keys} keys in {time.perf_counter() - t0:.1f}s")
    plain_table(sorted(hashes), _ints(a.nodes, "--nodes"), _ints(a.vnodes, "--vnodes"))
    bkeys = _ints(a.bounded_keys, "--bounded-keys")[0]
    bounded_table(hashes[:bkeys], _ints(a.bounded_nodes, "--bounded-nodes"),
                  _ints(a.bounded_vnodes, "--bounded-vnodes"), balance)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
