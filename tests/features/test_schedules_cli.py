"""`perdure schedules …` against `perdure dev` hosting an app with a code schedule."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from perdure.cli.main import cli
from tests.support.perdure import PerdureServer
from tests.support.polling import eventually_sync

APP = Path(__file__).parent / "apps" / "scheduled.py"


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[PerdureServer]:
    server = PerdureServer(
        tmp_path, {"PYTHONPATH": os.environ.get("PYTHONPATH", "")}, app=APP, data_dir=tmp_path / "d"
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def run(dev: PerdureServer, *args: str) -> str:
    result = CliRunner().invoke(cli, ["schedules", *args, "--admin-url", dev.admin_url])
    assert result.exit_code == 0, result.output
    return result.output


def test_the_cli_lists_creates_and_controls_schedules(dev: PerdureServer) -> None:
    listed = json.loads(run(dev, "list", "--json"))
    assert [(s["name"], s["source"], s["cron"]) for s in listed] == [
        ("often", "code", "*/2 * * * * *")
    ]
    eventually_sync(
        lambda: json.loads(run(dev, "describe", "often", "--json"))["fired"] >= 2,
        what="the code schedule to tick twice",
    )
    out = run(dev, "create", "weekly", "0 9 * * MON", "Reports/build", "--arg", '"w"',
              "--timezone", "Europe/Berlin", "--catch-up", "latest")  # fmt: skip
    assert out.startswith("Created schedule weekly; next tick ")
    table = run(dev, "list")
    assert "weekly" in table and "Europe/Berlin" in table and "often" in table
    assert "Paused schedule weekly." in run(dev, "pause", "weekly")
    assert json.loads(run(dev, "describe", "weekly", "--json"))["paused"] is True
    assert "Resumed schedule weekly" in run(dev, "resume", "weekly")
    started = json.loads(run(dev, "trigger", "weekly", "--json"))["invocation_id"]
    assert started.startswith("inv_")
    filled = run(dev, "backfill", "weekly", "2026-01-01T00:00:00Z", "2026-01-31T00:00:00Z")
    assert filled.strip() == "Started 4 invocation(s)."  # the Mondays of January 2026
    assert "Deleted schedule weekly." in run(dev, "delete", "weekly")
    failed = CliRunner().invoke(
        cli, ["schedules", "describe", "weekly", "--admin-url", dev.admin_url]
    )
    assert failed.exit_code == 1 and "not found" in failed.output
