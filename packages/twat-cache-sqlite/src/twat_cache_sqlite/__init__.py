"""twat-cache engine for SQLite: ``sqlite:///cache.db``, ``sqlite:////abs/cache.db``, ``sqlite:///:memory:``."""

from twat_cache_sqlite.backend import SQLiteBackend

__all__ = ["SQLiteBackend"]
