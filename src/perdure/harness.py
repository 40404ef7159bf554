"""restate-sdk's `restate.harness`, without Docker: tests written against it run on
perdure's server, started in this process.

    import perdure as restate

    with restate.test_harness(app) as harness:          # or: from perdure.harness import …
        client = harness.ingress_client()                # httpx.Client on the ingress
        assert client.post("/Greeter/greet", json="Ann").json() == "Hello, Ann!"

    async with restate.create_test_harness(app) as env:  # env.ingress_url, env.admin_api_url
        assert await env.client.service_call(greet, "Ann") == "Hello, Ann!"

Instead of a restate-server container, `perdure server` runs on a background thread of
this process (its own event loop, a temporary SQLite store, the ingress and admin API on
free loopback ports), hosting `app` in-process as `perdure dev` does (no registration
step). Time is real time: for virtual time and crash exploration use `perdure.testing`.

Supported: `always_replay` (inactivity timeout 0: every await on something missing
suspends, and the next attempt replays), `disable_retries` (one attempt, then the
invocation is killed), `follow_logs` (perdure's log records go to stderr). Accepted and
ignored: `restate_image` (there is no image), `journal_value_codec` must be None (perdure
has no journal value codec). The app must be a perdure app (`perdure.app(...)`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import socket
import sys
import tempfile
import threading
import time
import types
import typing
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from perdure.sdk.endpoint import Endpoint
from perdure.sdk.handler import handler_spec_of
from perdure.sdk.serde import JsonSerde, Serde
from perdure.server.config import RetryPolicy, ServerConfig
from perdure.testing._hosting import hosted_app, plain_runner

__all__ = [
    "HarnessEnvironment",
    "HttpError",
    "IngressClient",
    "RestateTestHarness",
    "SendHandle",
    "TestConfiguration",
    "create_test_harness",
    "test_harness",
]

_START_TIMEOUT_S = 30.0
_DEFAULT_IMAGE = "docker.io/restatedev/restate:latest"


@dataclass
class TestConfiguration:
    """As restate-sdk's; `restate_image` is ignored (no container)."""

    __test__ = False  # not a pytest test class, despite the name

    restate_image: str = _DEFAULT_IMAGE
    stream_logs: bool = False
    always_replay: bool = False
    disable_retries: bool = False


class HttpError(Exception):
    """A call through `IngressClient` answered with an error status (restate's shape)."""

    def __init__(self, status_code: int, message: str, body: str | None = None) -> None:
        super().__init__(f"HTTP {status_code}: {message}")
        self.status_code = status_code
        self.message = message
        self.body = body


@dataclass(frozen=True, slots=True)
class SendHandle:
    """What a send returns (restate's `RestateClientSendHandle`)."""

    invocation_id: str
    status_code: int


