"""A workflow interpreter: the request says which steps to run; each runs as a durable step.

Here the steps are an image pipeline (resize, rotate, blur, invert) over a tiny grayscale
"image" (rows of 0..255 pixels), but the shape is general: parse a program from the input,
then run it one durable step at a time.

    perdure dev examples/interpreter.py
    curl localhost:8080/ImagePipeline/run --json '{
        "image": [[0, 64], [128, 255]],
        "steps": [{"op": "resize", "args": {"width": 4, "height": 4}},
                  {"op": "rotate", "args": {"degrees": 90}},
                  {"op": "blur", "args": {"radius": 1}}]}'

What it shows:

- The journal records what ran, not a fixed graph: a program that differs per request is as
  durable as hand-written code. After a crash at step 7, steps 1 to 6 are replayed from the
  journal (their results included), not computed again.
- Validate the whole program before running any of it: a bad request fails at once with
  a TerminalError (HTTP 400 to the caller), instead of after half the work.
- A step that can never succeed (rotate by 45 degrees) raises a TerminalError from inside
  ``ctx.run``: that is journaled as the step's result and fails the invocation; any other
  exception would be retried.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field

import fake_world
from fake_world import step_key

import perdure
from perdure import Context, RunOptions, TerminalError
from perdure.typed import handler

Image = list[list[int]]  # rows of grayscale pixels, 0..255


@dataclass
class Step:
    op: str
    args: dict[str, int] = field(default_factory=dict)


@dataclass
class Pipeline:
    image: Image
    steps: list[Step]


@dataclass
class StepResult:
    op: str
    width: int
    height: int


@dataclass
class PipelineResult:
    image: Image
    steps: list[StepResult]


# -- the operations: plain functions of an image ------------------------------------------


def resize(image: Image, width: int, height: int) -> Image:
    """Nearest neighbour."""
    if width < 1 or height < 1:
        raise ValueError(f"resize to {width}x{height}: both must be at least 1")
    rows, cols = len(image), len(image[0])
    return [
        [image[y * rows // height][x * cols // width] for x in range(width)] for y in range(height)
    ]


def rotate(image: Image, degrees: int) -> Image:
    """Clockwise, by a multiple of 90 degrees."""
    if degrees % 90:
        raise ValueError(f"rotate by {degrees} degrees: only multiples of 90 are supported")
    for _ in range(degrees // 90 % 4):
        image = [list(row) for row in zip(*image[::-1], strict=True)]
    return image


def blur(image: Image, radius: int) -> Image:
    """Box blur: each pixel becomes the mean of its (2 radius + 1)² neighbourhood."""
    rows, cols = len(image), len(image[0])

    def mean(y: int, x: int) -> int:
        near = [
            image[j][i]
            for j in range(max(0, y - radius), min(rows, y + radius + 1))
            for i in range(max(0, x - radius), min(cols, x + radius + 1))
        ]
        return round(sum(near) / len(near))

    return [[mean(y, x) for x in range(cols)] for y in range(rows)]


def invert(image: Image) -> Image:
    return [[255 - pixel for pixel in row] for row in image]


OPERATIONS: dict[str, Callable[..., Image]] = {
    "resize": resize,
    "rotate": rotate,
    "blur": blur,
    "invert": invert,
}


def check(pipeline: Pipeline) -> None:
    """TerminalError (400) unless every step names a known operation with fitting args."""
    if not pipeline.image or not pipeline.image[0]:
        raise TerminalError("the image is empty", status_code=400)
    for number, step in enumerate(pipeline.steps, 1):
        operation = OPERATIONS.get(step.op)
        if operation is None:
            known = ", ".join(sorted(OPERATIONS))
            raise TerminalError(f"step {number}: unknown op {step.op!r} (known: {known})", 400)
        try:
            inspect.signature(operation).bind(pipeline.image, **step.args)
        except TypeError as wrong:
            raise TerminalError(f"step {number} ({step.op}): {wrong}", 400) from None


def run_step(key: str, step: Step, image: Image) -> Image:
    """One step, as the durable step runs it (and a hosted image API would bill it)."""
    fake_world.image_op(key, step.op, step.args)
    try:
        return OPERATIONS[step.op](image, **step.args)
    except ValueError as invalid:
        raise TerminalError(f"{step.op}: {invalid}", status_code=400) from None


class ImagePipeline(perdure.TypedService):
    @handler()
    async def run(ctx: Context, pipeline: Pipeline) -> PipelineResult:
        """Run the pipeline's steps in order; the final image and a summary of each step."""
        check(pipeline)
        image, results = pipeline.image, []
        for number, step in enumerate(pipeline.steps, 1):
            name = f"{number}. {step.op}"
            image = await ctx.run_typed(
                name, run_step, RunOptions(), step_key(ctx, name), step, image
            )
            results.append(StepResult(step.op, width=len(image[0]), height=len(image)))
        return PipelineResult(image=image, steps=results)


app = perdure.app(services=[ImagePipeline.definition])
