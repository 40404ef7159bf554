"""Free loopback ports."""

from __future__ import annotations

import socket


def free_port() -> int:
    # The port is released before the caller binds it, so a parallel process could grab it; the
    # process starters detect an early exit and retry with fresh ports.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_accepts(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class IngressAdminPorts:
    """A server's two loopback ports (0 until it started) and their URLs."""

    ingress_port = 0
    admin_port = 0

    @property
    def ingress_url(self) -> str:
        return f"http://127.0.0.1:{self.ingress_port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"
