"""``faultbox serve``: the store over HTTP on a local port (stdlib http.server)."""

from __future__ import annotations

import functools
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = ["make_server", "serve"]


class _QuietHandler(SimpleHTTPRequestHandler):
    """Serves files; logs go nowhere (the CLI prints the URL once)."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        return

    def end_headers(self) -> None:
        # Reports are rewritten in place after each run: never serve a stale copy.
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()


def make_server(store_root: Path, host: str = "127.0.0.1", port: int = 8080) -> ThreadingHTTPServer:
    """A server for the store (port 0 picks a free port: see ``server.server_address``)."""
    handler = functools.partial(_QuietHandler, directory=str(Path(store_root)))
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
