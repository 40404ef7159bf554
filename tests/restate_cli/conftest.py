"""Two servers side by side for the `restate` CLI: restate-server 1.7.12 with the sign-up
example served by `perdure serve`, and `perdure dev examples/signup.py`. Tests drive both
the same way and compare what the CLI prints (see test_cli_parity.py)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.endpoint import Endpoint, perdure_serve
from tests.support.perdure import PerdureServer
from tests.support.registration import register
from tests.support.restate_cli import run_cli
from tests.support.restate_server import RestateServer

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
GREETER_APP = REPO / "tests" / "dev" / "apps" / "remote_greeter.py"


@dataclass
class Side:
    """One server as the CLI sees it."""

    name: str
    admin_url: str
    ingress_url: str
    home: Path

    def cli(self, *args: str) -> str:
        return run_cli(list(args), self.admin_url, self.home)

    def query(self, sql: str) -> list[dict[str, object]]:
        answer = httpx.post(
            f"{self.admin_url}/query", json={"query": sql}, headers={"accept": "application/json"}
        )
        assert answer.status_code == 200, answer.text
        return list(answer.json()["rows"])

    def ingress(self) -> httpx.Client:
        return httpx.Client(base_url=self.ingress_url, timeout=30.0)


@dataclass
class Sides:
    restate: Side
    perdure: Side
    greeter_uri: str  # a second endpoint, for `deployments register`

    def both(self) -> tuple[Side, Side]:
        return self.restate, self.perdure


@pytest.fixture(scope="module")
def sides(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sides]:
    work = tmp_path_factory.mktemp("restate-cli")
    # No reminder e-mail while the tests look at a waiting sign-up.
    env = {"SIGNUP_REMINDER_AFTER": "3600", "PERDURE_EXAMPLES_DIR": str(work / "world")}
    restate = RestateServer(work / "restate")
    signup = Endpoint(
        "perdure serve signup",
        perdure_serve(EXAMPLES / "signup.py"),
        cwd=EXAMPLES,
        log_path=work / "signup-endpoint.log",
        env=env,
    )
    greeter = Endpoint(
        "perdure serve greeter",
        perdure_serve(GREETER_APP),
        cwd=work,
        log_path=work / "greeter-endpoint.log",
    )
    perdure = PerdureServer(work / "perdure", env, app=EXAMPLES / "signup.py", cwd=EXAMPLES)
    started: list[RestateServer | Endpoint | PerdureServer] = []
    try:
        for part in (restate, signup, greeter, perdure):
            part.start()
            started.append(part)
        register(restate.admin_url, restate.ingress_url, signup.uri)
        yield Sides(
            Side("restate-server", restate.admin_url, restate.ingress_url, work / "home"),
            Side("perdure", perdure.admin_url, perdure.ingress_url, work / "home"),
            greeter.uri,
        )
    finally:
        for part in reversed(started):
            part.stop()
