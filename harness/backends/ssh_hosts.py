"""The SSH backend's hosts file (``--hosts hosts.toml``) and command-line settings.

A hosts file names one remote host per node, in node order (``n1`` first)::

    [defaults]                      # optional; every key may also be set per host
    user = "admin"                  # --ssh-user overrides; default: your login name
    key = "~/.ssh/id_ed25519"       # --ssh-key overrides; default: ssh-agent and ~/.ssh/id_*
    known_hosts = "~/.ssh/known_hosts"
    port = 22                       # sshd port
    server_port = 7000              # the port the system's servers listen on (one for all)
    dir = "faultbox"                # remote working folder (relative: under the login's home)

    [[hosts]]
    host = "10.0.0.11"              # what SSH connects to (name or address)
    addr = "10.0.0.11"              # optional: the address peers and clients use (default:
                                    # host, resolved to IPv4)

A key set in a ``[[hosts]]`` table wins over ``--ssh-user``/``--ssh-key``, which win
over ``[defaults]``. Relative ``key`` and ``known_hosts`` paths are relative to
the hosts file.
Every mistake is a :class:`~harness.errors.UsageError` naming the file and the key.
"""

from __future__ import annotations

import getpass
import shlex
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import UsageError

__all__ = ["HostSpec", "HostsConfig", "SshSettings", "load_hosts"]

_HOST_KEYS = {"host", "addr", "port", "user", "key", "known_hosts"}
_DEFAULT_KEYS = (_HOST_KEYS - {"host", "addr"}) | {"server_port", "dir"}
_MAX_HOSTS_FILE = 1 << 20


@dataclass(frozen=True)
class SshSettings:
    """What the command line says about SSH (``--hosts``, ``--ssh-*``, ``--sudo``, ...)."""

    hosts_file: Path
    user: str | None = None
    key: Path | None = None
    accept_new: bool = False
    sudo: bool = False
    install: bool = False
    keep: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "hosts_file": str(self.hosts_file), "user": self.user,
            "key": str(self.key) if self.key else None, "accept_new": self.accept_new,
            "sudo": self.sudo, "install": self.install, "keep": self.keep,
        }

    def argv(self) -> list[str]:
        """The command-line flags that give these settings back."""
        out = ["--hosts", str(self.hosts_file)]
        if self.user:
            out += ["--ssh-user", self.user]
        if self.key:
            out += ["--ssh-key", str(self.key)]
        for flag, on in (("--ssh-accept-new", self.accept_new), ("--sudo", self.sudo),
                         ("--install", self.install), ("--keep", self.keep)):
            if on:
                out.append(flag)
        return out

    def command_tail(self) -> str:
        return shlex.join(self.argv())


@dataclass(frozen=True)
class HostSpec:
    """One remote host: how to reach it over SSH, and the address its server uses."""

    node: str
    host: str
    port: int
    user: str
    key: Path | None
    known_hosts: Path
    addr: str | None  # None: ``host`` resolved to IPv4 at connect time

    @property
    def label(self) -> str:
        """How messages name the host: ``user@host:port (n1)``."""
        port = "" if self.port == 22 else f":{self.port}"
        return f"{self.user}@{self.host}{port} ({self.node})"


@dataclass(frozen=True)
class HostsConfig:
    hosts: tuple[HostSpec, ...]
    server_port: int
    dir: str
    path: Path


def _err(path: Path, msg: str) -> UsageError:
    return UsageError(f"{path}: {msg}")


def _str(path: Path, where: str, key: str, v: Any) -> str:
    if not isinstance(v, str) or not v.strip() or any(c in v for c in "\0\n\r"):
        raise _err(path, f"{where}: {key} must be a non-empty one-line string")
    return v


