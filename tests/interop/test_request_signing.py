"""Request signing: the server signs with an Ed25519 key, the endpoint verifies identity_keys."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from perdure.protocol.identity import public_key_string
from tests.support.polling import eventually

from .conftest import remember_log_offsets
from .harness.clients import json_result
from .harness.stack import HTTP_CONFIGS, Env, Stack, StackConfig, open_env, start_stack

pytestmark = pytest.mark.interop


def _write_private_key(path: Path) -> str:
    """Write a PKCS#8 PEM Ed25519 key for the server; return its `publickeyv1_…` string."""
    key = Ed25519PrivateKey.generate()
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return public_key_string(key.public_key())


# Over HTTP only: an embedded app (`perdure dev`) has no HTTP hop for a signature to protect.
@pytest.fixture(scope="module", params=HTTP_CONFIGS, ids=str)
def signed_stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Stack, str]]:
    config: StackConfig = request.param
    workdir = tmp_path_factory.mktemp(f"signed-{config}")
    public_key = _write_private_key(workdir / "server-key.pem")
    stack = start_stack(
        workdir,
        config,
        server_env={
            "RESTATE_REQUEST_IDENTITY_PRIVATE_KEY_PEM_FILE": str(workdir / "server-key.pem")
        },
        identity_keys=[public_key],
    )
    try:
        yield stack, public_key
    finally:
        stack.stop()


@pytest.fixture
async def signed_env(
    signed_stack: tuple[Stack, str], request: pytest.FixtureRequest
) -> AsyncIterator[Env]:
    remember_log_offsets(request, signed_stack[0])
    async with open_env(signed_stack[0]) as env:
        yield env


async def test_signed_requests_reach_an_endpoint_that_checks_them(signed_env: Env) -> None:
    # Registration (discovery) already went through the check; so does an invocation.
    assert json_result(await signed_env.ingress.call("/Marker/mark", signed_env.key)) == 1
    assert signed_env.effects.count(f"{signed_env.key}.marked") == 1
    # The endpoint really checks: an unsigned request is refused.
    assert signed_env.stack.endpoint is not None
    async with httpx.AsyncClient(base_url=signed_env.stack.endpoint.uri) as direct:
        unsigned = await direct.get(
            "/discover", headers={"accept": "application/vnd.restate.endpointmanifest.v3+json"}
        )
    assert unsigned.status_code == 401, unsigned.text[:300]


async def test_endpoint_with_another_key_refuses_and_nothing_runs(
    signed_env: Env, signed_stack: tuple[Stack, str], tmp_path: Path
) -> None:
    stack, right_key = signed_stack
    assert stack.endpoint is not None
    wrong_key = _write_private_key(tmp_path / "unused.pem")
    stack.endpoint.restart_with_keys([wrong_key])
    try:
        sent = await signed_env.ingress.send("/Marker/mark", signed_env.key)
        invocation_id = sent["invocationId"]

        async def attempt_refused() -> str | None:
            row = await signed_env.admin.invocation(invocation_id)
            failure = str((row or {}).get("last_failure", ""))
            # Recorded as "[500 Internal] unexpected http status code: 401 Unauthorized".
            return failure if "401 Unauthorized" in failure else None

        failure = await eventually(attempt_refused, what="the endpoint to refuse an attempt")
        assert signed_env.effects.count(f"{signed_env.key}.marked") == 0, failure
    finally:
        stack.endpoint.restart_with_keys([right_key])
    # Back with the right key, the retried invocation runs, exactly once.
    assert json_result(await signed_env.ingress.attach(invocation_id)) == 1
    assert signed_env.effects.count(f"{signed_env.key}.marked") == 1
