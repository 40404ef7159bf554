"""Partition keys and partitions: every key in exactly one contiguous range."""

from __future__ import annotations

import itertools

from hypothesis import given, strategies as st

from perdure.protocol.ids import InvocationId, partition_key_for
from perdure.store.partitioning import (
    invocation_partition_key,
    key_partition_key,
    partition_of,
    partition_range,
    stored,
)

U64 = st.integers(min_value=0, max_value=(1 << 64) - 1)


@given(U64, st.integers(min_value=1, max_value=1024))
def test_a_key_lies_in_the_range_of_its_partition(key: int, partitions: int) -> None:
    partition = partition_of(key, partitions)
    assert 0 <= partition < partitions
    first, last = partition_range(partition, partitions)
    assert first <= key <= last


def test_ranges_tile_the_key_space() -> None:
    for partitions in (1, 3, 64, 1000):
        ranges = [partition_range(p, partitions) for p in range(partitions)]
        assert ranges[0][0] == 0 and ranges[-1][1] == (1 << 64) - 1
        assert all(a[1] + 1 == b[0] for a, b in itertools.pairwise(ranges))


@given(U64, U64)
def test_stored_keys_keep_the_order_and_fit_a_bigint(a: int, b: int) -> None:
    assert -(1 << 63) <= stored(a) < 1 << 63
    assert (a < b) == (stored(a) < stored(b))


def test_rows_of_an_invocation_and_of_its_key_share_a_partition_key() -> None:
    invocation = InvocationId(partition_key_for("ann"), 12345)
    assert invocation_partition_key(str(invocation)) == key_partition_key("ann")
    # An id not in restate's format (tests write such) still gets a stable key.
    assert invocation_partition_key("inv_a") == partition_key_for("inv_a")
