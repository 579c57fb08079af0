"""HTTP/1.1 over a raw socket, for requests the usual clients never send: slow, partial, malformed.

    with connect(server.port) as sock:
        sent_all = trickle(sock, b"GET /healthz HTTP/1.1\\r\\nHost: x", interval=0.3, budget=5.0)
        response = read_response(sock, timeout=5.0)
        assert response.status == 408 and response.json()["error"] == "request_timeout"
        assert peer_closed(sock, timeout=2.0)

Responses are read by their Content-Length (every answer of this service has one).
"""

from __future__ import annotations

import json
import select
import socket
import time
from dataclasses import dataclass, field


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str] = field(default_factory=dict)  # names lower-cased
    body: bytes = b""

    def json(self):
        return json.loads(self.body)


def connect(port: int, timeout: float = 5.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # one byte, one segment
    return sock


def request(method: str, target: str, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
    """A well-formed request (Host and, with a body, Content-Length added)."""
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1"]
    all_headers = dict(headers or {})
    if body:
        all_headers.setdefault("Content-Length", str(len(body)))
    lines += [f"{name}: {value}" for name, value in all_headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def trickle(sock: socket.socket, data: bytes, interval: float, budget: float, chunk: int = 1) -> int:
    """Send ``data`` ``chunk`` bytes every ``interval`` s, for at most ``budget`` s or until the
    server answers or closes (what the pause between chunks watches for); the bytes sent."""
    deadline = time.monotonic() + budget
    for start in range(0, len(data), chunk):
        piece = data[start:start + chunk]
        try:
            sock.sendall(piece)
        except OSError:  # the server closed the connection
            return start
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return start + len(piece)
        readable, _, _ = select.select([sock], [], [], min(interval, remaining))
        if readable:
            return start + len(piece)
    return len(data)


def read_response(sock: socket.socket, timeout: float) -> RawResponse:
    """One response; ``AssertionError`` if it does not arrive within ``timeout`` s."""
    deadline = time.monotonic() + timeout
    buffer = b""

    def more() -> None:
        nonlocal buffer
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no complete response within {timeout} s; got {buffer[:300]!r}")
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            raise AssertionError(f"no complete response within {timeout} s; got {buffer[:300]!r}") from None
        if not chunk:
            raise AssertionError(f"connection closed before a complete response; got {buffer[:300]!r}")
        buffer += chunk

    while b"\r\n\r\n" not in buffer:
        more()
    head, _, rest = buffer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    buffer = rest
    while len(buffer) < length:
        more()
    return RawResponse(int(status_line.split()[1]), headers, buffer[:length])


def peer_closed(sock: socket.socket, timeout: float) -> bool:
    """Whether the server closes the connection within ``timeout`` s (unread data is skipped)."""
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        sock.settimeout(remaining)
        try:
            if not sock.recv(65536):
                return True
        except TimeoutError:
            return False
        except ConnectionResetError:
            return True
    return False
