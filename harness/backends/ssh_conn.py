"""One pooled SSH connection per remote host (paramiko): commands, SFTP, host keys.

* One ``Transport`` per host, opened once; every command is a new *channel*
  on it (no new TCP or key exchange per command), SFTP is one more channel.
* Host keys are checked against the host's ``known_hosts`` file with
  paramiko's :class:`~paramiko.RejectPolicy`: an unknown key is refused with
  the fingerprint and how to add it; a changed key is refused as a mismatch.
  ``accept_new`` (``--ssh-accept-new``) is trust on first use: an unknown key
  is appended to ``known_hosts`` and the host is accepted, a changed key is
  still refused.
* Every failure to connect is a :class:`ConnectError` with one line naming
  the host and the reason (DNS, refused, timed out, auth failed, host key).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import secrets
import shlex
import socket
import threading
import time
from collections.abc import Iterator, Mapping

import paramiko

from harness.backends.base import BackendError
from harness.backends.ssh_hosts import HostSpec

__all__ = ["ConnectError", "SshHost", "fingerprint", "known_hosts_name"]

# iptables, tc and sbin tools are outside a normal user's PATH on Debian.
_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class ConnectError(BackendError):
    """A host could not be reached or trusted; one line naming host and reason."""


def fingerprint(key: paramiko.PKey) -> str:
    """``SHA256:...`` as ``ssh-keygen -lf`` prints it."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def known_hosts_name(host: str, port: int) -> str:
    """How known_hosts names a host: ``host`` on port 22, else ``[host]:port``."""
    return host if port == 22 else f"[{host}]:{port}"


class _Policy(paramiko.MissingHostKeyPolicy):
    """Unknown host key: refuse (default) or, with ``accept_new``, record it (TOFU)."""

    def __init__(self, spec: HostSpec, accept_new: bool) -> None:
        self.spec = spec
        self.accept_new = accept_new
        self.added = False

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        spec = self.spec
        name = known_hosts_name(spec.host, spec.port)
        if not self.accept_new:
            port = f"-p {spec.port} " if spec.port != 22 else ""
            raise ConnectError(
                f"{spec.label}: host key {key.get_name()} {fingerprint(key)} is not in "
                f"{spec.known_hosts}; check the fingerprint on the host "
                f"(ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub), then add it with "
                f"`ssh-keyscan {port}{spec.host} >> {spec.known_hosts}`, "
                "or pass --ssh-accept-new to trust it on first use"
            )
        try:
            spec.known_hosts.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(spec.known_hosts, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW,
                         0o600)
            with os.fdopen(fd, "a") as fh:
                fh.write(f"{name} {key.get_name()} {key.get_base64()}\n")
        except OSError as e:
            raise ConnectError(f"{spec.label}: cannot record its host key in "
                               f"{spec.known_hosts}: {e.strerror}") from e
        client.get_host_keys().add(name, key.get_name(), key)
        self.added = True


class _Shell:
    """A resident ``sh`` on one channel: commands in, framed output and status out.

    Each command runs in a subshell (an ``exit`` cannot end the resident
    shell) with its stdin from a here-document or /dev/null (it cannot eat the
    command stream), followed by an end marker carrying its status. One
    command at a time (``lock``); a timeout or a lost channel retires it.
    """

    def __init__(self, chan: paramiko.Channel) -> None:
        self.chan = chan
        self.lock = threading.Lock()
        self.alive = True
        self._buf = b""
        chan.sendall(f"{_PATH}; export PATH\n".encode())

    def run(self, cmd: str, stdin: str | bytes | None, timeout_s: float,
            label: str) -> tuple[int, str]:
        tok = secrets.token_hex(8)
        end = f"__FB_END_{tok} ".encode()
        if stdin is None:
            script = f"( {cmd}\n) < /dev/null 2>&1\n"
        else:
            text = stdin.decode() if isinstance(stdin, bytes) else stdin
            if not text.endswith("\n"):
                text += "\n"
            script = f"( {cmd}\n) 2>&1 <<'__FB_IN_{tok}'\n{text}__FB_IN_{tok}\n"
        script += f"printf '\\n__FB_END_{tok} %s\\n' \"$?\"\n"
        deadline = time.monotonic() + timeout_s
        try:
            self.chan.sendall(script.encode())
            while True:
                i = self._buf.find(end)
                if i >= 0:
                    j = self._buf.find(b"\n", i)
                    if j >= 0:
                        rc = int(self._buf[i + len(end):j])
                        out, self._buf = self._buf[:i], self._buf[j + 1:]
                        return rc, out.decode(errors="replace").strip()
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                self.chan.settimeout(left)
                data = self.chan.recv(65536)
                if not data:
                    raise EOFError("the shell exited")
                self._buf += data
        except TimeoutError:
            self.alive = False
            self.chan.close()
            raise BackendError(f"{label}: command timed out after {timeout_s:g} s: {cmd[:80]}") from None
        except (paramiko.SSHException, OSError, EOFError, ValueError) as e:
            self.alive = False
            self.chan.close()
            raise BackendError(f"{label}: command failed: {e}") from None


