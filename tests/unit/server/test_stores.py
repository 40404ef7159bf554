"""Choosing the store: --store / PERDURE_STORE, --partitions, and the factory's errors."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner

from perdure.cli.server import server
from perdure.server.config import ConfigError, ServerConfig
from perdure.server.stores import describe_store, open_store
from perdure.store.api import StoreConfigError
from perdure.store.postgres import PostgresStore
from perdure.store.sqlite import SqliteStore
from tests.support.postgres import shared_cluster


def test_store_and_partitions_from_env_then_flags() -> None:
    env = {"PERDURE_STORE": "postgresql://u@h:5/db", "RESTATE_DEFAULT_NUM_PARTITIONS": "8"}
    config = ServerConfig.build(env)
    assert (config.store, config.partitions) == ("postgresql://u@h:5/db", 8)
    flags = ServerConfig.build(env, store="postgresql://v@h:5/other", partitions=16)
    assert (flags.store, flags.partitions) == ("postgresql://v@h:5/other", 16)
    default = ServerConfig.build({})
    assert (default.store, default.partitions) == (None, 64)
    with pytest.raises(ConfigError, match="RESTATE_DEFAULT_NUM_PARTITIONS"):
        ServerConfig.build({"RESTATE_DEFAULT_NUM_PARTITIONS": "0"})


async def test_open_store_picks_the_backend(tmp_path: Path) -> None:
    sqlite = open_store(ServerConfig.build({}, data_dir=tmp_path))
    try:
        assert isinstance(sqlite, SqliteStore)
    finally:
        await sqlite.close()
    url = shared_cluster().create_database()
    postgres = open_store(ServerConfig.build({}, store=url, partitions=4))
    try:
        assert isinstance(postgres, PostgresStore) and postgres.partitions == 4
    finally:
        await postgres.close()


def test_other_urls_are_refused_without_showing_the_password() -> None:
    config = ServerConfig.build({}, store="mysql://root:hunter2@db/perdure")
    with pytest.raises(StoreConfigError, match="'mysql' is not a store") as refused:
        open_store(config)
    assert "hunter2" not in str(refused.value)
    shown = describe_store(ServerConfig.build({}, store="postgresql://u:hunter2@h:5/db"))
    assert shown == "postgresql://u@h:5/db (PostgreSQL)"


def test_cli_says_what_to_change(tmp_path: Path) -> None:
    url = shared_cluster().create_database()
    created = CliRunner().invoke(server, ["--store", url, "--partitions", "0"])
    assert created.exit_code == 2 and "--partitions" in created.output
    refused = CliRunner().invoke(server, ["--store", "mysql://x@y/z"])
    assert refused.exit_code == 1 and "postgresql://USER" in refused.output
    asyncio.run(_create(url, 4))
    mismatch = CliRunner().invoke(
        server, ["--store", url, "--partitions", "8", "--data-dir", str(tmp_path)]
    )
    assert mismatch.exit_code == 1, mismatch.output
    assert "created with 4 partitions" in mismatch.output


async def _create(url: str, partitions: int) -> None:
    await PostgresStore.open(url, partitions).close()
