"""Which partition a row belongs to.

Every row of a partitioned table belongs to the partition of its partition key: for rows
of an invocation (journal, timers, waiters), the key inside the invocation id; for rows of
a service key (state, locks, inbox, promises), `partition_key_for(key)`, the same key that
keyed invocations carry in their ids. The u64 key space is cut into `partitions` equal,
contiguous ranges (as restate does), so a partition is a key range.

Stores with a signed 64-bit column keep `stored_key = key - 2**63`: same order, so each
partition is still one contiguous range of stored values (a `BETWEEN` for a lease).
"""

from __future__ import annotations

import functools

from perdure.protocol.ids import InvalidIdError, InvocationId, partition_key_for

DEFAULT_PARTITIONS = 64
_OFFSET = 1 << 63


@functools.lru_cache(maxsize=8192)
def invocation_partition_key(invocation_id: str) -> int:
    """The partition key of an invocation id (of its text, for an id not in restate's
    format, which only tests write)."""
    try:
        return InvocationId.parse(invocation_id).partition_key
    except InvalidIdError:
        return partition_key_for(invocation_id)


@functools.lru_cache(maxsize=8192)
def key_partition_key(key: str) -> int:
    """The partition key of a service key."""
    return partition_key_for(key)


def stored(partition_key: int) -> int:
    """A u64 partition key as the signed, order-preserving value stores keep."""
    return partition_key - _OFFSET


def partition_of(partition_key: int, partitions: int) -> int:
    """The partition (0 ≤ p < partitions) whose range holds a u64 partition key."""
    return (partition_key * partitions) >> 64


def partition_range(partition: int, partitions: int) -> tuple[int, int]:
    """The u64 partition keys [first, last] of a partition."""
    first = -((-partition << 64) // partitions)  # ceil(partition * 2**64 / partitions)
    nxt = -((-(partition + 1) << 64) // partitions)
    return first, nxt - 1
