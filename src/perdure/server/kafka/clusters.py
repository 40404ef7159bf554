"""Kafka clusters, configured as restate-server configures its ingress clusters:

    # restate.toml (RESTATE_CONFIG=path), section [[ingress.kafka-clusters]]
    [[ingress.kafka-clusters]]
    name = "my-cluster"
    brokers = ["PLAINTEXT://localhost:9092"]
    "security.protocol" = "PLAINTEXT"     # any other key: a librdkafka property

    # or the environment, the same list inline:
    RESTATE_INGRESS__KAFKA_CLUSTERS='[{name="my-cluster",brokers=["PLAINTEXT://localhost:9092"]}]'

The environment wins over the file. JSON is accepted in the variable too.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perdure.server.errors import ServerError

ENV_VAR = "RESTATE_INGRESS__KAFKA_CLUSTERS"
CONFIG_FILE_VAR = "RESTATE_CONFIG"


class KafkaConfigError(ServerError, ValueError):
    """The Kafka cluster configuration cannot be read."""


@dataclass(frozen=True, slots=True)
class KafkaCluster:
    name: str
    brokers: tuple[str, ...]
    properties: dict[str, str] = field(default_factory=dict)

    def consumer_config(self) -> dict[str, str]:
        """librdkafka properties: the brokers (scheme dropped, it sets the security
        protocol unless a property does) and the cluster's own properties."""
        hosts, protocol = [], None
        for broker in self.brokers:
            scheme, sep, address = broker.partition("://")
            hosts.append(address if sep else broker)
            protocol = scheme.upper() if sep else protocol
        config = {"bootstrap.servers": ",".join(hosts)}
        if protocol:
            config["security.protocol"] = protocol
        config.update(self.properties)
        return config


def clusters_from_env(env: Mapping[str, str]) -> tuple[KafkaCluster, ...]:
    if ENV_VAR in env:
        return _parse(_inline(env[ENV_VAR]), ENV_VAR)
    path = env.get(CONFIG_FILE_VAR)
    if path:
        try:
            document = tomllib.loads(Path(path).read_text("utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise KafkaConfigError(f"{CONFIG_FILE_VAR}={path}: {exc}") from None
        return _parse(document.get("ingress", {}).get("kafka-clusters", []), path)
    return ()


def _inline(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        try:
            return json.loads(text)
        except ValueError:
            raise KafkaConfigError(
                f"{ENV_VAR} is neither a TOML nor a JSON list of clusters"
            ) from None


def _parse(items: Any, where: str) -> tuple[KafkaCluster, ...]:
    if not isinstance(items, list):
        raise KafkaConfigError(f"{where}: kafka-clusters must be a list")
    clusters = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise KafkaConfigError(f"{where}: every Kafka cluster needs a name")
        brokers = item.get("brokers")
        if not isinstance(brokers, list) or not brokers:
            raise KafkaConfigError(f"{where}: cluster {item['name']} needs brokers")
        properties = {str(k): str(v) for k, v in item.items() if k not in ("name", "brokers")}
        clusters.append(KafkaCluster(item["name"], tuple(str(b) for b in brokers), properties))
    return tuple(clusters)
