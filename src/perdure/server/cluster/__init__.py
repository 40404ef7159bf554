"""Cluster mode: several perdure server nodes on one PostgreSQL database.

Each node leases a fair share of the partitions and runs their engine; any node takes any
request. See `node.ClusterNode`, and docs/scaling.md for the design and its numbers.
"""

from perdure.server.cluster.node import ClusterNode

__all__ = ["ClusterNode"]
