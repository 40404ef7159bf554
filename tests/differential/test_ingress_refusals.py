"""The ingress's refusals, request for request against both servers: status, body (message
and source) and headers must be restate-server's."""

from __future__ import annotations

import pytest

from .harness import NO_BODY, Servers, Side, differ

pytestmark = pytest.mark.interop

UNKNOWN_ID = "inv_1gdJBtdVEcM942bjcDmb1c1khoaJe11Hbz"
UNKNOWN_AWAKEABLE = "sign_1PjHevaF6-7PQhP_z9oibwivr5Ylba9_ZAAAAEQ"


async def test_bad_paths_and_methods(interop: Servers) -> None:
    async def scenario(side: Side) -> None:
        key = side.key()
        for path in (
            "/a",
            "/a/b/c/d/e/f/g/h/i",
            "/restate/foo",
            "/restate/",
            "/openapi",
            "/openapi/x",
            "/Nope/x",
            "/Counter/add",  # an object called without a key
            f"/Counter/{key}/add/extra",
            f"/Counter/{key}/nope",
            "/Counter/%ZZ/get",  # a malformed escape stays as it is
            "/Counter/%C3%28/get",  # not UTF-8 once decoded
            "/Counter/50%/get",
            "/restate/invocation/x",
            "/restate/invocation/Nope/x/y/attach",
            "/restate/invocation/Counter/add/ik/attach",  # keyed service, no key
            f"/restate/invocation/Timers/{key}/sleep/ik/attach",  # unkeyed, one too many
            "/restate/invocation/garbage/attach",
            "/restate/invocation/garbage/output",
            f"/restate/invocation/{UNKNOWN_ID}/nope",
            "/restate/workflow/SignUp",
            "/restate/awakeables/x",
            "/restate/call/Nope/x",
            "/restate/call/Counter",
            f"/restate/call/Counter/{key}/add/extra",
            "/restate/scope/s1/call/Counter/k/get",
            "/restate/scope/s1/nope/Counter/k/get",
            "/restate/attach/garbage",
            f"/restate/attach/{UNKNOWN_ID}/extra",
        ):
            await side.call(path, method="GET")
        for method in ("PUT", "DELETE", "PATCH"):
            await side.call(f"/Counter/{key}/add", 1, method=method)
            await side.call(f"/Counter/{key}/nope", method=method)  # 404 comes first
        await side.call(f"/restate/invocation/{UNKNOWN_ID}/attach")  # POST
        await side.call(f"/restate/awakeables/{UNKNOWN_AWAKEABLE}/resolve", method="GET")
        await side.call("/restate/lookup", method="GET")

    await differ(interop, scenario)


async def test_input_rules(interop: Servers) -> None:
    async def scenario(side: Side) -> None:
        key = side.key()
        # A handler that takes no input (restate-sdk/perdure emit `input: {}`).
        await side.call(f"/Counter/{key}/get", 5)
        await side.call(f"/Counter/{key}/get", content=b"5")
        await side.call(f"/Counter/{key}/get", content=b"5", headers={"content-type": "text/x"})
        # A JSON handler: wrong type, no type, both with a body.
        await side.call(f"/Counter/{key}/add", content=b"1", headers={"content-type": "text/plain"})
        await side.call(f"/Counter/{key}/add", content=b"1")
        await side.call(f"/Counter/{key}/add", 1, headers={"content-type": "application/jsonx"})
        await side.call(f"/Counter/{key}/add", 2)
        # TypeScript handlers take any JSON (`application/json`, no schema).
        await side.call(f"/TsCounter/{key}/add", 3)
        await side.call(
            f"/TsCounter/{key}/add", content=b"3", headers={"content-type": "text/plain"}
        )

    await differ(interop, scenario)


