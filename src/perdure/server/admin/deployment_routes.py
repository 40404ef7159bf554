"""Admin deployment routes: register (POST), list, get, update (PATCH), remove (DELETE).

Registration semantics follow restate's schema updater (reference surfaces §2.3): the
deployment is discovered first; one with the same uri and additional headers is left
unchanged (200; 409 on `/v2`) unless `force` (default true only on `/v2`), which
overwrites it in place; otherwise a new `dp_…` is created (201). Changing a service's type
needs `breaking` or `force`. `dry_run` does all of it inside the write transaction and
rolls it back, so what is answered is exactly what would have been stored.
"""

from __future__ import annotations

import datetime
import logging
import re
import urllib.parse
from dataclasses import replace
from functools import partial

from perdure.protocol.identity import RequestSigner
from perdure.protocol.ids import id_decode_problem
from perdure.server.admin.deployments import Discovered, discover, register_txn
from perdure.server.admin.errors import AdminError, body_shape_error, json_object
from perdure.server.admin.services import service_json
from perdure.server.clock import Clock
from perdure.server.config import ServerConfig
from perdure.server.http import Request, Response, json_response
from perdure.store.api import DeploymentRow, ServiceRow, Store, WriteTxn

logger = logging.getLogger(__name__)


def display_uri(uri: str) -> str:
    """The URI as restate prints it: a bare authority gets its root path, `/`."""
    parts = urllib.parse.urlsplit(uri)
    return urllib.parse.urlunsplit(parts._replace(path="/")) if not parts.path else uri


