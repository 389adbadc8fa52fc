"""DockerBackend.partition's bookkeeping for the pseudo-node ``clients``, with the
engine and iptables replaced by recorders (no Docker needed): a grudge that is
refused changes nothing, and heal() always works afterwards."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.backends.base import BackendError
from harness.backends.docker import DockerBackend, _Node
from harness.netctl import CLIENTS

GATEWAY = "10.9.0.1"


class FakeNet:
    def __init__(self, node: str, calls: list[tuple[str, Any]]) -> None:
        self.node = node
        self.calls = calls

    def set_partition(self, drop_from: Any, relay_ip: Any, in_ports: Any, out_ports: Any,
                      clients_ip: str | None = None, keep_dports: Any = ()) -> None:
        self.calls.append((self.node, (sorted(drop_from), clients_ip)))


class FakeRelay:
    def __init__(self) -> None:
        self.grudges: list[Any] = []

    def address(self, src: str, dst: str) -> tuple[str, int]:
        return GATEWAY, 40000 + int(src[1:]) * 10 + int(dst[1:])

    def set_grudge(self, grudge: Any) -> None:
        self.grudges.append(dict(grudge))


def backend(tmp_path: Path) -> tuple[DockerBackend, list[tuple[str, Any]]]:
    b = DockerBackend(run_id="unit", progress=lambda msg: None)
    calls: list[tuple[str, Any]] = []
    for i in (1, 2, 3):
        name = f"n{i}"
        b._st.nodes[name] = _Node(name, f"10.9.0.{i + 1}", None, tmp_path, tmp_path, pid=100 + i)
    b._st.gateway = GATEWAY
    b._net = lambda node: FakeNet(node, calls)  # type: ignore[method-assign, assignment, return-value]
    return b, calls


def test_clients_cut_then_heal(tmp_path: Path) -> None:
    b, calls = backend(tmp_path)
    b.partition({"n1": frozenset({CLIENTS, "n2"})})
    assert calls == [("n1", (["10.9.0.3"], GATEWAY))]
    calls.clear()
    b.heal()
    assert calls == [("n1", ([], None))]
    assert b._st.grudge == {}


def test_clients_is_a_sender_only(tmp_path: Path) -> None:
    b, calls = backend(tmp_path)
    with pytest.raises(BackendError, match="unknown nodes: \\['clients'\\]"):
        b.partition({CLIENTS: frozenset({"n1"})})
    with pytest.raises(BackendError, match="unknown nodes: \\['n9'\\]"):
        b.partition({"n1": frozenset({"n9", CLIENTS})})
    assert calls == [] and b._st.grudge == {}


def test_clients_cut_refused_under_a_relay_and_heal_still_works(tmp_path: Path) -> None:
    """With a delaying relay on the gateway, cutting clients is refused before the grudge
    is stored: otherwise heal() would try to reapply rules on the node 'clients' and fail,
    leaving the cluster partitioned."""
    b, calls = backend(tmp_path)
    relay = FakeRelay()
    b._st.proxy = relay  # type: ignore[assignment]
    b.partition({"n1": frozenset({"n2"})})
    with pytest.raises(BackendError, match="delay relay"):
        b.partition({"n1": frozenset({"n2", CLIENTS}), "n3": frozenset({CLIENTS})})
    assert b._st.grudge == {"n1": frozenset({"n2"})}
    calls.clear()
    b.heal()
    assert b._st.grudge == {} and relay.grudges[-1] == {}
    assert sorted(n for n, _ in calls) == ["n1", "n2"]
    assert all(args == ([], None) for _, args in calls)


def test_no_relay_is_started_while_clients_are_cut(tmp_path: Path) -> None:
    b, _ = backend(tmp_path)
    b._netem = False  # this kernel has no netem: delay would need the relay
    b.partition({"n2": frozenset({CLIENTS})})
    with pytest.raises(BackendError, match="delay relay"):
        b.shape("n1", delay_ms=100)
    assert b._st.proxy is None and b._st.nodes["n1"].shape == (0.0, 0.0, 0.0)
