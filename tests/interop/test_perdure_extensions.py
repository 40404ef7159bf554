"""perdure's extensions on the real restate-server 1.7.12: an app that declares a schedule
and flow-control limits (handler and service metadata in its manifest) registers and runs
there, and a step that heartbeats under a timeout works (restate-server offers no
heartbeats, so the SDK sends none)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.endpoint import Endpoint, perdure_serve
from tests.support.registration import register
from tests.support.restate_server import RestateServer

pytestmark = pytest.mark.interop

APP = Path(__file__).resolve().parents[1] / "features" / "apps" / "scheduled.py"


@pytest.fixture(scope="module")
def restate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RestateServer]:
    server = RestateServer(tmp_path_factory.mktemp("restate"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    workdir = tmp_path_factory.mktemp("extensions-app")
    served = Endpoint(
        "perdure serve scheduled.py",
        perdure_serve(APP),
        cwd=workdir,
        log_path=workdir / "endpoint.log",
        health_path="/health",
    )
    served.start()
    try:
        yield served
    finally:
        served.stop()


@pytest.mark.parametrize("use_http_11", [False, True], ids=["http2", "http11"])
def test_restate_server_takes_an_app_with_schedules_and_limits(
    restate: RestateServer, endpoint: Endpoint, use_http_11: bool
) -> None:
    services = register(
        restate.admin_url, restate.ingress_url, endpoint.uri, use_http_11=use_http_11
    )
    assert services == ["Reports"]
    described = httpx.get(f"{restate.admin_url}/services/Reports", timeout=10).json()
    handlers = {h["name"]: h for h in described["handlers"]}
    # restate-server stores perdure's metadata as the opaque strings it is.
    schedules = json.loads(handlers["build"]["metadata"]["perdure.schedules"])
    assert schedules[0]["name"] == "often" and schedules[0]["cron"] == "*/2 * * * * *"
    assert json.loads(handlers["slow"]["metadata"]["perdure.limits"]) == {"concurrency": 1}
    with httpx.Client(base_url=restate.ingress_url, timeout=30) as ingress:
        built = ingress.post("/Reports/build", json="q3")
        assert built.status_code == 200 and built.json() == "q3 at None"  # no tick header
        beat = ingress.post("/Reports/beat")
        assert beat.status_code == 200, beat.text
        assert beat.json() == "beat"
        assert ingress.post("/Reports/slow", json=0).json() == "done"
