from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pydantic
import pytest

from perdure.protocol.manifest import EndpointManifest
from perdure.protocol.versions import manifest_accept_header, manifest_content_type
from perdure.sdk.definition import ServiceDefinition
from perdure.sdk.discovery import discover, protocol_mode_for
from perdure.sdk.object import VirtualObject
from perdure.sdk.retry_policy import InvocationRetryPolicy
from perdure.sdk.serde import BytesSerde
from perdure.sdk.service import Service
from perdure.sdk.workflow import Workflow

V2, V3, V4 = (manifest_content_type(v) for v in (2, 3, 4))


class Greeting(pydantic.BaseModel):
    name: str
    polite: bool = True


def _services() -> list[ServiceDefinition]:
    greeter = Service("Greeter", description="Greets.", metadata={"team": "core"})

    @greeter.handler()
    async def greet(ctx: Any, req: Greeting) -> str:
        """Say hello."""
        return req.name

    @greeter.handler(accept="*/*", content_type="application/octet-stream")
    async def raw(ctx: Any, data: bytes) -> bytes:
        return data

    counter = VirtualObject("Counter")

    @counter.handler()
    async def add(ctx: Any, n: int) -> int:
        return n

    @counter.handler(kind="shared")
    async def get(ctx: Any) -> int:
        return 0

    @counter.handler()
    async def reset(ctx: Any) -> None: ...

    signup = Workflow("Signup")

    @signup.main()
    async def run(ctx: Any, email: str) -> bool:
        return True

    @signup.handler()
    async def click(ctx: Any, secret): ...  # type: ignore[no-untyped-def]

    return [greeter, counter, signup]


def _manifest(accept: str | None, http_version: str = "2", **kw: Any) -> dict[str, Any]:
    reply = discover(_services(), accept, http_version, **kw)
    assert reply.status == 200, reply.body
    return json.loads(reply.body)  # type: ignore[no-any-return]


def test_manifest_shapes() -> None:
    data = _manifest(V2)
    assert data["minProtocolVersion"] == 5
    assert data["maxProtocolVersion"] == 6
    greeter, counter, signup = data["services"]

    assert greeter["name"] == "Greeter"
    assert greeter["ty"] == "SERVICE"
    assert greeter["documentation"] == "Greets."
    assert greeter["metadata"] == {"team": "core"}
    greet, raw = greeter["handlers"]
    assert greet == {
        "name": "greet",
        "input": {
            "required": False,
            "contentType": "application/json",
            "jsonSchema": Greeting.model_json_schema(mode="serialization"),
        },
        "output": {
            "setContentTypeIfEmpty": False,
            "contentType": "application/json",
            "jsonSchema": {"type": "string"},
        },
        "documentation": "Say hello.",
    }
    assert raw["input"] == {"required": False, "contentType": "*/*", "jsonSchema": True}
    assert raw["output"] == {
        "setContentTypeIfEmpty": False,
        "contentType": "application/octet-stream",
        "jsonSchema": True,
    }

    assert counter["ty"] == "VIRTUAL_OBJECT"
    add, get, reset = counter["handlers"]
    assert add["ty"] == "EXCLUSIVE"
    assert get["ty"] == "SHARED"
    assert get["input"] == {}
    assert reset["input"] == {}
    assert reset["output"] == {"setContentTypeIfEmpty": False}

    assert signup["ty"] == "WORKFLOW"
    run, click = signup["handlers"]
    assert (run["ty"], click["ty"]) == ("WORKFLOW", "SHARED")
    assert click["input"]["jsonSchema"] is True
    assert click["output"] == {"setContentTypeIfEmpty": False}


def test_manifest_parses_with_the_server_side_parser() -> None:
    parsed = EndpointManifest.from_json(_manifest(V4))
    assert [s.name for s in parsed.services] == ["Greeter", "Counter", "Signup"]


def test_manifest_matches_restate_sdk_for_the_same_services() -> None:
    """Same services, same manifest as restate-sdk 1.2 (which announces protocol v7)."""
    restate = pytest.importorskip("restate")
    from restate.discovery import compute_discovery_json
    from restate.endpoint import Endpoint

    def define(sdk: Any) -> list[Any]:
        greeter = sdk.Service("Greeter", description="Greets.", metadata={"team": "core"})
        counter = sdk.VirtualObject("Counter", inactivity_timeout=timedelta(seconds=3))

        async def greet(ctx: Any, req: Greeting) -> str:
            """Say hello."""
            return req.name

        async def add(ctx: Any, n: int) -> int:
            return n

        async def get(ctx: Any) -> list[str]:
            return []

        async def reset(ctx: Any) -> None: ...

        greeter.handler()(greet)
        counter.handler(journal_retention=timedelta(hours=1))(add)
        counter.handler(kind="shared")(get)
        counter.handler()(reset)
        return [greeter, counter]

    endpoint = Endpoint()  # type: ignore[no-untyped-call]
    endpoint.bind(*define(restate))
    theirs = json.loads(compute_discovery_json(endpoint, 3, "bidi"))
    reply = discover(define(__import__("perdure")), V3, "2")
    ours = json.loads(reply.body)
    assert theirs.pop("maxProtocolVersion") == 7
    assert ours.pop("maxProtocolVersion") == 6
    assert ours == theirs


