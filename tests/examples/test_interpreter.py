"""examples/interpreter.py: programs from the request, one durable step per instruction.

Run: scripts/test tests/examples/test_interpreter.py
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from perdure.client import Client, IngressError

from .conftest import Example, serve_example
from .harness import Server
from .helpers import effects, keys_once


@pytest.fixture(scope="module")
def example(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Example]:
    yield from serve_example("interpreter", server, tmp_path_factory)


def pipeline(example: Example, image: list[list[int]], *steps: tuple[str, dict[str, int]]) -> Any:
    module = example.module
    return module.Pipeline(image, [module.Step(op, args) for op, args in steps])


async def test_steps_run_in_order_and_results_are_collected(
    example: Example, client: Client
) -> None:
    program = pipeline(
        example,
        [[0, 100], [200, 255]],
        ("resize", {"width": 4, "height": 4}),
        ("rotate", {"degrees": 90}),
        ("invert", {}),
        ("resize", {"width": 2, "height": 1}),
    )
    handle = await client.service(example.module.ImagePipeline).run.send(program)
    result = await handle.attach()

    # Worked out by hand: 4x4 blow-up, clockwise turn, 255 - p, top row's columns 0 and 2.
    assert result.image == [[55, 255]]
    assert [(s.op, s.width, s.height) for s in result.steps] == [
        ("resize", 4, 4), ("rotate", 4, 4), ("invert", 4, 4), ("resize", 2, 1),
    ]  # fmt: skip
    ops = keys_once(effects("images", handle.invocation_id))
    assert [o["op"] for o in ops] == ["resize", "rotate", "invert", "resize"]


async def test_blur(example: Example, client: Client) -> None:
    program = pipeline(example, [[0, 90], [90, 180]], ("blur", {"radius": 1}))
    result = await client.service(example.module.ImagePipeline).run(program)
    assert result.image == [[90, 90], [90, 90]]


async def test_bad_program_fails_before_any_step(example: Example, client: Client) -> None:
    program = pipeline(
        example, [[1]], ("resize", {"width": 2, "height": 2}), ("sharpen", {"amount": 3})
    )
    handle = await client.service(example.module.ImagePipeline).run.send(program)
    with pytest.raises(IngressError) as failure:
        await handle.attach()
    assert failure.value.code == 400
    assert "step 2: unknown op 'sharpen'" in failure.value.message
    assert effects("images", handle.invocation_id) == []


async def test_terminal_step_is_not_retried(example: Example, client: Client) -> None:
    program = pipeline(
        example, [[1, 2]], ("invert", {}), ("rotate", {"degrees": 45}), ("invert", {})
    )
    handle = await client.service(example.module.ImagePipeline).run.send(program)
    with pytest.raises(IngressError) as failure:
        await handle.attach()
    assert failure.value.code == 400
    assert "only multiples of 90" in failure.value.message
    # The failed step ran once (its TerminalError is its journaled result); the third never.
    ops = keys_once(effects("images", handle.invocation_id))
    assert [o["op"] for o in ops] == ["invert", "rotate"]