def _port(path: Path, where: str, key: str, v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 65535:
        raise _err(path, f"{where}: {key} must be a port number 1-65535, not {v!r}")
    return v


def _path(base: Path, raw: str) -> Path:
    p = Path(raw).expanduser()
    return p if p.is_absolute() else (base / p)


def load_hosts(settings: SshSettings, nodes: list[str] | None = None) -> HostsConfig:
    """Read and check the hosts file; one host per node of ``nodes`` (the first ones).

    ``nodes`` None: every host listed, as ``n1``, ``n2``, ... (``faultbox clean``).
    """
    path = settings.hosts_file
    try:
        if not path.is_file():
            raise _err(path, "no such file (give --hosts a hosts.toml; see docs/ssh.md)")
        raw = path.read_bytes()[: _MAX_HOSTS_FILE + 1]
    except OSError as e:
        raise _err(path, f"cannot read: {e.strerror}") from e
    if len(raw) > _MAX_HOSTS_FILE:
        raise _err(path, "larger than 1 MiB: not a hosts file")
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise _err(path, f"not valid TOML: {e}") from e
    unknown_top = set(doc) - {"defaults", "hosts"}
    if unknown_top:
        raise _err(path, f"unknown section(s) {sorted(unknown_top)} (known: defaults, hosts)")
    defaults = doc.get("defaults", {})
    if not isinstance(defaults, dict):
        raise _err(path, "[defaults] must be a table")
    bad = set(defaults) - _DEFAULT_KEYS
    if bad:
        raise _err(path, f"[defaults]: unknown key(s) {sorted(bad)} (known: {', '.join(sorted(_DEFAULT_KEYS))})")
    hosts = doc.get("hosts")
    if not isinstance(hosts, list) or not hosts or not all(isinstance(h, dict) for h in hosts):
        raise _err(path, "needs at least one [[hosts]] table with a host = \"...\" line")
    if nodes is None:
        nodes = [f"n{i}" for i in range(1, len(hosts) + 1)]
    if len(hosts) < len(nodes):
        raise _err(path, f"lists {len(hosts)} host(s); --nodes {len(nodes)} needs {len(nodes)}")
    base = path.resolve().parent
    server_port = _port(path, "[defaults]", "server_port", defaults.get("server_port", 7000))
    workdir = _str(path, "[defaults]", "dir", defaults.get("dir", "faultbox"))
    if any(part == ".." for part in Path(workdir).parts) or workdir.strip("/") == "":
        raise _err(path, f"[defaults]: dir {workdir!r} must name a folder of its own")
    specs: list[HostSpec] = []
    seen: set[tuple[str, int]] = set()
    for i, (node, h) in enumerate(zip(nodes, hosts, strict=False), start=1):
        where = f"[[hosts]] #{i}"
        bad = set(h) - _HOST_KEYS
        if bad:
            raise _err(path, f"{where}: unknown key(s) {sorted(bad)} (known: {', '.join(sorted(_HOST_KEYS))})")
        if "host" not in h:
            raise _err(path, f"{where}: missing host = \"...\"")
        merged = {**defaults, **h}
        host = _str(path, where, "host", merged["host"])
        port = _port(path, where, "port", merged.get("port", 22))
        # Precedence: this host's line, then --ssh-user/--ssh-key, then [defaults].
        user = _str(path, where, "user", h.get("user") or settings.user
                    or defaults.get("user") or getpass.getuser())
        key: Path | None = settings.key
        if "key" in h or (key is None and "key" in defaults):
            key = _path(base, _str(path, where, "key", merged["key"]))
        kh = _path(base, _str(path, where, "known_hosts",
                              merged.get("known_hosts", "~/.ssh/known_hosts")))
        addr = _str(path, where, "addr", merged["addr"]) if "addr" in merged else None
        if (host, port) in seen:
            raise _err(path, f"{where}: {host}:{port} is listed twice (one node per host)")
        seen.add((host, port))
        specs.append(HostSpec(node, host, port, user, key, kh, addr))
    return HostsConfig(tuple(specs), server_port, workdir, path)
