"""Consistency models and the anomalies each one forbids: one implication graph.

Facts learned from Elle's consistency-model namespace and the papers it
cites (Adya's thesis "Weak Consistency" and Adya/Liskov/O'Neil's PL levels;
Cerone/Bernardi/Gotsman's framework - read atomic, causal, prefix, parallel
SI, update atomic; Bailis et al.'s "Highly Available Transactions";
Daudjee/Salem's strong session SI; Kleppmann's Hermitage); the tables are
ours, written out as data. Three relations drive everything:

1. ``IMPLIES`` (anomaly -> anomalies it implies): finding A means B is
   present too. G0 implies G1c; a G-single-item cycle is a G-nonadjacent-item
   one (its lone rw edge is trivially non-adjacent), which is a G2-item (a
   cycle with an item anti-dependency, Adya); a plain anomaly implies its
   ``-process`` variant and that its ``-realtime`` one (processes are single
   threaded); incompatible-order and dirty-update imply G1a, future-read
   implies G1c (a txn reading its own later write is a trivial wr cycle),
   lost-update implies G2-item.
2. ``STRONGER`` (model -> models it implies): a history satisfying M
   satisfies N (Elle's lattice, friendly names).
3. ``FORBIDS`` (model -> anomalies it forbids *directly*): a model also
   forbids what every weaker model forbids, and every anomaly implying those.

So ``prohibited(models)`` = anomalies implying any anomaly forbidden by any
model implied by ``models``; ``impossible_models(anomalies)`` = models
forbidding any anomaly implied by them, plus every stronger model; ``not``
is the weakest of those. Examples: a lone G-single-item rules out
consistent-view (Adya's PL-2+) and repeatable-read; lost-update rules out
cursor-stability and update-atomic (hence snapshot isolation); future-read
rules out read-atomic and read-committed.

Names: models by Elle's friendly names; Adya's PL names and the other
spellings Elle accepts are aliases. ``<model>-cycle-exists`` anomalies use
Elle's canonical model names (``PL-2-cycle-exists`` for read-committed,
``PL-SI-cycle-exists`` for snapshot isolation, ...): :func:`cycle_exists_name`.
Anomalies no checker here detects (G-cursor, G-monotonic, G-MSR, G-SIb,
G-update, predicate anomalies) stay in the tables so that ``not`` follows
Elle's lattice exactly.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "MODELS",
    "ALIASES",
    "STRONGER",
    "FORBIDS",
    "IMPLIES",
    "ModelError",
    "canonical",
    "cycle_exists_name",
    "implied_anomalies",
    "prohibited",
    "impossible_models",
    "weakest",
    "weaker_or_equal",
    "boundary",
    "needs_realtime",
    "needs_process",
]

SER, SI, RR, RC, RU = (
    "serializable", "snapshot-isolation", "repeatable-read", "read-committed", "read-uncommitted")
SSER, SSI, SSSER, SSSI = (
    "strict-serializable", "strong-snapshot-isolation", "strong-session-serializable",
    "strong-session-snapshot-isolation")
SRC, SRU, SSRC, SSRU = (
    "strong-read-committed", "strong-read-uncommitted", "strong-session-read-committed",
    "strong-session-read-uncommitted")

STRONGER: dict[str, tuple[str, ...]] = {
    SSER: (SER, "linearizable", SI, SSI, SSSER, "session-serializable"),
    SSSER: (SER, SSSI),
    SSI: (SSSI, SRC),
    SSSI: (SI, SSRC),
    SRC: (SSRC, SRU),
    SRU: (SSRU,),
    SSRC: (RC, SSRU),
    SSRU: (RU,),
    SER: (RR, "update-serializable", SI, "view-serializable"),
    "update-serializable": ("forward-consistent-view",),
    "forward-consistent-view": ("consistent-view",),
    "consistent-view": ("cursor-stability", "monotonic-view"),
    SI: ("forward-consistent-view", "monotonic-atomic-view", "monotonic-snapshot-read",
         "parallel-snapshot-isolation", "prefix"),
    "parallel-snapshot-isolation": ("causal-cerone", "update-atomic"),
    "prefix": ("causal-cerone",),
    "causal-cerone": ("read-atomic",),
    "update-atomic": ("read-atomic",),
    "read-atomic": ("monotonic-atomic-view",),
    RR: ("cursor-stability", "monotonic-atomic-view"),
    "cursor-stability": (RC,),
    "monotonic-atomic-view": (RC,),
    "monotonic-view": (RC,),
    "monotonic-snapshot-read": (RC,),
    RC: (RU,),
    RU: (),
    "view-serializable": (),
    "session-serializable": ("1SR",),
    "1SR": (),
    "linearizable": ("sequential",),
    "sequential": ("causal",),
    "causal": ("writes-follow-reads", "PRAM"),
    "PRAM": ("monotonic-reads", "monotonic-writes", "read-your-writes"),
    "writes-follow-reads": (),
    "monotonic-reads": (),
    "monotonic-writes": (),
    "read-your-writes": (),
}
MODELS = tuple(STRONGER)

# Elle's canonical (Adya) names -> our friendly names, plus other accepted spellings.
ALIASES = {
    "PL-1": RU, "PL-2": RC, "PL-2+": "consistent-view", "PL-2.99": RR, "PL-3": SER,
    "PL-SI": SI, "PL-SS": SSER, "PL-CS": "cursor-stability", "PL-FCV": "forward-consistent-view",
    "PL-MSR": "monotonic-snapshot-read", "PL-2L": "monotonic-view", "PL-3U": "update-serializable",
    "strong-session-PL-1": SSRU, "strong-session-PL-2": SSRC,
    "strong-PL-1": SRU, "strong-PL-2": SRC,
    "strong-serializable": SSER, "conflict-serializable": SER, "si": SI,
}
_CANON = {RU: "PL-1", RC: "PL-2", SI: "PL-SI", RR: "PL-2.99", SER: "PL-3", SSER: "PL-SS",
          SSRU: "strong-session-PL-1", SSRC: "strong-session-PL-2",
          SRU: "strong-PL-1", SRC: "strong-PL-2"}


def cycle_exists_name(model: str) -> str:
    """``read-committed`` -> ``PL-2-cycle-exists`` (Elle's canonical model names)."""
    return f"{_CANON.get(model, model)}-cycle-exists"


_ce = cycle_exists_name

FORBIDS: dict[str, tuple[str, ...]] = {
    RU: ("G0", "duplicate-elements", "cyclic-versions", _ce(RU)),
    RC: ("G1", _ce(RC)),
    "cursor-stability": ("G1", "G-cursor", "lost-update"),
    "monotonic-view": ("G1", "G-monotonic"),
    "monotonic-snapshot-read": ("G1", "G-MSR"),
    "consistent-view": ("G1", "G-single"),
    "forward-consistent-view": ("G1", "G-SIb"),
    "update-serializable": ("G1", "G-update"),
    RR: ("G1", "G2-item", _ce(RR), "lost-update"),
    SER: ("internal", "G1", "G2", "predicate-read-miss", _ce(SER)),
    SI: ("internal", "G1", "G-SI", "G-nonadjacent", _ce(SI)),
    "read-atomic": ("internal", "G1a", "future-read"),
    "causal-cerone": ("internal", "G1a"),
    "prefix": ("internal", "G1a"),
    "parallel-snapshot-isolation": ("internal", "G1a"),
    "update-atomic": ("lost-update",),
    SSER: ("G1", "G1c-realtime", "G2-realtime", _ce(SSER)),
    SSRU: ("G0-process", _ce(SSRU)),
    SSRC: ("G1c-process", _ce(SSRC)),
    SRU: ("G0-realtime", _ce(SRU)),
    SRC: ("G1c-realtime", _ce(SRC)),
    SSSI: ("internal", "G1-process", "G-nonadjacent-process", _ce(SSSI)),
    SSI: ("internal", "G1-realtime", "G-nonadjacent-realtime", _ce(SSI)),
    SSSER: ("G1-process", "G2-process", _ce(SSSER)),
}


def _variants(base: str, implies: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """base -> implies + base-process; base-process -> its -process implications +
    base-realtime; base-realtime -> its -realtime implications."""
    imp = list(implies)
    return {
        base: (*imp, f"{base}-process"),
        f"{base}-process": (*(f"{x}-process" for x in imp), f"{base}-realtime"),
        f"{base}-realtime": tuple(f"{x}-realtime" for x in imp),
    }


IMPLIES: dict[str, tuple[str, ...]] = {
    **_variants("G0", ["G1c"]),
    **_variants("G1c", ["G1"]),
    **_variants("G1", []),
    **_variants("G-single-item", ["G-single", "G-nonadjacent-item"]),
    **_variants("G-single", ["G-nonadjacent"]),
    **_variants("G-nonadjacent-item", ["G-nonadjacent", "G2-item"]),
    **_variants("G-nonadjacent", ["G2"]),
    **_variants("G2-item", ["G2"]),
    **_variants("G2", []),
    "G1a": ("G1",),
    "G1b": ("G1",),
    "incompatible-order": ("G1a",),
    "dirty-update": ("G1a",),
    "future-read": ("G1c",),
    "lost-update": ("write-skew", "G2-item"),
    "write-skew": ("G2",),
}
IMPLIES["G-single"] = (*IMPLIES["G-single"], "GSIb")
IMPLIES["GSIa"] = ("GSI",)
IMPLIES["GSIb"] = ("GSI",)


class ModelError(ValueError):
    """An unknown consistency model name."""


def canonical(name: str) -> str:
    """Our (Elle's friendly) name of a model; ModelError if unknown."""
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
