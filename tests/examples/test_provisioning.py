"""examples/provisioning.py: retried readiness checks, and the rollback when they run out.

Run: scripts/test tests/examples/test_provisioning.py
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from perdure.client import Client, IngressError

from .conftest import Example, serve_example
from .harness import Server
from .helpers import effects, keys_once


@pytest.fixture(scope="module")
def example(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Example]:
    yield from serve_example("provisioning", server, tmp_path_factory)


def cloud(run_id: str, op: str) -> list[str]:
    return [r["resource"] for r in effects("cloud", run_id, op=op)]


def environment(example: Example, *resources: tuple[str, str, int]) -> Any:
    return example.module.Environment(
        [example.module.Resource(kind, name, checks) for kind, name, checks in resources]
    )


async def test_resources_come_up_after_retried_checks(example: Example, client: Client) -> None:
    tag = os.urandom(4).hex()  # resource names are global in the fake cloud
    run = client.workflow(example.module.Provisioning, f"env-{tag}")
    spec = environment(
        example, ("network", f"net{tag}", 0), ("database", f"db{tag}", 2), ("vm", f"web{tag}", 0)
    )
    handle = await run.submit(spec)

    ids = [f"network-net{tag}", f"database-db{tag}", f"vm-web{tag}"]
    assert await run.attach() == ids
    keys_once(effects("cloud", handle.invocation_id, op="create"))
    assert cloud(handle.invocation_id, "create") == ids
    # The database answered "booting" twice: its wait step ran three times, then succeeded.
    assert cloud(handle.invocation_id, "check") == [ids[0], ids[1], ids[1], ids[1], ids[2]]
    assert cloud(handle.invocation_id, "delete") == []
    assert (await run.status(), await run.created()) == ("up", ids)


async def test_resource_never_up_rolls_back_what_was_created(
    example: Example, client: Client
) -> None:
    tag = os.urandom(4).hex()
    run = client.workflow(example.module.Provisioning, f"env-{tag}")
    spec = environment(
        example, ("network", f"net{tag}", 0), ("database", f"db{tag}", 100), ("vm", f"web{tag}", 0)
    )
    handle = await run.submit(spec)

    with pytest.raises(IngressError) as failure:
        await run.attach()
    assert "provisioning failed, rolled back" in failure.value.message
    net, db = f"network-net{tag}", f"database-db{tag}"
    # Exactly the attempts RunOptions allowed, then the step failed terminally.
    attempts = example.module.WAIT_UNTIL_UP.max_attempts
    assert cloud(handle.invocation_id, "check").count(db) == attempts
    assert cloud(handle.invocation_id, "create") == [net, db]  # the vm never was
    keys_once(effects("cloud", handle.invocation_id, op="delete"))
    assert cloud(handle.invocation_id, "delete") == [db, net]  # newest first
    assert (await run.status(), await run.created()) == ("rolled back", [])
