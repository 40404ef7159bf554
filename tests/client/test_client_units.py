"""Client parts that need no server: error decoding, delay format, class-based definitions,
argument checks, import isolation. Behaviour against a server: test_client_restate.py."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta

import httpx
import pytest

import perdure
from perdure.client import IngressError, NotReadyError, Output, connect
from perdure.client.errors import error_from_response
from perdure.client.proxy import delay_param, request_content_type
from perdure.sdk.context import Context, ObjectContext
from perdure.sdk.discovery import build_manifest
from perdure.sdk.handler import handler_spec_of
from perdure.sdk.typed import TypedObject, TypedService, handler, main


def response(status: int, body: object, headers: dict[str, str] | None = None) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.Response(status, content=content, headers=headers)


class Greeter(TypedService, name="UnitGreeter"):
    @handler()
    async def greet(ctx: Context, name: str) -> str:
        """Say hello."""
        return f"Hello {name}"


class Counter(TypedObject, name="UnitCounter"):
    @handler(kind="shared")
    async def get(ctx: ObjectContext) -> int:
        return 0


# -- errors --------------------------------------------------------------------------


def test_invocation_failure_body() -> None:
    error = error_from_response(
        response(
            418,
            {"code": 418, "message": "nope", "metadata": {"k": "v"}, "source": "invocation"},
            {"x-restate-id": "inv_1abc"},
        )
    )
    assert type(error) is IngressError
    assert (error.status, error.code, error.message) == (418, 418, "nope")
    assert error.metadata == {"k": "v"} and error.source == "invocation"
    assert error.is_invocation_failure and error.invocation_id == "inv_1abc"
    assert str(error) == "418 nope (invocation)"


def test_source_from_header_and_old_bodies_without_code() -> None:
    # restate before 1.7.4: ingress errors were {"message"} only, with no source at all.
    old = error_from_response(response(404, {"message": "service 'X' not found"}))
    assert (old.code, old.source, old.message) == (None, None, "service 'X' not found")
    assert old.metadata == {}
    sourced = error_from_response(
        response(400, {"message": "bad"}, {"x-restate-error-source": "ingress"})
    )
    assert sourced.source == "ingress" and not sourced.is_invocation_failure


def test_non_json_error_body_keeps_the_text() -> None:
    error = error_from_response(response(502, b"<html>Bad Gateway</html>"))
    assert error.status == 502 and error.message == "<html>Bad Gateway</html>"
    assert error_from_response(response(503, b"")).message == "Service Unavailable"


def test_470_is_not_ready() -> None:
    error = error_from_response(response(470, {"code": 470, "message": "not yet"}))
    assert isinstance(error, NotReadyError) and isinstance(error, IngressError)
    pending: Output[int] = Output(ready=False)
    with pytest.raises(NotReadyError):
        _ = pending.value
    assert Output(ready=True, value=None).value is None
    assert repr(pending) == "Output(ready=False)"


# -- request details -----------------------------------------------------------------


def test_delay_has_an_explicit_unit() -> None:
    # restate-server rejects a bare number with 400; milliseconds always parse.
    assert delay_param(timedelta(seconds=5)) == "5000ms"
    assert delay_param(timedelta(0)) == "0ms"
    assert delay_param(timedelta(microseconds=1500)) == "1ms"
    with pytest.raises(ValueError, match="negative"):
        delay_param(timedelta(seconds=-1))


def test_request_content_type_for_wildcards() -> None:
    assert request_content_type("application/json") == "application/json"
    assert request_content_type("*/*") == "application/octet-stream"
    assert request_content_type("text/*") == "text/octet-stream"


# -- class-based definitions ----------------------------------------------------------


def test_class_based_definition_is_a_regular_service() -> None:
    plain = perdure.Service("UnitGreeter")

    @plain.handler()
    async def greet(ctx: Context, name: str) -> str:
        """Say hello."""
        return f"Hello {name}"

    assert isinstance(Greeter.definition, perdure.Service)
    typed_manifest = build_manifest([Greeter.definition], "BIDI_STREAM").to_json(4)
    plain_manifest = build_manifest([plain], "BIDI_STREAM").to_json(4)
    assert typed_manifest == plain_manifest
    assert handler_spec_of(Greeter.greet) is Greeter.definition.handlers["greet"]
    assert Counter.definition.handlers["get"].kind == "shared"


async def test_the_class_handler_stays_callable_like_the_function() -> None:
    assert await Greeter.greet(None, "Ann") == "Hello Ann"


def test_a_definition_is_not_a_client() -> None:
    with pytest.raises(TypeError, match=r"client.service\(Greeter\).greet"):
        _ = Greeter().greet


def test_reserved_attribute_names() -> None:
    with pytest.raises(ValueError, match="reserved"):

        class Bad(TypedService):
            @handler()
            async def submit(ctx: Context) -> None: ...


def test_main_only_on_workflows() -> None:
    with pytest.raises(TypeError, match="@main"):

        class Bad(TypedService):
            @main()
            async def run(ctx: Context) -> None: ...


# -- argument checks ------------------------------------------------------------------


async def test_keys_are_checked_before_any_request() -> None:
    async with connect("http://127.0.0.1:9") as client:
        with pytest.raises(ValueError, match="is keyed"):
            await client.call(Counter.get)
        with pytest.raises(ValueError, match="take no key"):
            await client.call(Greeter.greet, "x", key="k")
        with pytest.raises(TypeError, match="expected a VirtualObject"):
            client.object(Greeter, "k")  # type: ignore[type-var]
        with pytest.raises(ValueError, match="not an invocation id"):
            client.invocation("greet-1")
        with pytest.raises(TypeError, match="at most one input"):
            await client.service(Greeter).greet("a", "b")  # type: ignore[call-arg]


def test_importing_the_client_loads_no_server_and_the_sdk_no_client() -> None:
    code = (
        "import sys, perdure.sdk.typed\n"
        "assert 'perdure.client' not in sys.modules, 'sdk.typed imported the client'\n"
        "import perdure.client\n"
        "bad = [m for m in sys.modules if m.startswith(('perdure.server', 'perdure.store'))]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
