"""Ingress request rules below HTTP: delay parsing, path shape, input validation. The
messages are restate-server 1.7.12's (observed; tests/differential compares them live)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from perdure.protocol.manifest import InputSpec
from perdure.server.ingress.delay import parse_delay
from perdure.server.ingress.errors import IngressError
from perdure.server.ingress.paths import (
    BAD_SERVICE_PATH,
    ByIdRoute,
    IdempotentRoute,
    Route,
    ServiceRoute,
    decode_key,
    parse_path,
)
from perdure.server.ingress.routing import ServiceDirectory
from perdure.server.ingress.validation import content_type_matches, validate_input
from perdure.store.api import ServiceRow, WriteTxn
from perdure.store.sqlite import SqliteStore


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("PT60S", 60_000),
        ("pt1h", 3_600_000),
        ("P1DT1S", 86_401_000),
        ("60s", 60_000),
        ("60 sec", 60_000),
        ("1h 30m", 5_400_000),
        ("500ms", 500),
        ("5000", 5000),
        ("0", 0),
        # jiff's friendly forms, as restate reads them
        ("1h30m", 5_400_000),
        ("1 hour, 2 minutes", 3_720_000),
        ("1,5s", 1_500),
        ("1.5h", 5_400_000),
        ("2 weeks", 1_209_600_000),
        ("01:30:00", 5_400_000),
        ("+5s", 5_000),
        ("PT0.2S", 200),
    ],
)
def test_delay_accepted(text: str, ms: int) -> None:
    assert parse_delay({"delay": text}) == ms


_FRIENDLY = 'failed to parse input in the "friendly" duration format: '


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("P1Y", "please use units of days or smaller"),
        ("1mo", "please use units of days or smaller"),
        ("-5s", "negative signed durations cannot be converted to an unsigned duration"),
        ("1d ago", "negative signed durations cannot be converted to an unsigned duration"),
        (
            "",
            "an empty string is not a valid duration in either the ISO 8601 format or Jiff's "
            '"friendly" format',
        ),
        (
            "soon",
            _FRIENDLY + "expected duration to start with a unit value (a decimal integer) after "
            "an optional sign, but no integer was found",
        ),
        (
            "5S",
            _FRIENDLY + "expected to find unit designator suffix (e.g., `years` or `secs`) after "
            "parsing integer",
        ),
        (
            "5s extra",
            _FRIENDLY + "parsed value 'PT5S', but unparsed input \"extra\" remains (expected no "
            "unparsed input)",
        ),
        (
            "PT",
            "found a time designator (`T` or `t`) in an ISO 8601 duration string, but did not "
            "find any time units",
        ),
    ],
)
def test_delay_refused_with_restates_reason(text: str, reason: str) -> None:
    with pytest.raises(IngressError) as info:
        parse_delay({"delay": text})
    assert info.value.status == 400
    assert str(info.value) == f"bad delay query parameter, must be a ISO8601 duration: {reason}"


def test_delay_beyond_a_century_refused() -> None:
    with pytest.raises(IngressError) as info:
        parse_delay({"delay": "999999999d"})
    assert info.value.status == 400


def test_no_delay() -> None:
    assert parse_delay({}) is None


_TYPES = {"Svc": "SERVICE", "Obj": "VIRTUAL_OBJECT"}


def _parse(path: str) -> Route:
    async def service_type(name: str) -> str | None:
        return _TYPES.get(name)

    return asyncio.run(parse_path(path, service_type))


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/", 400, "bad path: /"),
        ("/Svc", 400, "bad path: /Svc"),
        ("/a/b/c/d/e/f/g/h", 400, "bad path: /a/b/c/d/e/f/g/h"),
        ("/openapi", 400, "bad path: /openapi"),
        ("/openapi/x", 404, "not found"),
        (
            "/Nope/h",
            404,
            "service 'Nope' not found, make sure to register the service before calling it.",
        ),
        ("/Obj/h", 400, BAD_SERVICE_PATH),
        ("/Svc/h/extra", 400, BAD_SERVICE_PATH),
        ("/restate/foo", 404, "not found"),
        ("/restate/invocation/Svc/k/h/ik/attach", 404, "not found"),
    ],
)
def test_bad_paths(path: str, status: int, message: str) -> None:
    with pytest.raises(IngressError) as info:
        _parse(path)
    assert (info.value.status, str(info.value)) == (status, message)


def test_paths() -> None:
    assert _parse("/Svc/h") == ServiceRoute("Svc", None, "h", send=False)
    assert _parse("/Obj/a%20b/h/send") == ServiceRoute("Obj", "a b", "h", send=True)
    assert _parse("/restate/invocation/inv_x/output") == ByIdRoute("inv_x", "output")
    assert _parse("/restate/invocation/Obj/k/h/ik/attach") == IdempotentRoute(
        "Obj", "k", "h", "ik", "attach"
    )


def test_key_decoding() -> None:
    assert decode_key("a%2Fb%20c") == "a/b c"
    assert decode_key("caf%C3%A9") == "café"
    # Malformed escapes stay as they are, as restate's urlencoding::decode leaves them.
    assert decode_key("%ZZ") == "%ZZ" and decode_key("50%") == "50%"
    with pytest.raises(IngressError) as info:
        decode_key("%C3%28")
    assert str(info.value).startswith(
        "bad path, cannot decode key: FromUtf8Error { bytes: [195, 40]"
    )


JSON_INPUT = InputSpec(
    content_type="application/json", required=False, json_schema={"type": "integer"}
)


@pytest.mark.parametrize(
    ("spec", "content_type", "body"),
    [
        (JSON_INPUT, None, b""),
        (JSON_INPUT, "application/json", b""),  # the Python client sends a type with no body
        (JSON_INPUT, "application/json; charset=utf-8", b"12"),
        (InputSpec(), None, b""),
        (InputSpec(), "x/y", b"anything"),
        (InputSpec(content_type="text/*"), "text/plain", b"t"),
        (InputSpec.none(), None, b""),
    ],
)
def test_input_accepted(spec: InputSpec, content_type: str | None, body: bytes) -> None:
    validate_input(spec, content_type, body)


@pytest.mark.parametrize(
    ("spec", "content_type", "body", "message"),
    [
        (JSON_INPUT, "text/plain", b"1", "does not match"),
        (JSON_INPUT, None, b"1", "Empty content-type"),
        (JSON_INPUT, "application/json", b"{", "not valid JSON"),
        (JSON_INPUT, "application/json", b"NaN", "not valid JSON"),
        (JSON_INPUT, "application/json", b"1e999", "not valid JSON"),
        (JSON_INPUT, "application/json", b"\xef\xbb\xbf1", "byte order mark"),
        (JSON_INPUT, "application/json", b'"\xff"', "UTF-8"),
        (JSON_INPUT, "application/json", b"[" * 1000 + b"]" * 1000, "nests deeper"),
        (InputSpec(content_type="text/*"), "application/json", b"t", "does not match"),
        (
            InputSpec.none(),
            "application/json",
            b"1",
            "Expected body and content-type to be empty, but wasn't with content-type "
            "'Some\\(\"application/json\"\\)'",
        ),
        (
            InputSpec.none(),
            None,
            b"1",
            "Expected body and content-type to be empty, but wasn't with content-type 'None'",
        ),
        (
            InputSpec(content_type="application/json", required=True, json_schema={}),
            "application/json",
            b"",
            "Empty body",
        ),
    ],
)
def test_input_refused(
    spec: InputSpec, content_type: str | None, body: bytes, message: str
) -> None:
    with pytest.raises(IngressError, match=message) as info:
        validate_input(spec, content_type, body)
    assert info.value.status == 400
    assert "input validation error" in str(info.value)


def test_content_type_wildcards() -> None:
    assert content_type_matches("*/*", "a/b")
    assert content_type_matches("application/*", "application/json")
    assert not content_type_matches("application/*", "text/plain")
    assert content_type_matches("application/json", "Application/JSON; charset=utf-8")


async def test_the_service_directory_follows_registrations(tmp_path: Path) -> None:
    store = SqliteStore.open(tmp_path / "data")

    def register(handlers: list[str]) -> Callable[[WriteTxn], None]:
        manifest = {"name": "Svc", "ty": "SERVICE", "handlers": [{"name": h} for h in handlers]}
        return lambda txn: txn.put_service(
            ServiceRow("Svc", "dp_1", 1, "SERVICE", True, json.dumps(manifest))
        )

    try:
        directory = ServiceDirectory(store)
        assert await directory.get("Svc") is None
        await store.write(register(["a"]))
        first = await directory.lookup("Svc")
        assert [h.name for h in first.manifest.handlers] == ["a"]
        assert await directory.get("Svc") is first  # cached while nothing changed
        await store.write(lambda txn: txn.set_state("X", "k", b"s", b"v"))  # not schema
        assert await directory.get("Svc") is first
        await store.write(register(["a", "b"]))
        again = await directory.lookup("Svc")
        assert [h.name for h in again.manifest.handlers] == ["a", "b"]
        await store.write(lambda txn: txn.delete_service("Svc"))
        with pytest.raises(IngressError, match="not found"):
            await directory.lookup("Svc")
    finally:
        await store.close()
