"""Sign-up: create the user, verify their e-mail address, remind them until they click.

    perdure dev examples/signup.py                       # serves it (ingress on :8080)
    python examples/signup_client.py ann ann@example.com # drives it, see that file

or with curl (the secret is in the e-mail, see fake_world.py for where it lands)::

    curl localhost:8080/SignUp/ann/run/send --json '{"name": "Ann", "email": "ann@example.com"}'
    curl localhost:8080/SignUp/ann/stage
    curl localhost:8080/SignUp/ann/approve_email --json '"<secret>"'
    curl localhost:8080/restate/workflow/SignUp/ann/attach

What it shows:

- A workflow's ``run`` happens once per key (here the user name): submitting the same key
  again attaches to the first run instead of signing the user up twice.
- ``ctx.run`` turns a side effect into a durable step: once it completed, a crash or a retry
  replays its journaled result instead of creating the user (or sending the e-mail) again.
- ``ctx.uuid()`` is deterministic: every replay of the handler draws the same secret, so
  the secret compared at the end is the one that was e-mailed.
- A durable promise (``email-link``) is completed by another handler (``approve_email``
  or ``reject_email``), minutes or weeks later; the workflow holds no process meanwhile.
- ``select`` races the promise against a durable sleep: no click in time, a reminder.

``SIGNUP_REMINDER_AFTER`` (seconds, default 60) sets the delay before each reminder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import fake_world
from fake_world import step_key

import perdure
from perdure import RunOptions, TerminalError, WorkflowContext, WorkflowSharedContext
from perdure.typed import handler, main

REMINDER_AFTER = timedelta(seconds=float(os.environ.get("SIGNUP_REMINDER_AFTER", "60")))
MAX_REMINDERS = 3  # then the sign-up expires


@dataclass
class User:
    name: str
    email: str


class SignUp(perdure.TypedWorkflow):
    """One sign-up per user name (the workflow key)."""

    @main()
    async def run(ctx: WorkflowContext, user: User) -> str:
        """Sign `user` up; returns the new user id once the e-mail address is verified."""
        ctx.set("stage", "creating-user")
        user_id = await ctx.run_typed(
            "create user",
            fake_world.create_user,
            RunOptions(),
            step_key(ctx, "create user"),
            f"user-{ctx.key()}",
            user.name,
            user.email,
        )

        secret = str(ctx.uuid())
        await send_email(ctx, "verification", user, f"Your confirmation code is {secret}.")
        ctx.set("stage", "waiting-for-click")

        try:
            clicked = await wait_for_click(ctx, user, secret)
        except TerminalError:  # reject_email rejected the promise
            ctx.set("stage", "rejected")
            raise
        if clicked is None:
            ctx.set("stage", "expired")
            raise TerminalError(f"no click after {MAX_REMINDERS} reminders", status_code=408)
        if clicked != secret:
            ctx.set("stage", "rejected")
            raise TerminalError("that is not the code we sent", status_code=400)
        ctx.set("stage", "verified")
        return user_id

    @handler()
    async def approve_email(ctx: WorkflowSharedContext, secret: str) -> None:
        """What the link in the e-mail calls, with the code it carries."""
        await ctx.promise("email-link", type_hint=str).resolve(secret)

    @handler()
    async def reject_email(ctx: WorkflowSharedContext) -> None:
        """The "this was not me" link: the sign-up stops."""
        await ctx.promise("email-link", type_hint=str).reject("the e-mail was rejected", code=403)

    @handler()
    async def stage(ctx: WorkflowSharedContext) -> str | None:
        """Where the sign-up is; shared handlers read state while ``run`` waits."""
        return await ctx.get("stage", type_hint=str)


async def wait_for_click(ctx: WorkflowContext, user: User, secret: str) -> str | None:
    """The code the user clicked, or None when they did not after MAX_REMINDERS reminders."""
    click = ctx.promise("email-link", type_hint=str).value()
    for reminders_sent in range(MAX_REMINDERS + 1):
        # Whichever completes first: the click, or a durable timer (it survives restarts).
        match await perdure.select(click=click, timeout=ctx.sleep(REMINDER_AFTER)):
            case ["click", clicked]:
                return str(clicked)
        if reminders_sent < MAX_REMINDERS:
            text = f"Reminder: your confirmation code is {secret}."
            await send_email(ctx, f"reminder {reminders_sent + 1}", user, text)
    return None


async def send_email(ctx: WorkflowContext, what: str, user: User, text: str) -> None:
    """Send one e-mail as a durable step named after it (`what`)."""
    await ctx.run_typed(
        f"send {what} e-mail",
        fake_world.send_email,
        RunOptions(),
        step_key(ctx, what),
        user.email,
        f"Sign-up {what}",
        f"Hi {user.name}! {text}",
    )


app = perdure.app(services=[SignUp.definition])
