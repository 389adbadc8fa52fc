"""Consistency models and the anomalies each one forbids (Elle's semantics, reduced).

Facts learned from Adya's thesis ("Weak Consistency", PL-levels), Adya/Liskov/
O'Neil "Generalized Isolation Level Definitions" and Elle's paper and
documentation; the tables below are ours and cover fewer models than Elle.

Three small relations drive everything, exactly as in Elle:

1. ``IMPLIES`` — anomaly A implies anomaly B (finding A means B is present
   too): G0 implies G1c, a plain anomaly implies its ``-process`` variant
   (processes are single-threaded, so a data cycle is trivially a session
   cycle) and a ``-process`` one its ``-realtime`` variant.
2. ``STRONGER`` — model M implies model N (a history satisfying M satisfies N).
3. ``FORBIDS`` — the anomalies a model forbids *directly*; a model also
   forbids what every weaker model forbids, and every anomaly implying those.

| model                              | forbids directly (plus all weaker models' anomalies)   |
|------------------------------------|---------------------------------------------------------|
| read-uncommitted                   | G0, duplicate-elements, its cycle-exists                |
| read-committed                     | G1 (= G1a, G1b, G1c; incompatible-order implies G1a)   |
| repeatable-read                    | G1, G2-item                                             |
| snapshot-isolation                 | internal, G1, G-nonadjacent (so G-single), cycle-exists |
| serializable                       | internal, G1, G2 (so G2-item, G-single), cycle-exists   |
| strong-session-snapshot-isolation  | internal, G1-process, G-nonadjacent-process, ...        |
| strong-session-serializable        | G1-process, G2-process, cycle-exists                    |
| strong-snapshot-isolation          | internal, G1-realtime, G-nonadjacent-realtime, ...      |
| strict-serializable                | G1, G1c-realtime, G2-realtime, cycle-exists             |

Lattice (stronger -> weaker): strict-serializable -> serializable,
strong-snapshot-isolation, strong-session-serializable; strong-session-
serializable -> serializable, strong-session-snapshot-isolation; strong-SI ->
strong-session-SI -> snapshot-isolation; serializable -> repeatable-read,
snapshot-isolation; repeatable-read, snapshot-isolation -> read-committed ->
read-uncommitted.

Simplifications (written down on purpose): Elle knows ~40 models (cursor
stability, consistent view, read atomic, PL-2+ ...); we keep the nine above, so
our ``not`` names the weakest *of these* ruled out (for a lone G-single Elle
says ``consistent-view``, we say ``snapshot-isolation``; for ``internal`` Elle
names read-atomic-like models, we say ``snapshot-isolation``). Aliases:
strong-serializable = strict-serializable, conflict-serializable = serializable.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "MODELS",
    "ALIASES",
    "ModelError",
    "canonical",
    "implied_anomalies",
    "prohibited",
    "impossible_models",
    "weakest",
    "weaker_or_equal",
    "boundary",
    "needs_realtime",
    "needs_process",
]

STRONGER: dict[str, tuple[str, ...]] = {
    "strict-serializable": (
        "serializable",
        "strong-snapshot-isolation",
        "strong-session-serializable",
    ),
    "strong-session-serializable": ("serializable", "strong-session-snapshot-isolation"),
    "strong-snapshot-isolation": ("strong-session-snapshot-isolation",),
    "strong-session-snapshot-isolation": ("snapshot-isolation",),
    "serializable": ("repeatable-read", "snapshot-isolation"),
    "repeatable-read": ("read-committed",),
    "snapshot-isolation": ("read-committed",),
    "read-committed": ("read-uncommitted",),
    "read-uncommitted": (),
}
MODELS = tuple(STRONGER)
ALIASES = {
    "strong-serializable": "strict-serializable",
    "conflict-serializable": "serializable",
    "si": "snapshot-isolation",
}


def _ce(model: str) -> str:
    return f"{model}-cycle-exists"


FORBIDS: dict[str, tuple[str, ...]] = {
    "read-uncommitted": ("G0", "duplicate-elements", _ce("read-uncommitted")),
    "read-committed": ("G1", _ce("read-committed")),
    "repeatable-read": ("G1", "G2-item"),
    "snapshot-isolation": ("internal", "G1", "G-nonadjacent", _ce("snapshot-isolation")),
    "serializable": ("internal", "G1", "G2", _ce("serializable")),
    "strong-session-snapshot-isolation": (
        "internal",
        "G1-process",
        "G-nonadjacent-process",
        _ce("strong-session-snapshot-isolation"),
    ),
    "strong-session-serializable": (
        "G1-process",
        "G2-process",
        _ce("strong-session-serializable"),
    ),
    "strong-snapshot-isolation": (
        "internal",
        "G1-realtime",
        "G-nonadjacent-realtime",
        _ce("strong-snapshot-isolation"),
    ),
    "strict-serializable": (
        "G1",
        "G1c-realtime",
        "G2-realtime",
        _ce("strict-serializable"),
    ),
}

IMPLIES: dict[str, tuple[str, ...]] = {
    "G0": ("G1c", "G0-process"),
    "G0-process": ("G1c-process", "G0-realtime"),
    "G0-realtime": ("G1c-realtime",),
    "G1a": ("G1",),
    "G1b": ("G1",),
    "G1c": ("G1", "G1c-process"),
    "G1c-process": ("G1c-realtime", "G1-process"),
    "G1c-realtime": ("G1-realtime",),
    "G1": ("G1-process",),
    "G1-process": ("G1-realtime",),
    "G-single": ("G-nonadjacent", "G-single-process"),
    "G-single-process": ("G-nonadjacent-process", "G-single-realtime"),
    "G-single-realtime": ("G-nonadjacent-realtime",),
    "G-nonadjacent": ("G2", "G-nonadjacent-process"),
    "G-nonadjacent-process": ("G2-process", "G-nonadjacent-realtime"),
    "G-nonadjacent-realtime": ("G2-realtime",),
    "G2-item": ("G2", "G2-item-process"),
    "G2-item-process": ("G2-process", "G2-item-realtime"),
    "G2-item-realtime": ("G2-realtime",),
    "G2": ("G2-process",),
    "G2-process": ("G2-realtime",),
    "incompatible-order": ("G1a",),
    "dirty-update": ("G1a",),
}


class ModelError(ValueError):
    """An unknown consistency model name."""


def canonical(name: str) -> str:
    n = ALIASES.get(name.strip(), name.strip())
    if n not in STRONGER:
        raise ModelError(
            f"unknown consistency model {name!r} (known: {', '.join(MODELS)})"
        )
    return n


def _closure(start: Iterable[str], rel: dict[str, tuple[str, ...]]) -> set[str]:
    seen: set[str] = set()
    todo = list(start)
    while todo:
        x = todo.pop()
        if x not in seen:
            seen.add(x)
            todo.extend(rel.get(x, ()))
    return seen


def _inverse(rel: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    inv: dict[str, list[str]] = {}
    for a, bs in rel.items():
        for b in bs:
            inv.setdefault(b, []).append(a)
    return {k: tuple(v) for k, v in inv.items()}


_IMPLIED_BY = _inverse(IMPLIES)
_WEAKER_THAN = _inverse(STRONGER)


def weaker_or_equal(models: Iterable[str]) -> set[str]:
    """The models plus every model they imply (``STRONGER``'s closure)."""
    return _closure(models, STRONGER)


def implied_anomalies(anomalies: Iterable[str]) -> set[str]:
    """The anomalies plus every anomaly they imply."""
    return _closure(anomalies, IMPLIES)


def prohibited(models: Iterable[str]) -> set[str]:
    """Every anomaly type whose presence means one of ``models`` does not hold."""
    ms = _closure((canonical(m) for m in models), STRONGER)
    direct = {a for m in ms for a in FORBIDS.get(m, ())}
    return _closure(direct, _IMPLIED_BY)


def impossible_models(anomalies: Iterable[str]) -> set[str]:
    """Models that cannot hold given these anomaly types (and stronger ones)."""
    present = implied_anomalies(anomalies)
    direct = {m for m, fs in FORBIDS.items() if present & set(fs)}
    return _closure(direct, _WEAKER_THAN)


def weakest(models: Iterable[str]) -> list[str]:
    """The models of the set that no other model of the set is weaker than."""
    ms = set(models)
    out = []
    for m in ms:
        below = _closure(STRONGER[m], STRONGER)
        if not (below & ms):
            out.append(m)
    return sorted(out)


def boundary(anomalies: Iterable[str]) -> tuple[list[str], list[str]]:
    """(``not``: weakest models ruled out, ``also-not``: the stronger ones ruled out)."""
    imp = impossible_models(anomalies)
    nots = weakest(imp)
    return nots, sorted(imp - set(nots))


def needs_realtime(models: Iterable[str]) -> bool:
    return any(a.endswith("-realtime") for a in prohibited(models))


def needs_process(models: Iterable[str]) -> bool:
    return any(a.endswith("-process") for a in prohibited(models))
