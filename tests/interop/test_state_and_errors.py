"""Virtual-object state across invocations; terminal errors as the ingress caller sees them."""

from __future__ import annotations

import pytest

from .harness.clients import error_body, json_result
from .harness.stack import Env

pytestmark = pytest.mark.interop


async def test_counter_keeps_state_across_invocations(env: Env) -> None:
    assert json_result(await env.ingress.call(f"/Counter/{env.key}/get")) == 0
    assert json_result(await env.ingress.call(f"/Counter/{env.key}/add", 3)) == 3
    assert json_result(await env.ingress.call(f"/Counter/{env.key}/add", 4)) == 7
    # The shared handler reads what the exclusive ones stored; other keys are untouched.
    assert json_result(await env.ingress.call(f"/Counter/{env.key}/get")) == 7
    assert json_result(await env.ingress.call(f"/Counter/{env.new_key()}/get")) == 0


async def test_terminal_error_reaches_the_caller_with_code_and_metadata(env: Env) -> None:
    request = {"message": "no such order", "code": 422, "metadata": {"order": env.key, "x": "y"}}
    resp = await env.ingress.call("/Errors/fail", request)
    assert resp.status_code == 422, resp.text
    body = error_body(resp)
    assert body["code"] == 422
    assert body["message"] == "no such order"
    assert body["metadata"] == {"order": env.key, "x": "y"}
