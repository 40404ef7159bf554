"""The embedded default backend: one SQLite file per data directory."""

from perdure.store.sqlite.store import SqliteStore

__all__ = ["SqliteStore"]
