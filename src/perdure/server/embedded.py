"""Embedded deployments: apps hosted by the server's own process (`perdure dev`).

An embedded app needs no registration step: the server stores it as a deployment at
startup, from the manifest the app describes itself with (no discovery request), under a
URI naming where it came from (`embedded://localhost/path/to/app.py`). Its attempts run in-process
(invoker/in_process.py).

Registration is idempotent, so that a restart on the same data directory resumes every
in-flight invocation: an unchanged manifest leaves the deployment row (and its id, to which
running invocations are pinned) untouched; a changed one overwrites it in place, same id, as
a forced re-registration through the admin API would.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from perdure.protocol.manifest import EndpointManifest, ManifestError
from perdure.protocol.versions import choose_protocol_version
from perdure.server.admin.deployments import Discovered, register_txn
from perdure.server.errors import ServerError
from perdure.server.invoker.in_process import EMBEDDED_SCHEME, AttemptRunner
from perdure.store.api import DeploymentRow, Store, WriteTxn

logger = logging.getLogger(__name__)


class EmbeddedAppError(ServerError):
    """The app cannot be hosted (bad manifest, unsupported protocol, reserved name)."""


@dataclass(frozen=True, slots=True)
class EmbeddedApp:
    """An app this process hosts: its deployment URI, its manifest (the JSON a discovery
    request would return) and the runner that executes its attempts."""

    uri: str
    manifest: dict[str, object]
    runner: AttemptRunner
    sdk_version: str | None = None


# The URI's authority: restate's CLI parses a deployment's URI as an HTTP URI, which needs
# one (as in `file://localhost/path`, it names this machine's process).
EMBEDDED_AUTHORITY = "localhost"


def embedded_uri(location: str) -> str:
    """`embedded://localhost/<location>`: `embedded://localhost/abs/path/app.py` for a file,
    `embedded://localhost/module:attr` for a module."""
    return f"{EMBEDDED_SCHEME}://{EMBEDDED_AUTHORITY}/{location.lstrip('/')}"


def _earlier_uris(uri: str) -> set[str]:
    """The forms an earlier perdure stored the same app under (`embedded:///abs/app.py`,
    `embedded://module:attr`, without an authority)."""
    prefix = f"{EMBEDDED_SCHEME}://{EMBEDDED_AUTHORITY}/"
    if not uri.startswith(prefix):
        return set()
    rest = uri[len(prefix) :]
    return {f"{EMBEDDED_SCHEME}:///{rest}", f"{EMBEDDED_SCHEME}://{rest}"}


def _discovered(app: EmbeddedApp) -> Discovered:
    try:
        manifest = EndpointManifest.from_json(app.manifest)
    except (ValueError, ManifestError) as exc:
        raise EmbeddedAppError(f"bad endpoint manifest for {app.uri}: {exc}") from None
    low, high = manifest.min_protocol_version, manifest.max_protocol_version
    if choose_protocol_version(low, high) is None:
        raise EmbeddedAppError(
            f"{app.uri} speaks service protocol versions [{low}, {high}]; perdure drives 5 to 7"
        )
    for service in manifest.services:
        if service.name.lower().startswith("restate") or service.name == "openapi":
            raise EmbeddedAppError(f"the service name {service.name!r} is reserved")
    return Discovered(manifest, app.manifest, app.sdk_version)


def register_embedded_txn(txn: WriteTxn, app: EmbeddedApp, now: int) -> tuple[DeploymentRow, bool]:
    """Store `app` as a deployment; (row, written). Nothing is written when the stored one
    has the same manifest and still serves all of its services."""
    discovered = _discovered(app)
    # A deployment stored under an earlier form of the URI is the same app: it keeps its
    # id (in-flight invocations are pinned to it) and gets the current URI.
    known = {app.uri} | _earlier_uris(app.uri)
    existing = next((d for d in txn.list_deployments() if d.uri in known), None)
    if (
        existing is not None
        and existing.uri == app.uri
        and existing.manifest_json == json.dumps(discovered.raw)
    ):
        served = all(
            (row := txn.get_service(s.name)) is not None and row.deployment_id == existing.id
            for s in discovered.manifest.services
        )
        if served:
            return existing, False
    return register_txn(
        txn,
        uri=app.uri,
        use_http_11=False,
        additional_headers={},
        discovered=discovered,
        force=True,
        now=now,
        replace_id=None if existing is None else existing.id,
    )


async def register_embedded(
    store: Store, apps: Sequence[EmbeddedApp], now: int
) -> list[DeploymentRow]:
    """Register every app (one transaction each); their deployment rows, in order."""
    rows = []
    for app in apps:
        row, written = await store.write(partial(register_embedded_txn, app=app, now=now))
        logger.info(
            "%s embedded deployment %s at %s",
            "registered" if written else "kept",
            row.id,
            app.uri,
        )
        rows.append(row)
    return rows
