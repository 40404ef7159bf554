"""A child process we started, with its output in a log file, stopped by its own id."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest

from .polling import wait_until

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    # Runs in the child before exec: if the test process dies without tearing down (killed by a
    # CI timeout, SIGKILL), the kernel sends SIGTERM to the child instead of leaving it orphaned.
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class ManagedProcess:
    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        log_path: Path,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.cwd = cwd
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> None:
        assert self._proc is None, f"{self.name} already started"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"=== {self.name}: {' '.join(self.argv)}\n".encode())
            log.flush()
            # A session of its own, so stop() can end exactly the process tree we started
            # (hypercorn or `perdure serve` may fork workers) and nothing else.
            self._proc = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )

    def exit_code(self) -> int | None:
        """None while running (or never started)."""
        return None if self._proc is None else self._proc.poll()

    def stop(self, grace: float = 10.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        self._signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self._signal_group(proc.pid, signal.SIGKILL)
            proc.wait(timeout=grace)

    @staticmethod
    def _signal_group(pid: int, sig: signal.Signals) -> None:
        # The group id is the pid of the process we started (start_new_session=True).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig)

    def log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def log_text(self, start: int = 0, limit: int = 20_000) -> str:
        """The log from byte offset `start`, keeping the last `limit` bytes."""
        try:
            with self.log_path.open("rb") as f:
                f.seek(start)
                data = f.read()
        except FileNotFoundError:
            return ""
        if len(data) > limit:
            data = b"[...]\n" + data[-limit:]
        return data.decode("utf-8", "replace")


def start_until_ready(
    spawn: Callable[[], ManagedProcess],
    ready: Callable[[], bool],
    *,
    what: str,
    timeout: float = 30.0,
    attempts: int = 3,
) -> ManagedProcess:
    """`spawn()` starts a process (on fresh ports); wait until `ready()` while it runs. If it
    exits or times out, stop it and spawn again (most likely a port was taken between
    free_port() and bind); after `attempts`, fail the test with the last log."""
    log = ""
    for _ in range(attempts):
        process = spawn()
        if wait_until(ready, process, timeout):
            return process
        log = process.log_text(limit=4000)
        process.stop()
    pytest.fail(f"{what} did not become ready; its log:\n{log}", pytrace=False)


def stop_popen(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM a plain `Popen` child, SIGKILL it if it does not exit within `grace`."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=grace)
