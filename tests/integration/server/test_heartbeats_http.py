"""Heartbeats over real HTTP between perdure server and a perdure-SDK deployment under
hypercorn: a step that heartbeats outlives the abort timeout, over HTTP/1.1
(request-response: the abort timeout runs from the start) and HTTP/2 (bidi); a silent one
is aborted and retried."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from tests.integration.server.conftest import HERE, PerdureServer, ServeApp


@pytest.mark.parametrize("use_http_11", [True, False], ids=["http11", "http2"])
def test_heartbeats_keep_a_long_step_alive(
    server: PerdureServer, serve_app: ServeApp, tmp_path: Path, use_http_11: bool
) -> None:
    starts = tmp_path / "starts"
    path = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH")) if p)
    url = serve_app(
        "heartbeat_services:app", {"PYTHONPATH": path, "PERDURE_HEARTBEAT_STARTS": str(starts)}
    )
    body = {"uri": url, "use_http_11": use_http_11}
    assert httpx.post(f"{server.admin}/deployments", json=body, timeout=30).status_code == 201
    with httpx.Client(base_url=server.ingress, timeout=60) as ingress:
        assert ingress.post("/LongSteps/beating").json() == "done"
        assert ingress.post("/LongSteps/silent").json() == "done"
    lines = starts.read_text().splitlines()
    assert lines.count("beating") == 1  # one attempt through 3x the abort timeout
    assert lines.count("silent") == 2  # aborted once, then retried
