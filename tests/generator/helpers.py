"""Shared helpers for the generator tests."""

from __future__ import annotations

from typing import Any

from harness.generator import Context
from harness.history import History, op_from_dict

SEC = 1_000_000_000
MS = 1_000_000


def invokes(h: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in h if o["type"] == "invoke"]


def fs(h: list[dict[str, Any]]) -> list[str]:
    return [o["f"] for o in invokes(h)]


def counter_fn(f: str) -> Any:
    """A callable generator whose value is a fresh draw from ctx.rng."""

    def fn(test: Any, ctx: Context) -> dict[str, Any]:
        return {"f": f, "value": ctx.rng.randrange(1000)}

    fn.__name__ = f
    return fn


def as_history(h: list[dict[str, Any]]) -> History:
    return History([op_from_dict(o) for o in h], reindex=True)


def assert_well_formed(h: list[dict[str, Any]], concurrency: int) -> None:
    """Times never go back; each process alternates invoke/complete; ≤ concurrency clients busy."""
    last_t = 0
    open_: dict[Any, dict[str, Any]] = {}
    for o in h:
        assert o["time_ns"] >= last_t, o
        last_t = o["time_ns"]
        p = o["process"]
        if o["type"] == "invoke":
            assert p not in open_, f"process {p} invoked twice without completing: {o}"
            open_[p] = o
            busy_clients = sum(1 for q in open_ if q != "nemesis")
            assert busy_clients <= concurrency
        else:
            inv = open_.pop(p)
            assert inv["f"] == o["f"]
            assert o["time_ns"] >= inv["time_ns"]
    assert not open_, f"ops never completed: {open_}"
