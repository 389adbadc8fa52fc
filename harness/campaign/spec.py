"""Campaign files: TOML (read with ``tomllib``) → a validated, ordered list of runs.

A campaign file is defaults plus a list of cases::

    [campaign]
    name = "smoke"                    # default: the file's stem
    description = "..."

    [defaults]                        # any case key except name
    backend = "docker"
    time_limit = 20

    [[case]]
    system = "raftkv"
    workload = ["register", "kv"]     # a list makes a matrix axis
    nemesis = ["partition", "kill,pause", "none"]   # each element is one fault mix
    bug = "stale-read"                # a bug switch: expect defaults to "invalid"
    seeds = 3                         # a count (1..3) or an explicit list [7, 11]
    opt = { partitions = 4 }          # system options (faultbox run --opt NAME=VALUE)

Matrix axes (a scalar or a list): ``system, workload, nemesis, bug, nodes,
time_limit`` and every other ``faultbox run`` option (``concurrency, rate,
op_timeout, nemesis_interval, recovery, check_budget, backend``).  A case
expands to the product of its axes and then to one run per seed.  A fault mix
is ``"partition,kill"`` (or ``"partition+kill"``); ``"none"`` or ``""`` is no
faults.  A bug value may combine switches the same way.

``expect`` is ``"valid"`` or ``"invalid"``; a case's own ``expect`` wins,
otherwise a run with a bug switch expects ``"invalid"`` and one without
expects the defaults' ``expect`` (``"valid"`` unless set).

Everything is checked before anything starts: an unknown key, system,
workload, nemesis or bug, a workload the system does not serve, or a bad
value raises :class:`~harness.errors.UsageError` with one line naming the
file, the case and the key.
"""

from __future__ import annotations

import itertools
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from harness.errors import UsageError
from harness.options import Options, validate

__all__ = [
    "Campaign", "CaseRun", "Registries", "load_campaign", "parse_campaign",
    "build_campaign", "split_mix", "registries",
]

# case key -> Options field (the axes that map straight onto a run option)
_OPTION_KEYS: dict[str, str] = {
    "system": "system", "workload": "workload", "nodes": "nodes", "time_limit": "time_limit_s",
    "concurrency": "concurrency", "keys": "keys", "rate": "rate", "op_timeout": "op_timeout_s",
    "nemesis_interval": "nemesis_interval_s", "recovery": "recovery_s",
    "check_budget": "check_budget_s", "backend": "backend",
}
_AXES = (*_OPTION_KEYS, "nemesis", "bug")
_CASE_KEYS = frozenset((*_AXES, "seeds", "expect", "name", "opt"))
_DEFAULT_KEYS = _CASE_KEYS - {"name"}
_CAMPAIGN_KEYS = frozenset({"name", "description"})
_TOP_KEYS = frozenset({"campaign", "defaults", "case"})
_STR_KEYS = frozenset({"system", "workload", "backend", "nemesis", "bug"})
_INT_KEYS = frozenset({"nodes", "concurrency", "keys"})
_EXPECTS = ("valid", "invalid")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# Options.validate names flags; map them back to the campaign key in the message.
_FLAG_KEY = {f"--{k.replace('_', '-')}": k for k in (*_OPTION_KEYS, "opt")}


@dataclass(frozen=True, slots=True)
class Registries:
    """What exists: systems (name -> SystemSpec), workload names, nemesis package names."""

    systems: Mapping[str, Any]
    workloads: Sequence[str]
    nemeses: Sequence[str]


@dataclass(frozen=True, slots=True)
class CaseRun:
    """One run of a campaign: one point of one case's matrix with one seed."""

    index: int  # position in the whole campaign's run list (sharding and merge order)
    id: str  # unique and stable across edits elsewhere in the file: "<label>/s<seed>"
    case: int  # 1-based position of its [[case]] table in the file
    label: str  # the matrix point, without the seed
    options: Options
    expect: str

    @property
    def seed(self) -> int:
        return self.options.seed

    @property
    def slug(self) -> str:
        """A folder name for this run's store."""
        return re.sub(r"[^A-Za-z0-9_.=+-]", "_", self.id.replace("/", "_"))


