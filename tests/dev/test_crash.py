"""kill -9 of `perdure dev` while a workflow waits for its promise and another invocation is
inside a `ctx.run`; restarted on the same data dir, both complete, and the durable steps
that had finished do not run again (counted in files outside the journal)."""

from __future__ import annotations

import json
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.polling import eventually_sync

from .harness import APPS, EXAMPLES, Dev


def lines(world: Path, system: str, **match: Any) -> list[dict[str, Any]]:
    try:
        text = (world / f"{system}.jsonl").read_text()
    except FileNotFoundError:
        return []
    found = [json.loads(line) for line in text.splitlines() if line.strip()]
    return [e for e in found if all(e.get(k) == v for k, v in match.items())]


@pytest.fixture
def world(tmp_path: Path) -> Path:
    path = tmp_path / "world"
    path.mkdir()
    return path


@pytest.fixture
def dev(tmp_path: Path, world: Path) -> Iterator[Dev]:
    started = Dev(
        APPS / "signup_and_steps.py",
        tmp_path,
        {
            "PYTHONPATH": str(EXAMPLES),
            "PERDURE_EXAMPLES_DIR": str(world),
            "SIGNUP_REMINDER_AFTER": "3600",  # no reminder e-mail during the test
        },
    )
    started.start()
    try:
        yield started
    finally:
        started.stop()


def deployments(dev: Dev) -> list[dict[str, Any]]:
    response = httpx.get(f"{dev.admin_url}/deployments", timeout=10.0)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["deployments"]
    return found


def start_both(
    dev: Dev, world: Path, user: str, steps_name: str, steps_handler: str = "run"
) -> str:
    """Sign-up waiting for its click, Steps inside its blocking run; the Steps id."""
    with httpx.Client(base_url=dev.ingress_url, timeout=10.0) as ingress:
        submitted = ingress.post(
            f"/SignUp/{user}/run/send", json={"name": "Ann", "email": f"{user}@example.com"}
        )
        assert submitted.status_code == 202, submitted.text
        sent = ingress.post(f"/Steps/{steps_handler}/send", json=steps_name)
        assert sent.status_code == 202, sent.text
        eventually_sync(
            lambda: ingress.get(f"/SignUp/{user}/stage").json() == "waiting-for-click",
            what="the sign-up to wait for its click",
        )
    eventually_sync(
        lambda: lines(world, "steps", key=steps_name, op="blocking-started"),
        what="Steps to enter its blocking ctx.run",
    )
    invocation_id: str = sent.json()["invocationId"]
    return invocation_id


def finish_both(dev: Dev, world: Path, user: str, steps_name: str, steps_id: str) -> None:
    (world / f"{steps_name}.release").touch()
    [email] = lines(world, "outbox", to=f"{user}@example.com", subject="Sign-up verification")
    secret = email["body"].rstrip(".").split()[-1]
    with httpx.Client(base_url=dev.ingress_url, timeout=30.0) as ingress:
        approved = ingress.post(f"/SignUp/{user}/approve_email", json=secret)
        assert approved.status_code == 200, approved.text
        result = ingress.get(f"/restate/workflow/SignUp/{user}/attach")
        assert (result.status_code, result.json()) == (200, f"user-{user}"), result.text
        steps = ingress.get(f"/restate/invocation/{steps_id}/attach")
        assert (steps.status_code, steps.json()) == (200, "done+released"), steps.text
        assert ingress.get(f"/SignUp/{user}/stage").json() == "verified"


def test_kill_9_then_restart_completes_both_without_rerunning_finished_steps(
    dev: Dev, world: Path
) -> None:
    user, steps_name = f"ann-{uuid.uuid4().hex[:8]}", f"steps-{uuid.uuid4().hex[:8]}"
    steps_id = start_both(dev, world, user, steps_name)
    before = deployments(dev)

    assert dev.signal(signal.SIGKILL) == -signal.SIGKILL
    dev.start()

    # Resumed on its own: the unfinished step runs again (it never completed), the finished
    # one is replayed from the journal.
    eventually_sync(
        lambda: len(lines(world, "steps", key=steps_name, op="blocking-started")) == 2,
        what="the restarted server to resume Steps inside its blocking step",
    )
    # Re-registered idempotently: the same deployment, so pinned invocations keep it.
    assert [d["id"] for d in deployments(dev)] == [d["id"] for d in before]
    finish_both(dev, world, user, steps_name, steps_id)

    assert len(lines(world, "accounts", user_id=f"user-{user}")) == 1
    assert len(lines(world, "outbox", to=f"{user}@example.com")) == 1
    assert len(lines(world, "steps", key=steps_name, op="before")) == 1
    assert len(lines(world, "steps", key=steps_name, op="blocking-started")) == 2


@pytest.mark.parametrize(
    ("sig", "steps_handler"),
    [(signal.SIGINT, "run"), (signal.SIGTERM, "run"), (signal.SIGINT, "run_sync")],
    ids=["ctrl-c", "sigterm", "ctrl-c-inside-a-sync-run"],
)
def test_stops_cleanly_and_a_restart_resumes(
    dev: Dev, world: Path, sig: signal.Signals, steps_handler: str
) -> None:
    user, steps_name = f"bob-{uuid.uuid4().hex[:8]}", f"steps-{uuid.uuid4().hex[:8]}"
    steps_id = start_both(dev, world, user, steps_name, steps_handler)

    assert dev.signal(sig) == 0, dev.log()[-3000:]
    assert "Traceback" not in dev.log(), dev.log()[-3000:]
    dev.start()

    eventually_sync(
        lambda: len(lines(world, "steps", key=steps_name, op="blocking-started")) == 2,
        what="the restarted server to resume Steps inside its blocking step",
    )
    finish_both(dev, world, user, steps_name, steps_id)
    assert len(lines(world, "accounts", user_id=f"user-{user}")) == 1
    assert len(lines(world, "steps", key=steps_name, op="before")) == 1
