"""Configuring a cluster node: --node-name / PERDURE_NODE_NAME, --lease-ttl /
PERDURE_LEASE_TTL, and what is refused (a node without PostgreSQL, bad names, short
leases)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from perdure.cli.server import server
from perdure.server.config import ConfigError, ServerConfig
from perdure.server.stores import describe_store, open_store
from perdure.store.api import StoreConfigError
from perdure.store.postgres import PostgresStore
from tests.support.postgres import shared_cluster


def test_node_name_and_lease_ttl_from_env_then_flags() -> None:
    env = {"PERDURE_NODE_NAME": "node-a", "PERDURE_LEASE_TTL": "5s"}
    config = ServerConfig.build(env)
    assert (config.node_name, config.lease_ttl_ms) == ("node-a", 5_000)
    flags = ServerConfig.build(env, node_name="node-b", lease_ttl_ms=20_000)
    assert (flags.node_name, flags.lease_ttl_ms) == ("node-b", 20_000)
    default = ServerConfig.build({})
    assert (default.node_name, default.lease_ttl_ms) == (None, 10_000)


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"PERDURE_NODE_NAME": "has space"}, "PERDURE_NODE_NAME"),
        ({"PERDURE_NODE_NAME": "-leading-dash"}, "node name"),
        ({"PERDURE_NODE_NAME": "x" * 64}, "1-63"),
        ({"PERDURE_LEASE_TTL": "200ms"}, "at least 1s"),
        ({"PERDURE_LEASE_TTL": "soon"}, "PERDURE_LEASE_TTL"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        ServerConfig.build(env)


def test_a_node_needs_postgresql(tmp_path: Path) -> None:
    config = ServerConfig.build({}, data_dir=tmp_path, node_name="a")
    with pytest.raises(StoreConfigError, match="--store postgresql://"):
        open_store(config)


async def test_a_node_opens_the_store_in_cluster_mode() -> None:
    url = shared_cluster().create_database()
    config = ServerConfig.build({}, store=url, partitions=4, node_name="a", lease_ttl_ms=4_000)
    store = open_store(config)
    try:
        assert isinstance(store, PostgresStore)
        assert (store.node, store.idle_in_transaction_ms) == ("a", 2_000)
    finally:
        await store.close()
    assert describe_store(config).endswith("(PostgreSQL, node a)")


def test_cli_refuses_bad_cluster_options() -> None:
    url = shared_cluster().create_database()
    bad_name = CliRunner().invoke(server, ["--store", url, "--node-name", "a/b"])
    assert bad_name.exit_code == 2 and "--node-name" in bad_name.output
    short = CliRunner().invoke(server, ["--store", url, "--node-name", "a", "--lease-ttl", "10ms"])
    assert short.exit_code == 2 and "--lease-ttl" in short.output
    no_store = CliRunner().invoke(server, ["--node-name", "a"])
    assert no_store.exit_code == 1 and "--store postgresql://" in no_store.output
