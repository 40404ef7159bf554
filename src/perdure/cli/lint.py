"""`perdure lint PATH…`: check that handler code is deterministic outside ``ctx.run``.

Exit status: 0 when nothing was found, 1 with findings, 2 on a usage error (a path that
does not exist, a file that is not valid Python). See docs/lint.md.
"""

from __future__ import annotations

import sys

import click

from perdure.cli._output import echo_json
from perdure.lint import lint_paths

EXIT_FINDINGS = 1
EXIT_USAGE = 2


def _plural(count: int, word: str) -> str:
    return f"{count or 'no'} {word}{'' if count == 1 else 's'}"


@click.command(name="lint")
@click.argument("paths", metavar="PATH…", nargs=-1, required=True, type=click.Path(exists=True))
@click.option(
    "--json", "as_json", is_flag=True, default=False, help="Print the report as JSON, for scripts."
)
def command(paths: tuple[str, ...], as_json: bool) -> None:
    """Check handlers for code that a replay would not repeat exactly.

    PATH is a Python file or a folder (its *.py files, recursively). In every handler
    (functions decorated with @svc.handler(), @wf.main(), @perdure.typed.handler(), ...)
    it reports wall-clock time (PD101), unseeded randomness (PD102), random UUIDs (PD103),
    environment reads (PD104), I/O (PD105), iteration over a set (PD106) and writes to
    module globals (PD107) outside ctx.run. Silence one line with a trailing
    `# perdure: allow[PD105]`.

    Exits 0 when clean, 1 with findings, 2 on a usage error (e.g. a syntax error).
    """
    report = lint_paths(paths)
    if as_json:
        echo_json(report.to_json())
    else:
        for finding in report.findings:
            click.echo(finding.text())
        for error in report.errors:
            click.echo(error.text(), err=True)
        summary = (
            f"{_plural(len(report.findings), 'finding')} in "
            f"{_plural(report.handlers, 'handler')} of {_plural(report.files, 'file')}"
        )
        if report.errors:
            summary += f"; {_plural(len(report.errors), 'file')} could not be checked"
        click.echo(summary, err=True)
    if report.errors:
        sys.exit(EXIT_USAGE)
    if report.findings:
        sys.exit(EXIT_FINDINGS)