class IngressClient:
    """The calls of restate-sdk's `RestateClient` (`service_call`, `object_send`, …,
    `generic_call`) over the harness's ingress."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def service_call(
        self, tpe: Any, arg: Any, idempotency_key: str | None = None, headers: Any = None
    ) -> Any:
        return await self._call(tpe, arg, None, idempotency_key, headers)

    async def object_call(
        self, tpe: Any, key: str, arg: Any, idempotency_key: str | None = None, headers: Any = None
    ) -> Any:
        return await self._call(tpe, arg, key, idempotency_key, headers)

    async def workflow_call(
        self, tpe: Any, key: str, arg: Any, idempotency_key: str | None = None, headers: Any = None
    ) -> Any:
        return await self._call(tpe, arg, key, idempotency_key, headers)

    async def service_send(
        self,
        tpe: Any,
        arg: Any,
        send_delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: Any = None,
    ) -> SendHandle:
        return await self._send(tpe, arg, None, send_delay, idempotency_key, headers)

    async def object_send(
        self,
        tpe: Any,
        key: str,
        arg: Any,
        send_delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: Any = None,
    ) -> SendHandle:
        return await self._send(tpe, arg, key, send_delay, idempotency_key, headers)

    async def workflow_send(
        self,
        tpe: Any,
        key: str,
        arg: Any,
        send_delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: Any = None,
    ) -> SendHandle:
        return await self._send(tpe, arg, key, send_delay, idempotency_key, headers)

    async def generic_call(
        self,
        service: str,
        handler: str,
        arg: bytes,
        key: str | None = None,
        idempotency_key: str | None = None,
        headers: Any = None,
    ) -> bytes:
        return await self._post(
            service, handler, key, arg, None, False, None, idempotency_key, headers
        )

    async def generic_send(
        self,
        service: str,
        handler: str,
        arg: bytes,
        key: str | None = None,
        send_delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: Any = None,
    ) -> SendHandle:
        body = await self._post(
            service, handler, key, arg, None, True, send_delay, idempotency_key, headers
        )
        return _send_handle(body)

    async def _call(
        self, tpe: Any, arg: Any, key: str | None, idem: str | None, headers: Any
    ) -> Any:
        spec = handler_spec_of(tpe)
        body = self._encode(spec.input_serde, arg, spec.takes_input)
        content_type = spec.accept if spec.takes_input else None
        raw = await self._post(
            spec.service_name, spec.name, key, body, content_type, False, None, idem, headers
        )
        return spec.output_serde.deserialize(raw)

    async def _send(
        self,
        tpe: Any,
        arg: Any,
        key: str | None,
        delay: timedelta | None,
        idem: str | None,
        headers: Any,
    ) -> SendHandle:
        spec = handler_spec_of(tpe)
        body = self._encode(spec.input_serde, arg, spec.takes_input)
        content_type = spec.accept if spec.takes_input else None
        raw = await self._post(
            spec.service_name, spec.name, key, body, content_type, True, delay, idem, headers
        )
        return _send_handle(raw)

    @staticmethod
    def _encode(serde: Serde[Any], arg: Any, takes_input: bool) -> bytes:
        return bytes(serde.serialize(arg)) if takes_input else b""

    async def _post(
        self,
        service: str,
        handler: str,
        key: str | None,
        body: bytes,
        content_type: str | None,
        send: bool,
        delay: timedelta | None,
        idempotency_key: str | None,
        headers: Any,
    ) -> bytes:
        segments = [service, *([key] if key else []), handler, *(["send"] if send else [])]
        path = "/" + "/".join(segments)
        params = {"delay": f"{int(delay.total_seconds() * 1000)}ms"} if send and delay else None
        sent = dict(headers or {})
        if content_type is not None and body and "content-type" not in {k.lower() for k in sent}:
            sent["content-type"] = content_type
        if idempotency_key is not None:
            sent["idempotency-key"] = idempotency_key
        response = await self._http.post(path, content=body, headers=sent, params=params)
        if response.status_code >= 400:
            raise HttpError(response.status_code, response.reason_phrase, response.text)
        return response.content


def _send_handle(body: bytes) -> SendHandle:
    data = JsonSerde[dict[str, Any]]().deserialize(body) or {}
    return SendHandle(str(data.get("invocationId", "")), 200)


@dataclass
class HarnessEnvironment:
    """As restate-sdk's: where the server is, and a client of its ingress."""

    ingress_url: str
    admin_api_url: str
    client: IngressClient


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class _ServerThread:
    """`perdure server` hosting `app`, on a thread with its own event loop."""

    def __init__(self, app: Endpoint, config: TestConfiguration) -> None:
        if not isinstance(app, Endpoint):
            raise TypeError(
                "perdure.harness hosts apps made with perdure.app(...); serve another SDK's "
                f"app with its own server and register it instead (got {app!r})"
            )
        self._app = app
        self._config = config
        self._dir = Path(tempfile.mkdtemp(prefix="perdure-harness-"))
        ingress, admin = _free_port(), _free_port()
        overrides: dict[str, Any] = {}
        if config.always_replay:
            overrides["inactivity_timeout_ms"] = 0
        if config.disable_retries:
            overrides["retry_policy"] = RetryPolicy(max_attempts=1, on_max_attempts="kill")
        server = ServerConfig.build(
            {}, data_dir=self._dir, ingress_port=ingress, admin_port=admin, host="127.0.0.1"
        )
        self.server_config = replace(server, **overrides)
        self.ingress_url = f"http://127.0.0.1:{ingress}"
        self.admin_url = f"http://127.0.0.1:{admin}"
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._shutdown: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._log_handler: logging.Handler | None = None

    def start(self) -> None:
        if self._config.stream_logs:
            self._log_handler = logging.StreamHandler(sys.stderr)
            logging.getLogger("perdure").addHandler(self._log_handler)
        self._thread = threading.Thread(target=self._main, name="perdure-harness", daemon=True)
        self._thread.start()
        if not self._ready.wait(_START_TIMEOUT_S):
            raise AssertionError(f"the perdure server did not start within {_START_TIMEOUT_S} s")
        if self._error is not None:
            self.stop()
            raise AssertionError(f"the perdure server did not start: {self._error}")
        self._wait_serving()

    def _wait_serving(self) -> None:
        """`on_ready` comes as the ports start being served: poll both until they answer."""
        deadline = time.monotonic() + _START_TIMEOUT_S
        with httpx.Client(timeout=2.0, trust_env=False) as client:
            for url in (f"{self.ingress_url}/restate/health", f"{self.admin_url}/health"):
                while True:
                    try:
                        if client.get(url).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    if time.monotonic() > deadline or self._error is not None:
                        self.stop()
                        raise AssertionError(f"the perdure server does not answer at {url}")
                    time.sleep(0.01)  # polling a port that is about to open

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported by start(), or lost at stop
            self._error = exc
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        from perdure.server.app import run_server

        self._loop = asyncio.get_running_loop()
        self._shutdown = asyncio.Event()
        hosted = hosted_app(self._app, plain_runner(self._app))
        await run_server(
            self.server_config, shutdown=self._shutdown, embedded=[hosted], on_ready=self._ready.set
        )

    def stop(self) -> None:
        if self._loop is not None and self._shutdown is not None:
            with contextlib.suppress(RuntimeError):  # the loop ended already
                self._loop.call_soon_threadsafe(self._shutdown.set)
        if self._thread is not None:
            self._thread.join(timeout=_START_TIMEOUT_S)
            self._thread = None
        if self._log_handler is not None:
            logging.getLogger("perdure").removeHandler(self._log_handler)
            self._log_handler = None
        shutil.rmtree(self._dir, ignore_errors=True)


