"""A small full-duplex HTTP/2 client on the sans-IO `h2` package and asyncio streams.

Why our own: httpx/httpcore send the whole request body before reading the response
head (protocol reference §2.4), so they cannot keep a request body open while the
deployment streams its answer. Bidi attempts need exactly that.

One `H2Connection` per deployment authority carries many concurrent streams. It honours
the peer's SETTINGS_MAX_CONCURRENT_STREAMS (a new stream waits for a free slot), both
flow-control windows (a send waits for window; received data is acknowledged only when
the attempt consumed it, which is our backpressure) and the peer's max frame size. For
`http://` it speaks h2c with prior knowledge; for `https://` it negotiates h2 by ALPN.

    H2Error           the connection or the stream failed; the attempt is retried
                      (a `perdure.server.errors.TransportError`)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings

from perdure.server.errors import TransportError

logger = logging.getLogger(__name__)

# Our receive windows: big enough that a 1 MiB journal entry does not ping-pong
# WINDOW_UPDATEs, small enough to bound what one slow attempt can buffer.
_STREAM_WINDOW = 4 * 1024 * 1024
_CONNECTION_WINDOW = 16 * 1024 * 1024
_READ_SIZE = 64 * 1024


class H2Error(TransportError):
    """The HTTP/2 connection or stream failed."""


class _Signal:
    """Wakes every current waiter; waiters re-check their condition after waking."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def fire(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self) -> None:
        await self._event.wait()


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: dict[str, str]


class H2Stream:
    """One request/response exchange. The request body stays open until `end()`."""

    def __init__(self, connection: H2Connection, stream_id: int) -> None:
        self._connection = connection
        self.stream_id = stream_id
        self._head: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        # Items: (data, flow-controlled length) or None at the end of the response.
        self._data: asyncio.Queue[tuple[bytes, int] | None] = asyncio.Queue()
        self._window = _Signal()
        self._error: H2Error | None = None
        self.request_ended = False
        self.response_ended = False
        self.reset_sent = False

    # ---- called by the connection's reader ---------------------------------------

    def _on_head(self, headers: list[tuple[bytes, bytes]]) -> None:
        values = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in headers}
        try:
            status = int(values.pop(":status"))
        except (KeyError, ValueError):
            self._fail(H2Error("the response has no valid :status"))
            return
        if not self._head.done():
            self._head.set_result(Response(status, values))

    def _on_data(self, data: bytes, flow_controlled_length: int) -> None:
        self._data.put_nowait((data, flow_controlled_length))

    def _on_end(self) -> None:
        self.response_ended = True
        if not self._head.done():
            self._head.set_exception(H2Error("the response ended before its head"))
            self._head.exception()  # retrieved: a reader will see it via response()
        self._data.put_nowait(None)

    def _fail(self, error: H2Error) -> None:
        if self._error is not None:
            return
        self._error = error
        if not self._head.done():
            self._head.set_exception(error)
            # Mark retrieved: nobody may be waiting for the head any more.
            self._head.exception()
        self._data.put_nowait(None)
        self._window.fire()

    # ---- the attempt's side ---------------------------------------------------------

    async def response(self) -> Response:
        return await asyncio.shield(self._head)

    async def read(self) -> bytes:
        """The next chunk of the response body; b"" at its end. Raises H2Error."""
        if self.response_ended and self._data.empty():
            return b""
        item = await self._data.get()
        if item is None:
            if self._error is not None and not self.response_ended:
                raise self._error
            self._data.put_nowait(None)  # stay at the end for later reads
            return b""
        data, flow_controlled = item
        # Only now is there room again: the peer may send this much more.
        self._connection._acknowledge(self.stream_id, flow_controlled)
        return data

    async def send(self, data: bytes) -> None:
        """Write request body bytes, waiting for flow-control window as needed."""
        view = memoryview(data)
        while view:
            if self._error is not None:
                raise self._error
            if self.request_ended:
                raise H2Error("the request body is already closed")
            size = self._connection._sendable(self.stream_id, len(view))
            if size <= 0:
                await self._window.wait()
                continue
            self._connection._send_data(self.stream_id, view[:size].tobytes())
            view = view[size:]
        await self._connection._drain()

    async def end(self) -> None:
        """Close the request body (END_STREAM). Idempotent."""
        if self.request_ended or self._error is not None:
            return
        self.request_ended = True
        self._connection._end_stream(self.stream_id)
        await self._connection._drain()

    def reset(self) -> None:
        """Abandon the exchange (RST_STREAM CANCEL) unless it already finished."""
        if self.reset_sent or (self.request_ended and self.response_ended):
            return
        if self._error is not None:
            return
        self.reset_sent = True
        self._connection._reset(self.stream_id)