@dataclass(frozen=True, slots=True)
class Campaign:
    name: str
    description: str
    source: str  # the file (or "command line") it came from
    runs: tuple[CaseRun, ...]
    text: str = field(default="", repr=False)  # the TOML text, copied into the campaign folder


def registries() -> Registries:
    """The systems, workloads and nemeses installed here (a system still being built is skipped)."""
    import nemesis
    import workloads
    from systems import available_systems, get_system

    systems = {}
    for name in available_systems():
        try:
            systems[name] = get_system(name)
        except (ImportError, AttributeError):
            continue
    return Registries(systems, sorted(workloads.REGISTRY), sorted(nemesis.PACKAGES))


def load_campaign(path: Path, regs: Registries | None = None) -> Campaign:
    """Read and validate a campaign file (UsageError, one line, for anything wrong)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise UsageError(f"{path}: cannot read campaign file: {e.strerror or e}") from e
    except UnicodeDecodeError as e:
        raise UsageError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from e
    return parse_campaign(text, str(path), regs, default_name=Path(path).stem)


def parse_campaign(
    text: str, source: str, regs: Registries | None = None, default_name: str = "campaign"
) -> Campaign:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"{source}: TOML syntax error: {e}") from e
    unknown = sorted(set(doc) - _TOP_KEYS)
    if unknown:
        raise UsageError(f"{source}: unknown top-level key {unknown[0]!r} "
                         f"(known: {', '.join(sorted(_TOP_KEYS))})")
    head = _table(doc.get("campaign", {}), source, "[campaign]")
    _no_unknown(head, _CAMPAIGN_KEYS, f"{source}: [campaign]")
    name = head.get("name", default_name)
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise UsageError(f"{source}: [campaign]: key 'name': want letters, digits, '_.-', got {name!r}")
    description = head.get("description", "")
    if not isinstance(description, str):
        raise UsageError(f"{source}: [campaign]: key 'description': want a string")
    defaults = _table(doc.get("defaults", {}), source, "[defaults]")
    _no_unknown(defaults, _DEFAULT_KEYS, f"{source}: [defaults]")
    cases = doc.get("case", [])
    if not isinstance(cases, list) or not cases:
        raise UsageError(f"{source}: no [[case]] tables: a campaign needs at least one case")
    tables = [_table(c, source, f"case {i}") for i, c in enumerate(cases, start=1)]
    return build_campaign(name, description, source, defaults, tables, regs, text)


def build_campaign(
    name: str, description: str, source: str, defaults: Mapping[str, Any],
    cases: Sequence[Mapping[str, Any]], regs: Registries | None = None, text: str = "",
) -> Campaign:
    """Expand and validate cases (also used by the CLI's quick-sweep shorthand)."""
    regs = regs if regs is not None else registries()
    runs: list[CaseRun] = []
    seen: dict[str, int] = {}
    for k, case in enumerate(cases, start=1):
        where = f"{source}: case {k}"
        _no_unknown(case, _CASE_KEYS, where)
        merged = {**defaults, **case}
        for run in _expand(merged, case, where, regs, k):
            if run.id in seen:
                raise UsageError(f"{where}: run {run.id!r} duplicates one of case {seen[run.id]} "
                                 "(give the case a distinct 'name' or other seeds)")
            seen[run.id] = k
            runs.append(replace(run, index=len(runs)))
    return Campaign(name, description, source, tuple(runs), text)


def _table(v: Any, source: str, what: str) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise UsageError(f"{source}: {what} must be a table")
    return v


def _no_unknown(table: Mapping[str, Any], known: frozenset[str], where: str) -> None:
    for key in table:
        if key not in known:
            hint = f" (did you mean {key.replace('-', '_')!r}?)" if key.replace("-", "_") in known else ""
            raise UsageError(f"{where}: unknown key {key!r}{hint}")


def _axis(merged: Mapping[str, Any], key: str, where: str) -> list[Any]:
    """The values of one matrix axis, type-checked."""
    raw = merged[key]
    values = raw if isinstance(raw, list) else [raw]
    if not values:
        raise UsageError(f"{where}: key {key!r}: an empty list")
    for v in values:
        if key in _STR_KEYS:
            ok = isinstance(v, str)
            want = "a string"
        elif key in _INT_KEYS:
            ok = isinstance(v, int) and not isinstance(v, bool)
            want = "an integer"
        else:
            ok = isinstance(v, (int, float)) and not isinstance(v, bool)
            want = "a number"
        if not ok:
            raise UsageError(f"{where}: key {key!r}: want {want} or a list of them, got {v!r}")
    return values


def split_mix(value: str) -> tuple[str, ...]:
    """``"partition,kill"`` / ``"partition+kill"`` → ("partition", "kill"); ``"none"``/``""`` → ()."""
    parts = tuple(p.strip() for p in re.split(r"[,+]", value) if p.strip())
    return () if parts in ((), ("none",)) else parts


def _seeds(merged: Mapping[str, Any], where: str) -> list[int]:
    raw = merged.get("seeds", 1)
    if isinstance(raw, int) and not isinstance(raw, bool):
        if raw < 1:
            raise UsageError(f"{where}: key 'seeds': a count must be ≥ 1, got {raw}")
        return list(range(1, raw + 1))
    if isinstance(raw, list) and raw and all(
        isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in raw
    ):
        if len(set(raw)) != len(raw):
            raise UsageError(f"{where}: key 'seeds': a seed is listed twice")
        return list(raw)
    raise UsageError(f"{where}: key 'seeds': want a count ≥ 1 or a non-empty list of "
                     f"integers ≥ 0, got {raw!r}")


def _expect(merged: Mapping[str, Any], case: Mapping[str, Any], bugs: tuple[str, ...],
            where: str) -> str:
    raw = case.get("expect")
    if raw is None:
        raw = "invalid" if bugs else merged.get("expect", "valid")
    if raw not in _EXPECTS:
        raise UsageError(f"{where}: key 'expect': want \"valid\" or \"invalid\", got {raw!r}")
    return str(raw)


def _check_names(o: Options, where: str, regs: Registries) -> None:
    if o.system not in regs.systems:
        raise UsageError(f"{where}: key 'system': unknown system {o.system!r} "
                         f"(known: {', '.join(sorted(regs.systems))})")
    spec = regs.systems[o.system]
    if o.workload not in regs.workloads:
        raise UsageError(f"{where}: key 'workload': unknown workload {o.workload!r} "
                         f"(known: {', '.join(regs.workloads)})")
    if o.workload not in spec.clients:
        raise UsageError(f"{where}: key 'workload': system {o.system} does not serve "
                         f"{o.workload!r} (it serves: {', '.join(sorted(spec.clients))})")
    for n in o.nemesis:
        if n not in regs.nemeses:
            raise UsageError(f"{where}: key 'nemesis': unknown nemesis {n!r} "
                             f"(known: {', '.join(regs.nemeses)})")
    for b in o.bugs:
        if b not in spec.bugs:
            raise UsageError(f"{where}: key 'bug': system {o.system} has no bug switch {b!r} "
                             f"(known: {', '.join(sorted(spec.bugs)) or 'none'})")


def _expand(merged: Mapping[str, Any], case: Mapping[str, Any], where: str, regs: Registries,
            k: int) -> list[CaseRun]:
    if "system" not in merged:
        raise UsageError(f"{where}: key 'system' is missing (in the case or [defaults])")
    name = case.get("name")
    if name is not None and (not isinstance(name, str) or not _NAME_RE.match(name)):
        raise UsageError(f"{where}: key 'name': want letters, digits, '_.-', got {name!r}")
    axes = [key for key in _AXES if key in merged]
    values = [_axis(merged, key, where) for key in axes]
    seeds = _seeds(merged, where)
    varying = {key for key, vs in zip(axes, values, strict=True) if len(vs) > 1}
    out: list[CaseRun] = []
    opt = _system_opts(merged, where)
    for point in itertools.product(*values):
        chosen = dict(zip(axes, point, strict=True))
        base = replace(_options(chosen, regs), system_opts=opt)
        _check_names(base, where, regs)
        try:
            validate(base, dict(regs.systems), list(regs.workloads), list(regs.nemeses))
        except UsageError as e:
            msg = str(e)
            key = next((v for f, v in _FLAG_KEY.items() if msg.startswith(f)), None)
            raise UsageError(f"{where}: " + (f"key {key!r}: " if key else "") + msg) from e
        label = _label(base, chosen, varying, name)
        if opt and name is None:
            label += "".join(f"-{k}={v}" for k, v in opt)
        expect = _expect(merged, case, base.bugs, where)
        for seed in seeds:
            out.append(CaseRun(0, f"{label}/s{seed}", k, label, replace(base, seed=seed), expect))
    return out


def _system_opts(merged: Mapping[str, Any], where: str) -> tuple[tuple[str, str], ...]:
    """The ``opt`` table (a case's own replaces the defaults'): name -> a scalar value."""
    raw = merged.get("opt", {})
    if not isinstance(raw, dict):
        raise UsageError(f"{where}: key 'opt': want a table of system options, got {raw!r}")
    out = []
    for k, v in sorted(raw.items()):
        if isinstance(v, bool) or not isinstance(v, (str, int, float)):
            raise UsageError(f"{where}: key 'opt': option {k!r} wants a string or a number, "
                             f"got {v!r}")
        out.append((str(k), f"{v:g}" if isinstance(v, float) else str(v)))
    return tuple(out)


def _options(chosen: Mapping[str, Any], regs: Registries) -> Options:
    from nemesis.schedule import expand_mix, schedule_interval

    kw: dict[str, Any] = {field: chosen[key] for key, field in _OPTION_KEYS.items() if key in chosen}
    names = split_mix(chosen.get("nemesis", ""))
    kw["nemesis"] = expand_mix(names)
    kw["nemesis_interval_s"] = schedule_interval(names, kw.get("nemesis_interval_s"),
                                                 Options.nemesis_interval_s)
    kw["bugs"] = split_mix(chosen.get("bug", ""))
    for key in ("rate", "time_limit_s", "op_timeout_s", "nemesis_interval_s", "recovery_s",
                "check_budget_s"):
        if key in kw:
            kw[key] = float(kw[key])
    spec = regs.systems.get(kw["system"])
    if "nodes" not in kw:
        cap = spec.max_nodes if spec is not None and spec.max_nodes else 3
        kw["nodes"] = min(3, cap)
    if spec is not None and spec.default_faults and isinstance(kw["nodes"], int):
        # the system's own part of `default` (a bad node count is reported by the checks)
        kw["nemesis"] = expand_mix(names, spec.default_faults, kw["nodes"])
    return Options(**kw)


def _label(o: Options, chosen: Mapping[str, Any], varying: set[str], name: str | None) -> str:
    """The matrix point's name: ``system-workload-faults[-bug=x]-nN`` plus any other varying axis."""
    auto = f"{o.system}-{o.workload}-{'+'.join(o.nemesis) or 'none'}"
    if o.bugs:
        auto += f"-bug={'+'.join(o.bugs)}"
    auto += f"-n{o.nodes}"
    for key in sorted(varying - {"system", "workload", "nemesis", "bug", "nodes"}):
        auto += f"-{key}={chosen[key]:g}" if not isinstance(chosen[key], str) else f"-{key}={chosen[key]}"
    if name is None:
        return auto
    return name if not varying else f"{name}[{auto}]"
