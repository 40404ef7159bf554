"""Guard: restate-server may only run where no real network is reachable."""

from __future__ import annotations

import socket

RUN_VIA = "run the interop tests via scripts/test (it wraps pytest in `unshare --net`)"


def network_interfaces() -> list[str]:
    # socket.if_nameindex() asks the kernel about the *caller's* network namespace.
    # /sys/class/net would be wrong here: sysfs shows the namespace of whoever mounted it, so after
    # a bare `unshare --net` it still lists the host's eth0.
    return sorted(name for _, name in socket.if_nameindex())


def loopback_only_problem() -> str | None:
    """Why this process must not start restate-server, or None when it may."""
    names = network_interfaces()
    if names != ["lo"]:
        return (
            "refusing to start restate-server: this process sees network interfaces "
            f"{names}, but it must run in a namespace with only loopback (restate-server contacts "
            f"GitHub at every start); {RUN_VIA}"
        )
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        probe.bind(("127.0.0.1", 0))
    except OSError as exc:
        return f"loopback is down in this namespace ({exc}); {RUN_VIA} (it sets lo up)"
    finally:
        probe.close()
    return None