class H2Connection:
    """One HTTP/2 connection; open streams with `open_stream`."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, authority: str
    ) -> None:
        self.authority = authority
        self._reader = reader
        self._writer = writer
        config = h2.config.H2Configuration(client_side=True, header_encoding=None)
        self._h2 = h2.connection.H2Connection(config=config)
        self._streams: dict[int, H2Stream] = {}
        self._slots = _Signal()
        self._error: H2Error | None = None
        self._going_away = False
        self._reader_task: asyncio.Task[None] | None = None
        self._settings_received = asyncio.Event()
        self._reserved = 0

    @classmethod
    async def connect(
        cls, host: str, port: int, *, tls: bool = False, timeout_s: float = 10.0
    ) -> H2Connection:
        context: ssl.SSLContext | None = None
        if tls:
            context = ssl.create_default_context()
            context.set_alpn_protocols(["h2"])
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, ssl=context), timeout_s
            )
        except (OSError, TimeoutError) as exc:
            raise H2Error(f"cannot connect to {host}:{port}: {exc or type(exc).__name__}") from exc
        if tls:
            ssl_object = writer.get_extra_info("ssl_object")
            if ssl_object is None or ssl_object.selected_alpn_protocol() != "h2":
                writer.close()
                raise H2Error(f"{host}:{port} did not negotiate HTTP/2 (ALPN h2)")
        connection = cls(reader, writer, f"{host}:{port}")
        connection._start()
        # Until the peer's SETTINGS arrive its stream limit is unknown (h2 assumes none):
        # opening streams before would overrun a small limit, so wait one round trip.
        try:
            await asyncio.wait_for(connection._settings_received.wait(), timeout_s)
        except TimeoutError:
            await connection.close()
            raise H2Error(f"{host}:{port} sent no HTTP/2 SETTINGS within {timeout_s:g}s") from None
        if connection._error is not None:
            await connection.close()
            raise connection._error
        return connection

    def _start(self) -> None:
        self._h2.local_settings = h2.settings.Settings(
            client=True,
            initial_values={
                h2.settings.SettingCodes.ENABLE_PUSH: 0,
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: _STREAM_WINDOW,
            },
        )
        self._h2.initiate_connection()
        self._h2.increment_flow_control_window(_CONNECTION_WINDOW - 65_535)
        self._flush()
        self._reader_task = asyncio.get_running_loop().create_task(
            self._read_loop(), name=f"h2 reader {self.authority}"
        )

    @property
    def usable(self) -> bool:
        """Can take new streams (not failed, not told to go away)."""
        return self._error is None and not self._going_away

    @property
    def active_streams(self) -> int:
        return len(self._streams)

    def free_slots(self, cap: int) -> int:
        """How many more streams this connection takes now: the peer's limit and `cap`,
        less the open streams and those promised to callers on their way (`reserve`)."""
        limit = min(self._h2.remote_settings.max_concurrent_streams, cap)
        return limit - self._h2.open_outbound_streams - self._reserved

    def reserve(self) -> None:
        """Promise one stream to a caller that will `open_stream` next."""
        self._reserved += 1

    async def open_stream(self, headers: list[tuple[str, str]], reserved: bool = False) -> H2Stream:
        """Send the request head (no END_STREAM); waits for a free concurrency slot.
        `reserved`: the caller holds a slot promised by `reserve`."""
        if reserved:
            self._reserved -= 1
        while True:
            if not self.usable:
                raise self._error or H2Error(f"{self.authority} is going away")
            limit = self._h2.remote_settings.max_concurrent_streams
            if self._h2.open_outbound_streams < limit:
                break
            await self._slots.wait()
        try:
            stream_id = self._h2.get_next_available_stream_id()
        except h2.exceptions.NoAvailableStreamIDError:
            self._going_away = True
            raise H2Error(f"{self.authority}: stream ids exhausted") from None
        stream = H2Stream(self, stream_id)
        self._streams[stream_id] = stream
        self._h2.send_headers(stream_id, [(k.lower(), v) for k, v in headers])
        self._flush()
        await self._drain()
        return stream

    async def close(self) -> None:
        self._fail_all(H2Error(f"connection to {self.authority} closed"))
        if self._error is not None and not self._writer.is_closing():
            try:
                self._h2.close_connection()
                self._flush()
            except (h2.exceptions.ProtocolError, OSError):
                pass
        self._writer.close()
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader_task
        with contextlib.suppress(OSError, ssl.SSLError):
            await self._writer.wait_closed()

    # ---- used by streams -------------------------------------------------------------

    def _flush(self) -> None:
        data = self._h2.data_to_send()
        if data and not self._writer.is_closing():
            self._writer.write(data)

    async def _drain(self) -> None:
        try:
            await self._writer.drain()
        except (OSError, ssl.SSLError) as exc:
            self._fail_all(H2Error(f"connection to {self.authority} lost: {exc}"))
            raise self._error or H2Error(str(exc)) from exc

    def _sendable(self, stream_id: int, wanted: int) -> int:
        window = self._h2.local_flow_control_window(stream_id)
        return min(wanted, window, self._h2.max_outbound_frame_size)

    def _send_data(self, stream_id: int, data: bytes) -> None:
        self._guard(lambda: self._h2.send_data(stream_id, data))

    def _end_stream(self, stream_id: int) -> None:
        self._guard(lambda: self._h2.end_stream(stream_id))
        self._forget_if_closed(stream_id)

    def _reset(self, stream_id: int) -> None:
        try:
            self._h2.reset_stream(stream_id, h2.errors.ErrorCodes.CANCEL)
            self._flush()
        except (h2.exceptions.ProtocolError, KeyError):
            pass  # already closed on the peer's side
        self._forget(stream_id)

    def _acknowledge(self, stream_id: int, length: int) -> None:
        if length <= 0 or self._error is not None:
            return
        try:
            self._h2.acknowledge_received_data(length, stream_id)
        except (h2.exceptions.StreamClosedError, KeyError):
            # The stream is gone; the connection window still needs the bytes back.
            self._h2.increment_flow_control_window(length)
        self._flush()

    def _guard(self, action: Callable[[], object]) -> None:
        try:
            action()
        except h2.exceptions.ProtocolError as exc:
            raise H2Error(f"HTTP/2 error towards {self.authority}: {exc}") from exc
        self._flush()

    # ---- the reader -----------------------------------------------------------------

    async def _read_loop(self) -> None:
        try:
            while True:
                data = await self._reader.read(_READ_SIZE)
                if not data:
                    self._fail_all(H2Error(f"{self.authority} closed the connection"))
                    return
                try:
                    events = self._h2.receive_data(data)
                except h2.exceptions.ProtocolError as exc:
                    self._fail_all(H2Error(f"HTTP/2 protocol error from {self.authority}: {exc}"))
                    return
                for event in events:
                    self._dispatch(event)
                self._flush()
        except (OSError, ssl.SSLError) as exc:
            self._fail_all(H2Error(f"connection to {self.authority} lost: {exc}"))

    def _dispatch(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.ResponseReceived):
            stream = self._streams.get(event.stream_id or 0)
            if stream is not None and event.headers is not None:
                stream._on_head([(bytes(k), bytes(v)) for k, v in event.headers])
        elif isinstance(event, h2.events.DataReceived):
            stream = self._streams.get(event.stream_id or 0)
            length = event.flow_controlled_length or 0
            if stream is None:
                self._acknowledge(event.stream_id or 0, length)
            else:
                stream._on_data(event.data or b"", length)
        elif isinstance(event, h2.events.StreamEnded):
            stream = self._streams.get(event.stream_id or 0)
            if stream is not None:
                stream._on_end()
                self._forget_if_closed(stream.stream_id)
        elif isinstance(event, h2.events.StreamReset):
            stream = self._streams.pop(event.stream_id or 0, None)
            if stream is not None:
                stream._fail(H2Error(f"the deployment reset the stream ({event.error_code!r})"))
            self._slots.fire()
        elif isinstance(event, h2.events.WindowUpdated):
            if not event.stream_id:
                for stream in self._streams.values():
                    stream._window.fire()
            elif (stream := self._streams.get(event.stream_id)) is not None:
                stream._window.fire()
        elif isinstance(event, h2.events.RemoteSettingsChanged):
            self._settings_received.set()
            # New concurrency limit or initial window: let waiting senders re-check.
            for stream in self._streams.values():
                stream._window.fire()
            self._slots.fire()
        elif isinstance(event, h2.events.ConnectionTerminated):
            self._going_away = True
            last = event.last_stream_id or 0
            for stream_id in [s for s in self._streams if s > last]:
                # Never processed by the peer: safe to fail (and retry) right away.
                self._streams.pop(stream_id)._fail(H2Error(f"{self.authority} sent GOAWAY"))
            if event.error_code != h2.errors.ErrorCodes.NO_ERROR:
                self._fail_all(H2Error(f"{self.authority} sent GOAWAY ({event.error_code!r})"))
            self._slots.fire()

    def _forget_if_closed(self, stream_id: int) -> None:
        stream = self._streams.get(stream_id)
        if stream is not None and stream.request_ended and stream.response_ended:
            self._forget(stream_id)

    def _forget(self, stream_id: int) -> None:
        if self._streams.pop(stream_id, None) is not None:
            self._slots.fire()

    def _fail_all(self, error: H2Error) -> None:
        if self._error is None:
            self._error = error
        self._settings_received.set()  # wakes `connect`, which then sees the error
        for stream in self._streams.values():
            stream._fail(error)
        self._streams.clear()
        self._slots.fire()


MAX_STREAMS_PER_CONNECTION = 256
MAX_CONNECTIONS_PER_AUTHORITY = 64


class H2Pool:
    """Connections per deployment authority: a new stream goes to a connection with a free
    slot, and a new connection is opened when all are full (up to a bound), replacing those
    that failed or went away.

    Never waiting for a slot while a connection could be opened matters for liveness: an
    attempt holds its stream while it waits for the calls it made, and those calls' attempts
    need streams too. Streams per connection are capped below what the peer allows, because
    servers keep per-stream state (hypercorn refuses more than 1000 in its priority tree).
    """

    def __init__(self, connect_timeout_s: float = 10.0) -> None:
        self._connections: dict[tuple[str, str, int], list[H2Connection]] = {}
        self._locks: dict[tuple[str, str, int], asyncio.Lock] = {}
        self._retired: set[H2Connection] = set()
        self._closing: set[asyncio.Task[None]] = set()
        self._connect_timeout_s = connect_timeout_s

    async def open_stream(
        self, url: str, headers: list[tuple[str, str]], method: str = "POST"
    ) -> H2Stream:
        parts = urllib.parse.urlsplit(url)
        tls = parts.scheme == "https"
        if parts.scheme not in ("http", "https") or parts.hostname is None:
            raise H2Error(f"cannot speak HTTP/2 to {url!r}")
        port = parts.port or (443 if tls else 80)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        authority = parts.netloc.rpartition("@")[2]
        connection = await self._connection(parts.scheme, parts.hostname, port, tls)
        request = [
            (":method", method),
            (":scheme", parts.scheme),
            (":authority", authority),
            (":path", path),
            *headers,
        ]
        return await connection.open_stream(request, reserved=True)

    async def _connection(self, scheme: str, host: str, port: int, tls: bool) -> H2Connection:
        """A connection with a slot reserved for the caller."""
        key = (scheme, host, port)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            connections = self._connections.setdefault(key, [])
            for gone in [c for c in connections if not c.usable]:
                connections.remove(gone)
                self._retired.add(gone)
            self._close_retired()
            free = [c for c in connections if c.free_slots(MAX_STREAMS_PER_CONNECTION) > 0]
            if free:
                chosen = max(free, key=lambda c: c.free_slots(MAX_STREAMS_PER_CONNECTION))
            elif connections and len(connections) >= MAX_CONNECTIONS_PER_AUTHORITY:
                # At the bound: queue on the least busy connection for its next free slot.
                chosen = min(connections, key=lambda c: c.active_streams)
            else:
                logger.debug(
                    "opening HTTP/2 connection %d to %s:%d", len(connections) + 1, host, port
                )
                chosen = await H2Connection.connect(
                    host, port, tls=tls, timeout_s=self._connect_timeout_s
                )
                connections.append(chosen)
            chosen.reserve()
            return chosen

    def _close_retired(self) -> None:
        # A connection that went away is closed once its last stream is done.
        for connection in list(self._retired):
            if connection.active_streams == 0:
                self._retired.discard(connection)
                task = asyncio.get_running_loop().create_task(connection.close())
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)

    async def aclose(self) -> None:
        connections = [c for group in self._connections.values() for c in group]
        connections += self._retired
        self._connections.clear()
        self._retired.clear()
        for connection in connections:
            await connection.close()
