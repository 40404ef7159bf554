"""Creating and checking the schema on open: migrations, the partition count, the views,
and the read-only role that introspection queries run as.

Everything here runs on the writer's connection under a transaction-scoped advisory lock,
so stores opening the same database at once (several nodes, later) migrate it once.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from perdure.store.api import StoreConfigError
from perdure.store.migrations import migrations
from perdure.store.postgres.views import SCHEMA, view_statements

logger = logging.getLogger(__name__)

# pg_advisory_xact_lock key of schema changes (an arbitrary constant: "perdure" in ASCII).
_SCHEMA_LOCK = 0x70657264757265


@dataclass(frozen=True, slots=True)
class QueryRole:
    """The login role `POST /query` connects as: it may read the views and nothing else."""

    name: str
    password: str


def migrate(conn: psycopg.Connection[Any], partitions: int) -> list[str]:
    """Apply pending migrations (each in one transaction with its record), then record or
    check the partition count. Returns the names applied."""
    applied: list[str] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS migrations ("
            'name TEXT COLLATE "C" PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)'
        )
    for migration in migrations("postgres"):
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            done = conn.execute("SELECT 1 FROM migrations WHERE name = %s", (migration.name,))
            if done.fetchone() is not None:
                continue
            for statement in migration.statements():
                conn.execute(statement.encode())
            conn.execute(
                "INSERT INTO migrations (name, applied_at) VALUES (%s, now())", (migration.name,)
            )
        logger.info("applied migration %s", migration.name)
        applied.append(migration.name)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
        conn.execute(
            "INSERT INTO meta (name, value) VALUES ('partitions', %s) ON CONFLICT DO NOTHING",
            (str(partitions),),
        )
        found = conn.execute("SELECT value FROM meta WHERE name = 'partitions'").fetchone()
    assert found is not None
    if int(found[0]) != partitions:
        raise StoreConfigError(
            f"this database was created with {found[0]} partitions, not {partitions}: the "
            f"partition count is fixed when the schema is created; start with "
            f"--partitions {found[0]} (or use a new database)"
        )
    return applied


def install_views(conn: psycopg.Connection[Any]) -> QueryRole:
    """Recreate the views and make sure the query role exists and may read exactly them."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
        for statement in view_statements():
            conn.execute(statement.encode())
        role = _ensure_query_role(conn)
        ident = sql.Identifier(role.name)
        conn.execute(
            sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(SCHEMA), ident)
        )
        conn.execute(
            sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(
                sql.Identifier(SCHEMA), ident
            )
        )
    return role


def _ensure_query_role(conn: psycopg.Connection[Any]) -> QueryRole:
    """Create the role on first open (this needs CREATEROLE once); later opens only read
    its password from `meta`."""
    database = conn.info.dbname
    name = f"perdure_query_{database}"[:63]
    ident = sql.Identifier(name)
    found = conn.execute("SELECT value FROM meta WHERE name = 'query_role_password'").fetchone()
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone()
    if found is not None and exists is not None:
        return QueryRole(name, str(found[0]))
    password = secrets.token_urlsafe(24)
    try:
        if exists is None:
            conn.execute(
                sql.SQL(
                    "CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT "
                    "NOREPLICATION NOBYPASSRLS CONNECTION LIMIT 16"
                ).format(ident)
            )
        conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(ident, sql.Literal(password)))
        # Defaults for every session of the role, besides what each query sets itself.
        for setting, value in (
            ("default_transaction_read_only", "on"),
            ("search_path", SCHEMA),
            ("statement_timeout", "10s"),
        ):
            conn.execute(
                sql.SQL("ALTER ROLE {} SET {} = {}").format(
                    ident, sql.Identifier(setting), sql.Literal(value)
                )
            )
        conn.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(database), ident)
        )
    except psycopg.errors.InsufficientPrivilege as exc:
        raise StoreConfigError(
            f"cannot create the read-only role {name!r} that POST /query runs as ({exc}); "
            "perdure's database user needs CREATEROLE for its first start on a database "
            "(ALTER ROLE <user> CREATEROLE), and may lose it afterwards"
        ) from None
    conn.execute(
        "INSERT INTO meta (name, value) VALUES ('query_role_password', %s) "
        "ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
        (password,),
    )
    return QueryRole(name, password)
