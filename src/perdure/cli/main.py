"""The `perdure` command.

Each subcommand lives in its own module of this package: ``perdure/cli/<name>.py``
defines the command as ``command``, or under the module's own name (e.g. ``server`` in
``server.py``). The group finds them by listing the package and imports a module only
when its command runs (or ``--help`` lists them), so ``perdure serve`` never loads the
server, and a new command needs no edit here. Modules whose name starts with ``_`` (and
this one) are helpers, not commands.
"""

from __future__ import annotations

import importlib
import pkgutil

import click

from perdure._version import __version__

_NOT_COMMANDS = frozenset({"main"})


def _command_modules() -> list[str]:
    package = importlib.import_module("perdure.cli")
    return sorted(
        info.name
        for info in pkgutil.iter_modules(package.__path__)
        if not info.name.startswith("_") and info.name not in _NOT_COMMANDS
    )


class _CommandPackage(click.Group):
    """A click group whose subcommands are the modules of `perdure.cli`."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = set(super().list_commands(ctx))
        names.update(m.replace("_", "-") for m in _command_modules())
        return sorted(names)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is not None:
            return found
        module_name = cmd_name.replace("-", "_")
        if module_name not in _command_modules():
            return None
        module = importlib.import_module(f"perdure.cli.{module_name}")
        for attribute in ("command", module_name):
            command = getattr(module, attribute, None)
            if isinstance(command, click.Command):
                return command
        return None  # a helper module after all


@click.group(cls=_CommandPackage, context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """perdure: durable execution in pure Python, wire-compatible with Restate."""


@cli.command(name="version")
def version_command() -> None:
    """Print the perdure version."""
    click.echo(f"perdure {__version__}")


def main() -> None:
    """Entry point of the `perdure` console script."""
    cli(prog_name="perdure")


if __name__ == "__main__":
    main()
