"""`perdure replay-check APP`: before a deploy, would APP's new code break in-flight work?

Every invocation of APP's services that is not completed is replayed against the new code
of APP, without side effects (no `ctx.run` action runs; the journal's recorded results are
fed back), and each one that would hit a journal mismatch is reported with the first entry
where the new code diverges. Journals come from a running server's admin API
(`POST /query`) or from a data dir, read-only. See docs/safe-rollout.md.

Exit status: 0 when every in-flight invocation replays, 1 when one would break, 2 on a
usage error.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import click
import httpx
from click.core import ParameterSource

from perdure.cli._admin import ADMIN_URL_ENV, DEFAULT_ADMIN_URL
from perdure.cli._output import echo_json
from perdure.cli.serve import load_target
from perdure.sdk.endpoint import Endpoint

EXIT_BROKEN = 1


@click.command(name="replay-check")
@click.argument("app_target", metavar="APP")
@click.option(
    "--admin-url",
    default=None,
    envvar=list(ADMIN_URL_ENV),
    show_envvar=True,
    metavar="URL",
    help=f"Read the journals from this server's admin API (default {DEFAULT_ADMIN_URL}).",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="Read the journals from this data dir instead (read-only; a server may run on it).",
)
@click.option("--json", "as_json", is_flag=True, default=False, help="Print the report as JSON.")
def command(app_target: str, admin_url: str | None, data_dir: Path | None, as_json: bool) -> None:
    """Replay the journals of APP's in-flight invocations against APP's (new) code.

    APP is what `perdure serve` and `perdure dev` take: a file with `app`, or
    module:attr. Nothing outside the journal happens: no ctx.run action runs, no state
    is written, the server is only read. Each invocation that would fail after the
    deploy is printed with its id, target and the first journal entry where the new code
    differs (what the journal holds, what the code does, and where in the handler).

    Exits 0 when all replay, 1 when any would break (gate a deploy on it in CI).
    """
    from perdure.testing.replay import replay_admin, replay_data_dir

    source = click.get_current_context().get_parameter_source("admin_url")
    if data_dir is not None and source is ParameterSource.COMMANDLINE:
        raise click.UsageError("give --admin-url or --data-dir, not both")
    _, found = load_target(app_target)
    if not isinstance(found, Endpoint):
        raise click.UsageError(f"{app_target} is not an app made with perdure.app(...)")
    try:
        if data_dir is not None:
            report = asyncio.run(replay_data_dir(data_dir, found))
        else:
            report = asyncio.run(replay_admin(admin_url or DEFAULT_ADMIN_URL, found))
    except (OSError, RuntimeError, ValueError, httpx.HTTPError) as exc:
        raise click.ClickException(str(exc) or type(exc).__name__) from None
    if as_json:
        echo_json(report.to_json())
    else:
        click.echo(str(report))
    if not report.ok:
        raise SystemExit(EXIT_BROKEN)
