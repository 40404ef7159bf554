from __future__ import annotations

import asyncio
import json
import sys
import types
from collections.abc import Mapping
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from perdure._version import __version__
from perdure.protocol.identity import RequestSigner, public_key_string
from perdure.protocol.versions import manifest_content_type, protocol_content_type
from perdure.sdk.endpoint import Endpoint, app
from perdure.sdk.handler import HandlerSpec
from perdure.sdk.object import VirtualObject
from perdure.sdk.service import Service

V6 = protocol_content_type(6)
SERVER = f"perdure/{__version__}"


def _services() -> list[Any]:
    greeter = Service("Greeter")

    @greeter.handler()
    async def greet(ctx: Any, name: str) -> str:
        return name

    counter = VirtualObject("Counter")

    @counter.handler()
    async def add(ctx: Any, n: int) -> int:
        return n

    return [greeter, counter]


def _client(endpoint: Endpoint) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=endpoint), base_url="http://sdk")


class _Recorder:
    """A stand-in for `perdure.sdk._run`: echoes the request body, records the call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, dict[str, str]]] = []

    async def run_attempt(
        self, handler: HandlerSpec, protocol_version: int, headers: Mapping[str, str], io: Any
    ) -> None:
        self.calls.append((handler.name, protocol_version, dict(headers)))
        while (chunk := await io.receive()) is not None:
            await io.send(chunk.upper())
        assert await io.receive() is None  # stays at end of input


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch) -> _Recorder:
    recorder = _Recorder()
    module = types.ModuleType("perdure.sdk._run")
    module.run_attempt = recorder.run_attempt  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "perdure.sdk._run", module)
    return recorder


@pytest.mark.parametrize("path", ["/health", "/some/prefix/health", "/health/"])
async def test_health(path: str) -> None:
    async with _client(app(_services())) as client:
        response = await client.get(path)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["x-restate-server"] == SERVER


@pytest.mark.parametrize("path", ["/discover", "/mounted/under/here/discover"])
async def test_discover(path: str) -> None:
    async with _client(app(_services())) as client:
        response = await client.get(path, headers={"accept": manifest_content_type(3)})
    assert response.status_code == 200
    assert response.headers["content-type"] == manifest_content_type(3)
    assert response.headers["x-restate-server"] == SERVER
    manifest = response.json()
    # httpx's ASGI transport speaks HTTP/1.1: the server will not stream both ways.
    assert manifest["protocolMode"] == "REQUEST_RESPONSE"
    assert [s["name"] for s in manifest["services"]] == ["Greeter", "Counter"]


async def test_discover_with_forced_protocol() -> None:
    async with _client(app(_services(), protocol="bidi")) as client:
        response = await client.get("/discover", headers={"accept": manifest_content_type(2)})
    assert response.json()["protocolMode"] == "BIDI_STREAM"


@pytest.mark.parametrize("accept", ["application/json", "*/*"])
async def test_discover_415_on_unknown_manifest_version(accept: str) -> None:
    # restate-sdk 1.2 answers 415 to "*/*" too; the server always names versions.
    async with _client(app(_services())) as client:
        response = await client.get("/discover", headers={"accept": accept})
    assert response.status_code == 415
    assert response.headers["x-restate-server"] == SERVER


@pytest.mark.parametrize(
    "path", ["/invoke/Nope/greet", "/invoke/Greeter/nope", "/nothing", "/", "/invoke/Greeter"]
)
async def test_unknown_routes_are_404(path: str) -> None:
    async with _client(app(_services())) as client:
        response = await client.post(path, content=b"x", headers={"content-type": V6})
    assert response.status_code == 404
    assert response.headers["x-restate-server"] == SERVER


@pytest.mark.parametrize(
    "content_type",
    [None, "application/json", protocol_content_type(4), protocol_content_type(7)],
)
async def test_invoke_415_on_unsupported_protocol(content_type: str | None) -> None:
    headers = {} if content_type is None else {"content-type": content_type}
    async with _client(app(_services())) as client:
        response = await client.post("/invoke/Greeter/greet", content=b"x", headers=headers)
    assert response.status_code == 415
    assert b"application/vnd.restate.invocation.v5" in response.content


@pytest.mark.parametrize("version", [5, 6])
async def test_invoke_streams_through_the_runtime(runtime: _Recorder, version: int) -> None:
    content_type = protocol_content_type(version)
    async with _client(app(_services())) as client:
        response = await client.post(
            "/prefix/invoke/Counter/add",
            content=b"abc",
            headers={"content-type": content_type, "x-restate-invocation-id": "inv_1"},
        )
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert response.headers["x-restate-server"] == SERVER
    assert response.content == b"ABC"
    ((name, protocol_version, headers),) = runtime.calls
    assert (name, protocol_version) == ("add", version)
    assert headers["x-restate-invocation-id"] == "inv_1"


async def test_response_head_goes_out_before_the_body_is_read(runtime: _Recorder) -> None:
    """Full duplex: the status reaches the server while it is still sending the body."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    sent: list[dict[str, Any]] = []
    head_sent = asyncio.Event()

    async def send(message: Any) -> None:
        sent.append(dict(message))
        if message["type"] == "http.response.start":
            head_sent.set()

    task = asyncio.create_task(app(_services())(_h2_request(), inbox.get, send))
    await asyncio.wait_for(head_sent.wait(), 1)
    assert sent == [
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", V6.encode()), (b"x-restate-server", SERVER.encode())],
        }
    ]
    await inbox.put({"type": "http.request", "body": b"one", "more_body": True})
    await inbox.put({"type": "http.request", "body": b"", "more_body": True})
    await inbox.put({"type": "http.request", "body": b"two", "more_body": False})
    await asyncio.wait_for(task, 1)
    assert [m.get("body") for m in sent[1:]] == [b"ONE", b"TWO", b""]
    assert [m.get("more_body") for m in sent[1:]] == [True, True, False]


