"""`perdure dev APP`: the server and APP's services in one process (embedded mode).

The server runs on SQLite under `--data-dir`; APP's services are registered at startup as an
`embedded://…` deployment and run in this process over the in-process transport (the same
protocol messages as over HTTP, no HTTP hop). Remote deployments APP lists are registered
through the admin API once it is up.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, ParamSpec, TypeVar

import click
import httpx

from perdure._version import __version__
from perdure.cli._tokens import token_options, tokens
from perdure.cli._tracing import handler_tracing
from perdure.cli.serve import load_target
from perdure.protocol.versions import manifest_accept_header
from perdure.sdk.discovery import discover
from perdure.sdk.endpoint import Endpoint
from perdure.server.config import ConfigError, ServerConfig
from perdure.server.embedded import EmbeddedApp, EmbeddedAppError, embedded_uri
from perdure.server.invoker.in_process import AttemptRunner, ByteStreams
from perdure.server.loop import run as run_loop
from perdure.server.stores import describe_store
from perdure.store.api import StoreConfigError, StoreLockedError

logger = logging.getLogger("perdure.dev")

REMOTE_ATTRIBUTE = "deployments"
_REGISTER_RETRY_S = 1.0


P = ParamSpec("P")
T = TypeVar("T")


class _CountingExecutor(ThreadPoolExecutor):
    """The loop's default executor, where synchronous `ctx.run` actions run; knows how many
    are still running, so that stopping need not wait for one that blocks."""

    def __init__(self) -> None:
        super().__init__(thread_name_prefix="perdure-dev-run")
        self._lock = threading.Lock()
        self.busy = 0

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        with self._lock:
            self.busy += 1
        future = super().submit(fn, *args, **kwargs)
        future.add_done_callback(self._done)
        return future

    def _done(self, _: Future[Any]) -> None:
        with self._lock:
            self.busy -= 1


@dataclass(frozen=True, slots=True)
class Remote:
    uri: str
    use_http_11: bool = False


def attempt_runner(endpoint: Endpoint) -> AttemptRunner:
    """Runs attempts of `endpoint`'s handlers, as its ASGI app would after the HTTP part."""
    from perdure.sdk._run import run_attempt

    async def run(
        service: str, handler: str, version: int, headers: Mapping[str, str], io: ByteStreams
    ) -> None:
        spec = endpoint.handler(service, handler)
        if spec is None:
            raise LookupError(f"the app has no handler {service}/{handler}")
        await run_attempt(spec, version, headers, io)

    return run


def embedded_app(endpoint: Endpoint, uri: str) -> EmbeddedApp:
    """`endpoint` as an embedded deployment: the manifest it would answer discovery with
    (newest manifest version; bidi unless the app forces request-response)."""
    reply = discover(
        endpoint.services, manifest_accept_header(), "2", endpoint.protocol, endpoint.schedules
    )
    if reply.status != 200:
        raise click.ClickException(
            f"cannot describe the app's services: {reply.body.decode('utf-8', 'replace')}"
        )
    manifest = json.loads(reply.body)
    return EmbeddedApp(uri, manifest, attempt_runner(endpoint), f"perdure/{__version__}")


def app_uri(target: str) -> str:
    """`embedded://localhost/abs/path/app.py[:attr]` for a file (stable whatever the working
    directory), `embedded://localhost/module:attr` for a module."""
    location, _, attr = target.partition(":")
    if location.endswith(".py"):
        location = str(Path(location).resolve())
        return embedded_uri(f"{location}:{attr}" if attr and attr != "app" else location)
    return embedded_uri(target)


def remotes_of(module: ModuleType, target: str) -> list[Remote]:
    """The module-level `deployments`: URIs, or {"uri": …, "use_http_11": bool} objects."""
    listed = getattr(module, REMOTE_ATTRIBUTE, None)
    if listed is None:
        return []
    problem = f"{target}: `{REMOTE_ATTRIBUTE}` must be a list of URIs or of {{'uri': …}} dicts"
    if not isinstance(listed, list | tuple):
        raise click.UsageError(problem)
    remotes = []
    for item in listed:
        if isinstance(item, str) and item:
            remotes.append(Remote(item))
        elif isinstance(item, dict) and isinstance(item.get("uri"), str):
            remotes.append(Remote(item["uri"], bool(item.get("use_http_11", False))))
        else:
            raise click.UsageError(f"{problem}, not {item!r}")
    return remotes


def _banner(
    target: str, config: ServerConfig, app: EmbeddedApp, endpoint: Endpoint, remotes: list[Remote]
) -> str:
    host = config.host
    lines = [
        f"perdure dev {__version__}: {target}",
        f"  ingress   http://{host}:{config.ingress_port}",
        f"  admin     http://{host}:{config.admin_port}",
        f"  data      {describe_store(config)}",
        f"  services  {app.uri} (in this process)",
    ]
    for service in endpoint.services:
        handlers = ", ".join(service.handlers)
        lines.append(f"            {service.name} ({service.service_type.lower()}): {handlers}")
    lines += [f"  remote    {remote.uri}" for remote in remotes]
    lines.append("Ctrl-C stops; starting again on the same data dir resumes what was in flight.")
    return "\n".join(lines)


