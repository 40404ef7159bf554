"""A deployment's endpoint as a child process on a free loopback port: `perdure serve APP`, or
the official restate-sdk's services under hypercorn."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import httpx

from .perdure import perdure_cli
from .ports import free_port, port_accepts
from .process import ManagedProcess, start_until_ready

Command = Callable[[int], list[str]]  # the argv that serves on the given port


def perdure_serve(app: Path, *, cli_hint: str = "") -> Command:
    def argv(port: int) -> list[str]:
        cli = perdure_cli(cli_hint)
        return [cli, "serve", str(app), "--port", str(port), "--host", "127.0.0.1"]

    return argv


def hypercorn(app: str, workdir: Path) -> Command:
    """hypercorn serving `module:attribute`, configured as the restate-sdk docs recommend: the
    server multiplexes many long-lived h2c streams over one connection, so neither stream count
    nor keep-alive may cut it off; one worker (services may keep in-process tallies)."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "hypercorn.toml"
    config.write_text(
        "h2_max_concurrent_streams = 2147483647\n"
        "keep_alive_max_requests = 2147483647\n"
        "keep_alive_timeout = 2147483647\n"
        "workers = 1\n"
    )

    def argv(port: int) -> list[str]:
        return [
            sys.executable, "-m", "hypercorn",
            "--config", str(config),
            "--bind", f"127.0.0.1:{port}",
            app,
        ]  # fmt: skip

    return argv


class Endpoint:
    """One process serving a deployment; restartable on the same port with other settings.

    Its environment: the caller's, `env`, `pythonpath` before PYTHONPATH. Ready when the port
    accepts connections, or, given `health_path`, when that path answers 200."""

    def __init__(
        self,
        name: str,
        command: Command,
        *,
        cwd: Path,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        pythonpath: Sequence[Path] = (),
        health_path: str | None = None,
    ) -> None:
        self.name = name
        self.command = command
        self.cwd = cwd
        self.log_path = log_path
        self.env = dict(env or {})
        self.pythonpath = [str(p) for p in pythonpath]
        self.health_path = health_path
        self.port = 0
        self.process: ManagedProcess | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, keep_port: bool = False) -> None:
        def spawn() -> ManagedProcess:
            if not keep_port or not self.port:
                self.port = free_port()
            self.process = ManagedProcess(
                self.name,
                self.command(self.port),
                env=self._environment(),
                cwd=self.cwd,
                log_path=self.log_path,
            )
            self.process.start()
            return self.process

        self.process = start_until_ready(spawn, self._ready, what=self.name)

    def restart(self, env: Mapping[str, str]) -> None:
        """Replace the process, same port (the registered deployment URI stays valid)."""
        self.stop()
        self.env.update(env)
        self.start(keep_port=True)

    def _environment(self) -> dict[str, str]:
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        if self.pythonpath:
            env["PYTHONPATH"] = os.pathsep.join(
                filter(None, [*self.pythonpath, os.environ.get("PYTHONPATH")])
            )
        return env

    def _ready(self) -> bool:
        if self.health_path is None:
            return port_accepts(self.port)
        try:
            return httpx.get(f"{self.uri}{self.health_path}", timeout=2.0).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
