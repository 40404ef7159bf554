"""Ingress request rules below HTTP: delay parsing, path shape, input validation."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from perdure.protocol.manifest import InputSpec
from perdure.server.ingress.delay import parse_delay
from perdure.server.ingress.errors import IngressError
from perdure.server.ingress.routing import ServiceDirectory, check_path, decode_key
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
    ],
)
def test_delay_accepted(text: str, ms: int) -> None:
    assert parse_delay({"delay": text}, send=True) == ms


@pytest.mark.parametrize(
    "text", ["P1Y", "P2M", "1y", "1 month", "-5s", "", "soon", "P", "PT", "999999999d"]
)
def test_delay_refused(text: str) -> None:
    with pytest.raises(IngressError) as info:
        parse_delay({"delay": text}, send=True)
    assert info.value.status == 400


def test_delay_only_on_sends() -> None:
    assert parse_delay({}, send=False) is None
    with pytest.raises(IngressError, match="cannot use the delay"):
        parse_delay({"delay": "1s"}, send=False)


@pytest.mark.parametrize("path", ["/", "/Svc", "/a/b/c/d/e/f/g/h"])
def test_bad_path_shapes(path: str) -> None:
    with pytest.raises(IngressError) as info:
        check_path(path)
    assert info.value.status == 400


def test_path_shapes() -> None:
    check_path("/Svc/h")
    check_path("/a/b/c/d/e/f/g")
    with pytest.raises(IngressError) as info:
        check_path("/openapi")
    assert info.value.status == 404


def test_key_decoding() -> None:
    assert decode_key("a%2Fb%20c") == "a/b c"
    assert decode_key("caf%C3%A9") == "café"
    for bad in ("%ZZ", "%C3%28", "50%"):
        with pytest.raises(IngressError):
            decode_key(bad)


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
        (InputSpec.none(), "application/json", b"1", "takes no input"),
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
