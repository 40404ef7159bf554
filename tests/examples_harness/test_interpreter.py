"""examples/interpreter.py under perdure.testing: a program of durable steps."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import fake_world
import pytest

from perdure.client import IngressError
from perdure.sdk.endpoint import Endpoint
from perdure.testing import Harness
from tests.examples.harness import load_example

interpreter = load_example("interpreter")
Step = interpreter.Step
PIPELINE = interpreter.Pipeline(
    image=[[0, 64], [128, 255]],
    steps=[
        Step("resize", {"width": 4, "height": 4}),
        Step("rotate", {"degrees": 90}),
        Step("invert"),
    ],
)


@pytest.fixture
def perdure_app() -> Endpoint:
    return interpreter.app


async def test_runs_each_step_once(perdure_harness: Harness) -> None:
    result = await perdure_harness.client.call(interpreter.ImagePipeline.run, PIPELINE)
    assert [s.op for s in result.steps] == ["resize", "rotate", "invert"]
    assert len(result.image) == 4
    assert [e["op"] for e in fake_world.entries("images")] == ["resize", "rotate", "invert"]


async def test_an_impossible_step_fails_the_invocation(perdure_harness: Harness) -> None:
    bad = interpreter.Pipeline(image=[[1]], steps=[Step("rotate", {"degrees": 45})])
    with pytest.raises(IngressError) as failed:
        await perdure_harness.client.call(interpreter.ImagePipeline.run, bad)
    assert failed.value.code == 400


async def test_every_crash_point_of_a_pipeline(
    perdure_harness: Harness, own_world: Callable[[Harness], None]
) -> None:
    async def scenario(h: Harness) -> Any:
        own_world(h)
        result = await h.client.call(interpreter.ImagePipeline.run, PIPELINE)
        return result.image

    report = await perdure_harness.explore_crashes(scenario)
    assert report.ok and report.runs > 8
