"""SignUp: a workflow that creates a user, mails a secret link and waits for the click."""

from __future__ import annotations

import interop_effects as effects
from interop_sdk import restate

signup = restate.Workflow("SignUp")

EMAIL_LINK = "email-link"


def _create_user(key: str, email: str) -> str:
    effects.record(f"{key}.create-user", email)
    return f"user-{key}"


def _send_email(key: str, secret: str) -> None:
    # The "mailbox": the test reads the secret here, as a user would read the email.
    effects.record(f"{key}.email", secret)


@signup.main()
async def run(ctx: restate.WorkflowContext, email: str) -> bool:
    key = ctx.key()
    ctx.set("stage", "creating-user")
    user_id = await ctx.run("create-user", lambda: _create_user(key, email))
    ctx.set("user", user_id)
    ctx.set("stage", "sending-email")
    # Drawn once and journaled: every replay sees the same secret as the one mailed.
    secret = str(ctx.uuid())
    await ctx.run("send-email", lambda: _send_email(key, secret))
    ctx.set("stage", "waiting-for-click")
    try:
        clicked = await ctx.promise(EMAIL_LINK).value()
    except restate.TerminalError:
        ctx.set("stage", "rejected")
        raise
    if clicked != secret:
        ctx.set("stage", "wrong-secret")
        raise restate.TerminalError("the clicked link carries a wrong secret", status_code=403)
    ctx.set("stage", "verified")
    return True


@signup.handler()
async def get_stage(ctx: restate.WorkflowSharedContext) -> str | None:
    return await ctx.get("stage")


@signup.handler()
async def approve_email(ctx: restate.WorkflowSharedContext, secret: str) -> None:
    await ctx.promise(EMAIL_LINK).resolve(secret)


@signup.handler()
async def reject_email(ctx: restate.WorkflowSharedContext, reason: str) -> None:
    await ctx.promise(EMAIL_LINK).reject(reason, 410)
