"""Synthetic histories: random concurrent ops run against a sequential register.

Used by the property tests (such a history is linearizable by construction)
and by the scaling benchmark.  Each op is invoked, takes effect at one random
moment while it is pending, and completes later; a fraction of ops end
``info`` instead (some of those never took effect), and their process is
retired (replaced by a new process id), as in our runner.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from harness.history import FAIL, INFO, INVOKE, OK, History, Op

__all__ = ["random_register_history", "random_kv_history", "overwritten_values"]


@dataclass(slots=True)
class _Pending:
    process: int
    f: str
    value: Any
    applied: bool = False
    result: Any = None
    ok: bool = True


def _invoke(rng: random.Random, values: int, cas: bool) -> tuple[str, Any]:
    r = rng.random()
    if r < 0.45:
        return "read", None
    if r < 0.8 or not cas:
        return "write", rng.randrange(values)
    return "cas", [rng.randrange(values), rng.randrange(values)]


def _apply(p: _Pending, reg: Any) -> Any:
    p.applied = True
    if p.f == "read":
        p.result = reg
        return reg
    if p.f == "write":
        return p.value
    if reg == p.value[0]:
        return p.value[1]
    p.ok = False
    return reg


def random_register_history(
    n_ops: int,
    concurrency: int,
    info_fraction: float = 0.0,
    seed: int = 0,
    values: int = 5,
    init: Any = 0,
    cas: bool = True,
) -> History:
    """A linearizable register history of ``n_ops`` invocations by ``concurrency`` workers."""
    rng = random.Random(seed)
    reg = init
    slots: list[_Pending | None] = [None] * concurrency
    pids = list(range(concurrency))
    ops: list[Op] = []
    invoked = 0
    t_ns = 0

    def emit(p: int, kind: str, f: str, value: Any) -> None:
        nonlocal t_ns
        t_ns += rng.randrange(1, 2_000_000)
        ops.append(Op(len(ops), t_ns, p, kind, f, value))

    while invoked < n_ops or any(s is not None for s in slots):
        i = rng.randrange(concurrency)
        st = slots[i]
        if st is None:
            if invoked >= n_ops:
                continue
            f, v = _invoke(rng, values, cas)
            slots[i] = _Pending(pids[i], f, v)
            emit(pids[i], INVOKE, f, v)
            invoked += 1
        elif not st.applied and rng.random() < 0.7:
            reg = _apply(st, reg)
        else:
            slots[i] = None
            if rng.random() < info_fraction:
                emit(st.process, INFO, st.f, st.value)  # may or may not have taken effect
                pids[i] += concurrency
                continue
            if not st.applied:
                reg = _apply(st, reg)
            if st.f == "read":
                emit(st.process, OK, "read", st.result)
            else:
                emit(st.process, OK if st.ok else FAIL, st.f, st.value)
    return History(ops)


def overwritten_values(h: History, read_pos: int, init: Any = 0) -> list[Any]:
    """Values a read at ``read_pos`` (an invocation position) certainly cannot return.

    A value qualifies when every op that could have stored it (writes, cas to
    it, the initial value) completed ``ok`` before some other ok write/cas X
    was invoked, X completed before the read was invoked, and X stored another
    value; no indeterminate op may store it.
    """
    producers: dict[Any, list[tuple[int, int]]] = {init: [(-1, -1)]}
    stores: list[tuple[int, int, Any]] = []  # (call, return, value) of ok stores
    for inv, comp in h.pairs():
        if inv.f not in ("write", "cas"):
            continue
        v = inv.value if inv.f == "write" else inv.value[1]
        ret = comp.index if comp is not None and comp.type == OK else None
        if comp is not None and comp.type == FAIL:
            continue
        call = inv.index
        producers.setdefault(v, []).append((call, ret if ret is not None else 1 << 60))
        if ret is not None:
            stores.append((call, ret, v))
    out = []
    for v, prods in producers.items():
        last_ret = max(r for _, r in prods)
        if any(c > last_ret and r < read_pos and sv != v for c, r, sv in stores):
            out.append(v)
    return out


def random_kv_history(
    keys: int, n_per_key: int, concurrency: int, seed: int = 0, info_fraction: float = 0.0
) -> History:
    """Independent register histories, one per key, interleaved by time into one kv history.

    Values become ``[key, v]``; each key's workers get their own process ids.
    """
    merged: list[tuple[int, int, Op]] = []
    for k in range(keys):
        h = random_register_history(n_per_key, concurrency, info_fraction, seed=seed * 1000 + k)
        for o in h:
            p = int(o.process) * keys + k
            merged.append((o.time_ns, len(merged), o.with_(process=p, value=[f"k{k}", o.value])))
    merged.sort(key=lambda t: (t[0], t[1]))
    return History((o for _, _, o in merged), reindex=True)