def _h2_request(path: str = "/invoke/Greeter/greet") -> dict[str, Any]:
    return {
        "type": "http",
        "http_version": "2",
        "method": "POST",
        "path": path,
        "headers": [(b"content-type", V6.encode())],
    }


async def test_response_ends_only_after_the_request_body(monkeypatch: pytest.MonkeyPatch) -> None:
    """An attempt that is done early still leaves the server's side of the stream open."""
    ran = asyncio.Event()

    async def run_attempt(handler: Any, version: int, headers: Any, io: Any) -> None:
        assert await io.receive() == b"start"
        await io.send(b"end")
        ran.set()

    module = types.ModuleType("perdure.sdk._run")
    module.run_attempt = run_attempt  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "perdure.sdk._run", module)
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(dict(message))

    await inbox.put({"type": "http.request", "body": b"start", "more_body": True})
    task = asyncio.create_task(app(_services())(_h2_request(), inbox.get, send))
    await asyncio.wait_for(ran.wait(), 1)
    await asyncio.sleep(0.01)
    assert not task.done()
    assert [m.get("more_body") for m in sent[1:]] == [True]
    await inbox.put({"type": "http.request", "body": b"late", "more_body": False})
    await asyncio.wait_for(task, 1)
    assert [(m.get("body"), m.get("more_body")) for m in sent[1:]] == [
        (b"end", True),
        (b"", False),
    ]


async def test_response_ends_anyway_when_the_request_body_never_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def stop_early(handler: Any, version: int, headers: Any, io: Any) -> None:
        await io.send(b"done")

    module = types.ModuleType("perdure.sdk._run")
    module.run_attempt = stop_early  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "perdure.sdk._run", module)
    monkeypatch.setattr("perdure.sdk.endpoint.INPUT_END_TIMEOUT_S", 0.05)
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(dict(message))

    # The request body never ends.
    await asyncio.wait_for(app(_services())(_h2_request(), inbox.get, send), 1)
    assert [(m.get("body"), m.get("more_body")) for m in sent[1:]] == [
        (b"done", True),
        (b"", False),
    ]


async def test_client_disconnect_ends_the_attempt_quietly(runtime: _Recorder) -> None:
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(dict(message))

    await inbox.put({"type": "http.request", "body": b"a", "more_body": True})
    await inbox.put({"type": "http.disconnect"})
    await asyncio.wait_for(app(_services())(_h2_request(), inbox.get, send), 1)
    # Nothing is written after the peer left.
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[1]["body"] == b"A"


