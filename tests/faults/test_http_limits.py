"""Clients that abuse the HTTP front of a running `perdure dev` (ingress and admin, uvicorn):
slowloris connections (request heads a byte at a time) neither starve other clients nor stay
open past the head timeout, and a 100 MiB body is refused with 413 before it is read (by its
Content-Length, or as soon as a chunked upload crosses the limit), with bounded memory.
reliability.md (d) "Ingress" rows and R1."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from perdure.server.config import ServerConfig
from perdure.server.http_server import HEAD_TIMEOUT_S
from tests.support.perdure import PerdureServer

HERE = Path(__file__).parent
SLOW_CONNECTIONS = 200
LIMIT = ServerConfig().message_size_limit
HUNDRED_MIB = 100 * 1024 * 1024
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PerdureServer]:
    server = PerdureServer(tmp_path_factory.mktemp("limits"), app=HERE / "fault_services.py")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _status(pid: int, field: str) -> int:
    """A `VmRSS`-like field of /proc/PID/status, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def _reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets the peak RSS (VmHWM)


async def _slow_client(port: int, stop: asyncio.Event) -> str:
    """Send a request head a byte every 0.2 s; how the server ended it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = b"POST /Tally/slow/add HTTP/1.1\r\nhost: x\r\n" + b"x-slow: " + b"a" * 1000
    try:
        for byte in head:
            if stop.is_set():
                return "stopped"
            try:
                writer.write(bytes([byte]))
                await writer.drain()
                answer = await asyncio.wait_for(reader.read(100), timeout=0.2)
            except TimeoutError:
                continue
            except ConnectionError:
                return "reset"
            return "408" if answer.startswith(b"HTTP/1.1 408") else f"closed {answer[:20]!r}"
        return "never closed"
    finally:
        writer.close()


async def _normal_calls(dev: PerdureServer, n: int) -> list[float]:
    latencies = []
    async with httpx.AsyncClient(timeout=10) as client:
        for i in range(n):
            started = time.monotonic()
            answer = await client.post(f"{dev.ingress_url}/Tally/normal/add", json=1)
            assert answer.status_code == 200 and answer.json() == i + 1, answer.text
            health = await client.get(f"{dev.admin_url}/health")
            assert health.status_code == 200
            latencies.append(time.monotonic() - started)
            await asyncio.sleep(0.1)
    return latencies


async def test_slowloris_neither_starves_others_nor_stays(dev: PerdureServer) -> None:
    stop = asyncio.Event()
    ports = [dev.ingress_port] * (SLOW_CONNECTIONS * 3 // 4) + [dev.admin_port] * (
        SLOW_CONNECTIONS // 4
    )
    slow = [asyncio.create_task(_slow_client(port, stop)) for port in ports]
    try:
        await asyncio.sleep(1.0)  # the slow heads are on their way
        latencies = await _normal_calls(dev, 20)
        # Other clients were served as usual while every slow connection was held open.
        assert max(latencies) < 2.0, latencies
        done, _ = await asyncio.wait(slow, timeout=HEAD_TIMEOUT_S + 10)
    finally:
        stop.set()
    endings = [task.result() for task in done]
    assert len(done) == len(slow), f"{len(slow) - len(done)} slow connections still open"
    # Each was cut at the head timeout: with a 408, or reset if the 408 raced the close.
    assert set(endings) <= {"408", "reset"}, sorted(set(endings))
    assert endings.count("408") > len(endings) // 2


async def _upload(port: int, headers: bytes, body_chunks: int) -> tuple[bytes, int]:
    """Send `headers`, then up to `body_chunks` MiB of body (chunked framing if the headers
    say so) while reading; the response and how many body bytes went out before it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    chunked = b"chunked" in headers
    sent = 0
    response = asyncio.ensure_future(reader.read(4096))
    try:
        writer.write(headers)
        await writer.drain()
        block = b"x" * MIB
        for _ in range(body_chunks):
            if response.done():
                break
            piece = f"{MIB:x}\r\n".encode() + block + b"\r\n" if chunked else block
            try:
                writer.write(piece)
                await asyncio.wait_for(writer.drain(), timeout=5)
            except (ConnectionError, TimeoutError):
                break
            sent += MIB
        answer = await asyncio.wait_for(response, timeout=10)
    finally:
        response.cancel()
        writer.close()
    return answer, sent


@pytest.mark.parametrize("where", ["ingress", "admin"])
async def test_a_declared_100_mib_body_is_refused_before_it_is_sent(
    dev: PerdureServer, where: str
) -> None:
    port = dev.ingress_port if where == "ingress" else dev.admin_port
    path = b"/Tally/big/add" if where == "ingress" else b"/query"
    headers = (
        b"POST " + path + b" HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        b"content-length: " + str(HUNDRED_MIB).encode() + b"\r\n\r\n"
    )
    started = time.monotonic()
    answer, _ = await _upload(port, headers, body_chunks=0)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert time.monotonic() - started < 5


async def test_a_chunked_100_mib_body_is_cut_at_the_limit(dev: PerdureServer) -> None:
    assert dev.process is not None and dev.process.pid is not None
    pid = dev.process.pid
    _reset_peak(pid)
    before = _status(pid, "VmRSS")
    headers = (
        b"POST /Tally/big/add HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        b"transfer-encoding: chunked\r\n\r\n"
    )
    answer, sent = await _upload(dev.ingress_port, headers, body_chunks=HUNDRED_MIB // MIB)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    # Refused once it crossed the limit (plus what sockets buffer), not after 100 MiB.
    assert sent <= LIMIT + 8 * MIB, f"{sent // MIB} MiB went out before the 413"
    growth = _status(pid, "VmHWM") - before
    assert growth < 2 * LIMIT, f"the server grew by {growth // MIB} MiB for one refused body"
    # And it still serves.
    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.post(f"{dev.ingress_url}/Tally/after/add", json=1)
    assert answer.json() == 1
