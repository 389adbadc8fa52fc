"""``faultbox serve``: the store over HTTP on a local port (stdlib http.server).

The store holds what containers wrote (DESIGN §5: a node's ``data/`` and
``ctl/`` folders are bind-mounted read-write into its container), so the
server serves less than a plain file server would:

* only regular files, whose real path (symlinks resolved) is inside the
  store — ``store/latest`` works, a symlink pointing out of the store is 404;
* never anything under a run's ``data/`` or ``ctl/`` folders (any path with
  such a component below a run folder, before or after resolving symlinks);
* no directory listings: a directory is served only through its
  ``index.html``, anything else is 404.

Files are opened with ``O_NOFOLLOW`` after the check, so a link swapped in
between the check and the open is not followed either.
"""

from __future__ import annotations

import functools
import os
import stat
from email.utils import formatdate
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

__all__ = ["make_server", "serve", "FORBIDDEN_DIRS"]

# Folders below a run folder that containers can write into: never served.
FORBIDDEN_DIRS = frozenset({"data", "ctl"})
_RUN_DEPTH = 2  # store/<name>/<timestamp>/...: components from index 2 on are inside a run


def _allowed_parts(parts: tuple[str, ...]) -> bool:
    return not any(p in FORBIDDEN_DIRS for p in parts[_RUN_DEPTH:])


class _StoreHandler(SimpleHTTPRequestHandler):
    """Serves the store's regular files; logs go nowhere (the CLI prints the URL once)."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        return

    def end_headers(self) -> None:
        # Reports are rewritten in place after each run: never serve a stale copy.
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def list_directory(self, path: str | os.PathLike[str]) -> None:
        self.send_error(HTTPStatus.NOT_FOUND, "File not found")
        return None

    def _resolve(self) -> Path | None:
        """The real path of the requested file if the rules above allow it, else None."""
        lexical = Path(self.translate_path(self.path))  # confined to the root, '..' dropped
        real = Path(os.path.realpath(lexical))
        try:
            rel = lexical.relative_to(os.path.abspath(self.directory))
            real_rel = real.relative_to(os.path.realpath(self.directory))
        except ValueError:
            return None
        if not (_allowed_parts(rel.parts) and _allowed_parts(real_rel.parts)):
            return None
        return real

    def send_head(self) -> IO[bytes] | None:  # type: ignore[override]
        try:  # a NUL byte (ValueError) or an overlong name (OSError) in the path: 404
            target = self._resolve()
            is_dir = target is not None and target.is_dir()
        except (OSError, ValueError):
            target, is_dir = None, False
        slash = self.path.split("?", 1)[0].split("#", 1)[0].endswith("/")
        if target is not None and not is_dir and slash:
            target = None  # a file is not a folder
        if target is not None and is_dir:
            if not slash:
                self.send_response(HTTPStatus.MOVED_PERMANENTLY)
                self.send_header("Location", self.path.split("?", 1)[0] + "/")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            target = target / "index.html"
        fh = _open_regular(target) if target is not None else None
        if fh is None:
            self.send_error(HTTPStatus.NOT_FOUND, "File not found")
            return None
        st = os.fstat(fh.fileno())
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", self.guess_type(str(target)))
        self.send_header("Content-Length", str(st.st_size))
        self.send_header("Last-Modified", formatdate(st.st_mtime, usegmt=True))
        self.end_headers()
        return fh


def _open_regular(path: Path) -> IO[bytes] | None:
    """``path`` opened for reading if it is a regular file reached without a symlink at its end."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except (OSError, ValueError):
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return os.fdopen(fd, "rb")


def make_server(store_root: Path, host: str = "127.0.0.1", port: int = 8080) -> ThreadingHTTPServer:
    """A server for the store (port 0 picks a free port: see ``server.server_address``)."""
    handler = functools.partial(_StoreHandler, directory=str(Path(store_root)))
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def serve(store_root: Path, host: str = "127.0.0.1", port: int = 8080) -> None:
    """Serve the store until interrupted (blocking). Regenerates index.html first."""
    from reports.index import render_index

    render_index(Path(store_root))
    with make_server(store_root, host, port) as server:
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
