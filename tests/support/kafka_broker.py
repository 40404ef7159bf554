"""A Kafka-protocol broker for tests: librdkafka's mock cluster, from the confluent-kafka
wheel on PyPI (no Kafka distribution installs from PyPI, npm or Debian without fetching
Kafka itself from elsewhere at run time). It serves the Kafka wire protocol on a loopback
port (produce, fetch, metadata, list offsets, consumer groups, offset commit/fetch);
topics are created with their partition count through librdkafka's C API (ctypes), since
the mock does not serve CreateTopics. Records live in the broker process's memory.

    python -m tests.support.kafka_broker orders:3 other:1   # prints "BOOTSTRAP host:port"

`KafkaBroker` starts that process and stops it by its pid.
"""

from __future__ import annotations

import ctypes
import glob
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.polling import eventually_sync
from tests.support.process import stop_popen


def _librdkafka() -> ctypes.CDLL:
    try:
        import confluent_kafka
    except ImportError:
        pytest.fail("the Kafka tests need confluent-kafka: pip install -e '.[dev]'", pytrace=False)
    folder = Path(confluent_kafka.__file__).parent.parent / "confluent_kafka.libs"
    found = glob.glob(str(folder / "librdkafka*.so*"))
    if not found:
        raise RuntimeError(f"no librdkafka in {folder}: a confluent-kafka wheel is needed")
    lib = ctypes.CDLL(found[0])
    lib.rd_kafka_conf_new.restype = ctypes.c_void_p
    lib.rd_kafka_new.restype = ctypes.c_void_p
    lib.rd_kafka_new.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
    lib.rd_kafka_mock_cluster_new.restype = ctypes.c_void_p
    lib.rd_kafka_mock_cluster_new.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.rd_kafka_mock_topic_create.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_int,
    ]
    lib.rd_kafka_mock_cluster_bootstraps.restype = ctypes.c_char_p
    lib.rd_kafka_mock_cluster_bootstraps.argtypes = [ctypes.c_void_p]
    return lib


def serve(topics: list[tuple[str, int]]) -> None:
    lib = _librdkafka()
    errstr = ctypes.create_string_buffer(512)
    handle = lib.rd_kafka_new(0, lib.rd_kafka_conf_new(), errstr, len(errstr))  # a producer
    if not handle:
        raise RuntimeError(errstr.value.decode())
    cluster = lib.rd_kafka_mock_cluster_new(handle, 1)
    for name, partitions in topics:
        if lib.rd_kafka_mock_topic_create(cluster, name.encode(), partitions, 1) != 0:
            raise RuntimeError(f"cannot create topic {name}")
    print("BOOTSTRAP", lib.rd_kafka_mock_cluster_bootstraps(cluster).decode(), flush=True)
    sys.stdin.read()  # serve until the parent closes our stdin (or kills us)


class KafkaBroker:
    def __init__(self, workdir: Path, topics: dict[str, int]) -> None:
        self.log_path = workdir / "kafka-broker.log"
        self.topics = topics
        self.process: subprocess.Popen[bytes] | None = None
        self.bootstrap = ""

    def start(self) -> None:
        repo = Path(__file__).resolve().parents[2]
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(repo), os.environ.get("PYTHONPATH")])),
        }
        args = [f"{name}:{count}" for name, count in self.topics.items()]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.support.kafka_broker", *args],
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )

        def started() -> str | None:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"the Kafka broker exited: {self.log_path.read_text()}")
            for line in self.log_path.read_text().splitlines():
                if line.startswith("BOOTSTRAP "):
                    return line.split()[1]
            return None

        self.bootstrap = eventually_sync(started, what="the Kafka broker to listen", within=20)

    def stop(self) -> None:
        if self.process is not None:
            if self.process.stdin is not None:
                self.process.stdin.close()  # the broker's signal to exit
            stop_popen(self.process)


if __name__ == "__main__":
    serve([(name, int(count)) for name, _, count in (a.partition(":") for a in sys.argv[1:])])
