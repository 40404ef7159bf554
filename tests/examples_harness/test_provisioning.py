"""examples/provisioning.py under perdure.testing: retried status checks on virtual time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import fake_world
import pytest

from perdure.sdk.endpoint import Endpoint
from perdure.testing import Harness
from tests.examples.harness import load_example

provisioning = load_example("provisioning")
Resource = provisioning.Resource


@pytest.fixture
def perdure_app() -> Endpoint:
    return provisioning.app


async def provision(h: Harness, name: str, resources: list[Any]) -> Any:
    workflow = h.client.workflow(provisioning.Provisioning, name)
    handle = await workflow.submit(provisioning.Environment(resources=resources))
    # The status checks are retried with back-off: server-side timers, on virtual time.
    await h.advance(timedelta(seconds=30))
    return await h.wait_completed(handle.invocation_id)


async def test_waits_for_a_slow_database(perdure_harness: Harness) -> None:
    view = await provision(
        perdure_harness, "staging", [Resource("network", "net"), Resource("database", "db", 3)]
    )
    assert view.result == ["network-net", "database-db"]
    checks = fake_world.entries("cloud", op="check", resource="database-db")
    assert len(checks) == 4  # booting three times, then up
    assert view.state["status"] == "up"


async def test_a_database_that_never_comes_up_is_rolled_back(perdure_harness: Harness) -> None:
    view = await provision(
        perdure_harness, "broken", [Resource("network", "net"), Resource("database", "db", 50)]
    )
    assert view.failure is not None and "rolled back" in view.failure.message
    deleted = [e["resource"] for e in fake_world.entries("cloud", op="delete")]
    assert deleted == ["database-db", "network-net"]


async def test_every_crash_point_of_a_provisioning(
    perdure_harness: Harness, own_world: Callable[[Harness], None]
) -> None:
    async def scenario(h: Harness) -> Any:
        own_world(h)
        view = await provision(h, "prod", [Resource("network", "net"), Resource("vm", "web", 1)])
        return view.result

    report = await perdure_harness.explore_crashes(scenario)
    assert report.ok
