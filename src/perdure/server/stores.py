"""Which store the server runs on: the one place that turns configuration into a `Store`.

`--store postgresql://USER[:PASS]@HOST:PORT/DB` (or PERDURE_STORE) selects PostgreSQL;
without it the server keeps its data in SQLite under `--data-dir`. `--node-name` makes the
server one node of a cluster on that database (PostgreSQL only).
"""

from __future__ import annotations

from perdure.server.config import ServerConfig
from perdure.store.api import Store, StoreConfigError

_POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres(url: str | None) -> bool:
    return url is not None and url.startswith(_POSTGRES_SCHEMES)


def open_store(config: ServerConfig) -> Store:
    """Open (creating and migrating if needed) the configured store."""
    if config.store is None:
        if config.node_name is not None:
            raise StoreConfigError(
                "--node-name runs a node of a cluster, which shares a PostgreSQL database: "
                "add --store postgresql://USER[:PASS]@HOST:PORT/DB"
            )
        from perdure.store.sqlite import SqliteStore

        return SqliteStore.open(config.data_dir, config.sqlite_synchronous)
    if not is_postgres(config.store):
        scheme = config.store.partition("://")[0] if "://" in config.store else config.store[:20]
        raise StoreConfigError(
            f"--store: {scheme!r} is not a store perdure knows; expected a "
            "postgresql://USER[:PASS]@HOST:PORT/DB URL (or no --store: SQLite in --data-dir)"
        )
    try:
        from perdure.store.postgres import PostgresStore
    except ImportError as exc:
        raise StoreConfigError(
            f"the PostgreSQL store needs psycopg ({exc}): pip install 'perdure[postgres]'"
        ) from None
    if config.node_name is None:
        return PostgresStore.open(config.store, config.partitions)
    # A paused node's writer must not hold its lease rows locked past half the TTL.
    return PostgresStore.open(
        config.store,
        config.partitions,
        node=config.node_name,
        idle_in_transaction_ms=max(500, config.lease_ttl_ms // 2),
    )


def describe_store(config: ServerConfig) -> str:
    """Where the data is, for banners and logs (never a password)."""
    if config.store is None:
        return f"{config.data_dir} (SQLite)"
    if is_postgres(config.store):
        from perdure.store.postgres.store import masked

        node = "" if config.node_name is None else f", node {config.node_name}"
        return f"{masked(config.store)} (PostgreSQL{node})"
    return "<not a postgresql:// URL>"
