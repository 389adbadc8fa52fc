"""The hosts file, the CLI's SSH options and connection errors that need no sshd."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from harness.backends.ssh_conn import ConnectError, SshHost
from harness.backends.ssh_hosts import SshSettings, load_hosts
from harness.errors import UsageError
from harness.netctl import partition_script, teardown_script
from tests.ssh.conftest import fb

GOOD = """
[defaults]
user = "admin"
key = "keys/id"
known_hosts = "kh"
server_port = 7100

[[hosts]]
host = "10.0.0.11"

[[hosts]]
host = "vm2.example"
port = 2222
user = "root"
addr = "10.0.0.12"
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "hosts.toml"
    p.write_text(text)
    return p


def test_hosts_file_defaults_overrides_and_relative_paths(tmp_path: Path) -> None:
    cfg = load_hosts(SshSettings(write(tmp_path, GOOD)), ["n1", "n2"])
    a, b = cfg.hosts
    assert (a.node, a.host, a.port, a.user, a.addr) == ("n1", "10.0.0.11", 22, "admin", None)
    assert (b.node, b.host, b.port, b.user, b.addr) == ("n2", "vm2.example", 2222, "root", "10.0.0.12")
    assert a.key == tmp_path / "keys/id" and a.known_hosts == tmp_path / "kh"
    assert cfg.server_port == 7100 and cfg.dir == "faultbox"
    # --ssh-user/--ssh-key win over [defaults], not over a host's own line
    cfg = load_hosts(SshSettings(write(tmp_path, GOOD), user="ops", key=Path("/k")), ["n1", "n2"])
    assert [h.user for h in cfg.hosts] == ["ops", "root"]
    assert [h.key for h in cfg.hosts] == [Path("/k"), Path("/k")]
    assert b.label == "root@vm2.example:2222 (n2)"


@pytest.mark.parametrize("text, words", [
    ("", "at least one [[hosts]]"),
    ("[[hosts]]\nhost = 'a'\n", "--nodes 2 needs 2"),
    ("[[hosts]]\nhost = 'a'\n[[hosts]]\nhost = 'a'\n", "listed twice"),
    ("[[hosts]]\nhost = 'a'\nprot = 22\n[[hosts]]\nhost = 'b'\n", "unknown key(s) ['prot']"),
    ("[[hosts]]\nhost = 'a'\nport = 99999\n[[hosts]]\nhost = 'b'\n", "port number"),
    ("[[hosts]]\nport = 22\n[[hosts]]\nhost = 'b'\n", "missing host"),
    ("[defaults]\ndir = '../x'\n[[hosts]]\nhost = 'a'\n[[hosts]]\nhost = 'b'\n", "folder of its own"),
    ("[[hosts]\nhost = 'a'\n", "not valid TOML"),
    ("[hosts]\nhost = 'a'\n", "at least one [[hosts]]"),
    ("[[hosts]]\nhost = ''\n[[hosts]]\nhost = 'b'\n", "non-empty"),
])
def test_bad_hosts_files_name_file_and_fault(tmp_path: Path, text: str, words: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(UsageError) as e:
        load_hosts(SshSettings(path), ["n1", "n2"])
    assert str(path) in str(e.value) and words in str(e.value)


def test_clients_cut_spares_the_ssh_port_and_teardown_removes_only_our_chains() -> None:
    script = partition_script(["10.0.0.2"], clients_ip="10.0.0.1", keep_dports=[22])
    lines = script.splitlines()
    keep = lines.index("-A FB-PART -s 10.0.0.1 -p tcp --dport 22 -j RETURN")
    reject = next(i for i, x in enumerate(lines) if "REJECT" in x)
    assert keep < reject  # sshd stays reachable while clients are cut off
    assert "--dport" not in partition_script(["10.0.0.2"], clients_ip="10.0.0.1")
    td = teardown_script()
    assert "-D INPUT -j FB-PART" in td and "-X FB-DNAT" in td
    assert " -F INPUT" not in td and " -F OUTPUT" not in td  # never flushes a chain not ours


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_hosts_are_one_line_errors(tmp_path: Path) -> None:
    port = _free_port()  # nothing listens there
    text = f'[[hosts]]\nhost = "127.0.0.1"\nport = {port}\nknown_hosts = "kh"\n'
    with pytest.raises(ConnectError, match=f"root@127.0.0.1:{port} \\(n1\\): connection refused"):
        SshHost(load_hosts(SshSettings(write(tmp_path, text), user="root"), ["n1"]).hosts[0]).connect()
    text = '[[hosts]]\nhost = "no-such-host.invalid"\nknown_hosts = "kh"\n'
    with pytest.raises(ConnectError, match="cannot resolve 'no-such-host.invalid' \\(DNS"):
        SshHost(load_hosts(SshSettings(write(tmp_path, text)), ["n1"]).hosts[0]).connect()


def test_cli_ssh_mistakes_exit_2_with_one_line(tmp_path: Path) -> None:
    cases = [
        (["run", "--backend", "ssh"], "--backend ssh needs --hosts"),
        (["run", "--hosts", "x.toml"], "--hosts only work with --backend ssh"),
        (["run", "--backend", "ssh", "--hosts", str(tmp_path / "none.toml")], "no such file"),
        (["run", "--backend", "ssh", "--nodes", "1", "--hosts",
          str(write(tmp_path, '[[hosts]]\nhost = "no-such-host.invalid"\n'))],
         "cannot resolve 'no-such-host.invalid'"),
        (["clean", "--backend", "ssh"], "--backend ssh needs --hosts"),
    ]
    for argv, words in cases:
        r = fb(*argv, "--store", str(tmp_path / "store"))  if argv[0] == "run" else fb(*argv)
        assert r.returncode == 2, (argv, r.stdout, r.stderr)
        lines = [x for x in r.stderr.splitlines() if x.startswith("faultbox:") and "seed" not in x]
        assert len(lines) == 1 and words in lines[0], (argv, r.stderr)
        assert "Traceback" not in r.stderr
    assert not (tmp_path / "store").exists()  # refused before any run folder


def test_a_key_file_that_is_not_a_key_is_named(tmp_path: Path) -> None:
    (tmp_path / "id").write_text("not a key\n")
    text = '[[hosts]]\nhost = "127.0.0.1"\nkey = "id"\nknown_hosts = "kh"\n'
    with pytest.raises(ConnectError, match=f"cannot load key {tmp_path / 'id'}"):
        SshHost(load_hosts(SshSettings(write(tmp_path, text)), ["n1"]).hosts[0]).connect()


def test_packet_faults_never_use_netem_over_ssh(tmp_path: Path) -> None:
    from harness.backends.ssh import SshBackend

    b = SshBackend("unit", SshSettings(write(tmp_path, GOOD)), ["n1", "n2"])
    mech = b.packet_mechanism()
    assert "relay" in mech["delay"] and "netem not used" in mech["delay"]
    assert mech["loss"] == "iptables statistic DROP" and mech["dup"] == "iptables TEE clone"
    assert b.capabilities() >= {"kill", "pause", "partition", "clock", "packet"}
