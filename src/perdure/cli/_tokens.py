"""`--admin-token[-file]` and `--ingress-token[-file]` for the commands that run a server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from perdure.server.config import ConfigError, read_token_file

F = TypeVar("F", bound=Callable[..., Any])


def token_options(function: F) -> F:
    """Add the four token options; the command receives them as keyword arguments."""
    for name in ("ingress", "admin"):
        function = click.option(
            f"--{name}-token-file",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help=f"File whose first line is the {name} bearer token (or PERDURE_"
            f"{name.upper()}_TOKEN_FILE). Without a token the {name} is open.",
        )(function)
        function = click.option(
            f"--{name}-token",
            default=None,
            help=f"The {name} bearer token itself (or PERDURE_{name.upper()}_TOKEN); a file "
            "keeps it out of the process list.",
        )(function)
    return function


def tokens(**given: Any) -> dict[str, object]:
    """ServerConfig fields from the options (a flag wins over the environment)."""
    out: dict[str, object] = {}
    for name in ("admin", "ingress"):
        token, path = given.get(f"{name}_token"), given.get(f"{name}_token_file")
        if token is not None and path is not None:
            raise click.UsageError(f"give --{name}-token or --{name}-token-file, not both")
        if path is not None:
            try:
                token = read_token_file(f"--{name}-token-file", path)
            except ConfigError as exc:
                raise click.UsageError(str(exc)) from None
        if token is not None and not str(token).strip():
            raise click.UsageError(f"--{name}-token must not be empty")
        out[f"{name}_token"] = None if token is None else str(token).strip()
    return out
