"""Which store the perdure servers of a test run use, and a direct look into it.

PERDURE_TEST_STORE=postgres makes every perdure server (and `perdure dev`) that the
launchers in tests/support and tests/integration start keep its data in PostgreSQL: a
database of the test process's throwaway cluster (tests/support/postgres.py), one per
data directory, so a restart on the same data directory resumes from the same database.
Unset or `sqlite`: SQLite in the data directory, as always.

    PERDURE_TEST_STORE=postgres scripts/test tests/conformance
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

TEST_STORE_ENV = "PERDURE_TEST_STORE"
TEST_STORES = ("sqlite", "postgres")


def store_kind() -> str:
    kind = os.environ.get(TEST_STORE_ENV) or "sqlite"
    if kind not in TEST_STORES:
        pytest.fail(f"{TEST_STORE_ENV}={kind!r}; expected one of {TEST_STORES}", pytrace=False)
    return kind


def postgres_url(data_dir: Path) -> str:
    """The database that stands for `data_dir` (created on first use)."""
    from .postgres import shared_cluster

    digest = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:16]
    return shared_cluster().ensure_database(f"perdure_{digest}")


def store_args(data_dir: Path) -> list[str]:
    """Extra `perdure server` / `perdure dev` arguments for the test run's store."""
    if store_kind() == "postgres":
        return ["--store", postgres_url(data_dir)]
    return []


def sql_rows(data_dir: Path, sql: str, *args: object) -> list[tuple[Any, ...]]:
    """Run `sql` (with `?` placeholders) against the store of `data_dir`, read-only, and
    return its rows: the tables as the server wrote them, while it runs."""
    if store_kind() == "postgres":
        import psycopg

        with psycopg.connect(postgres_url(data_dir), autocommit=True) as conn:
            conn.execute("SET default_transaction_read_only = on")
            return conn.execute(sql.replace("?", "%s").encode(), args).fetchall()
    # WAL lets a read-only connection read while the server writes.
    conn = sqlite3.connect(f"file:{data_dir}/perdure.sqlite3?mode=ro", uri=True)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def integrity_problems(data_dir: Path) -> list[str]:
    """What the database's own integrity check reports (empty when sound): SQLite's
    `PRAGMA integrity_check`; on PostgreSQL, amcheck's B-tree check of every index of
    perdure's tables (a heap or index corrupted by a crash shows there)."""
    if store_kind() == "postgres":
        import psycopg

        with psycopg.connect(postgres_url(data_dir), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS amcheck")
            indexes = conn.execute(
                "SELECT c.oid::regclass::text FROM pg_index i JOIN pg_class c ON c.oid = "
                "i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public'"
            ).fetchall()
            problems = []
            for (index,) in indexes:
                try:
                    conn.execute("SELECT bt_index_check(%s::regclass, true)", (index,))
                except psycopg.Error as exc:
                    problems.append(f"{index}: {exc}")
            return problems
    rows = sql_rows(data_dir, "PRAGMA integrity_check")
    return [] if rows == [("ok",)] else [str(r) for r in rows]
