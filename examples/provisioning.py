"""Infrastructure provisioning: create resources, wait until each is up, roll back on failure.

    perdure dev examples/provisioning.py
    curl localhost:8080/Provisioning/staging/run --json '{"resources": [
        {"kind": "network", "name": "net"},
        {"kind": "database", "name": "db", "checks_until_up": 3},
        {"kind": "vm", "name": "web"}]}'

What it shows:

- A step that polls ("is it up yet?") is a ``ctx.run`` whose action raises until the answer
  is yes. ``RunOptions`` bound the retries (attempts, back-off, total time: the timeout);
  when they run out, ``ctx.run`` raises a TerminalError, which the handler can catch.
- Rollback: every resource created is deleted again, in reverse order, when a later step
  fails terminally. The deletions are durable steps as well.
- Each step is journaled once it succeeds: a crash while waiting for the database neither
  recreates the network nor forgets that it exists (and must be rolled back).

``checks_until_up`` tells the fake cloud how many status checks a resource answers
"booting" before it is up (0: up at once); more than ``WAIT_UNTIL_UP`` allows makes the
step time out, which shows the rollback.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import fake_world
from fake_world import step_key

import perdure
from perdure import RunOptions, TerminalError, WorkflowContext, WorkflowSharedContext
from perdure.typed import handler, main

# How long to wait for a resource: first retry after 100 ms, doubling up to 1 s between
# checks, and give up after 8 checks or 20 s, whichever comes first.
WAIT_UNTIL_UP: RunOptions[None] = RunOptions(
    max_attempts=8,
    max_duration=timedelta(seconds=20),
    initial_retry_interval=timedelta(milliseconds=100),
    max_retry_interval=timedelta(seconds=1),
)
# Creating or deleting a resource: the cloud API may hiccup, retry a few times.
CLOUD_CALL: RunOptions[str] = RunOptions(max_attempts=5)


@dataclass
class Resource:
    kind: str  # "network", "database", "vm", ...
    name: str
    checks_until_up: int = 0  # a knob of the fake cloud, see the module docstring


@dataclass
class Environment:
    resources: list[Resource] = field(default_factory=list)


class Provisioning(perdure.TypedWorkflow):
    """Provision one environment (the workflow key), resource by resource."""

    @main()
    async def run(ctx: WorkflowContext, environment: Environment) -> list[str]:
        """The ids of the resources, all up; or a TerminalError after rolling back."""
        created: list[str] = []
        try:
            for resource in environment.resources:
                ctx.set("status", f"creating {resource.kind} {resource.name}")
                resource_id = await ctx.run_typed(
                    f"create {resource.name}",
                    fake_world.create_resource,
                    CLOUD_CALL,
                    step_key(ctx, f"create {resource.name}"),
                    resource.kind,
                    resource.name,
                    resource.checks_until_up,
                )
                created.append(resource_id)
                ctx.set("created", created)

                ctx.set("status", f"waiting for {resource_id}")
                await ctx.run_typed(
                    f"wait for {resource.name}",
                    fake_world.require_up,  # raises NotUpYet while booting: retried
                    WAIT_UNTIL_UP,
                    step_key(ctx, f"wait for {resource.name}"),
                    resource_id,
                )
        except TerminalError as failure:
            ctx.set("status", f"rolling back: {failure.message}")
            for resource_id in reversed(created):
                await ctx.run_typed(
                    f"delete {resource_id}",
                    fake_world.delete_resource,
                    RunOptions(max_attempts=5),
                    step_key(ctx, f"delete {resource_id}"),
                    resource_id,
                )
            ctx.clear("created")
            ctx.set("status", "rolled back")
            raise TerminalError(f"provisioning failed, rolled back: {failure.message}") from None
        ctx.set("status", "up")
        return created

    @handler()
    async def status(ctx: WorkflowSharedContext) -> str | None:
        return await ctx.get("status", type_hint=str)

    @handler()
    async def created(ctx: WorkflowSharedContext) -> list[str]:
        """The resources created so far (and not rolled back)."""
        return await ctx.get("created", type_hint=list[str]) or []


app = perdure.app(services=[Provisioning.definition])