class RestateTestHarness:
    """As restate-sdk's: `start()`/`stop()` (or `with`), `ingress_client()`."""

    __test__ = False

    def __init__(self, asgi_app: Endpoint, config: TestConfiguration | None = None) -> None:
        self.asgi_app = asgi_app
        self.config = config or TestConfiguration()
        self._server: _ServerThread | None = None

    def start(self) -> None:
        """Start the server with the app hosted; raises AssertionError if it cannot."""
        self._server = _ServerThread(self.asgi_app, self.config)
        self._server.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def _running(self) -> _ServerThread:
        if self._server is None:
            raise AssertionError("The perdure server has not been started. Use .start()")
        return self._server

    @property
    def ingress_url(self) -> str:
        return self._running().ingress_url

    @property
    def admin_url(self) -> str:
        return self._running().admin_url

    def ingress_client(self) -> httpx.Client:
        """An httpx client on the server's ingress (close it when done)."""
        return httpx.Client(base_url=self.ingress_url, trust_env=False)

    def admin_client(self) -> httpx.Client:
        return httpx.Client(base_url=self.admin_url, trust_env=False)

    def __enter__(self) -> RestateTestHarness:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> typing.Literal[False]:
        self.stop()
        return False


def test_harness(
    app: Endpoint,
    follow_logs: bool = False,
    restate_image: str = _DEFAULT_IMAGE,
    always_replay: bool = False,
    disable_retries: bool = False,
) -> RestateTestHarness:
    """A harness of `app` (not started: use it as ``with test_harness(app) as h:``)."""
    return RestateTestHarness(
        app, TestConfiguration(restate_image, follow_logs, always_replay, disable_retries)
    )


test_harness.__test__ = False  # type: ignore[attr-defined]


@contextlib.asynccontextmanager
async def create_test_harness(
    app: Endpoint,
    follow_logs: bool = False,
    restate_image: str = _DEFAULT_IMAGE,
    always_replay: bool = False,
    disable_retries: bool = False,
    journal_value_codec: object = None,
) -> AsyncIterator[HarnessEnvironment]:
    """The server with `app` hosted, for the duration of the ``async with`` block."""
    if journal_value_codec is not None:
        raise NotImplementedError("perdure has no journal value codec")
    server = _ServerThread(
        app, TestConfiguration(restate_image, follow_logs, always_replay, disable_retries)
    )
    await asyncio.to_thread(server.start)
    try:
        async with httpx.AsyncClient(base_url=server.ingress_url, trust_env=False) as http:
            yield HarnessEnvironment(server.ingress_url, server.admin_url, IngressClient(http))
    finally:
        await asyncio.to_thread(server.stop)
