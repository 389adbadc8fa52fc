"""The project's wire protocol: length-prefixed JSON over TCP (stdlib only).

A frame is a 4-byte big-endian unsigned length followed by that many bytes of
UTF-8 JSON (one object). Frames larger than ``MAX_FRAME`` are refused.
Requests carry ``{"op": ..., ...}``; replies carry ``{"ok": bool, ...}``.
"""

from __future__ import annotations

import asyncio
import errno
import json
import random
import socket
import struct
from typing import Any

__all__ = [
    "MAX_FRAME",
    "WireError",
    "encode",
    "read_frame",
    "write_frame",
    "send",
    "recv",
    "request",
    "arequest",
]

MAX_FRAME = 16 << 20
_LEN = struct.Struct(">I")


class WireError(ConnectionError):
    """The peer sent something that is not a valid frame, or hung up mid-frame."""


def encode(msg: Any) -> bytes:
    body = json.dumps(msg, separators=(",", ":")).encode()
    if len(body) > MAX_FRAME:
        raise WireError(f"frame of {len(body)} bytes exceeds {MAX_FRAME}")
    return _LEN.pack(len(body)) + body


def _decode(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise WireError(f"bad frame: {e}") from None


async def read_frame(reader: asyncio.StreamReader) -> Any:
    """Read one frame; raises ``asyncio.IncompleteReadError`` on a clean EOF."""
    head = await reader.readexactly(4)
    (n,) = _LEN.unpack(head)
    if n > MAX_FRAME:
        raise WireError(f"frame of {n} bytes exceeds {MAX_FRAME}")
    return _decode(await reader.readexactly(n))


def write_frame(writer: asyncio.StreamWriter, msg: Any) -> None:
    writer.write(encode(msg))


def send(sock: socket.socket, msg: Any) -> None:
    sock.sendall(encode(msg))


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise WireError("connection closed mid-frame")
        buf += chunk
    return bytes(buf)


def recv(sock: socket.socket) -> Any:
    (n,) = _LEN.unpack(_recv_exact(sock, 4))
    if n > MAX_FRAME:
        raise WireError(f"frame of {n} bytes exceeds {MAX_FRAME}")
    return _decode(_recv_exact(sock, n))


# Control traffic (the nemesis's status probes) leaves from these source ports, outside
# Linux's default ephemeral range (32768-60999), so that a fault which cuts the harness's
# *clients* off a node can let the control plane through (see harness.netctl.CLIENTS).
CONTROL_PORTS = (64000, 64999)
# close() on a control connection resets it (SO_LINGER, zero timeout) instead of leaving
# its source port in TIME_WAIT for a minute: the figure8 nemesis probes each node about
# fifty times a second, which would use up the thousand control ports in seconds. The
# reply has been read by then, so nothing is lost.
_LINGER_RESET = struct.pack("ii", 1, 0)


def _control_connection(host: str, port: int, timeout_s: float) -> socket.socket:
    lo, hi = CONTROL_PORTS
    start = random.randrange(lo, hi + 1)
    last: OSError | None = None
    for i in range(64):  # a port in TIME_WAIT towards this peer, or bound: try another
        sport = lo + (start - lo + i * 17) % (hi - lo + 1)
        try:
            conn = socket.create_connection((host, port), timeout=timeout_s, source_address=("", sport))
        except OSError as e:
            if e.errno not in (errno.EADDRINUSE, errno.EADDRNOTAVAIL):
                raise
            last = e
            continue
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
        return conn
    assert last is not None
    raise last


def request(host: str, port: int, msg: Any, timeout_s: float = 2.0, control: bool = False) -> Any:
    """One blocking request/reply on a fresh connection (status probes, tools).

    ``control=True`` sends it from a :data:`CONTROL_PORTS` source port.
    """
    if control:
        conn = _control_connection(host, port, timeout_s)
    else:
        conn = socket.create_connection((host, port), timeout=timeout_s)
    with conn as s:
        s.settimeout(timeout_s)
        send(s, msg)
        return recv(s)


async def arequest(host: str, port: int, msg: Any, timeout_s: float = 2.0) -> Any:
    """One asyncio request/reply on a fresh connection."""

    async def go() -> Any:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            write_frame(writer, msg)
            await writer.drain()
            return await read_frame(reader)
        finally:
            writer.close()

    return await asyncio.wait_for(go(), timeout_s)
