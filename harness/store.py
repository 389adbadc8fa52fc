"""The store: one folder per run, ``store/<name>/<timestamp>/``, and ``store/latest``.

A run folder holds ``test.json`` (written first, so even a crashed run says
what it was), ``history.jsonl`` (appended while the test runs),
``results.json``, ``nodes/<node>/*.log``, ``nemesis.log`` and ``report.html``.

The Docker backend bind-mounts ``data/<node>`` and ``ctl/<node>`` of the run
folder into the node's container, and the harness usually runs as root: a
system under test can plant symlinks there.  Every file the harness writes
into the run folder therefore goes through :func:`write_file` (or
:func:`open_append`), which never writes through a symlink.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import time
from pathlib import Path
from typing import IO, Any

__all__ = ["new_run_dir", "write_file", "open_append", "write_json", "read_json", "git_commit"]

_NOFOLLOW_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def write_file(path: Path, data: bytes | str, *, fsync: bool = False, mode: int = 0o644) -> None:
    """Make ``path`` a new regular file holding ``data``, never writing through a symlink.

    The parent folder is opened with ``O_NOFOLLOW``; the bytes go into a fresh,
    randomly named file created in it with ``O_CREAT | O_EXCL | O_NOFOLLOW``
    (a name planted in advance makes the create fail, it is never followed),
    which is then renamed over ``path``.  A rename replaces a symlink at
    ``path`` rather than writing to its target, and a reader sees the old
    content or the new, never half.  ``OSError`` on failure.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    dfd = os.open(path.parent, _NOFOLLOW_DIR)
    try:
        tmp = f".{path.name}.{secrets.token_hex(8)}.tmp"
        fd = os.open(tmp, _NEW_FILE, mode, dir_fd=dfd)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(raw)
                if fsync:
                    fh.flush()
                    os.fsync(fh.fileno())
            os.replace(tmp, path.name, src_dir_fd=dfd, dst_dir_fd=dfd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dfd)
            raise
    finally:
        os.close(dfd)


def open_append(path: Path) -> IO[bytes]:
    """``path`` opened for appending bytes (created if missing), refusing a symlink (``OSError``)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    return os.fdopen(fd, "ab")


def new_run_dir(store_root: Path, name: str) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    base = store_root / name
    run = base / stamp
    n = 1
    while run.exists():
        n += 1
        run = base / f"{stamp}-{n}"
    run.mkdir(parents=True)
    latest = store_root / "latest"
    try:
        if latest.is_symlink() or latest.exists():
            latest.unlink()
        latest.symlink_to(run.relative_to(store_root), target_is_directory=True)
    except OSError:
        pass
    return run


def write_json(path: Path, obj: Any) -> None:
    write_file(path, json.dumps(obj, indent=2, default=repr) + "\n", fsync=True)


def read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def git_commit(repo: Path | None = None) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=repo or Path(__file__).resolve().parents[1],
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None

