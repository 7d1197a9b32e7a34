"""twat-cache-postgres: the ``postgresql://`` engine over psycopg 3, sync and asyncio."""

from twat_cache_postgres._async.backend import AsyncPostgresBackend
from twat_cache_postgres.backend import PostgresBackend
from twat_cache_postgres.engine import PURGE_BATCH
from twat_cache_postgres.settings import DEFAULT_PORT, DEFAULT_TABLE, SSL_MODES, PostgresSettings

__all__ = [
    "DEFAULT_PORT",
    "DEFAULT_TABLE",
    "PURGE_BATCH",
    "SSL_MODES",
    "AsyncPostgresBackend",
    "PostgresBackend",
    "PostgresSettings",
]
