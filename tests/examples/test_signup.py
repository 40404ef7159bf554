"""examples/signup.py and examples/signup_client.py, against a server.

Run: scripts/test tests/examples/test_signup.py
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import fake_world
import pytest

from perdure.client import Client, IngressError

from .conftest import Example, serve_example
from .harness import EXAMPLES, Server
from .helpers import effects, eventually, keys_once

REMINDER_AFTER = 1.5  # seconds; the expiry test waits (MAX_REMINDERS + 1) times this


@pytest.fixture(scope="module")
def example(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Example]:
    yield from serve_example(
        "signup", server, tmp_path_factory, {"SIGNUP_REMINDER_AFTER": str(REMINDER_AFTER)}
    )


def code_in(mail: dict[str, Any]) -> str:
    found = re.search(r"confirmation code is ([0-9a-f-]{36})", mail["body"])
    assert found, f"no code in {mail}"
    return found.group(1)


async def submitted(example: Example, client: Client, name: str) -> tuple[Any, str]:
    """Submit a sign-up for `name`; wait until it waits for the click. (proxy, run id)"""
    signup = client.workflow(example.module.SignUp, name)
    handle = await signup.submit(example.module.User(name=name, email=f"{name}@example.com"))
    assert handle.status == "Accepted"

    async def waiting() -> str | None:
        stage: str | None = await signup.stage()
        return stage if stage == "waiting-for-click" else None

    await eventually(waiting, what="the stage waiting-for-click")
    return signup, handle.invocation_id


async def test_approved_sign_up_creates_the_user_once(example: Example, client: Client) -> None:
    name = f"ann-{os.urandom(4).hex()}"
    signup, run_id = await submitted(example, client, name)
    (verification,) = effects("outbox", run_id, subject="Sign-up verification")
    assert verification["to"] == f"{name}@example.com"

    await signup.approve_email(code_in(verification))

    assert await signup.attach() == f"user-{name}"
    assert await signup.stage() == "verified"
    (user,) = effects("accounts", run_id)
    assert (user["user_id"], user["email"]) == (f"user-{name}", f"{name}@example.com")
    keys_once(effects("outbox", run_id))
    # The same key again: the first run's result, not a second sign-up.
    again = await signup.submit(example.module.User(name=name, email="other@example.com"))
    assert again.status == "PreviouslyAccepted"
    assert await signup.attach() == f"user-{name}"
    assert len(effects("accounts", run_id)) == 1


async def test_rejected_e_mail_fails_the_sign_up(example: Example, client: Client) -> None:
    signup, _ = await submitted(example, client, f"bo-{os.urandom(4).hex()}")
    await signup.reject_email()
    with pytest.raises(IngressError) as failure:
        await signup.attach()
    assert (failure.value.code, failure.value.message) == (403, "the e-mail was rejected")
    assert await signup.stage() == "rejected"


async def test_wrong_code_fails_the_sign_up(example: Example, client: Client) -> None:
    signup, _ = await submitted(example, client, f"cy-{os.urandom(4).hex()}")
    await signup.approve_email("not-the-code")
    with pytest.raises(IngressError) as failure:
        await signup.attach()
    assert failure.value.code == 400
    assert await signup.stage() == "rejected"


async def test_reminder_carries_the_same_code(example: Example, client: Client) -> None:
    name = f"di-{os.urandom(4).hex()}"
    signup, run_id = await submitted(example, client, name)
    (reminder,) = await eventually(
        lambda: effects("outbox", run_id, subject="Sign-up reminder 1") or None,
        what="the first reminder",
    )
    (verification,) = effects("outbox", run_id, subject="Sign-up verification")
    # ctx.uuid() drew the same secret again on every replay since the first e-mail.
    assert code_in(reminder) == code_in(verification)

    await signup.approve_email(code_in(reminder))

    assert await signup.attach() == f"user-{name}"
    keys_once(effects("outbox", run_id))


async def test_no_click_expires_after_the_reminders(example: Example, client: Client) -> None:
    signup, run_id = await submitted(example, client, f"ed-{os.urandom(4).hex()}")
    with pytest.raises(IngressError) as failure:
        await signup.attach()
    assert failure.value.code == 408
    assert await signup.stage() == "expired"
    mails = keys_once(effects("outbox", run_id))
    assert [m["subject"] for m in mails] == ["Sign-up verification"] + [
        f"Sign-up reminder {n}" for n in range(1, example.module.MAX_REMINDERS + 1)
    ]


def run_client(example: Example, *args: str) -> subprocess.CompletedProcess[str]:
    """`python examples/signup_client.py ARGS` against the test's ingress."""
    return subprocess.run(
        [sys.executable, str(EXAMPLES / "signup_client.py"), *args,
         "--ingress", example.ingress_url, "--timeout", "30"],
        env={**os.environ, fake_world.DIR_ENV: str(fake_world.world_dir())},
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip


def test_client_script_signs_up_then_attaches_again(example: Example) -> None:
    name = f"fay-{os.urandom(4).hex()}"
    first = run_client(example, name, f"{name}@example.com")
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"signed up: user-{name} (stage verified)" in first.stdout
    assert "(Accepted)" in first.stdout

    second = run_client(example, name, f"{name}@example.com")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "(PreviouslyAccepted)" in second.stdout
    assert f"signed up: user-{name}" in second.stdout
    assert len(fake_world.entries("accounts", user_id=f"user-{name}")) == 1


def test_client_script_rejects(example: Example) -> None:
    name = f"gus-{os.urandom(4).hex()}"
    result = run_client(example, name, f"{name}@example.com", "--reject")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "sign-up failed: the e-mail was rejected (stage rejected)" in result.stdout
