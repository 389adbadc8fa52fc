"""What the harness needs to know about a system under test (stdlib only).

Every system's server is started the same way, by any backend::

    python3 -m <server_module> --node n1 --listen HOST:PORT \
        --peers n1=HOST:PORT,n2=HOST:PORT,... --data DIR [--bug NAME]... [--seed N]

One port serves both peers and clients. Every server answers the request
``{"op": "status"}`` with at least ``{"ok": true, "node": ..., "ready": bool}``
and, for leader-based systems, ``"role"``, ``"leader"`` (node name or null) and
``"term"``.

A system whose membership can change mid-run (``SystemSpec.membership``)
starts a joining node with the same argv plus ``Membership.join_args``
(``--peers`` then names the nodes the cluster started with and the joiner)
and answers, on every node, the membership control requests the
``membership`` nemesis sends: ``{"op": "registration", "on": bool,
"deregister": bool}`` (stop or resume the node's registration heartbeat; off
with ``deregister``: also drop it from the registry at once while it keeps
serving, as a failed health check does), ``{"op": "leave"}`` (deregister
gracefully; answered once done) and ``{"op": "registry"}`` →
``{"ok": true, "epoch": int, "members": {node: "host:port"}}``.

A system may take options (``faultbox run --opt NAME=VALUE``, declared in
``SystemSpec.options``): each chosen value reaches every server as
``--NAME VALUE`` (underscores become dashes) when the option is a server
option, and every client factory as the keyword argument ``NAME`` when it is
a client option; unchosen options keep their defaults on both sides.

Clients are asyncio objects with ``invoke(f, value) -> (type, value, error)``
where ``type`` is ``"ok"`` (definitely happened), ``"fail"`` (definitely did
not) or ``"info"`` (unknown: timeout, lost connection after sending), and
``close()``. A client never retries an op silently.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

__all__ = [
    "Addr", "Cluster", "SystemClient", "ClientFactory", "Membership", "SystemOption",
    "SystemSpec", "server_argv",
]

Addr = tuple[str, int]
Cluster = Mapping[str, Addr]  # node name -> address reachable from the harness


class SystemClient(Protocol):
    async def invoke(self, f: str, value: Any) -> tuple[str, Any, Any]: ...

    async def close(self) -> None: ...


# (cluster, preferred node, per-op timeout in seconds) -> client
ClientFactory = Callable[[Cluster, str, float], SystemClient]


@dataclass(frozen=True)
class Membership:
    """How a system takes nodes in and out while it runs (see the module docstring).

    ``ring_change(before, after)`` gives the figures of one change of the
    registered set (keys moved against the ideal, load balance), recorded by
    the nemesis in the history; None when the system has no placement to measure.
    """

    join_args: tuple[str, ...] = ("--join",)
    ring_change: Callable[[Sequence[str], Sequence[str]], Mapping[str, Any]] | None = None


@dataclass(frozen=True)
class SystemOption:
    """One ``--opt NAME=VALUE`` a system takes; its type is its default's (int, float, str)."""

    description: str
    default: int | float | str
    minimum: float | None = None
    maximum: float | None = None
    server: bool = True  # passed to every server as --NAME VALUE
    client: bool = True  # passed to every client factory as the keyword NAME

    def parse(self, name: str, text: str) -> int | float | str:
        """The value of ``text``, or ValueError with a one-line reason naming the option."""
        kind = type(self.default)
        try:
            value = kind(text)
        except ValueError:
            raise ValueError(f"option {name} takes {kind.__name__} values, got {text!r}") from None
        if isinstance(value, float) and value != value:
            raise ValueError(f"option {name} must be a number, got {text!r}")
        if not isinstance(value, str):
            if self.minimum is not None and value < self.minimum:
                raise ValueError(f"option {name} must be >= {self.minimum:g}, got {text}")
            if self.maximum is not None and value > self.maximum:
                raise ValueError(f"option {name} must be <= {self.maximum:g}, got {text}")
        return value


@dataclass(frozen=True)
class SystemSpec:
    name: str
    description: str
    server_module: str
    clients: Mapping[str, ClientFactory]  # workload name -> client factory
    bugs: Mapping[str, str] = field(default_factory=dict)  # bug -> one-sentence description
    max_nodes: int | None = None  # memkv is single-node
    leader_based: bool = False
    membership: Membership | None = None  # None: its membership is fixed for a run
    options: Mapping[str, SystemOption] = field(default_factory=dict)
    settings: Mapping[str, int | float | str] = field(default_factory=dict)  # chosen values
    # Targeted faults ``--nemesis default`` adds for this system to the generic mix (where
    # the run has the nodes they need: nemesis.schedule.MIN_NODES).
    default_faults: tuple[str, ...] = ()

    def configured(self, raw: Mapping[str, str]) -> SystemSpec:
        """This spec with the chosen options parsed; ValueError (one line) on a bad one."""
        settings: dict[str, int | float | str] = {}
        for name, text in raw.items():
            opt = self.options.get(name)
            if opt is None:
                known = ", ".join(sorted(self.options)) or "none"
                raise ValueError(f"system {self.name} has no option {name!r} (known: {known})")
            settings[name] = opt.parse(name, text)
        return replace(self, settings=settings)

    def client_settings(self) -> dict[str, int | float | str]:
        """The chosen options every client factory of this system receives as keywords."""
        return {k: v for k, v in self.settings.items() if self.options[k].client}


def server_argv(
    spec: SystemSpec,
    node: str,
    listen: Addr,
    peers: Cluster,
    data_dir: str,
    bugs: tuple[str, ...] = (),
    seed: int = 0,
    python: str = "python3",
) -> list[str]:
    argv = [
        python,
        "-m",
        spec.server_module,
        "--node",
        node,
        "--listen",
        f"{listen[0]}:{listen[1]}",
        "--peers",
        ",".join(f"{n}={h}:{p}" for n, (h, p) in peers.items()),
        "--data",
        data_dir,
        "--seed",
        str(seed),
    ]
    for b in bugs:
        argv += ["--bug", b]
    for name, value in sorted(spec.settings.items()):
        if spec.options[name].server:
            argv += [f"--{name.replace('_', '-')}", str(value)]
    return argv
