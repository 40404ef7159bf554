from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from perdure.cli.main import cli
from perdure.cli.serve import load_app
from perdure.protocol import protocol_pb2 as pb
from perdure.protocol.framing import FrameDecoder
from perdure.protocol.messages import MessageType, decode_message, encode_message
from perdure.protocol.versions import manifest_content_type, protocol_content_type
from perdure.sdk.endpoint import Endpoint

APP_SOURCE = textwrap.dedent(
    """
    from dataclasses import dataclass

    import perdure as restate

    @dataclass
    class Greeting:
        name: str

    greeter = restate.Service("Greeter")

    @greeter.handler()
    async def greet(ctx, req: Greeting) -> str:
        return req.name

    app = restate.app([greeter])
    other = [greeter]
    """
)

ACCEPT = {"accept": manifest_content_type(4)}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def app_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The app as a file; loading it in-process leaves sys.path and sys.modules as they were."""
    path = tmp_path / "greeter_app.py"
    path.write_text(APP_SOURCE)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "greeter_app", raising=False)
    return path


def _wait_until_healthy(proc: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(
                f"perdure serve exited early: {proc.stderr and proc.stderr.read()!r}"
            )
        try:
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=0.5)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError("perdure serve did not come up within 15 s")


@pytest.fixture
def served(app_file: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """`perdure serve` of a one-service app on a free loopback port; stopped by its PID."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "perdure.cli.main", "serve", str(app_file), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_until_healthy(proc, port)
        yield proc, port
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def _stop(proc: subprocess.Popen[bytes], signum: int) -> str:
    os.kill(proc.pid, signum)
    assert proc.wait(15) == 0
    assert proc.stderr is not None
    return proc.stderr.read().decode()


async def test_serves_http11_and_stops_on_sigterm(
    served: tuple[subprocess.Popen[bytes], int],
) -> None:
    proc, port = served
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        health = await client.get("/health")
        manifest = await client.get("/discover", headers=ACCEPT)
    assert health.http_version == "HTTP/1.1"
    assert health.json() == {"status": "ok"}
    assert manifest.json()["protocolMode"] == "REQUEST_RESPONSE"
    log = _stop(proc, signal.SIGTERM)
    assert f"serving Greeter on http://127.0.0.1:{port} (HTTP/1.1 and h2c)" in log
    assert "stopped" in log


async def test_serves_h2c_prior_knowledge_and_stops_on_sigint(
    served: tuple[subprocess.Popen[bytes], int],
) -> None:
    proc, port = served
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", http1=False, http2=True
    ) as client:
        health = await client.get("/health")
        manifest = await client.get("/discover", headers=ACCEPT)
    assert health.http_version == "HTTP/2"
    assert health.json() == {"status": "ok"}
    # Discovered over HTTP/2, so the server may stream invocations both ways.
    assert manifest.json()["protocolMode"] == "BIDI_STREAM"
    assert [s["name"] for s in manifest.json()["services"]] == ["Greeter"]
    _stop(proc, signal.SIGINT)


def test_serve_reports_a_port_in_use(app_file: Path) -> None:
    # A subprocess: hypercorn leaves the socket it failed to bind for the GC to close.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "perdure.cli.main", "serve", str(app_file), "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


@pytest.mark.parametrize("http2", [False, True])
async def test_invokes_a_handler(served: tuple[subprocess.Popen[bytes], int], http2: bool) -> None:
    """One attempt through hypercorn and the runtime, on each HTTP version."""
    _, port = served
    start = pb.StartMessage(id=b"\x01" * 16, debug_id="inv_1test", known_entries=1)
    command = pb.InputCommandMessage(value=pb.Value(content=b'{"name":"bob"}'))
    content_type = protocol_content_type(6)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", http1=not http2, http2=http2
    ) as client:
        response = await client.post(
            "/invoke/Greeter/greet",
            content=encode_message(start) + encode_message(command),
            headers={"content-type": content_type},
        )
    assert response.http_version == ("HTTP/2" if http2 else "HTTP/1.1")
    assert response.headers["content-type"] == content_type
    frames = [decode_message(f) for f in FrameDecoder().feed(response.content)]
    assert [t for t, _ in frames] == [MessageType.OUTPUT, MessageType.END]
    output = frames[0][1]
    assert isinstance(output, pb.OutputCommandMessage)
    assert output.value.content == b'"bob"'


def test_load_app_from_a_file(app_file: Path) -> None:
    loaded = load_app(str(app_file))
    assert isinstance(loaded, Endpoint)
    assert [s.name for s in loaded.services] == ["Greeter"]


def test_load_app_wraps_a_list_of_services(app_file: Path) -> None:
    loaded = load_app(f"{app_file}:other")
    assert isinstance(loaded, Endpoint)
    assert [s.name for s in loaded.services] == ["Greeter"]


def test_load_app_from_a_module(app_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(app_file.parent)
    loaded = load_app("greeter_app:app")
    assert isinstance(loaded, Endpoint)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("missing_file.py", "no such file: missing_file.py"),
        ("no_such_module_anywhere:app", "no module named 'no_such_module_anywhere'"),
    ],
)
def test_serve_reports_a_bad_app(target: str, message: str) -> None:
    result = CliRunner().invoke(cli, ["serve", target])
    assert result.exit_code == 2
    assert message in result.output


def test_serve_reports_a_missing_attribute(app_file: Path) -> None:
    result = CliRunner().invoke(cli, ["serve", f"{app_file}:nope"])
    assert result.exit_code == 2
    assert "has no attribute 'nope'" in result.output
