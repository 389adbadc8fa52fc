"""Workloads: what clients do and how it is judged, independent of the system.

``REGISTRY`` maps a workload name to a factory ``(WorkloadOptions) -> Workload``.
A system serves a workload when its ``SystemSpec.clients`` has that name.
"""

from __future__ import annotations

from workloads.append import append_workload
from workloads.bank import bank_workload
from workloads.base import Workload, WorkloadOptions
from workloads.cache import cache_workload
from workloads.lock import lock_workload
from workloads.queue import queue_workload
from workloads.register import kv_workload, register_workload
from workloads.set import set_workload

__all__ = ["REGISTRY", "Workload", "WorkloadOptions", "get_workload"]

REGISTRY = {
    "register": register_workload,
    "kv": kv_workload,
    "set": set_workload,
    "append": append_workload,
    "bank": bank_workload,
    "lock": lock_workload,
    "cache": cache_workload,
    "queue": queue_workload,
}


def get_workload(name: str, opts: WorkloadOptions) -> Workload:
    return REGISTRY[name](opts)
