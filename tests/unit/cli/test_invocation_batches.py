"""`perdure invocations tail` and `cancel|kill|purge` with a selector, against `perdure dev`
(a real server): the tail is a real subprocess stopped with SIGINT (Ctrl-C); the batch
commands go through the admin batch route in chunks, with progress on stderr."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from click.testing import CliRunner, Result

from perdure.cli.main import cli
from tests.support.perdure import PerdureServer, perdure_cli
from tests.support.polling import eventually_sync

APP = Path(__file__).parent / "apps" / "batch_app.py"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PerdureServer]:
    started = PerdureServer(
        tmp_path_factory.mktemp("batches"),
        {
            "RESTATE_DEFAULT_RETRY_POLICY__INITIAL_INTERVAL": "50ms",
            "RESTATE_DEFAULT_RETRY_POLICY__MAX_INTERVAL": "500ms",
        },
        app=APP,
    )
    started.start()
    try:
        yield started
    finally:
        started.stop()


def run(server: PerdureServer, *args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, [*args, "--admin-url", server.admin_url], input=input)


def send(server: PerdureServer, path: str, tag: str) -> str:
    answer = httpx.post(f"{server.ingress_url}/{path}/send", json=tag, timeout=30)
    assert answer.status_code == 202, answer.text
    return str(answer.json()["invocationId"])


def rows(server: PerdureServer, where: str) -> list[dict[str, Any]]:
    answer = httpx.post(
        f"{server.admin_url}/query",
        json={
            "query": f"SELECT id, status, completion_result, completion_failure "
            f"FROM sys_invocation WHERE {where}"
        },
        headers={"accept": "application/json"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return list(answer.json()["rows"])


def id_list(ids: list[str]) -> str:
    return "id IN (" + ", ".join(f"'{i}'" for i in ids) + ")"


class Lines:
    """The lines a subprocess writes to one of its pipes, read by a thread."""

    def __init__(self, pipe: IO[str]) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        self._pipe = pipe
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self._pipe:
            self._queue.put(line.rstrip("\n"))

    def close(self) -> None:
        """Once the process ended: the reader reaches the end of the pipe, then close it."""
        self._reader.join(timeout=10)
        self._pipe.close()

    def until(self, wanted: str, what: str) -> list[str]:
        """Every line so far, once one containing `wanted` arrived."""

        def probe() -> list[str] | None:
            while not self._queue.empty():
                self.seen.append(self._queue.get())
            return self.seen if any(wanted in line for line in self.seen) else None

        return eventually_sync(probe, what=what)


Tail = tuple[subprocess.Popen[str], Lines, Lines]


@pytest.fixture
def tails(server: PerdureServer) -> Iterator[list[Tail]]:
    """Tail processes a test starts; any still running at its end are killed."""
    started: list[Tail] = []
    yield started
    for process, out, err in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        out.close()
        err.close()


def start_tail(server: PerdureServer, started: list[Tail], *args: str) -> Tail:
    process = subprocess.Popen(
        [
            perdure_cli(),
            "invocations",
            "tail",
            "--admin-url",
            server.admin_url,
            "--interval",
            "0.1",
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None and process.stderr is not None
    tail = (process, Lines(process.stdout), Lines(process.stderr))
    started.append(tail)
    tail[2].until("Following invocations", "the tail to start")
    return tail


def stop_with_ctrl_c(process: subprocess.Popen[str]) -> int:
    process.send_signal(signal.SIGINT)
    return process.wait(timeout=20)


def test_tail_follows_new_and_failed_invocations(server: PerdureServer, tails: list[Tail]) -> None:
    before = send(server, "Other/echo", "before")
    eventually_sync(lambda: rows(server, f"id = '{before}' AND status = 'completed'"), what="it")
    everything, out, _ = start_tail(server, tails)
    flaky_only, flaky_out, _ = start_tail(server, tails, "--service", "Flaky", "--json")

    echoed = send(server, "Other/echo", "after")
    failing = send(server, "Flaky/fail", "tailed")
    lines = out.until(f"{failing}  Flaky/fail  backing-off", "the failing invocation")
    out.until(f"{echoed}  Other/echo  completed (success)", "the new invocation, done")
    failed = next(line for line in out.seen if failing in line and "backing-off" in line)
    assert "tailed always fails" in failed
    assert not any(before in line for line in lines)  # it ended before the tail started

    flaky_out.until(failing, "the Flaky invocation in the filtered tail")
    found = [json.loads(line) for line in flaky_out.seen]
    assert {row["target"] for row in found} == {"Flaky/fail"}
    assert all(row["id"] == failing for row in found)

    assert stop_with_ctrl_c(everything) == 0
    assert stop_with_ctrl_c(flaky_only) == 0
    assert run(server, "invocations", "kill", failing).exit_code == 0


def test_kill_every_invocation_of_a_service_in_chunks(server: PerdureServer) -> None:
    waiting = [send(server, "Waiter/wait", f"w{i}") for i in range(12)]
    others = [send(server, "Other/wait", f"o{i}") for i in range(2)]

    result = run(server, "invocations", "kill", "--service", "Waiter", "--yes", "--chunk-size", "5")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == ["killed 5/12", "killed 10/12", "killed 12/12"]
    assert result.stdout.strip() == "killed 12 of 12 invocations"
    ended = rows(server, id_list(waiting))
    assert {(r["status"], r.get("completion_result")) for r in ended} == {("completed", "failure")}
    assert all("killed" in r["completion_failure"] for r in ended)
    assert all(r["status"] != "completed" for r in rows(server, id_list(others)))

    again = run(server, "invocations", "kill", "--service", "Waiter", "--yes")
    assert again.exit_code == 0, again.output
    assert "No invocations of service Waiter" in again.stdout
    assert run(server, "invocations", "kill", *others).exit_code == 0


def test_cancel_asks_first_then_purge_says_what_failed(server: PerdureServer) -> None:
    cancelling = [send(server, "Other/wait", f"c{i}") for i in range(6)]
    staying = [send(server, "Other/wait", f"s{i}") for i in range(2)]
    selector = id_list(cancelling)

    refused = run(server, "invocations", "cancel", "--query", selector, input="n\n")
    assert refused.exit_code == 1
    assert "Cancel 6 invocations matching" in refused.stderr
    assert all(r["status"] != "completed" for r in rows(server, selector))

    accepted = run(server, "invocations", "cancel", "--query", selector, input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert accepted.stdout.strip() == "cancelled 6 of 6 invocations"
    assert "cancelled 6/6" in accepted.stderr

    def all_cancelled() -> list[dict[str, Any]] | None:
        found = rows(server, selector)
        return found if all(r["status"] == "completed" for r in found) else None

    cancelled = eventually_sync(all_cancelled, what="the cancellations to end them")
    assert all(r.get("completion_result") == "failure" for r in cancelled)

    both = id_list(cancelling + staying)
    purged = run(server, "invocations", "purge", "--query", both, "--yes", "--json")
    assert purged.exit_code == 1, purged.output
    summary = json.loads(purged.stdout)
    assert summary["operation"] == "purge" and summary["selected"] == 8
    assert sorted(summary["succeeded"]) == sorted(cancelling)
    assert sorted(f["id"] for f in summary["failed"]) == sorted(staying)
    assert rows(server, selector) == []
    assert len(rows(server, id_list(staying))) == 2

    text = run(server, "invocations", "purge", "--query", id_list(staying), "--yes")
    assert text.exit_code == 1
    assert text.stdout.strip() == "purged 0 of 2 invocations; 2 failed"
    assert all(f"Error: {i}: " in text.stderr for i in staying)
    assert run(server, "invocations", "kill", *staying).exit_code == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["inv_1abc", "--service", "Waiter"], "not both"),
        ([], "Missing argument 'ID...'. give invocation IDs, or select them"),
        (["--query", "true", "--service", "Waiter"], "--query goes alone"),
    ],
)
def test_a_selector_is_ids_or_service_or_query(args: list[str], message: str) -> None:
    result = CliRunner().invoke(
        cli, ["invocations", "cancel", *args, "--admin-url", "http://127.0.0.1:9"]
    )
    assert result.exit_code == 2, result.output
    assert message in result.output
