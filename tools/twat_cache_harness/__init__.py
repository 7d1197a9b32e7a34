"""Real Redis, Redis Cluster, Memcached, PostgreSQL and moto servers for twat-cache tests.

Every server runs on a free 127.0.0.1 port in its own temp dir and is started and stopped by
the harness itself; missing Debian packages are installed when running as root.
"""

from .errors import HarnessError
from .install import ensure_binary, find_binary, postgres_bin_dir
from .servers import (
    LOCALHOST,
    MemcachedRing,
    MemcachedServer,
    MotoServer,
    PostgresServer,
    RedisCluster,
    RedisServer,
    free_port,
    redis_command,
)

__all__ = [
    "LOCALHOST",
    "HarnessError",
    "MemcachedRing",
    "MemcachedServer",
    "MotoServer",
    "PostgresServer",
    "RedisCluster",
    "RedisServer",
    "ensure_binary",
    "find_binary",
    "free_port",
    "postgres_bin_dir",
    "redis_command",
]
