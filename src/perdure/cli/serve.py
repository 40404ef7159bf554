"""`perdure serve APP`: serve an app's services over HTTP, for a server to register.

One plaintext port speaks HTTP/1.1 and HTTP/2 with prior knowledge (h2c), which is what
restate-server uses for ``http://`` deployments: over HTTP/2 invocations stream both
ways, over HTTP/1.1 they run request/response.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import logging
import signal
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import click

from perdure.cli._tracing import handler_tracing
from perdure.sdk.definition import ServiceDefinition
from perdure.sdk.endpoint import app as make_app
from perdure.server.loop import run as run_loop

logger = logging.getLogger("perdure.serve")

# As large as HTTP/2 allows: every in-flight invocation of a bidi deployment is one
# stream, and the server keeps its connections open for as long as it likes.
_UNLIMITED = 2**31 - 1


def load_app(target: str) -> Any:
    """The ASGI app named by `target`: ``path/to/file.py[:attr]`` or ``module[:attr]``.

    `attr` defaults to ``app``. A service definition, or a list of them, is wrapped in
    `perdure.app()`.
    """
    return load_target(target)[1]


def load_target(target: str) -> tuple[ModuleType, Any]:
    """The module `target` names, and its app (see `load_app`); `perdure dev` reads other
    module-level settings next to the app."""
    location, _, attr = target.partition(":")
    attr = attr or "app"
    module = _load_file(Path(location)) if location.endswith(".py") else _load_module(location)
    try:
        found = getattr(module, attr)
    except AttributeError:
        raise click.UsageError(f"{location} has no attribute {attr!r}") from None
    if isinstance(found, ServiceDefinition):
        return module, make_app([found])
    if (
        isinstance(found, list | tuple)
        and found
        and all(isinstance(s, ServiceDefinition) for s in found)
    ):
        return module, make_app(found)
    if not callable(found):
        raise click.UsageError(f"{target} is {type(found).__name__}, not an ASGI app")
    return module, found


def _load_file(path: Path) -> ModuleType:
    if not path.is_file():
        raise click.UsageError(f"no such file: {path}")
    path = path.resolve()
    # The file's folder goes on sys.path, as `python file.py` would do, so that the
    # file can import its neighbours.
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    if spec is None or spec.loader is None:
        raise click.UsageError(f"cannot load {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    # Registered before it runs, so that dataclasses and pydantic models defined in it
    # can resolve their own annotations.
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def _load_module(name: str) -> ModuleType:
    sys.path.insert(0, str(Path.cwd()))
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name is not None and name.startswith(e.name):
            raise click.UsageError(f"no module named {name!r} (nor file {name}.py)") from None
        raise


def hypercorn_config(host: str, port: int) -> Any:
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.h2_max_concurrent_streams = _UNLIMITED
    config.keep_alive_max_requests = _UNLIMITED
    config.keep_alive_timeout = _UNLIMITED
    config.errorlog = logging.getLogger("hypercorn.error")
    config.accesslog = None
    return config


async def serve(asgi_app: Any, host: str, port: int) -> None:
    """Serve `asgi_app` until SIGINT or SIGTERM, then shut down gracefully."""
    from hypercorn.asyncio import serve as hypercorn_serve

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await hypercorn_serve(
            asgi_app, hypercorn_config(host, port), shutdown_trigger=stop.wait, mode="asgi"
        )
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    logger.info("stopped")


@click.command(name="serve")
@click.argument("app_target", metavar="APP")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=9080, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    help="Least severe log level shown.",
)
def command(app_target: str, host: str, port: int, log_level: str) -> None:
    """Serve the services of APP on HTTP/1.1 and h2c (HTTP/2 without TLS).

    APP is a Python file whose module-level `app` is served (`services.py`, or
    `services.py:attr`), or an importable `module:attr`. The app is what `perdure.app(...)`
    returns, or any ASGI app; a service or a list of services is wrapped for you.

    Register the address with a server, e.g. `restate deployments register
    http://127.0.0.1:9080`. Stops on Ctrl-C or SIGTERM.
    """
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    asgi_app = load_app(app_target)
    names = [s.name for s in getattr(asgi_app, "services", ())]
    logger.info(
        "serving %s on http://%s:%d (HTTP/1.1 and h2c)",
        ", ".join(names) if names else app_target,
        host,
        port,
    )
    try:
        with handler_tracing("perdure-app"):
            run_loop(serve(asgi_app, host, port))
    except OSError as e:
        raise click.ClickException(f"cannot listen on {host}:{port}: {e.strerror or e}") from e
