"""Pure rule builders of harness.netctl and the faketime spec of the docker backend."""

from __future__ import annotations

import pytest

from harness import netctl
from harness.backends.docker import faketime_spec


def test_partition_script_replaces_the_chain() -> None:
    s = netctl.partition_script(["10.0.0.3", "10.0.0.2", "10.0.0.3"])
    lines = s.splitlines()
    assert lines[:3] == ["*filter", ":FB-PART - [0:0]", ":FB-PARTOUT - [0:0]"]
    assert lines[3:5] == ["-A FB-PART -s 10.0.0.2 -j DROP", "-A FB-PART -s 10.0.0.3 -j DROP"]
    assert lines[-1] == "COMMIT"
    heal = netctl.partition_script([])
    assert "-A" not in heal  # an empty grudge flushes: heal


def test_partition_script_cuts_relayed_links_by_port() -> None:
    s = netctl.partition_script([], "10.0.0.1", [40001], [40002])
    assert "-A FB-PART -s 10.0.0.1 -p tcp --sport 40001 -j DROP" in s
    assert "-A FB-PARTOUT -d 10.0.0.1 -p tcp --dport 40002 -j DROP" in s


def test_partition_script_cuts_clients_but_lets_control_ports_through() -> None:
    s = netctl.partition_script([], clients_ip="10.0.0.1", control_ports=(64000, 64999))
    lines = s.splitlines()
    ret = lines.index("-A FB-PART -s 10.0.0.1 -p tcp --sport 64000:64999 -j RETURN")
    reset = lines.index("-A FB-PART -s 10.0.0.1 -p tcp -j REJECT --reject-with tcp-reset")
    assert reset == ret + 1  # the exemption comes first
    assert lines.index("-A FB-PART -s 10.0.0.1 -j DROP") == reset + 1
    assert "10.0.0.1" not in netctl.partition_script([])


def test_shape_script_loss_dup_and_relay() -> None:
    s = netctl.shape_script(["10.0.0.2"], loss=0.25, dup=0.5,
                            proxied={"10.0.0.3": ("10.0.0.1", 40000)})
    assert "-A FB-SHAPE -d 10.0.0.2 -m statistic --mode random --probability 0.250000 -j DROP" in s
    assert ("-A FB-SHAPE -d 10.0.0.1 -p tcp --dport 40000 -m statistic --mode random "
            "--probability 0.250000 -j DROP") in s
    assert "-j TEE --gateway 10.0.0.2" in s and "-j TEE --gateway 10.0.0.1" in s
    assert ("-A FB-DNAT -d 10.0.0.3 -p tcp --dport 7000 -j DNAT --to-destination 10.0.0.1:40000"
            in s)
    assert "-A FB-SHAPE -d 10.0.0.3 -p tcp --dport 7000 -j REJECT --reject-with tcp-reset" in s
    clear = netctl.shape_script(["10.0.0.2"])
    assert "-A" not in clear and clear.count("COMMIT") == 3
    with pytest.raises(ValueError):
        netctl.shape_script(["10.0.0.2"], loss=1.5)


def test_setup_script_hooks_every_chain_once() -> None:
    s = netctl.setup_script()
    for hook in ("-I INPUT 1 -j FB-PART", "-I OUTPUT 1 -j FB-SHAPE", "-I OUTPUT 1 -j FB-PARTOUT",
                 "-I POSTROUTING 1 -j FB-DUP", "-I OUTPUT 1 -j FB-DNAT"):
        assert s.count(hook) == 1


def test_netem_args() -> None:
    assert netctl.netem_args("eth0", 100, 0.1, 0) == [
        "tc", "qdisc", "replace", "dev", "eth0", "root", "netem", "delay", "100ms", "loss", "10%"]


def test_shell_with_stdin_quotes() -> None:
    argv = netctl.shell_with_stdin(["iptables-restore", "-n"], "a 'b'\n")
    assert argv[:2] == ["sh", "-c"] and "iptables-restore -n" in argv[2]
    assert "'\"'\"'" in argv[2]  # the single quotes survive


def test_netexec_reports_failures_in_one_line() -> None:
    calls = []

    def run(argv: list[str], stdin: str | None) -> tuple[int, str]:
        calls.append((argv, stdin))
        return 1, "iptables-restore: line 3 failed"

    with pytest.raises(netctl.NetError, match="n1: iptables-restore --noflush failed"):
        netctl.NetExec("n1", run).set_partition(["10.0.0.2"])
    assert calls[0][1] is not None and "10.0.0.2" in calls[0][1]


@pytest.mark.parametrize(
    ("offset", "rate", "age", "want"),
    [(5.0, 1.0, 100.0, "+5.000000"), (-2.5, 1.0, 0.0, "-2.500000"),
     (0.0, 2.0, 10.0, "-10.000000 x2"), (3.0, 0.5, 10.0, "+8.000000 x0.5")],
)
def test_faketime_spec_cancels_the_rate_since_process_start(
    offset: float, rate: float, age: float, want: str
) -> None:
    assert faketime_spec(offset, rate, age) == want
