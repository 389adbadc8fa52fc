"""Partition and packet faults for backends whose nodes each own an IP and iptables.

Shared by the Docker backend (rules inside each container's namespace) and the
SSH backend (rules on each remote host). A backend mixes in :class:`NetFaults`
and provides:

* ``_st`` with ``nodes`` (name -> object with ``ip`` and ``shape``), ``grudge``,
  ``proxy`` (the delay relay or None) and ``gateway`` (the address the harness's
  clients come from, where the delay relay listens);
* ``_net(node)`` (a :class:`~harness.netctl.NetExec` for the node's rules),
  ``_running(node)`` and ``cluster()``;
* optionally ``_has_netem()`` (default: probe the first node) and
  ``_keep_dports(node)`` (TCP ports of the node a clients cut must spare, e.g. sshd).

Without netem, delay goes through a host relay (:class:`~harness.netctl.DelayProxy`),
loss through ``iptables statistic``, duplication through ``TEE`` (DESIGN §5).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from harness.backends.base import BackendError, Grudge
from harness.netctl import CLIENTS, DelayProxy, NetError, NetExec
from systems.common.spec import Addr

__all__ = ["NetFaults", "CLIENTS_VS_RELAY"]

# The relay listens where the clients come from: cutting one cuts the other.
CLIENTS_VS_RELAY = "cannot cut clients off a node while a delay relay carries peer traffic"


class NetFaults:
    """partition/heal/shape and the packet mechanism probe (see module docstring)."""

    _st: Any
    _netem: bool | None = None
    server_port: int = 7000
    _why_no_netem = "no netem in this kernel"  # how packet_mechanism() explains the relay

    # -- hooks ------------------------------------------------------------------------
    def _net(self, node: str) -> NetExec:
        raise NotImplementedError

    def _running(self, node: str) -> bool:
        raise NotImplementedError

    @staticmethod
    def _each(nodes: list[str], fn: Callable[[str], None]) -> None:
        """``fn(node)`` for every node, concurrently (engine calls and hosts overlap)."""
        if len(nodes) <= 1:
            for n in nodes:
                fn(n)
            return
        with ThreadPoolExecutor(max_workers=min(8, len(nodes))) as pool:
            for fut in [pool.submit(fn, n) for n in nodes]:
                fut.result()

    def cluster(self) -> Mapping[str, Addr]:
        raise NotImplementedError

    def _has_netem(self) -> bool:
        first = next(iter(self._st.nodes))
        return self._net(first).has_netem()

    def _keep_dports(self, node: str) -> tuple[int, ...]:
        return ()

    # -- mechanism -----------------------------------------------------------------------
    def packet_mechanism(self) -> dict[str, str]:
        """Which mechanism each packet fault uses on this engine (probed once)."""
        if self._netem is None and self._st.nodes:
            self._netem = self._has_netem()
        if self._netem:
            return {"delay": "tc netem", "loss": "tc netem", "dup": "tc netem"}
        return {
            "delay": f"host TCP relay delaying port {self.server_port} ({self._why_no_netem})",
            "loss": "iptables statistic DROP",
            "dup": "iptables TEE clone",
        }

    # -- partitions ------------------------------------------------------------------------
    def _apply_partition(self, node: str) -> None:
        nodes, grudge, proxy = self._st.nodes, self._st.grudge, self._st.proxy
        senders = [p for p in grudge.get(node, frozenset()) if p in nodes and p != node]
        in_ports: list[int] = []
        out_ports: list[int] = []
        if proxy is not None:  # relayed links are cut by relay port (see netctl)
            in_ports = [proxy.address(node, s)[1] for s in senders]
            out_ports = [proxy.address(node, r)[1] for r, ss in grudge.items()
                         if node in ss and r in nodes and r != node]
        clients_ip = self._st.gateway if CLIENTS in grudge.get(node, ()) else None
        if clients_ip and proxy is not None:
            raise BackendError(CLIENTS_VS_RELAY)
        try:
            self._net(node).set_partition(
                [nodes[p].ip for p in senders], self._st.gateway or None, in_ports, out_ports,
                clients_ip, self._keep_dports(node),
            )
        except NetError as e:
            raise BackendError(str(e)) from e

    def partition(self, grudge: Grudge) -> None:
        """Make each node drop packets from the nodes its grudge names (replaces the last one)."""
        nodes = set(self._st.nodes)
        # CLIENTS may only be a sender ("this node drops the harness's client traffic").
        senders = {p for ps in grudge.values() for p in ps}
        unknown = (set(grudge) - nodes) | (senders - nodes - {CLIENTS})
        if unknown:
            raise BackendError(f"grudge names unknown nodes: {sorted(unknown)}")
        if CLIENTS in senders and self._st.proxy is not None:
            # Refused before any state changes, so that a later heal() still works.
            raise BackendError(CLIENTS_VS_RELAY)
        old = self._st.grudge
        self._st.grudge = {n: frozenset(ps) for n, ps in grudge.items() if ps}
        touched = set(old) | set(self._st.grudge)
        if self._st.proxy is not None:  # senders carry relay rules too
            touched |= {s for ss in list(old.values()) + list(self._st.grudge.values()) for s in ss}
        touched &= nodes  # never the pseudo-node CLIENTS
        self._each([n for n in sorted(touched) if self._running(n)], self._apply_partition)
        if self._st.proxy is not None:
            self._st.proxy.set_grudge(self._st.grudge)

    def heal(self) -> None:
        self.partition({})

    # -- packets ---------------------------------------------------------------------------
    def _apply_shape(self, node: str) -> None:
        n = self._st.nodes[node]
        delay_ms, loss, dup = n.shape
        net = self._net(node)
        try:
            if self.packet_mechanism()["loss"] == "tc netem":
                net.set_netem("eth0", delay_ms, loss, dup)
                return
            proxy = self._st.proxy
            proxied: dict[str, tuple[str, int]] = {}
            for name, peer in self._st.nodes.items():
                if name == node or proxy is None:
                    continue
                if delay_ms > 0 or peer.shape[0] > 0:  # either end sends late
                    proxied[peer.ip] = proxy.address(node, name)
            peers = [p.ip for name, p in self._st.nodes.items() if name != node]
            net.set_shape(peers, loss, dup, proxied, self.server_port)
        except NetError as e:
            raise BackendError(str(e)) from e

    def _delay_proxy(self) -> DelayProxy:
        if self._st.proxy is None:
            proxy = DelayProxy(self._st.gateway, self.cluster())
            try:
                proxy.start()
            except OSError as e:
                proxy.stop()
                raise BackendError(f"cannot start the delaying relay: {e}") from e
            proxy.set_grudge(self._st.grudge)
            self._st.proxy = proxy
            self._each([k for k in self._st.nodes if self._running(k)], self._apply_partition)
        proxy_: DelayProxy = self._st.proxy
        return proxy_

    def shape(self, node: str, delay_ms: float = 0, loss: float = 0, dup: float = 0) -> None:
        """Shape packets the node sends to its peers; all zero restores the link.

        Without netem, delay goes through a host relay: every pair of nodes
        with a delayed end is DNAT-ed to it (see :class:`harness.netctl.DelayProxy`).
        """
        if node not in self._st.nodes:
            raise BackendError(f"unknown node {node!r} (cluster is not up?)")
        n = self._st.nodes[node]
        old_delay_ms = n.shape[0]
        netem = self.packet_mechanism()["loss"] == "tc netem"
        if (not netem and self._st.proxy is None and float(delay_ms) != old_delay_ms
                and any(CLIENTS in ps for ps in self._st.grudge.values())):
            raise BackendError(CLIENTS_VS_RELAY)  # before any state changes
        n.shape = (float(delay_ms), float(loss), float(dup))
        if netem or old_delay_ms == n.shape[0]:
            if self._running(node):
                self._apply_shape(node)
            return
        proxy = self._delay_proxy()
        proxy.set_delays({k: v.shape[0] / 1000 for k, v in self._st.nodes.items()})
        self._each([k for k in self._st.nodes if self._running(k)], self._apply_shape)
        if n.shape[0] == 0:
            proxy.reset([node])  # relayed connections go back to direct ones