@pytest.mark.parametrize(
    ("accept", "version"),
    [
        (manifest_accept_header(), 4),
        (f"{V2}, {V3}", 3),
        (V2, 2),
        (None, 2),
    ],
)
def test_manifest_version_is_the_highest_both_speak(accept: str | None, version: int) -> None:
    reply = discover(_services(), accept, "2")
    assert reply.status == 200
    assert reply.content_type == manifest_content_type(version)


@pytest.mark.parametrize(
    "accept", ["application/json", manifest_content_type(1), manifest_content_type(5), "*/*"]
)
def test_no_common_manifest_version_is_415(accept: str) -> None:
    reply = discover(_services(), accept, "2")
    assert reply.status == 415
    assert reply.content_type == "text/plain"
    assert V2.encode() in reply.body


@pytest.mark.parametrize(
    ("http_version", "forced", "mode"),
    [
        ("1.1", None, "REQUEST_RESPONSE"),
        ("1.0", None, "REQUEST_RESPONSE"),
        ("2", None, "BIDI_STREAM"),
        ("2", "request_response", "REQUEST_RESPONSE"),
        ("1.1", "bidi", "BIDI_STREAM"),
    ],
)
def test_protocol_mode(http_version: str, forced: Any, mode: str) -> None:
    assert protocol_mode_for(http_version, forced) == mode
    assert _manifest(V4, http_version, forced=forced)["protocolMode"] == mode


def _with_options() -> list[ServiceDefinition]:
    svc = Service("Timed", inactivity_timeout=timedelta(seconds=30))

    @svc.handler(idempotency_retention=timedelta(minutes=5), ingress_private=True)
    async def go(ctx: Any) -> None: ...

    return [svc]


def test_v3_options_appear_from_v3_on() -> None:
    reply = discover(_with_options(), V3, "2")
    assert reply.status == 200
    (svc,) = json.loads(reply.body)["services"]
    assert svc["inactivityTimeout"] == 30_000
    assert svc["handlers"][0]["idempotencyRetention"] == 300_000
    assert svc["handlers"][0]["ingressPrivate"] is True


def test_v3_options_towards_a_v2_server_are_a_500_that_says_why() -> None:
    reply = discover(_with_options(), V2, "2")
    assert reply.status == 500
    assert reply.content_type == "text/plain"
    assert b"Timed/go: idempotencyRetention needs endpoint manifest v3" in reply.body
    assert b"manifest v2" in reply.body


def _with_retry_policy() -> list[ServiceDefinition]:
    obj = VirtualObject("Retried", enable_lazy_state=True)

    @obj.handler(
        invocation_retry_policy=InvocationRetryPolicy(
            initial_interval=timedelta(milliseconds=250), max_attempts=3, on_max_attempts="kill"
        )
    )
    async def go(ctx: Any) -> None: ...

    return [obj]


def test_retry_policy_needs_v4() -> None:
    too_old = discover(_with_retry_policy(), f"{V2}, {V3}", "2")
    assert too_old.status == 500
    assert b"retry policy needs endpoint manifest v4" in too_old.body

    reply = discover(_with_retry_policy(), manifest_accept_header(), "2")
    assert reply.status == 200
    (svc,) = json.loads(reply.body)["services"]
    assert svc["enableLazyState"] is True
    handler = svc["handlers"][0]
    assert handler["retryPolicyInitialInterval"] == 250
    assert handler["retryPolicyMaxAttempts"] == 3
    assert handler["retryPolicyOnMaxAttempts"] == "KILL"
    assert "retryPolicyMaxInterval" not in handler


def test_raw_bytes_handler_keeps_its_serde_and_content_types() -> None:
    svc = Service("Raw")

    @svc.handler(accept="*/*", content_type="text/plain", output_serde=BytesSerde())
    async def echo(ctx: Any, data: bytes) -> bytes:
        return data

    (handler,) = _first_service_handlers(svc)
    assert handler["input"]["contentType"] == "*/*"
    assert handler["output"]["contentType"] == "text/plain"


def _first_service_handlers(svc: ServiceDefinition) -> list[dict[str, Any]]:
    reply = discover([svc], V4, "2")
    return json.loads(reply.body)["services"][0]["handlers"]  # type: ignore[no-any-return]