async def test_runtime_failure_ends_the_response(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def run_attempt(*args: Any) -> None:
        await args[3].send(b"partial")
        raise RuntimeError("boom")

    module = types.ModuleType("perdure.sdk._run")
    module.run_attempt = run_attempt  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "perdure.sdk._run", module)
    async with _client(app(_services())) as client:
        response = await client.post(
            "/invoke/Greeter/greet", content=b"", headers={"content-type": V6}
        )
    assert response.status_code == 200
    assert response.content == b"partial"
    assert "attempt of Greeter/greet failed" in caplog.text


# ---- request identity ------------------------------------------------------------

KEY = Ed25519PrivateKey.generate()
OTHER_KEY = Ed25519PrivateKey.generate()


def _signed(path: str, key: Ed25519PrivateKey = KEY) -> dict[str, str]:
    return RequestSigner(key).headers(path)


def _guarded() -> Endpoint:
    return app(_services(), identity_keys=[public_key_string(KEY.public_key())])


async def test_identity_missing_is_401() -> None:
    async with _client(_guarded()) as client:
        discover = await client.get("/discover")
        invoke = await client.post("/invoke/Greeter/greet", headers={"content-type": V6})
    assert discover.status_code == 401
    assert invoke.status_code == 401
    assert discover.headers["x-restate-server"] == SERVER


async def test_health_is_not_identity_checked() -> None:
    async with _client(_guarded()) as client:
        response = await client.get("/health")
    assert response.status_code == 200


@pytest.mark.parametrize("path", ["/discover", "/deployments/v1/discover"])
async def test_valid_signature_is_accepted(path: str) -> None:
    async with _client(_guarded()) as client:
        response = await client.get(
            path, headers={"accept": manifest_content_type(4), **_signed("/discover")}
        )
    assert response.status_code == 200
    assert json.loads(response.content)["services"]


async def test_valid_signature_on_invoke(runtime: _Recorder) -> None:
    headers = {"content-type": V6, **_signed("/invoke/Greeter/greet")}
    async with _client(_guarded()) as client:
        response = await client.post("/base/invoke/Greeter/greet", content=b"x", headers=headers)
    assert response.status_code == 200
    assert response.content == b"X"


@pytest.mark.parametrize(
    "headers",
    [
        _signed("/discover", OTHER_KEY),
        _signed("/invoke/Greeter/greet"),  # signed for another path
        {**_signed("/discover"), "x-restate-signature-scheme": "unsigned"},
        {**_signed("/discover"), "x-restate-jwt-v1": "not.a.jwt"},
    ],
)
async def test_bad_signature_is_401(headers: dict[str, str]) -> None:
    async with _client(_guarded()) as client:
        response = await client.get("/discover", headers=headers)
    assert response.status_code == 401


async def test_identity_is_checked_before_routing() -> None:
    async with _client(_guarded()) as client:
        response = await client.post("/invoke/Nope/nope", headers={"content-type": V6})
    assert response.status_code == 401


# ---- construction and lifespan -----------------------------------------------------


def test_app_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="Greeter is bound twice"):
        app([*_services(), Service("Greeter")])
    with pytest.raises(ValueError, match="protocol must be"):
        app(_services(), protocol="http3")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="is not a Service"):
        app([object()])  # type: ignore[list-item]


def test_app_exposes_its_services_and_handlers() -> None:
    endpoint = app(_services())
    assert [s.name for s in endpoint.services] == ["Greeter", "Counter"]
    spec = endpoint.handler("Counter", "add")
    assert spec is not None
    assert spec.kind == "exclusive"
    assert endpoint.handler("Counter", "nope") is None
    assert endpoint.handler("Nope", "add") is None


async def test_lifespan_handshake() -> None:
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(dict(message))

    await inbox.put({"type": "lifespan.startup"})
    await inbox.put({"type": "lifespan.shutdown"})
    await asyncio.wait_for(app(_services())({"type": "lifespan"}, inbox.get, send), 1)
    assert sent == [{"type": "lifespan.startup.complete"}, {"type": "lifespan.shutdown.complete"}]


async def test_runtime_failure_does_not_wait_for_the_request_body(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def run_attempt(*args: Any) -> None:
        raise RuntimeError("boom")

    module = types.ModuleType("perdure.sdk._run")
    module.run_attempt = run_attempt  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "perdure.sdk._run", module)
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(dict(message))

    # The request body never ends: the response must end anyway.
    await asyncio.wait_for(app(_services())(_h2_request(), inbox.get, send), 1)
    assert sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
