"""`perdure state`: read, edit and clear the state of one virtual object or workflow key.

Reads go through `POST /query` (`state` table); changes replace the key's whole state with
`POST /services/{service}/state`, carrying the version of the state they were made from
(restate's compare-and-set hash): a change made from a state that has moved on meanwhile
is dropped by the server instead of overwriting it, and the command says so. Values are
shown and edited as JSON when they are JSON (what the SDKs write by default), as hex
(`{"hex": "…"}`) otherwise.
"""

from __future__ import annotations

import json
import time
from typing import Any

import click

from perdure.cli._admin import AdminClient, AdminError, admin_options, path_segment
from perdure.cli._invocation_rows import sql_literal
from perdure.cli._output import echo_json, echo_table, json_option
from perdure.server.engine import state_version

State = dict[bytes, bytes]
APPLY_WAIT_S = 5.0  # how long to watch for the change to show (it may queue behind a lock)


@click.group(name="state")
def command() -> None:
    """Read, edit and clear the state of a virtual object or workflow key."""


def read_state(admin: AdminClient, service: str, key: str) -> State:
    rows = admin.query(
        f"SELECT key, value FROM state WHERE service_name = {sql_literal(service)} "
        f"AND service_key = {sql_literal(key)} ORDER BY key"
    )
    return {str(r["key"]).encode(): bytes.fromhex(str(r.get("value", ""))) for r in rows}


def shown(value: bytes) -> object:
    """A stored value as JSON: its own JSON when it is JSON text, else {"hex": …}."""
    try:
        return json.loads(value.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return {"hex": value.hex()}


def stored(new: object, old: bytes | None) -> bytes:
    """The bytes for an edited value; an unchanged one keeps its exact old bytes."""
    if old is not None and shown(old) == new:
        return old
    if isinstance(new, dict) and set(new) == {"hex"} and isinstance(new["hex"], str):
        return bytes.fromhex(new["hex"])
    return json.dumps(new).encode()


def replace_state(admin: AdminClient, service: str, key: str, old: State, new: State) -> None:
    """Send the replacement with the old state's version; fail if the server dropped it."""
    admin.post(
        f"/services/{path_segment(service)}/state",
        {
            "object_key": key,
            "new_state": {k.decode(): list(v) for k, v in new.items()},
            "version": state_version(old.items()),
        },
    )
    deadline = time.monotonic() + APPLY_WAIT_S
    while True:
        now = read_state(admin, service, key)
        if now == new:
            return
        if now != old:
            raise AdminError(
                f"the state of {service}/{key} changed while it was edited; the change was "
                "not applied (run the command again)"
            )
        if time.monotonic() >= deadline:
            click.echo(
                f"The change waits for {service}/{key} to be free (an invocation holds it); "
                "it is applied then, unless the state changes first.",
                err=True,
            )
            return
        time.sleep(0.1)


@command.command(name="get")
@click.argument("service")
@click.argument("key")
@admin_options
@json_option
def get(service: str, key: str, admin: AdminClient, as_json: bool) -> None:
    """Show the state of SERVICE's KEY (--json: an object of state key to value)."""
    state = read_state(admin, service, key)
    if as_json:
        echo_json({k.decode(): shown(v) for k, v in state.items()})
        return
    echo_table(
        ["key", "value"],
        ([k.decode(), json.dumps(shown(v))] for k, v in state.items()),
        empty=f"No state for {service}/{key}.",
    )


@command.command(name="edit")
@click.argument("service")
@click.argument("key")
@click.option("--value", "value", help="The new state as a JSON object (instead of $EDITOR).")
@admin_options
def edit(service: str, key: str, value: str | None, admin: AdminClient) -> None:
    """Edit the state of SERVICE's KEY as a JSON object, in $EDITOR or from --value."""
    old = read_state(admin, service, key)
    current = {k.decode(): shown(v) for k, v in old.items()}
    if value is None:
        edited = click.edit(json.dumps(current, indent=2) + "\n", extension=".json")
        if edited is None:
            click.echo("No change.")
            return
        value = edited
    try:
        parsed: Any = json.loads(value)
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="the new state") from None
    if not isinstance(parsed, dict):
        raise click.BadParameter("must be a JSON object of state keys", param_hint="the new state")
    new = {k.encode(): stored(v, old.get(k.encode())) for k, v in parsed.items()}
    if new == old:
        click.echo("No change.")
        return
    replace_state(admin, service, key, old, new)
    click.echo(f"State of {service}/{key} replaced ({len(new)} keys).")


@command.command(name="clear")
@click.argument("service")
@click.argument("key")
@click.option("--force", is_flag=True, help="Do not ask for confirmation.")
@admin_options
def clear(service: str, key: str, force: bool, admin: AdminClient) -> None:
    """Delete every state entry of SERVICE's KEY."""
    old = read_state(admin, service, key)
    if not old:
        click.echo(f"No state for {service}/{key}.")
        return
    if not force:
        click.confirm(f"Delete {len(old)} state entries of {service}/{key}?", abort=True)
    replace_state(admin, service, key, old, {})
    click.echo(f"State of {service}/{key} cleared.")