class SshHost:
    """A pooled connection to one host. Thread-safe: channels are independent."""

    def __init__(self, spec: HostSpec, sudo: bool = False, accept_new: bool = False,
                 timeout_s: float = 10.0) -> None:
        self.spec = spec
        self.sudo = sudo
        self.accept_new = accept_new
        self.timeout_s = timeout_s
        self._client: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self._sftp_lock = threading.Lock()
        self._shell: _Shell | None = None
        self.key_added = False
        self.local_ip = ""  # this machine's address as the host sees it (where clients come from)
        self.ip = ""  # the host's own address (what peers and clients connect to)

    # -- connection ------------------------------------------------------------------
    def connect(self) -> None:
        spec = self.spec
        try:
            socket.getaddrinfo(spec.host, spec.port, socket.AF_INET, socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as e:
            raise ConnectError(f"{spec.label}: cannot resolve {spec.host!r} (DNS: "
                               f"{getattr(e, 'strerror', None) or e})") from None
        client = paramiko.SSHClient()
        try:
            if spec.known_hosts.is_file():
                client.load_host_keys(str(spec.known_hosts))
        except (OSError, paramiko.SSHException, ValueError) as e:
            raise ConnectError(f"{spec.label}: cannot read {spec.known_hosts}: {e}") from None
        pkey = None
        if spec.key is not None:
            try:
                pkey = paramiko.PKey.from_path(spec.key)
            except (OSError, paramiko.SSHException, ValueError) as e:
                raise ConnectError(f"{spec.label}: cannot load key {spec.key}: "
                                   f"{getattr(e, 'strerror', None) or e}") from None
        policy = _Policy(spec, self.accept_new)
        client.set_missing_host_key_policy(policy)
        try:
            client.connect(
                spec.host, port=spec.port, username=spec.user,  # known_hosts names it so
                pkey=pkey,
                timeout=self.timeout_s, banner_timeout=self.timeout_s,
                auth_timeout=self.timeout_s, allow_agent=spec.key is None,
                look_for_keys=spec.key is None,
            )
        except ConnectError:
            client.close()
            raise
        except paramiko.BadHostKeyException as e:
            client.close()
            raise ConnectError(
                f"{spec.label}: host key mismatch: it offers {e.key.get_name()} "
                f"{fingerprint(e.key)}, {spec.known_hosts} has {fingerprint(e.expected_key)} "
                "for it; if the host was really reinstalled, remove the old line with "
                f"`ssh-keygen -f {spec.known_hosts} -R {shlex.quote(known_hosts_name(spec.host, spec.port))}`"
            ) from None
        except paramiko.AuthenticationException as e:
            client.close()
            how = f"key {spec.key}" if spec.key else "ssh-agent and ~/.ssh keys"
            raise ConnectError(f"{spec.label}: authentication failed with {how} ({e})") from None
        except paramiko.ssh_exception.NoValidConnectionsError as e:
            client.close()
            raise ConnectError(f"{spec.label}: connection refused "
                               f"({', '.join(str(x) for x in e.errors.values())[:120]})") from None
        except TimeoutError:
            client.close()
            raise ConnectError(f"{spec.label}: timed out after {self.timeout_s:g} s") from None
        except (paramiko.SSHException, OSError, EOFError) as e:
            client.close()
            raise ConnectError(f"{spec.label}: {type(e).__name__}: {e}") from None
        transport = client.get_transport()
        assert transport is not None
        transport.set_keepalive(15)
        self._client = client
        self.key_added = policy.added
        self.local_ip = transport.sock.getsockname()[0]  # type: ignore[union-attr]
        self.ip = spec.addr or transport.getpeername()[0]

    def _transport(self) -> paramiko.Transport:
        t = self._client.get_transport() if self._client is not None else None
        if t is None or not t.is_active():
            raise BackendError(f"{self.spec.label}: SSH connection lost")
        return t

    def close(self) -> None:
        if self._shell is not None:
            self._shell.alive = False
            with contextlib.suppress(Exception):
                self._shell.chan.close()
        self._shell = None
        with contextlib.suppress(Exception):
            if self._sftp is not None:
                self._sftp.close()
        self._sftp = None
        with contextlib.suppress(Exception):
            if self._client is not None:
                self._client.close()
        self._client = None

    # -- commands ----------------------------------------------------------------------
    def wrap(self, cmd: str, root: bool = True) -> str:
        """``cmd`` as run on the host: a known PATH, under ``sudo -n`` when asked."""
        if root and self.sudo:
            return f"sudo -n sh -c {shlex.quote(f'{_PATH}; export PATH; {cmd}')}"
        return f"{_PATH}; export PATH; {cmd}"

    def run(self, cmd: str, stdin: str | bytes | None = None, timeout_s: float = 30.0,
            root: bool = True) -> tuple[int, str]:
        """Run a shell command on the host; (exit status, stdout+stderr).

        Commands as root go to the host's resident shell when it is free (no
        channel to open, no login to set up: a few ms), else to a new channel.
        """
        if root or not self.sudo:
            shell = self._shell
            if shell is not None and shell.lock.acquire(blocking=False):
                try:
                    if shell.alive:
                        return shell.run(cmd, stdin, timeout_s, self.spec.label)
                finally:
                    shell.lock.release()
        return self.run_channel(cmd, stdin, timeout_s, root)

    def start_shell(self) -> None:
        """Open the resident root shell (``sudo -n sh`` with --sudo) used by :meth:`run`."""
        if self._shell is not None and self._shell.alive:
            return
        try:
            chan = self._transport().open_session(timeout=self.timeout_s)
            chan.set_combine_stderr(True)
            chan.exec_command("sudo -n sh" if self.sudo else "sh")
        except (paramiko.SSHException, OSError, EOFError) as e:
            raise BackendError(f"{self.spec.label}: cannot open a shell: {e}") from None
        shell = _Shell(chan)
        rc, out = shell.run("true", None, self.timeout_s, self.spec.label)
        if rc != 0:
            chan.close()
            raise BackendError(f"{self.spec.label}: the shell does not answer: {out[-200:]}")
        self._shell = shell

    def run_channel(self, cmd: str, stdin: str | bytes | None = None, timeout_s: float = 30.0,
                    root: bool = True) -> tuple[int, str]:
        """Run a shell command in a new channel (sshd starts a login shell for it)."""
        try:
            chan = self._transport().open_session(timeout=timeout_s)
        except (paramiko.SSHException, OSError, EOFError) as e:
            raise BackendError(f"{self.spec.label}: cannot open a channel: {e}") from None
        try:
            chan.settimeout(timeout_s)
            chan.set_combine_stderr(True)
            chan.exec_command(self.wrap(cmd, root))
            if stdin is not None:
                chan.sendall(stdin.encode() if isinstance(stdin, str) else stdin)
            chan.shutdown_write()
            chunks = []
            while True:
                data = chan.recv(65536)
                if not data:
                    break
                chunks.append(data)
            rc = chan.recv_exit_status()
        except TimeoutError:
            raise BackendError(f"{self.spec.label}: command timed out after {timeout_s:g} s: "
                               f"{cmd[:80]}") from None
        except (paramiko.SSHException, OSError, EOFError) as e:
            raise BackendError(f"{self.spec.label}: command failed: {e}") from None
        finally:
            chan.close()
        return rc, b"".join(chunks).decode(errors="replace").strip()

    def check(self, cmd: str, stdin: str | bytes | None = None, timeout_s: float = 30.0,
              root: bool = True, what: str = "") -> str:
        rc, out = self.run(cmd, stdin, timeout_s, root)
        if rc != 0:
            tail = " ".join(out.split())[-300:]
            raise BackendError(f"{self.spec.label}: {what or cmd[:60]} failed (exit {rc}): {tail}")
        return out

    def argv_runner(self, argv: list[str], stdin: str | None) -> tuple[int, str]:
        """A :data:`harness.netctl.Runner`: argv run as root on the host."""
        return self.run(shlex.join(argv), stdin)

    # -- files -----------------------------------------------------------------------------
    @contextlib.contextmanager
    def sftp(self) -> Iterator[paramiko.SFTPClient]:
        """The host's one SFTP session (opened on first use), one user at a time."""
        with self._sftp_lock:
            if self._sftp is None:
                try:
                    self._sftp = paramiko.SFTPClient.from_transport(self._transport())
                except (paramiko.SSHException, OSError, EOFError) as e:
                    raise BackendError(f"{self.spec.label}: cannot open SFTP: {e}") from None
                if self._sftp is None:
                    raise BackendError(f"{self.spec.label}: cannot open SFTP")
            yield self._sftp

    def write_file(self, path: str, data: bytes) -> None:
        """Replace ``path`` on the host by rename (a reader never sees half a file)."""
        tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            with self.sftp() as sftp:
                with sftp.open(tmp, "wb") as fh:
                    fh.write(data)
                sftp.posix_rename(tmp, path)
        except (OSError, paramiko.SSHException) as e:
            raise BackendError(f"{self.spec.label}: cannot write {path}: {e}") from None

    def read_tail(self, path: str, max_bytes: int) -> bytes | None:
        """The last ``max_bytes`` of a remote file (None if it does not exist)."""
        try:
            with self.sftp() as sftp, sftp.open(path, "rb") as fh:
                size = fh.stat().st_size or 0
                fh.seek(max(0, size - max_bytes))
                return bytes(fh.read(max_bytes))
        except FileNotFoundError:
            return None
        except (OSError, paramiko.SSHException):
            return None

    def home(self) -> str:
        with self.sftp() as sftp:
            return sftp.normalize(".")


def env_prefix(env: Mapping[str, str]) -> str:
    """``env K=V ...`` for a shell command line (values quoted)."""
    return "env " + " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())

