"""An SSH lab: N containers from the node image running OpenSSH, to try ``--backend ssh``.

``faultbox ssh-lab up --hosts 5 --dir ssh-lab`` starts them and writes, in the
lab folder, everything a run needs: ``hosts.toml``, ``known_hosts`` (each
host's own freshly generated host key), and the client key ``id_rsa`` whose
public half each host authorises (for ``root`` and for a user ``fb`` with
passwordless sudo, to try ``--sudo``). ``faultbox ssh-lab down --dir ssh-lab``
removes containers, network and folder. The tests in ``tests/ssh`` use the
same lab as a real remote-host fixture (sshd, host keys, iptables on the host).

Containers get ``NET_ADMIN`` only (never privileged) and an init process that
reaps the servers the backend starts under ``setsid``. They are labelled
``faultbox=sshlab`` and ``faultbox.sshlab=<name>``: ``faultbox clean`` removes
only run containers (``faultbox=1``) and leaves a lab alone; ``ssh-lab down``
removes it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko

from harness.backends.base import BackendError
from harness.store import write_file

__all__ = ["Lab", "lab_up", "lab_down", "LAB_LABEL", "MARKER"]

LAB_LABEL = "faultbox.sshlab"
MARKER = ".faultbox-ssh-lab"
_KEY_DIR = "/etc/ssh/faultbox"
SUDO_USER = "fb"
_BOOT = (
    "set -e; mkdir -p /run/sshd; "
    f"id {SUDO_USER} >/dev/null 2>&1 || useradd -m -s /bin/sh {SUDO_USER}; "
    f"echo '{SUDO_USER} ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/{SUDO_USER}; "
    f"chmod 440 /etc/sudoers.d/{SUDO_USER}; "
    "exec /usr/sbin/sshd -D -e "
    f"-o HostKey={_KEY_DIR}/host_key -o AuthorizedKeysFile={_KEY_DIR}/authorized_keys "
    "-o PermitRootLogin=prohibit-password -o PasswordAuthentication=no -o MaxSessions=64 "
    "-o MaxStartups=64"
)


@dataclass
class Lab:
    """A running lab: its folder and hosts (container name, address)."""

    name: str
    dir: Path
    hosts: list[tuple[str, str]]

    @property
    def hosts_file(self) -> Path:
        return self.dir / "hosts.toml"

    @property
    def known_hosts(self) -> Path:
        return self.dir / "known_hosts"

    @property
    def key(self) -> Path:
        return self.dir / "id_rsa"

    def write_hosts_file(self, path: Path, user: str = "root", known_hosts: Path | None = None,
                         extra: str = "") -> Path:
        """A hosts file for this lab (tests write variants: another user, known_hosts, ...)."""
        kh = known_hosts or self.known_hosts
        lines = ["[defaults]", f"user = {json.dumps(user)}", f"key = {json.dumps(str(self.key))}",
                 f"known_hosts = {json.dumps(str(kh))}", extra, ""]
        for _, ip in self.hosts:
            lines += ["[[hosts]]", f"host = {json.dumps(ip)}", ""]
        write_file(path, "\n".join(lines))
        return path

    def container(self, i: int) -> Any:
        return _client().containers.get(self.hosts[i][0])

    def rekey(self, i: int) -> None:
        """Give host ``i`` (0-based) a new host key, as a reinstall would; update known_hosts."""
        key = paramiko.RSAKey.generate(2048)
        hdir = self.dir / "hosts" / f"h{i + 1}"
        _write_key(hdir / "host_key", key)
        c = self.container(i)
        res = c.exec_run(["sh", "-c", "kill -HUP $(cat /run/sshd.pid)"])
        if res.exit_code != 0:
            raise BackendError(f"cannot reload sshd on {self.hosts[i][0]}: {res.output!r}")
        self._write_known_hosts()
        _wait_sshd(self.hosts[i][1], 20.0)
        time.sleep(0.3)  # sshd re-execs on SIGHUP: let the new one load its key

    def _write_known_hosts(self) -> None:
        lines = []
        for i, (_, ip) in enumerate(self.hosts):
            pub = (self.dir / "hosts" / f"h{i + 1}" / "host_key.pub").read_text().split()
            lines.append(f"{ip} {pub[0]} {pub[1]}")
        write_file(self.known_hosts, "\n".join(lines) + "\n")


def _client() -> Any:
    from harness.backends.docker import _client as docker_client

    return docker_client()


def _write_key(path: Path, key: paramiko.RSAKey) -> None:
    path.unlink(missing_ok=True)
    key.write_private_key_file(str(path))
    os.chmod(path, 0o600)
    write_file(path.with_name(path.name + ".pub"), f"{key.get_name()} {key.get_base64()}\n")


def _wait_sshd(ip: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection((ip, 22), timeout=1.0) as s:
                if s.recv(64).startswith(b"SSH-"):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise BackendError(f"sshd on {ip} did not answer within {timeout_s:.0f} s")
        time.sleep(0.1)


def lab_up(n: int, folder: Path, name: str | None = None, image: str | None = None,
           progress: Callable[[str], None] = lambda _m: None, owner: str | None = None) -> Lab:
    """Start ``n`` sshd hosts; write hosts.toml, known_hosts and the client key in ``folder``.

    ``owner`` (an :func:`~harness.netctl.owner_token`) marks the lab as a live
    process's, as run containers are: an older ``faultbox clean`` that matched
    every container of the node image then leaves it alone while that process lives.
    """
    import docker

    if not 1 <= n <= 64:
        raise BackendError(f"an SSH lab has 1 to 64 hosts, not {n}")
    if folder.exists() and any(folder.iterdir()) and not (folder / MARKER).exists():
        raise BackendError(f"{folder} exists and is not an SSH lab folder: give another --dir")
    name = name or f"lab{os.getpid()}"
    client = _client()
    if image is None:
        from harness.image import ensure_image

        image = ensure_image(progress=progress)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder = folder.resolve()
    write_file(folder / MARKER, name + "\n")
    progress("generating keys")
    client_key = paramiko.RSAKey.generate(2048)
    _write_key(folder / "id_rsa", client_key)
    pub = f"{client_key.get_name()} {client_key.get_base64()} faultbox-ssh-lab\n"
    # The node image carries the label faultbox=node; a lab container says what it is
    # (clean_all removes only faultbox=1, the containers of runs).
    labels = {LAB_LABEL: name, "faultbox": "sshlab"}
    if owner:
        labels["faultbox.owner"] = owner
    lab = Lab(name, folder, [])
    try:
        net = client.networks.create(f"fbssh-{name}", driver="bridge", labels=labels)
        for i in range(1, n + 1):
            hdir = folder / "hosts" / f"h{i}"
            hdir.mkdir(parents=True, exist_ok=True)
            os.chmod(hdir, 0o755)
            _write_key(hdir / "host_key", paramiko.RSAKey.generate(2048))
            write_file(hdir / "authorized_keys", pub)
            os.chmod(hdir / "authorized_keys", 0o644)
            cname = f"fbssh-{name}-h{i}"
            c = client.containers.run(
                image, ["sh", "-c", _BOOT], name=cname, hostname=f"h{i}", detach=True,
                labels=labels, network=net.name, cap_add=["NET_ADMIN"], init=True,
                volumes={str(hdir): {"bind": _KEY_DIR, "mode": "ro"}},
            )
            c.reload()
            ip = c.attrs["NetworkSettings"]["Networks"][net.name]["IPAddress"]
            lab.hosts.append((cname, ip))
        for _, ip in lab.hosts:
            _wait_sshd(ip, 30.0)
        lab._write_known_hosts()
        lab.write_hosts_file(lab.hosts_file)
    except (docker.errors.DockerException, OSError, BackendError) as e:
        lab_down(folder)
        raise BackendError(f"cannot start the SSH lab: {e}") from e
    progress(f"{n} host(s) up: {', '.join(ip for _, ip in lab.hosts)}")
    return lab


def lab_down(folder: Path | None = None, name: str | None = None) -> int:
    """Remove a lab's containers and network (by its folder or name), then its folder."""
    import docker

    if name is None and folder is not None:
        try:
            name = (folder / MARKER).read_text().strip()
        except OSError:
            raise BackendError(f"{folder}: not an SSH lab folder (no {MARKER})") from None
    if not name:
        raise BackendError("which lab? give --dir")
    client = _client()
    removed = 0
    for c in client.containers.list(all=True, filters={"label": f"{LAB_LABEL}={name}"}):
        with contextlib.suppress(docker.errors.APIError):
            c.remove(force=True)
            removed += 1
    for net in client.networks.list(filters={"label": f"{LAB_LABEL}={name}"}):
        with contextlib.suppress(docker.errors.APIError):
            net.remove()
    if folder is not None and (folder / MARKER).exists():
        shutil.rmtree(folder, ignore_errors=True)
    return removed
