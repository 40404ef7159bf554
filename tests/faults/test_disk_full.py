"""The data file's disk fills up, or turns read-only, under a running `perdure dev`.

While the store cannot write, the ingress refuses new work at once with a 503 that says so
(not a hang, not the catch-all "internal error"); nothing acknowledged before is lost; once
space returns (or the disk is writable again) the refused requests go through with their
idempotency keys, the invocations in flight across the fault finish, every counter is exact
and the data file passes `PRAGMA integrity_check`. reliability.md T6.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.faults.disk import SmallDisk
from tests.support.perdure import PerdureServer
from tests.support.polling import eventually_sync

HERE = Path(__file__).parent
DISK_MIB = 24
ANSWER_BOUND_S = 10.0
FAULT_REQUESTS = 200  # at most this many sends while the disk is full
SERVER_ENV = {
    "RESTATE_DEFAULT_RETRY_POLICY__INITIAL_INTERVAL": "50ms",
    "RESTATE_DEFAULT_RETRY_POLICY__MAX_INTERVAL": "500ms",
    "RESTATE_DEFAULT_RETRY_POLICY__MAX_ATTEMPTS": "unlimited",
}


@dataclass
class Stack:
    disk: SmallDisk
    server: PerdureServer
    http: httpx.Client
    expected: dict[str, int] = field(default_factory=dict)

    def send_add(self, key: str, idempotency_key: str) -> httpx.Response:
        url = f"{self.server.ingress_url}/Tally/{key}/add/send"
        return self.http.post(url, json=1, headers={"idempotency-key": idempotency_key})

    def counter(self, key: str) -> int:
        value = self.http.post(f"{self.server.ingress_url}/Tally/{key}/get")
        assert value.status_code == 200, value.text
        return int(value.json())


@pytest.fixture(params=["tmpfs"])
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    """`perdure dev` with its data on a small disk of the kind the test asks for
    (`@pytest.mark.parametrize("stack", ["ext4"], indirect=True)`)."""
    disk = SmallDisk(tmp_path / "disk", DISK_MIB, kind=request.param)
    why = disk.start()
    if why is not None:
        pytest.skip(why)
    server = PerdureServer(
        tmp_path / "work",
        SERVER_ENV,
        app=HERE / "fault_services.py",
        data_dir=disk.mountpoint / "data",
        prefix=disk.enter(),
    )
    try:
        server.start()
        with httpx.Client(timeout=ANSWER_BOUND_S) as http:
            yield Stack(disk, server, http)
        server.stop()
        # S14: the data file is sound after all of it.
        assert disk.integrity_check("data/perdure.sqlite3") == "ok"
        assert "Traceback" not in server.log_text(), server.log_text()[-6000:]
    finally:
        server.stop()
        disk.stop()


def _acknowledge_work(stack: Stack) -> list[str]:
    """Adds answered before the fault, and sleeping invocations that add after it."""
    for i in range(20):
        assert stack.send_add("before", f"before-{i}").status_code == 202
    stack.expected["before"] = 20
    sleepers = []
    for i in range(5):
        url = f"{stack.server.ingress_url}/Later/add_after/send"
        body = {"ms": 1500, "key": "across", "n": 1}
        sent = stack.http.post(url, json=body, headers={"idempotency-key": f"across-{i}"})
        assert sent.status_code == 202, sent.text
        sleepers.append(sent.json()["invocationId"])
    stack.expected["across"] = 5
    return sleepers


def _refused_while(stack: Stack, words: tuple[str, ...]) -> list[str]:
    """Send adds until the store refuses one; every answer is a 202 (committed) or a clear 503,
    each within the bound. The idempotency keys of the refused ones."""
    refused: list[str] = []
    accepted = 0
    for i in range(FAULT_REQUESTS):
        started = time.monotonic()
        try:
            answer = stack.send_add("during", f"during-{i}")
        except httpx.TimeoutException:
            pytest.fail(
                f"request {i} got no answer within {ANSWER_BOUND_S} s while the disk was bad"
            )
        assert time.monotonic() - started < ANSWER_BOUND_S
        if answer.status_code == 202:
            accepted += 1
            continue
        assert answer.status_code == 503, answer.text
        message = answer.json()["message"]
        assert "store cannot write" in message and any(w in message for w in words), message
        assert "internal error" not in message
        refused.append(f"during-{i}")
        if len(refused) >= 5:
            break
    assert refused, f"{FAULT_REQUESTS} sends were all accepted: the fault never hit the store"
    stack.expected["during"] = accepted
    return refused


def _recovered(stack: Stack, refused: list[str], sleepers: list[str]) -> None:
    def retried() -> bool:
        return stack.send_add("during", refused[0]).status_code == 202

    eventually_sync(retried, what="the ingress to accept work again", within=30)
    for key in refused[1:]:
        answer = stack.send_add("during", key)
        assert answer.status_code == 202, answer.text
    stack.expected["during"] += len(refused)
    for invocation_id in sleepers:
        url = f"{stack.server.ingress_url}/restate/invocation/{invocation_id}/attach"
        attached = stack.http.get(url, timeout=60)
        assert attached.status_code == 200 and attached.json() == "added", attached.text
    for key, expected in stack.expected.items():
        eventually_sync(
            lambda k=key, e=expected: stack.counter(k) == e,  # type: ignore[misc]
            what=f"counter {key} to reach {expected}",
            within=30,
        )


def test_a_full_disk_refuses_new_work_clearly_and_recovers(stack: Stack) -> None:
    sleepers = _acknowledge_work(stack)
    took = stack.disk.fill()
    assert took > 0
    try:
        refused = _refused_while(stack, ("full",))
        # The admin API answers too (reads need no space), and says what is wrong on writes.
        assert stack.http.get(f"{stack.server.admin_url}/health").status_code == 200
    finally:
        stack.disk.free()
    _recovered(stack, refused, sleepers)


@pytest.mark.parametrize("stack", ["ext4"], indirect=True)
def test_a_disk_turned_read_only_refuses_new_work_clearly_and_recovers(stack: Stack) -> None:
    """The kernel turns the file system read-only under the server (errors=remount-ro after
    an I/O error): writes fail with EIO until an operator repairs it and restarts."""
    sleepers = _acknowledge_work(stack)
    stack.disk.fail_read_only()
    refused = _refused_while(stack, ("I/O error", "read-only", "readonly"))
    stack.server.stop()
    stack.disk.repair()
    stack.server.start()  # same data dir: everything acknowledged must still be there
    _recovered(stack, refused, sleepers)
