"""The PostgreSQL backend: one database, one writer connection, group commit (single node).

Needs psycopg 3 (`pip install 'perdure[postgres]'`); importing this package without it
raises ImportError, which `perdure.server.stores.open_store` turns into a clear message.
"""

from perdure.store.postgres.store import PostgresStore

__all__ = ["PostgresStore"]
