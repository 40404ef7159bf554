"""Where an attempt goes and the headers it carries, whatever the transport."""

from __future__ import annotations

import urllib.parse

import httpx

from perdure.protocol.heartbeat import HEARTBEAT_HEADER
from perdure.protocol.identity import RequestSigner
from perdure.protocol.versions import protocol_content_type
from perdure.server.engine import AttemptPlan


def invoke_url(plan: AttemptPlan) -> str:
    """`{uri}/invoke/{service}/{handler}`, keeping the deployment's path prefix and query."""
    base = httpx.URL(plan.uri)
    path = base.path.rstrip("/") + f"/invoke/{plan.service}/{plan.handler}"
    return str(base.copy_with(path=path))


def attempt_headers(
    plan: AttemptPlan, cluster_name: str, signer: RequestSigner | None
) -> dict[str, str]:
    content_type = protocol_content_type(plan.protocol_version)
    headers = {
        "content-type": content_type,
        "accept": content_type,
        "x-restate-invocation-id": plan.invocation_id,
        "x-restate-cluster-name": cluster_name,
        # Tells a perdure SDK it may send heartbeats (restate-server never sets it).
        HEARTBEAT_HEADER: "1",
    }
    if plan.key is not None:
        headers["x-restate-service-key"] = urllib.parse.quote(plan.key, safe="")
    headers.update(plan.additional_headers)
    if signer is not None:
        headers.update(signer.headers(f"/invoke/{plan.service}/{plan.handler}", plan.key))
    return headers