async def test_delay_idempotency_and_limit_key_rules(interop: Servers) -> None:
    async def scenario(side: Side) -> None:
        key = side.key()
        target = f"/Counter/{key}/add"
        for delay in ("abc", "1y", "P1M", "-5s", "5S", "PT", "", "5s extra", "1d ago"):
            await side.call(f"{target}/send", 1, params={"delay": delay})
        await side.call(target, 1, params={"delay": "5s"})  # a delay on a call
        await side.call(target, content=b"x", params={"delay": "5s"})  # input checked first
        # Delays restate accepts: the answer's executionTime has restate's format.
        for delay in ("0", "100ms", "1.5s", "PT0.2S", "1 sec", "+1s"):
            await side.call(f"/Counter/{key}/get/send", params={"delay": delay})
        # A duplicate of a scheduled send, with or without the delay, names its due time.
        ik = {"idempotency-key": side.key("ik")}
        await side.call(f"{target}/send", 1, params={"delay": "30s"}, headers=ik)
        await side.call(f"{target}/send", 1, params={"delay": "30s"}, headers=ik)
        await side.call(f"{target}/send", 1, headers=ik)
        await side.call("/SignUp/x/run", "a", headers={"idempotency-key": "k"})
        await side.call(target, 1, headers={"x-restate-limit-key": "l"})
        await side.call(target, 1, params={"limit-key": "l"})
        # An empty and a spaced idempotency key are keys like any other for restate.
        await side.call(target, 1, headers={"idempotency-key": ""})
        await side.call(target, 1, headers={"idempotency-key": ""})
        await side.call(target, 1, headers={"idempotency-key": "a b"})

    await differ(interop, scenario)


async def test_attach_output_and_lookup_of_unknown_invocations(interop: Servers) -> None:
    async def scenario(side: Side) -> None:
        key = side.key()
        for operation in ("attach", "output"):
            await side.call(f"/restate/invocation/{UNKNOWN_ID}/{operation}", method="GET")
            await side.call(f"/restate/{operation}/{UNKNOWN_ID}", method="GET")
            await side.call(f"/restate/invocation/Counter/{key}/add/nope/{operation}", method="GET")
            await side.call(f"/restate/invocation/Timers/sleep/nope/{operation}", method="GET")
            await side.call(f"/restate/workflow/SignUp/{key}/{operation}", method="GET")
            await side.call(f"/restate/workflow/Nope/{key}/{operation}", method="GET")
            await side.call(
                f"/restate/{operation}",
                {"target": "workflow", "workflowName": "SignUp", "workflowKey": key},
            )
        await side.call("/restate/lookup", {"target": "invocation", "invocationId": UNKNOWN_ID})
        await side.call(
            "/restate/lookup", {"target": "workflow", "workflowName": "SignUp", "workflowKey": key}
        )
        await side.call(
            "/restate/lookup",
            {
                "target": "idempotentInvocation",
                "service": "Counter",
                "key": key,
                "handler": "add",
                "idempotencyKey": "i",
            },
        )

    await differ(interop, scenario)


async def test_awakeable_ids(interop: Servers) -> None:
    async def scenario(side: Side) -> None:
        for awakeable in (
            "garbage",
            "sign_1garbage",
            "prom_1garbage",
            "inv_1garbage",
            "foo_1x",
            "sign_2xyz",
            UNKNOWN_AWAKEABLE,  # well formed, no such invocation: accepted all the same
            "prom_1PjHevaF6-7PQhP_z9oibwivr5Ylba9_ZAAAAEQ",  # a protocol <= 3 awakeable
        ):
            await side.call(f"/restate/awakeables/{awakeable}/resolve", "v")
            await side.call(f"/restate/a/{awakeable}/reject", content=b"no")
        await side.call(f"/restate/awakeables/{UNKNOWN_AWAKEABLE}/nope", NO_BODY)

    await differ(interop, scenario)


async def test_cross_origin_requests(interop: Servers) -> None:
    """Browsers call the ingress from other origins: restate's CORS layer is permissive."""

    async def scenario(side: Side) -> None:
        key = side.key()
        origin = {"origin": "http://example.com"}
        preflight = {
            **origin,
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type, idempotency-key",
        }
        for method, path, headers in (
            ("POST", f"/Counter/{key}/add", origin),
            ("POST", f"/Counter/{key}/nope", origin),
            ("OPTIONS", f"/Counter/{key}/add", preflight),
            ("GET", "/restate/health", {}),
        ):
            response = await side.ingress.request(
                method, path, headers=headers, json=1 if method == "POST" else None
            )
            cors = {k: v for k, v in response.headers.items() if k.startswith("access-control")}
            side.note(f"{method} {path}", {"status": response.status_code, "cors": cors})

    await differ(interop, scenario)
