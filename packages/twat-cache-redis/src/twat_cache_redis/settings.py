"""From a cache URL to redis-py clients: options, validation, and error messages.

:class:`RedisSettings` is built once, at decoration time, from the URL: every
option is checked there and nothing touches the network. The sync and async
engines then build their own clients from the same settings, lazily.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry
from twat_cache.exceptions import BackendError, ConfigurationError, TwatCacheError
from twat_cache.urls import EngineURL, parse_url, redact_text

__all__ = ["CLIENT_ERRORS", "SCHEMES", "RedisSettings", "Translate"]

SCHEMES = ("redis", "rediss", "unix", "redis+cluster", "rediss+cluster")
DEFAULT_PORT = 6379
# What a client call raises when the server is down, slow or refuses: all become BackendError.
CLIENT_ERRORS: tuple[type[BaseException], ...] = (
    RedisError,
    RedisClusterException,
    OSError,
    asyncio.TimeoutError,
)
_CERT_REQS = ("required", "optional", "none")
_TLS_FILES = ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile")
# options redis-py knows that this engine refuses, and why
_REFUSED = (
    ("decode_responses", "not allowed: the engine stores bytes and must get bytes back"),
    ("password", "not in the query string: put it in the URL, redis://:SECRET@host"),
)


@dataclass(frozen=True)
class RedisSettings:
    """Everything needed to build a client, validated, without any connection.

    Build it with :meth:`from_url`; the engines share one instance between the
    sync client and its async twin.

    Attributes:
        hosts: ``(host, port)`` pairs; one for a single server, the startup nodes
            of a Cluster, none for a Unix socket.
        unix_path: The socket path of ``unix://`` URLs.
        db: The database number (always 0 on a Cluster).
        cluster: Whether to talk to a Redis Cluster.
        tls: Whether to use TLS (``rediss://``).
        username: The ACL user, if any.
        password: The password, if any; never shown in messages or ``repr``.
        socket_timeout: Seconds to wait for a reply.
        socket_connect_timeout: Seconds to wait for a connection.
        retries: How many times a command is retried after a connection error.
        retry_on_timeout: Whether a timed-out command is retried too.
        max_connections: The most connections per pool (per node on a Cluster).
        health_check_interval: Seconds a connection may idle before it is PINGed.
        client_name: The name the connections give themselves (``CLIENT SETNAME``).
        ssl_cert_reqs: Whether the server certificate is checked: required, optional or none.
        ssl_ca_certs: A file of CA certificates to trust.
        ssl_certfile: The client certificate, for mutual TLS.
        ssl_keyfile: The client certificate's key.
        ssl_check_hostname: Whether the certificate must name the host.
    """

    hosts: tuple[tuple[str, int], ...] = (("127.0.0.1", DEFAULT_PORT),)
    unix_path: str | None = None
    db: int = 0
    cluster: bool = False
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    socket_timeout: float = 5.0
    socket_connect_timeout: float = 1.0
    retries: int = 1
    retry_on_timeout: bool = False
    max_connections: int | None = None
    health_check_interval: float = 0.0
    client_name: str | None = None
    ssl_cert_reqs: str = "required"
    ssl_ca_certs: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_check_hostname: bool = True

    @classmethod
    def from_url(cls, url: str | EngineURL) -> RedisSettings:
        """Read and check every option of a ``redis``/``rediss``/``unix``/``*+cluster`` URL.

        Args:
            url: The URL, as text or already parsed. Options it does not know are
                an error.

        Returns:
            The settings (no connection is made).

        Raises:
            ConfigurationError: naming the option, the value and what is allowed,
                for an unknown scheme or option, a missing host, a bad port or db,
                or a TLS file that does not exist.

        Example:
            >>> RedisSettings.from_url("redis://cache:6380/2?socket_timeout=0.5").address
            'cache:6380'
        """
        url = parse_url(url) if isinstance(url, str) else url
        if url.scheme not in SCHEMES:
            raise ConfigurationError("url scheme", url.scheme, "one of " + ", ".join(SCHEMES))
        for name, allowed in _REFUSED:
            if name in url.options:
                raise ConfigurationError(
                    f"{url.scheme} option {name!r}", url.options[name], allowed
                )
        cluster = url.scheme.endswith("+cluster")
        tls = url.scheme.startswith("rediss")
        unix_path: str | None = None
        hosts: tuple[tuple[str, int], ...] = ()
        if url.scheme == "unix":
            if url.hosts or not url.path or url.path == "/":
                raise ConfigurationError(
                    "url", url.redacted, "unix:///absolute/path/to/redis.sock?db=N"
                )
            unix_path = url.path
            db = url.option_int("db", 0, minimum=0)
        else:
            hosts = tuple(url.require_host(DEFAULT_PORT))
            if not cluster and len(hosts) > 1:
                raise ConfigurationError(
                    "url", url.redacted, f"one host; use {url.scheme}+cluster:// for a Cluster"
                )
            db = _db_from_path(url)
            if cluster and db != 0:
                raise ConfigurationError("url db", db, "0: a Redis Cluster has only database 0")
        timeout_floor = 0.001  # a zero socket timeout would make the socket non-blocking
        options: dict[str, Any] = {
            "socket_timeout": url.option_float("socket_timeout", 5.0, minimum=timeout_floor),
            "socket_connect_timeout": url.option_float(
                "socket_connect_timeout", 1.0, minimum=timeout_floor
            ),
            "retries": url.option_int("retries", 1, minimum=0),
            "retry_on_timeout": url.option_bool("retry_on_timeout", False),
            "max_connections": url.option_int("max_connections", None, minimum=1),
            "health_check_interval": url.option_float("health_check_interval", 0.0),
            "client_name": _client_name(url),
        }
        if tls:
            options.update(_tls_options(url))
        else:
            for name in sorted(url.options):
                if name.startswith("ssl_"):
                    raise ConfigurationError(
                        f"{url.scheme} option {name!r}",
                        url.options[name],
                        "TLS options need rediss:// or rediss+cluster://",
                    )
        url.finish()
        return cls(
            hosts=hosts,
            unix_path=unix_path,
            db=db,
            cluster=cluster,
            tls=tls,
            username=url.username,
            password=url.password,
            **options,
        )

    @property
    def address(self) -> str:
        """Where the server is, for messages: ``host:port``, ``h1:p1,h2:p2`` or the socket path."""
        if self.unix_path is not None:
            return f"unix:{self.unix_path}"
        return ",".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in self.hosts)

    def error(self, operation: str, exc: BaseException) -> BackendError:
        """Return the :class:`BackendError` for a failed client call (never with the password).

        Args:
            operation: What was being done (``get``, ``clear``...).
            exc: The client's exception; the caller raises the result ``from exc``.
        """
        detail = redact_text(str(exc) or type(exc).__name__, self.password)
        return BackendError(
            f"redis at {self.address}: {operation} failed: {type(exc).__name__}: {detail}",
            engine="redis",
            address=self.address,
            operation=operation,
        )

    def _client_options(self, *, for_asyncio: bool) -> dict[str, Any]:
        retry_on: tuple[type[RedisError], ...] = (RedisConnectionError,)
        if self.retry_on_timeout:
            retry_on += (RedisTimeoutError,)
        options: dict[str, Any] = {
            "username": self.username,
            "password": self.password,
            "socket_timeout": self.socket_timeout,
            # a short backoff: a dead server should cost one timeout, not several
            "retry": (AsyncRetry if for_asyncio else Retry)(
                ExponentialBackoff(cap=0.5, base=0.05), self.retries, retry_on
            ),
            # the asyncio client retries only the errors listed here, whatever `retry` says
            "retry_on_error": list(retry_on),
            "health_check_interval": self.health_check_interval,
            "client_name": self.client_name,
            "decode_responses": False,
            # RESP2: every Redis version and Redis-compatible server speaks it, and redis-py 8's
            # RESP3 default would also switch on its maintenance-notification handshake
            "protocol": 2,
        }
        if self.max_connections is not None:
            options["max_connections"] = self.max_connections
        if self.unix_path is None:
            options["socket_connect_timeout"] = self.socket_connect_timeout
        if self.tls:
            options.update(
                ssl=True,
                ssl_cert_reqs=self.ssl_cert_reqs,
                ssl_ca_certs=self.ssl_ca_certs,
                ssl_certfile=self.ssl_certfile,
                ssl_keyfile=self.ssl_keyfile,
                ssl_check_hostname=self.ssl_check_hostname,
            )
        return options

    def sync_client(self) -> redis.Redis | redis.cluster.RedisCluster:
        """Build the sync client. A Cluster client connects here, a plain one on first use."""
        options = self._client_options(for_asyncio=False)
        if self.cluster:
            # ClusterNode is unannotated in some redis-py releases
            nodes = [
                redis.cluster.ClusterNode(h, p)  # type: ignore[no-untyped-call,unused-ignore]
                for h, p in self.hosts
            ]
            return redis.cluster.RedisCluster(startup_nodes=nodes, **options)
        if self.unix_path is not None:
            return redis.Redis(unix_socket_path=self.unix_path, db=self.db, **options)
        host, port = self.hosts[0]
        return redis.Redis(host=host, port=port, db=self.db, **options)

    def connect_sync(self) -> redis.Redis | redis.cluster.RedisCluster:
        """Build the sync client (a Cluster client reads the slot map here)."""
        return self.sync_client()

    async def connect_async(self) -> redis.asyncio.Redis | redis.asyncio.cluster.RedisCluster:
        """Build the asyncio client; a Cluster client reads its slot map here, before any command.

        redis-py's asyncio ``RedisCluster`` otherwise builds its node table inside
        the first commands: when many tasks send their first command at once,
        connections they have just taken are marked stale and closed under them
        (``'NoneType' object has no attribute 'writelines'``). Initialized once,
        here, while no command runs, the table is built before any connection is in use.
        """
        client = self.async_client()
        if isinstance(client, redis.asyncio.cluster.RedisCluster):
            await client.initialize()
        return client

    def async_client(self) -> redis.asyncio.Redis | redis.asyncio.cluster.RedisCluster:
        """Build the asyncio client (it connects on first use, in the running loop)."""
        options = self._client_options(for_asyncio=True)
        if self.cluster:
            nodes = [redis.asyncio.cluster.ClusterNode(h, p) for h, p in self.hosts]
            return redis.asyncio.cluster.RedisCluster(startup_nodes=nodes, **options)
        if self.unix_path is not None:
            return redis.asyncio.Redis(unix_socket_path=self.unix_path, db=self.db, **options)
        host, port = self.hosts[0]
        return redis.asyncio.Redis(host=host, port=port, db=self.db, **options)


class Translate:
    """A context manager turning any client exception into a ``BackendError``.

    Args:
        settings: The settings, for the server address in the message.
        operation: What is being done, for the message.
    """

    __slots__ = ("operation", "settings")

    def __init__(self, settings: RedisSettings, operation: str) -> None:
        self.settings = settings
        self.operation = operation

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # any exception of the client is a failure of the backend (a bug in the client
        # included): core decides whether it reaches the caller; core's own errors pass
        if exc is not None and isinstance(exc, Exception) and not isinstance(exc, TwatCacheError):
            raise self.settings.error(self.operation, exc) from exc


def _client_name(url: EngineURL) -> str | None:
    name = url.option_str("client_name", None)
    if name is not None and (not name or any(c.isspace() for c in name)):
        # Redis refuses such a name at connection time; say so at decoration time instead
        raise ConfigurationError(
            f"{url.scheme} option 'client_name'", name, "a name without spaces"
        )
    return name


def _db_from_path(url: EngineURL) -> int:
    text = url.path.strip("/")
    if not text:
        return url.option_int("db", 0, minimum=0)
    if not text.isdigit():
        raise ConfigurationError("url db", text, f"a database number: {url.scheme}://HOST:PORT/DB")
    if "db" in url.options:
        raise ConfigurationError(
            f"{url.scheme} option 'db'", url.options["db"], "give the db once, in the path"
        )
    return int(text)


def _tls_options(url: EngineURL) -> dict[str, Any]:
    cert_reqs = url.option_str("ssl_cert_reqs", "required", choices=_CERT_REQS)
    options: dict[str, Any] = {"ssl_cert_reqs": cert_reqs}
    for name in _TLS_FILES:
        path = url.option_str(name, None)
        if path is not None and not os.path.isfile(path):
            raise ConfigurationError(f"{url.scheme} option {name!r}", path, "an existing file")
        options[name] = path
    if options["ssl_keyfile"] is not None and options["ssl_certfile"] is None:
        raise ConfigurationError(
            f"{url.scheme} option 'ssl_keyfile'", options["ssl_keyfile"], "only with ssl_certfile"
        )
    check = url.option_bool("ssl_check_hostname", cert_reqs != "none")
    if check and cert_reqs == "none":
        raise ConfigurationError(
            f"{url.scheme} option 'ssl_check_hostname'",
            url.options["ssl_check_hostname"],
            "false when ssl_cert_reqs=none (nothing is checked)",
        )
    options["ssl_check_hostname"] = check
    return options
