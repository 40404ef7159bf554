"""Replay check: in-flight sign-ups (examples/signup.py) against changed code.

Acceptance: the unchanged app passes; one with a `ctx.run` inserted before the promise
fails with the invocation ids and the divergent entry; one that changes only code after
the last journaled entry passes. Through the harness API, the CLI on a data dir, and the
CLI against a running `perdure dev` (admin API `POST /query`).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from click.testing import CliRunner

from perdure.cli.main import cli
from perdure.testing import Harness
from tests.dev.harness import Dev
from tests.examples.harness import EXAMPLES, load_example
from tests.support.polling import eventually_sync

signup = load_example("signup")
SOURCE = (EXAMPLES / "signup.py").read_text()
WAITING = '        ctx.set("stage", "waiting-for-click")\n'
VERIFIED = '        ctx.set("stage", "verified")\n'
assert WAITING in SOURCE and VERIFIED in SOURCE


@dataclass
class Versions:
    unchanged: Path
    extra_step: Path  # a ctx.run before the promise: in-flight journals diverge there
    later_change: Path  # a ctx.run after the click: past every journal's end
    extra_step_line: int


@pytest.fixture
def versions(tmp_path: Path) -> Versions:
    folder = tmp_path / "next"
    folder.mkdir()
    shutil.copy(EXAMPLES / "fake_world.py", folder / "fake_world.py")
    extra = SOURCE.replace(WAITING, WAITING + '        await ctx.run_typed("audit", str)\n')
    later = SOURCE.replace(VERIFIED, '        await ctx.run_typed("welcome", str)\n' + VERIFIED)
    for name, text in (("signup.py", SOURCE), ("extra_step.py", extra), ("later.py", later)):
        (folder / name).write_text(text)
    line = extra.splitlines().index('        await ctx.run_typed("audit", str)') + 1
    return Versions(folder / "signup.py", folder / "extra_step.py", folder / "later.py", line)


def load(path: Path) -> ModuleType:
    sys.path.insert(0, str(path.parent))
    try:
        spec = importlib.util.spec_from_file_location(f"replay_{path.stem}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(path.parent))


async def in_flight_sign_ups(h: Harness, names: list[str]) -> list[str]:
    ids = []
    for name in names:
        handle = await h.client.workflow(signup.SignUp, name).submit(
            signup.User(name=name, email=f"{name}@example.com")
        )
        ids.append(handle.invocation_id)
    await h.advance(timedelta(seconds=90))  # a reminder went out: more journal to replay
    return ids


async def test_replay_check_from_the_harness(versions: Versions) -> None:
    async with Harness(signup.app) as h:
        ids = await in_flight_sign_ups(h, ["ann", "bo"])
        done = await h.client.workflow(signup.SignUp, "cy").submit(signup.User("cy", "c@x"))
        await h.settle()
        await h.client.workflow(signup.SignUp, "cy").reject_email()
        await h.wait_completed(done.invocation_id)

        unchanged = await h.replay_check(load(versions.unchanged).app)
        broken = await h.replay_check(load(versions.extra_step).app)
        later = await h.replay_check(load(versions.later_change).app)

    assert unchanged.ok and sorted(r.invocation_id for r in unchanged.results) == sorted(ids)
    assert later.ok and len(later.results) == 2
    assert not broken.ok
    assert sorted(r.invocation_id for r in broken.broken) == sorted(ids)
    for result in broken.broken:
        divergence = result.divergence
        assert divergence is not None and result.verdict == "mismatch"
        assert divergence.expected == "Command: GetPromise"
        assert divergence.got == "Command: Run 'audit'"
        assert divergence.journal_index == 7
        assert divergence.location == f"{versions.extra_step}:{versions.extra_step_line}"
    assert "expected Command: GetPromise, got Command: Run 'audit'" in str(broken)


def test_a_removed_handler_breaks_its_in_flight_invocations(versions: Versions) -> None:
    renamed = versions.unchanged.with_name("renamed.py")
    main = "    async def run(ctx: WorkflowContext, user: User) -> str:"
    assert main in SOURCE
    renamed.write_text(SOURCE.replace(main, main.replace("def run(", "def sign_up(")))

    async def check() -> list[str]:
        async with Harness(signup.app) as h:
            await in_flight_sign_ups(h, ["dee"])
            return [str(r) for r in (await h.replay_check(load(renamed).app)).broken]

    (broken,) = asyncio.run(check())
    assert "SignUp/dee/run" in broken and "missing handler" in broken


@pytest.fixture
def data_dir(tmp_path: Path) -> tuple[Path, list[str]]:
    """A data dir holding two in-flight sign-ups (the harness that made it is closed)."""
    folder = tmp_path / "data"

    async def make() -> list[str]:
        async with Harness(signup.app, data_dir=folder) as h:
            return await in_flight_sign_ups(h, ["eve", "fay"])

    return folder, asyncio.run(make())


def test_the_cli_on_a_data_dir(versions: Versions, data_dir: tuple[Path, list[str]]) -> None:
    folder, ids = data_dir
    runner = CliRunner()

    def check(app: Path, *extra: str) -> tuple[int, str]:
        result = runner.invoke(cli, ["replay-check", str(app), "--data-dir", str(folder), *extra])
        return result.exit_code, result.output

    code, out = check(versions.unchanged)
    assert (code, out.strip()) == (0, "2 in-flight invocations of SignUp replay on the new code")
    code, out = check(versions.extra_step)
    assert code == 1, out
    assert all(i in out for i in ids)
    assert "journal entry #7: expected Command: GetPromise, got Command: Run 'audit'" in out
    assert f"extra_step.py:{versions.extra_step_line}" in out
    assert check(versions.later_change)[0] == 0
    code, out = check(versions.extra_step, "--json")
    report = json.loads(out)
    assert (code, report["ok"], report["broken"]) == (1, False, 2)
    assert {i["divergence"]["got"] for i in report["invocations"]} == {"Command: Run 'audit'"}


def test_the_cli_refuses_both_sources(versions: Versions, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["replay-check", str(versions.unchanged), "--data-dir", str(tmp_path),
         "--admin-url", "http://127.0.0.1:9"],
    )  # fmt: skip
    assert result.exit_code == 2 and "not both" in result.output


def test_the_cli_against_a_running_server(versions: Versions, tmp_path: Path) -> None:
    env = {"SIGNUP_REMINDER_AFTER": "3600", "PERDURE_EXAMPLES_DIR": str(tmp_path / "world")}
    dev = Dev(EXAMPLES / "signup.py", tmp_path / "dev", env)
    dev.start()
    try:
        with httpx.Client(base_url=dev.ingress_url, timeout=10) as ingress:
            ids = []
            for name in ("gus", "hal"):
                body = {"name": name, "email": f"{name}@example.com"}
                sent = ingress.post(f"/SignUp/{name}/run/send", json=body)
                assert sent.status_code == 202, sent.text
                ids.append(sent.json()["invocationId"])
                eventually_sync(
                    lambda n=name: (
                        ingress.get(f"/SignUp/{n}/stage").content == b'"waiting-for-click"' or None
                    ),
                    what=f"{name} waiting for the click",
                )

        def check(app: Path, *source: str) -> subprocess.CompletedProcess[str]:
            argv = [sys.executable, "-m", "perdure.cli.main", "replay-check", str(app), *source]
            return subprocess.run(argv, capture_output=True, text=True, timeout=60)

        admin = ("--admin-url", dev.admin_url)
        assert check(versions.unchanged, *admin).returncode == 0
        broken = check(versions.extra_step, *admin)
        assert broken.returncode == 1, broken.stdout + broken.stderr
        assert all(i in broken.stdout for i in ids)
        assert "expected Command: GetPromise, got Command: Run 'audit'" in broken.stdout
        assert check(versions.later_change, *admin).returncode == 0
        # The data dir of the running server, read-only, says the same.
        on_disk = check(versions.extra_step, "--data-dir", str(tmp_path / "dev" / "data"))
        assert on_disk.returncode == 1 and all(i in on_disk.stdout for i in ids)
    finally:
        dev.stop()
