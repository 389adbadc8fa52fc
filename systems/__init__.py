"""The systems under test. ``SYSTEMS`` maps a name to the module exporting its ``SYSTEM`` spec.

Modules are imported lazily so that a node container running one system
never imports the others.
"""

from __future__ import annotations

import importlib
import importlib.util

from systems.common.spec import SystemSpec

__all__ = ["SYSTEMS", "get_system", "available_systems"]

SYSTEMS: dict[str, str] = {
    "memkv": "systems.memkv",
    "raftkv": "systems.raftkv",
    "twopc": "systems.twopc",
    "lock": "systems.lock",
    "redlock": "systems.redlock",
    "cache": "systems.cache",
    "queue": "systems.queue",
}


def available_systems() -> list[str]:
    """Names whose package is present (a system still being built may be absent)."""
    out = []
    for name, mod in SYSTEMS.items():
        if importlib.util.find_spec(mod) is not None:
            out.append(name)
    return out


def get_system(name: str) -> SystemSpec:
    if name not in SYSTEMS:
        raise KeyError(name)
    spec = importlib.import_module(SYSTEMS[name]).SYSTEM
    assert isinstance(spec, SystemSpec)
    return spec
