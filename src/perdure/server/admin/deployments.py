"""Deployment registration: discovery over HTTP, validation, and the schema update.

Discovery asks `GET {uri}/discover` for the endpoint manifest (listing manifest v1-v4 in
Accept, as restate-server does), checks that the deployment speaks a protocol version we
can drive (its range must intersect [5, 7]; we pick min(max, 6)), then stores the
deployment and its services in one transaction.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import httpx

from perdure.protocol.identity import RequestSigner
from perdure.protocol.ids import new_deployment_id
from perdure.protocol.manifest import EndpointManifest, ManifestError
from perdure.protocol.versions import choose_protocol_version, manifest_accept_header
from perdure.server.admin.errors import AdminError
from perdure.store.api import DeploymentRow, ServiceRow, WriteTxn

logger = logging.getLogger(__name__)

_DISCOVERY_TIMEOUT_S = 30.0


class RegistrationError(AdminError):
    """Discovering or registering a deployment failed (answered with the status)."""


@dataclass(frozen=True, slots=True)
class Discovered:
    manifest: EndpointManifest
    raw: dict[str, object]
    sdk_version: str | None


async def discover(
    uri: str,
    *,
    use_http_11: bool,
    additional_headers: dict[str, str],
    cluster_name: str,
    signer: RequestSigner | None,
) -> Discovered:
    try:
        url = httpx.URL(uri)
    except httpx.InvalidURL as exc:  # a host or port no client can use, as unreachable
        raise RegistrationError(
            500, f"cannot reach the deployment at {uri}: {exc}", "META0003"
        ) from None
    if url.scheme not in ("http", "https"):
        raise RegistrationError(400, f"unsupported URI scheme in {uri!r}: use http or https")
    target = url.copy_with(path=url.path.rstrip("/") + "/discover")
    headers = {"accept": manifest_accept_header(), "x-restate-cluster-name": cluster_name}
    headers.update(additional_headers)
    if signer is not None:
        headers.update(signer.headers("/discover"))
    try:
        async with httpx.AsyncClient(
            http1=use_http_11, http2=not use_http_11, timeout=_DISCOVERY_TIMEOUT_S, trust_env=False
        ) as client:
            response = await client.get(target, headers=headers)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise RegistrationError(
            500, f"cannot reach the deployment at {uri}: {exc}", "META0003"
        ) from None
    if response.status_code != 200:
        raise RegistrationError(
            500,
            f"discovery at {target} answered HTTP {response.status_code}: {response.text[:300]}",
            "META0003",
        )
    try:
        raw = response.json()
        manifest = EndpointManifest.from_json(raw)
    except (ValueError, ManifestError) as exc:
        raise RegistrationError(400, f"bad endpoint manifest from {target}: {exc}") from None
    version = choose_protocol_version(manifest.min_protocol_version, manifest.max_protocol_version)
    if version is None or manifest.min_protocol_version > 7:
        raise RegistrationError(
            400,
            "unsupported service protocol versions "
            f"[{manifest.min_protocol_version}, {manifest.max_protocol_version}]: "
            "perdure drives versions 5 to 7",
            "META0012",
        )
    for service in manifest.services:
        if service.name.lower().startswith("restate") or service.name == "openapi":
            raise RegistrationError(400, f"the service name {service.name!r} is reserved")
    return Discovered(manifest, raw, response.headers.get("x-restate-server"))


def register_txn(
    txn: WriteTxn,
    uri: str,
    use_http_11: bool,
    additional_headers: dict[str, str],
    discovered: Discovered,
    force: bool,
    now: int,
    breaking: bool = False,
    replace_id: str | None = None,
) -> tuple[DeploymentRow, bool]:
    """Store the deployment and its services. Returns (row, written).

    `replace_id` names the deployment to overwrite in place (PATCH with `overwrite`);
    otherwise one with the same uri and headers is overwritten only with `force`.
    """
    if replace_id is not None:
        existing = txn.get_deployment(replace_id)
        force = True
    else:
        existing = next(
            (
                d
                for d in txn.list_deployments()
                if d.uri == uri and d.additional_headers == additional_headers
            ),
            None,
        )
    if existing is not None and not force:
        return existing, False
    manifest = discovered.manifest
    for service in manifest.services:
        old = txn.get_service(service.name)
        if old is not None and old.ty != service.ty and not (force or breaking):
            raise RegistrationError(
                409,
                f"service {service.name} changes type from {old.ty} to {service.ty}; "
                "register with breaking (or force) to allow this breaking change",
                "META0006",
            )
    deployment = DeploymentRow(
        id=existing.id if existing is not None else new_deployment_id(),
        uri=uri,
        use_http_11=use_http_11,
        protocol_mode=manifest.protocol_mode,
        min_protocol_version=manifest.min_protocol_version,
        max_protocol_version=manifest.max_protocol_version,
        additional_headers=additional_headers,
        sdk_version=discovered.sdk_version,
        created_at=existing.created_at if existing is not None else now,
        manifest_json=json.dumps(discovered.raw),
    )
    txn.put_deployment(deployment)
    raw_services = discovered.raw.get("services")
    assert isinstance(raw_services, list)
    new_names = set()
    for service, raw_service in zip(manifest.services, raw_services, strict=True):
        old = txn.get_service(service.name)
        new_names.add(service.name)
        txn.put_service(
            ServiceRow(
                name=service.name,
                deployment_id=deployment.id,
                revision=1 if old is None else old.revision + 1,
                ty=service.ty,
                public=not bool(service.options.ingress_private),
                manifest_json=json.dumps(raw_service),
            )
        )
    if existing is not None:
        # Overwritten in place: services the new manifest dropped are gone.
        for service_row in txn.list_services():
            if service_row.deployment_id == existing.id and service_row.name not in new_names:
                txn.delete_service(service_row.name)
    return deployment, True
