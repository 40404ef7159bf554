"""`perdure server`: run the server (ingress, admin API, engine) on a data directory."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path
from typing import Any

import click

from perdure.cli._tokens import token_options, tokens
from perdure.server.config import (
    ConfigError,
    ServerConfig,
    check_node_name,
    lease_ttl as parse_lease_ttl,
)
from perdure.server.loop import run as run_loop
from perdure.store.api import StoreConfigError, StoreLockedError


@click.command(name="server")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory of the SQLite store (env RESTATE_BASE_DIR; default ./perdure-data).",
)
@click.option(
    "--store",
    default=None,
    metavar="URL",
    help="postgresql://USER[:PASS]@HOST:PORT/DB: keep the data in PostgreSQL instead "
    "(env PERDURE_STORE).",
)
@click.option(
    "--node-name",
    default=None,
    metavar="NAME",
    help="Run as node NAME of a cluster sharing the --store database (env "
    "PERDURE_NODE_NAME); without it the server is the database's only one.",
)
@click.option(
    "--lease-ttl",
    default=None,
    metavar="DURATION",
    help="How long a node's partition leases last without renewal, e.g. 10s (env "
    "PERDURE_LEASE_TTL; default 10s): a dead node's partitions move after about this long.",
)
@click.option(
    "--partitions",
    type=click.IntRange(min=1),
    default=None,
    help="Partitions of a new PostgreSQL store, fixed once created "
    "(env RESTATE_DEFAULT_NUM_PARTITIONS; default 64).",
)
@click.option("--host", default=None, help="Address to bind both ports to (default 127.0.0.1).")
@click.option("--ingress-port", type=int, default=None, help="Ingress HTTP port (default 8080).")
@click.option("--admin-port", type=int, default=None, help="Admin API port (default 9070).")
@click.option(
    "--sqlite-synchronous",
    type=click.Choice(["FULL", "NORMAL"]),
    default=None,
    help="FULL (default): every commit survives power loss. NORMAL: only a process crash.",
)
@click.option("--log-level", default="INFO", show_default=True, help="Python logging level.")
@token_options
def server(
    data_dir: Path | None,
    store: str | None,
    node_name: str | None,
    lease_ttl: str | None,
    partitions: int | None,
    host: str | None,
    ingress_port: int | None,
    admin_port: int | None,
    sqlite_synchronous: str | None,
    log_level: str,
    **token_flags: Any,
) -> None:
    """Run the perdure server until SIGINT or SIGTERM."""
    from perdure.server.app import run_server

    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        config = ServerConfig.build(
            data_dir=data_dir,
            store=store,
            node_name=None if node_name is None else check_node_name("--node-name", node_name),
            lease_ttl_ms=None if lease_ttl is None else parse_lease_ttl("--lease-ttl", lease_ttl),
            partitions=partitions,
            host=host,
            ingress_port=ingress_port,
            admin_port=admin_port,
            sqlite_synchronous=sqlite_synchronous,
            **tokens(**token_flags),
        )
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None

    async def main() -> None:
        shutdown = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, shutdown.set)
        await run_server(config, shutdown=shutdown)

    try:
        run_loop(main())
    except (StoreLockedError, StoreConfigError) as exc:
        raise click.ClickException(str(exc)) from None


if __name__ == "__main__":
    server()
