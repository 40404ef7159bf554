from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from perdure import __version__
from perdure.cli.main import cli


def test_every_command_has_help() -> None:
    runner = CliRunner()
    top = runner.invoke(cli, ["--help"])
    assert top.exit_code == 0
    names = cli.list_commands(None)  # type: ignore[arg-type]
    assert {"serve", "version"} <= set(names)
    for name in names:
        assert name in top.output
        result = runner.invoke(cli, [name, "--help"])
        assert result.exit_code == 0, f"perdure {name} --help: {result.output}"
        command = cli.get_command(None, name)  # type: ignore[arg-type]
        assert command is not None
        assert command.help, f"perdure {name} has no help text"


def test_unknown_command() -> None:
    result = CliRunner().invoke(cli, ["frobnicate"])
    assert result.exit_code == 2
    assert "No such command 'frobnicate'" in result.output


def test_version() -> None:
    result = CliRunner().invoke(cli, ["version"])
    assert result.exit_code == 0
    assert result.output == f"perdure {__version__}\n"


def test_console_entry_point_runs() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "from perdure.cli.main import main; main()", "version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout == f"perdure {__version__}\n"