async def _register_remotes(admin_url: str, remotes: list[Remote]) -> None:
    """Register each remote through our own admin API, retrying until it answers (it may
    start after us). `force`: a changed manifest replaces the one stored last time."""
    async with httpx.AsyncClient(base_url=admin_url, timeout=30.0, trust_env=False) as admin:
        for remote in remotes:
            body = {"uri": remote.uri, "use_http_11": remote.use_http_11, "force": True}
            warned = False
            while True:
                try:
                    response = await admin.post("/deployments", json=body)
                    if response.status_code in (200, 201):
                        names = [s["name"] for s in response.json().get("services", [])]
                        click.echo(f"registered {remote.uri}: {', '.join(names)}")
                        break
                    problem = f"HTTP {response.status_code}: {response.text[:300]}"
                except httpx.HTTPError as exc:
                    problem = str(exc) or type(exc).__name__
                if not warned:
                    click.echo(f"cannot register {remote.uri} yet ({problem}); retrying", err=True)
                    warned = True
                await asyncio.sleep(_REGISTER_RETRY_S)


async def _run(config: ServerConfig, app: EmbeddedApp, remotes: list[Remote], banner: str) -> None:
    from perdure.server.app import run_server

    shutdown = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, shutdown.set)
    executor = _CountingExecutor()
    loop.set_default_executor(executor)
    admin_host = "127.0.0.1" if config.host in ("0.0.0.0", "::", "") else config.host
    registering: asyncio.Task[None] | None = None

    def ready() -> None:
        nonlocal registering
        click.echo(banner)
        if remotes:
            registering = loop.create_task(
                _register_remotes(f"http://{admin_host}:{config.admin_port}", remotes)
            )

    try:
        await run_server(config, shutdown=shutdown, embedded=[app], on_ready=ready)
    finally:
        if registering is not None:
            registering.cancel()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    if executor.busy:
        # A thread cannot be stopped, and the interpreter would wait for it at exit. The
        # store is closed, everything acknowledged is committed, and an action that did
        # not finish runs again on the next start: nothing is lost by leaving now.
        logger.warning(
            "stopped; %d synchronous ctx.run action(s) still running in threads are "
            "abandoned (they run again on the next start)",
            executor.busy,
        )
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


@click.command(name="dev")
@click.argument("app_target", metavar="APP")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".perdure"),
    show_default=True,
    help="Directory of the SQLite store; keep it to resume in-flight invocations.",
)
@click.option(
    "--store",
    default=None,
    metavar="URL",
    help="postgresql://USER[:PASS]@HOST:PORT/DB: keep the data in PostgreSQL instead "
    "(env PERDURE_STORE).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address of both ports.")
@click.option("--ingress-port", type=int, default=8080, show_default=True, help="Ingress port.")
@click.option("--admin-port", type=int, default=9070, show_default=True, help="Admin API port.")
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    help="Least severe log level shown.",
)
@token_options
def command(
    app_target: str,
    data_dir: Path,
    store: str | None,
    host: str,
    ingress_port: int,
    admin_port: int,
    log_level: str,
    **token_flags: Any,
) -> None:
    """Run the server and the services of APP in one process (embedded mode).

    APP is a Python file whose module-level `app` was made with `perdure.app(...)`
    (`services.py`, or `services.py:attr`), or an importable `module:attr`. Its services
    are registered at startup as the deployment `embedded://<APP>` and run in this process:
    the same protocol as over HTTP, without an HTTP hop or a registration step.

    To also register services served elsewhere (another SDK, `perdure serve`), list them
    next to the app: `deployments = ["http://127.0.0.1:9080"]`, or
    `deployments = [{"uri": "http://127.0.0.1:9080", "use_http_11": True}]`.

    Data lives in --data-dir (SQLite): starting again on the same directory resumes every
    invocation that was in flight. Stops cleanly on Ctrl-C or SIGTERM. Settings not given
    as options come from the RESTATE_* environment, as for `perdure server`.
    """
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    module, found = load_target(app_target)
    if not isinstance(found, Endpoint):
        raise click.UsageError(
            f"{app_target} is {type(found).__name__}, not an app made with perdure.app(...); "
            "serve other apps with `perdure serve` and register them (or list them in "
            f"`{REMOTE_ATTRIBUTE}`)"
        )
    remotes = remotes_of(module, app_target)
    try:
        config = ServerConfig.build(
            data_dir=data_dir,
            store=store,
            host=host,
            ingress_port=ingress_port,
            admin_port=admin_port,
            **tokens(**token_flags),
        )
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    app = embedded_app(found, app_uri(app_target))
    banner = _banner(app_target, config, app, found, remotes)
    try:
        with handler_tracing("perdure-dev", warn_missing=False):
            run_loop(_run(config, app, remotes, banner))
    except (StoreLockedError, StoreConfigError, EmbeddedAppError) as exc:
        raise click.ClickException(str(exc)) from None
    except ExceptionGroup as group:  # from the server's task group
        bind = group.subgroup(OSError)
        if bind is None:
            raise
        raise click.ClickException(
            f"cannot serve on {host} ports {ingress_port}/{admin_port}: {bind.exceptions[0]}"
        ) from None
