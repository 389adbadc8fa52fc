"""What the harness needs to know about a system under test (stdlib only).

Every system's server is started the same way, by any backend::

    python3 -m <server_module> --node n1 --listen HOST:PORT \
        --peers n1=HOST:PORT,n2=HOST:PORT,... --data DIR [--bug NAME]... [--seed N]

One port serves both peers and clients. Every server answers the request
``{"op": "status"}`` with at least ``{"ok": true, "node": ..., "ready": bool}``
and, for leader-based systems, ``"role"``, ``"leader"`` (node name or null) and
``"term"``.

Clients are asyncio objects with ``invoke(f, value) -> (type, value, error)``
where ``type`` is ``"ok"`` (definitely happened), ``"fail"`` (definitely did
not) or ``"info"`` (unknown: timeout, lost connection after sending), and
``close()``. A client never retries an op silently.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["Addr", "Cluster", "SystemClient", "ClientFactory", "SystemSpec", "server_argv"]

Addr = tuple[str, int]
Cluster = Mapping[str, Addr]  # node name -> address reachable from the harness


class SystemClient(Protocol):
    async def invoke(self, f: str, value: Any) -> tuple[str, Any, Any]: ...

    async def close(self) -> None: ...


# (cluster, preferred node, per-op timeout in seconds) -> client
ClientFactory = Callable[[Cluster, str, float], SystemClient]


@dataclass(frozen=True)
class SystemSpec:
    name: str
    description: str
    server_module: str
    clients: Mapping[str, ClientFactory]  # workload name -> client factory
    bugs: Mapping[str, str] = field(default_factory=dict)  # bug -> one-sentence description
    max_nodes: int | None = None  # memkv is single-node
    leader_based: bool = False


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
    return argv