def timestamp(ms: int) -> str:
    """A time as restate's admin API prints it: RFC 3339, nanoseconds, `Z`."""
    moment = datetime.datetime.fromtimestamp(ms // 1000, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}000000Z"


def deployment_json(
    row: DeploymentRow, services: list[ServiceRow], config: ServerConfig, *, full: bool
) -> dict[str, object]:
    mine = [s for s in services if s.deployment_id == row.id]
    out: dict[str, object] = {
        "id": row.id,
        "uri": display_uri(row.uri),
        "protocol_type": "RequestResponse"
        if row.protocol_mode == "REQUEST_RESPONSE"
        else "BidiStream",
        "http_version": "HTTP/1.1" if row.use_http_11 else "HTTP/2.0",
        "created_at": timestamp(row.created_at),
        "min_protocol_version": row.min_protocol_version,
        "max_protocol_version": row.max_protocol_version,
        "services": [
            service_json(s, config, request_response=row.protocol_mode == "REQUEST_RESPONSE")
            for s in mine
        ]
        if full
        else [{"name": s.name, "revision": s.revision} for s in mine],
    }
    if row.additional_headers:
        out["additional_headers"] = row.additional_headers
    if row.sdk_version:
        out["sdk_version"] = row.sdk_version
    return out


class _DryRun(Exception):
    """Raised at the end of a dry-run job: rolls its savepoint back, carries the answer."""

    def __init__(self, answer: tuple[int, dict[str, object]]) -> None:
        super().__init__("dry run")
        self.answer = answer


def _parses_as_uri(text: str) -> bool:
    """What the `http` crate's URI parser accepts: non-empty, visible ASCII, no spaces, and
    an authority whose IPv6 brackets pair up (`http://[::1` is refused; `http://h:abc/` and
    `http://[zz]/` parse, and fail at discovery)."""
    if not text or not all("!" <= c <= "~" for c in text):
        return False
    authority = re.split(r"[/?#]", text.split("://", 1)[1], maxsplit=1)[0] if "://" in text else ""
    opened, closed = authority.find("["), authority.find("]")
    return authority.count("[") == authority.count("]") <= 1 and opened <= closed


def _flag(body: dict[str, object], name: str, default: bool) -> bool:
    value = body.get(name, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise AdminError(400, f"'{name}' must be true or false")
    return value


def _headers(body: dict[str, object]) -> dict[str, str] | None:
    headers = body.get("additional_headers")
    if headers is None:
        return None
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise AdminError(400, "additional_headers must map strings to strings")
    for name, value in headers.items():
        if not name or not all(33 <= ord(c) <= 126 and c != ":" for c in name):
            raise AdminError(400, f"additional header name {name!r} is not a valid header name")
        if not all(c == "\t" or 32 <= ord(c) <= 126 for c in value):
            raise AdminError(400, f"additional header {name!r} has a non-ASCII value")
    return headers


class DeploymentRoutes:
    def __init__(
        self, config: ServerConfig, store: Store, clock: Clock, signer: RequestSigner | None
    ) -> None:
        self._config = config
        self._store = store
        self._clock = clock
        self._signer = signer

    async def handle(self, request: Request, rest: list[str], api_version: int | None) -> Response:
        method = request.method
        if not rest:
            if method == "POST":
                return await self._register(request, api_version)
            if method == "GET":
                deployments, services = await self._store.read(
                    lambda txn: (txn.list_deployments(), txn.list_services())
                )
                body = [deployment_json(d, services, self._config, full=False) for d in deployments]
                return json_response(200, {"deployments": body})
            raise AdminError(405, f"method {method} not allowed on /deployments")
        if len(rest) != 1:
            raise AdminError(404, f"not found: {request.path}")
        deployment_id = rest[0]
        problem = id_decode_problem(deployment_id, "dp")
        if problem is not None:
            # restate's path extractor refuses it before any handler, in plain text.
            message = f"Invalid URL: Cannot parse `deployment` with value `{deployment_id}`: "
            return Response(
                400,
                (message + problem).encode(),
                (("content-type", "text/plain; charset=utf-8"),),
            )
        if method == "GET":
            deployment, services = await self._store.read(
                lambda txn: (txn.get_deployment(deployment_id), txn.list_services())
            )
            if deployment is None:
                raise AdminError(404, f"The requested deployment '{deployment_id}' does not exist")
            return json_response(
                200, deployment_json(deployment, services, self._config, full=True)
            )
        if method in ("PATCH", "PUT"):  # PUT: restate's deprecated spelling
            return await self._update(request, deployment_id)
        if method == "DELETE":
            if request.query.get("force") != "true":
                raise AdminError(
                    501, "graceful deployment removal is not implemented; use force=true"
                )
            removed = await self._store.write(partial(_delete_deployment, deployment_id))
            if not removed:
                raise AdminError(404, f"The requested deployment '{deployment_id}' does not exist")
            return Response(202)
        raise AdminError(405, f"method {method} not allowed on /deployments/{deployment_id}")

    async def _discover(self, uri: str, use_http_11: bool, headers: dict[str, str]) -> Discovered:
        return await discover(
            uri,
            use_http_11=use_http_11,
            additional_headers=headers,
            cluster_name=self._config.cluster_name,
            signer=self._signer,
        )

    async def _register(self, request: Request, api_version: int | None) -> Response:
        body = await json_object(request)
        uri = body.get("uri")
        if "uri" not in body and isinstance(body.get("arn"), str):
            raise AdminError(400, "Lambda deployments are not supported by perdure")
        if not isinstance(uri, str) or not _parses_as_uri(uri):
            # restate's body type is an untagged enum of the http and Lambda shapes.
            raise body_shape_error(
                "data did not match any variant of untagged enum RegisterDeploymentRequest"
            )
        headers = _headers(body) or {}
        use_http_11 = _flag(body, "use_http_11", False)
        force = _flag(body, "force", api_version == 2)
        breaking = _flag(body, "breaking", False)
        dry_run = _flag(body, "dry_run", False)
        discovered = await self._discover(uri, use_http_11, headers)
        now = self._clock.now_ms()
        config = self._config

        def job(txn: WriteTxn) -> tuple[int, dict[str, object]]:
            deployment, written = register_txn(
                txn,
                uri=uri,
                use_http_11=use_http_11,
                additional_headers=headers,
                discovered=discovered,
                force=force,
                now=now,
                breaking=breaking,
            )
            if not written and api_version == 2:
                raise AdminError(
                    409,
                    f"deployment {deployment.id} already exists at {uri}; use force to overwrite",
                    "META0004",
                )
            out = deployment_json(deployment, txn.list_services(), config, full=True)
            answer = (201 if written else 200, out)
            if dry_run:
                raise _DryRun(answer)
            return answer

        try:
            status, out = await self._store.write(job)
        except _DryRun as dry:
            status, out = dry.answer
        else:
            logger.info("registered deployment %s at %s (HTTP %d)", out["id"], uri, status)
        return json_response(status, out, (("location", f"deployments/{out['id']}"),))

    async def _update(self, request: Request, deployment_id: str) -> Response:
        body = await json_object(request)
        current = await self._store.read(lambda txn: txn.get_deployment(deployment_id))
        if current is None:
            raise AdminError(404, f"The requested deployment '{deployment_id}' does not exist")
        uri = body.get("uri", current.uri)
        if not isinstance(uri, str) or not uri:
            raise AdminError(400, "'uri' must be a non-empty string")
        if "arn" in body:
            raise AdminError(400, "Lambda deployments are not supported by perdure")
        headers = _headers(body)
        if headers is None:
            headers = current.additional_headers
        use_http_11 = _flag(body, "use_http_11", current.use_http_11)
        overwrite = _flag(body, "overwrite", False)
        dry_run = _flag(body, "dry_run", False)
        config = self._config
        discovered = await self._discover(uri, use_http_11, headers) if overwrite else None
        now = self._clock.now_ms()

        def job(txn: WriteTxn) -> tuple[int, dict[str, object]]:
            row = txn.get_deployment(deployment_id)
            if row is None:
                raise AdminError(404, f"The requested deployment '{deployment_id}' does not exist")
            if discovered is not None:
                row, _ = register_txn(
                    txn,
                    uri=uri,
                    use_http_11=use_http_11,
                    additional_headers=headers,
                    discovered=discovered,
                    force=True,
                    now=now,
                    replace_id=deployment_id,
                )
            else:
                # Only where and how to reach it changes; its services stay as discovered.
                row = replace(row, uri=uri, additional_headers=headers, use_http_11=use_http_11)
                txn.put_deployment(row)
            answer = (200, deployment_json(row, txn.list_services(), config, full=True))
            if dry_run:
                raise _DryRun(answer)
            return answer

        try:
            status, out = await self._store.write(job)
        except _DryRun as dry:
            status, out = dry.answer
        return json_response(status, out)


def _delete_deployment(deployment_id: str, txn: WriteTxn) -> bool:
    """Remove a deployment and the services it serves (force: in-flight ones then fail)."""
    if txn.get_deployment(deployment_id) is None:
        return False
    for service in txn.list_services():
        if service.deployment_id == deployment_id:
            txn.delete_service(service.name)
    txn.delete_deployment(deployment_id)
    return True
