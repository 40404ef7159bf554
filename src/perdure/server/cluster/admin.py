"""`GET /cluster` on a node's admin API: the nodes, their last heartbeat, and which
partitions each one leases at which epoch (what `perdure cluster status` prints). The
rest of the admin API is the single node's, unchanged."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from perdure.server.admin.app import AdminApp
from perdure.server.auth import ADMIN_COOKIE, BearerAuth
from perdure.server.config import ServerConfig
from perdure.server.http import Receive, Request, Scope, Send, json_response
from perdure.store.api import StoreError
from perdure.store.postgres.coordination import ClusterStatus, Coordination

# `/cluster`, also under an admin API version prefix (the CLI negotiates one).
_PATH = re.compile(r"^(/v\d+)?/cluster/?$")


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def status_json(status: ClusterStatus, this_node: str) -> dict[str, Any]:
    leased: dict[str, list[dict[str, int]]] = {}
    for lease in status.leases:
        if lease.node is not None and lease.expires_at > status.now:
            leased.setdefault(lease.node, []).append(
                {
                    "partition": lease.partition,
                    "epoch": lease.epoch,
                    "expires_in_ms": _ms(lease.expires_at) - _ms(status.now),
                }
            )
    held = {p["partition"] for leases in leased.values() for p in leases}
    return {
        "node": this_node,
        "partitions": status.partitions,
        "nodes": [
            {
                "name": node.name,
                "live": node.live,
                "stopped": node.stopped,
                "started_at": node.started_at.isoformat(),
                "heartbeat_at": node.heartbeat_at.isoformat(),
                "heartbeat_age_ms": _ms(status.now) - _ms(node.heartbeat_at),
                "lease_ttl_ms": node.lease_ttl_ms,
                "leases": leased.get(node.name, []),
            }
            for node in status.nodes
        ],
        "unleased": [p for p in range(status.partitions) if p not in held],
    }


class ClusterAdmin:
    """The node's admin app: `/cluster` here, everything else to `AdminApp`."""

    def __init__(self, admin: AdminApp, config: ServerConfig, db: Coordination) -> None:
        self._admin = admin
        self._db = db
        self._node = config.node_name or ""
        self._auth = BearerAuth(config.admin_token, cookie=ADMIN_COOKIE)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _PATH.match(scope.get("path", "")):
            await self._admin(scope, receive, send)
            return
        request = Request.from_scope(scope, receive)
        response = self._auth.refusal(request)
        if response is None and request.method != "GET":
            response = json_response(405, {"message": f"method {request.method} not allowed"})
        if response is None:
            try:
                response = json_response(200, status_json(await self._db.status(), self._node))
            except StoreError as exc:
                response = json_response(503, {"message": f"cannot read the cluster: {exc}"})
        await response.send(send)
