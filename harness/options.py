"""Test options: what the user asked for, validated into one frozen value."""

from __future__ import annotations

import math
import shlex
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.backends.ssh_hosts import SshSettings
from harness.errors import UsageError

__all__ = ["Options", "validate", "parse_system_opts"]


@dataclass(frozen=True)
class Options:
    system: str = "raftkv"
    workload: str = "register"
    nemesis: tuple[str, ...] = ()
    nodes: int = 3
    concurrency: int = 5
    keys: int = 8  # keys a multi-key workload spreads its ops over
    rate: float = 100.0
    time_limit_s: float = 30.0
    seed: int = 0
    backend: str = "docker"
    bugs: tuple[str, ...] = ()
    op_timeout_s: float = 3.0
    nemesis_interval_s: float = 5.0
    recovery_s: float = 3.0
    check_budget_s: float = 120.0
    store: Path = field(default=Path("store"))
    report: bool = True
    monitor_hz: float = 5.0  # status polls per node per second (divergence checker); 0 off
    system_opts: tuple[tuple[str, str], ...] = ()  # --opt NAME=VALUE, as given
    ssh: SshSettings | None = None  # --backend ssh: --hosts and the --ssh-* flags

    def workload_options(self) -> Any:
        """The :class:`workloads.base.WorkloadOptions` these options ask for."""
        from workloads.base import WorkloadOptions

        return WorkloadOptions(rate=self.rate, concurrency=self.concurrency, keys=self.keys,
                               check_time_budget_s=self.check_budget_s)

    def system_settings(self) -> dict[str, str]:
        return dict(self.system_opts)

    @property
    def name(self) -> str:
        faults = ",".join(self.nemesis) or "none"
        return f"{self.system}-{self.workload}-{faults}"

    def node_names(self) -> list[str]:
        return [f"n{i}" for i in range(1, self.nodes + 1)]

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["store"] = str(self.store)
        d["nemesis"] = list(self.nemesis)
        d["bugs"] = list(self.bugs)
        d["system_opts"] = dict(self.system_opts)
        if self.ssh is None:
            del d["ssh"]  # test.json of other backends stays as it was
        else:
            d["ssh"] = self.ssh.to_json()
        return d

    def command(self) -> str:
        """The exact command line that reproduces this test (same seed, same options)."""
        argv = [
            "faultbox", "run",
            "--system", self.system,
            "--workload", self.workload,
            "--nodes", str(self.nodes),
            "--concurrency", str(self.concurrency),
            "--rate", f"{self.rate:g}",
            "--time-limit", f"{self.time_limit_s:g}",
            "--seed", str(self.seed),
            "--backend", self.backend,
            "--op-timeout", f"{self.op_timeout_s:g}",
            "--nemesis-interval", f"{self.nemesis_interval_s:g}",
            "--recovery", f"{self.recovery_s:g}",
            "--check-budget", f"{self.check_budget_s:g}",
        ]
        if self.nemesis:
            argv += ["--nemesis", ",".join(self.nemesis)]
        for b in self.bugs:
            argv += ["--bug", b]
        for name, value in self.system_opts:
            argv += ["--opt", f"{name}={value}"]
        if self.keys != 8:
            argv += ["--keys", str(self.keys)]
        if self.monitor_hz != 5.0:
            argv += ["--monitor-hz", f"{self.monitor_hz:g}"]
        if self.ssh is not None:
            argv += self.ssh.argv()
        return shlex.join(argv)


def parse_system_opts(items: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """``--opt NAME=VALUE`` arguments as (name, value) pairs; UsageError (one line) if malformed."""
    out: dict[str, str] = {}
    for item in items:
        name, eq, value = item.partition("=")
        name = name.strip()
        if not eq or not name:
            raise UsageError(f"--opt takes NAME=VALUE, got {item!r}")
        if name in out:
            raise UsageError(f"--opt {name} given twice")
        out[name] = value.strip()
    return tuple(out.items())


def _positive(name: str, v: float, allow_zero: bool = False) -> None:
    if not math.isfinite(v):
        raise UsageError(f"--{name} must be a finite number, got {v}")
    if v < 0 or (v == 0 and not allow_zero):
        raise UsageError(f"--{name} must be {'≥ 0' if allow_zero else '> 0'}, got {v:g}")


def validate(o: Options, systems: dict[str, Any], workloads: list[str], nemeses: list[str]) -> None:
    """Raise UsageError (one line) for anything wrong; ``systems`` maps name -> SystemSpec."""
    _positive("nodes", o.nodes)
    _positive("concurrency", o.concurrency)
    _positive("keys", o.keys)
    _positive("rate", o.rate)
    _positive("time-limit", o.time_limit_s)
    _positive("op-timeout", o.op_timeout_s)
    _positive("nemesis-interval", o.nemesis_interval_s)
    _positive("recovery", o.recovery_s, allow_zero=True)
    _positive("check-budget", o.check_budget_s)
    _positive("monitor-hz", o.monitor_hz, allow_zero=True)
    if o.monitor_hz > 50:
        raise UsageError(f"--monitor-hz must be at most 50, got {o.monitor_hz:g}")
    if o.system not in systems:
        raise UsageError(f"unknown system {o.system!r} (known: {', '.join(sorted(systems))})")
    spec = systems[o.system]
    if o.workload not in workloads:
        raise UsageError(f"unknown workload {o.workload!r} (known: {', '.join(sorted(workloads))})")
    if o.workload not in spec.clients:
        served = ", ".join(sorted(spec.clients))
        raise UsageError(f"system {o.system} does not serve workload {o.workload!r} (it serves: {served})")
    for n in o.nemesis:
        if n not in nemeses:
            raise UsageError(f"unknown nemesis {n!r} (known: {', '.join(sorted(nemeses))})")
    if "membership" in o.nemesis:
        if getattr(spec, "membership", None) is None:
            raise UsageError(f"system {o.system} cannot change membership (--nemesis membership)")
    for b in o.bugs:
        if b not in spec.bugs:
            known = ", ".join(sorted(spec.bugs)) or "none"
            raise UsageError(f"system {o.system} has no bug switch {b!r} (known: {known})")
    try:
        spec.configured(o.system_settings())
    except ValueError as e:
        raise UsageError(f"--opt: {e}") from None
    if spec.max_nodes is not None and o.nodes > spec.max_nodes:
        raise UsageError(f"system {o.system} runs on at most {spec.max_nodes} node(s), got --nodes {o.nodes}")
    if o.backend not in ("docker", "local", "sim", "ssh"):
        raise UsageError(f"unknown backend {o.backend!r} (known: docker, local, sim, ssh)")
    if o.backend == "ssh" and o.ssh is None:
        raise UsageError("--backend ssh needs --hosts hosts.toml (see docs/ssh.md)")

