"""Connection and table settings of the PostgreSQL engine, read from its URL.

Both engines (:class:`~twat_cache_postgres.PostgresBackend` and
:class:`~twat_cache_postgres.AsyncPostgresBackend`) are built from one
:class:`PostgresSettings`; reading it does no network I/O.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from twat_cache.constants import DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT
from twat_cache.exceptions import BackendError, ConfigurationError
from twat_cache.timeouts import client_timeouts
from twat_cache.urls import EngineURL, parse_url, redact_text

if TYPE_CHECKING:
    from twat_cache.config import CacheConfig

__all__ = ["DEFAULT_PORT", "DEFAULT_TABLE", "SSL_MODES", "PostgresSettings"]

DEFAULT_PORT = 5432
DEFAULT_TABLE = "twat_cache"
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_IDENTIFIER_RULE = (
    "a letter or '_' then up to 62 letters, digits or '_' ([A-Za-z_][A-Za-z0-9_]{0,62})"
)


@dataclass(frozen=True)
class PostgresSettings:
    """Where and how the engine stores entries.

    Args:
        host: Server host name or address.
        port: Server port.
        dbname: Database name; ``None`` lets libpq pick (the user's name).
        user: Role to connect as; ``None`` lets libpq pick.
        password: Password, never shown in ``repr`` or messages.
        table: Table holding the entries of every namespace.
        schema: Schema of the table (it must exist).
        unlogged: Create the table ``UNLOGGED`` (only when the engine creates it).
        min_size: Connections the pool keeps open.
        max_size: Most connections the pool opens.
        timeout: Seconds to wait for a free pooled connection.
        connect_timeout: Seconds to wait for a new connection (whole seconds:
            libpq's own, which waits at least 2).
        statement_timeout: Seconds the server lets one statement run (its
            ``statement_timeout``); ``None`` keeps the server's setting.
        purge_every: Remove one batch of expired rows every this many writes (0: never).
        sslmode: libpq ``sslmode``; ``None`` keeps libpq's default (``prefer``).

    Raises:
        ConfigurationError: for an invalid identifier or pool size.
    """

    host: str = "localhost"
    port: int = DEFAULT_PORT
    dbname: str | None = None
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    table: str = DEFAULT_TABLE
    schema: str = "public"
    unlogged: bool = True
    min_size: int = 1
    max_size: int = 10
    timeout: float = DEFAULT_TIMEOUT
    connect_timeout: int = math.ceil(DEFAULT_CONNECT_TIMEOUT)
    statement_timeout: float | None = None
    purge_every: int = 1000
    sslmode: str | None = None

    def __post_init__(self) -> None:
        for name in ("table", "schema"):
            value = getattr(self, name)
            if not isinstance(value, str) or not _IDENTIFIER.match(value):
                raise ConfigurationError(f"postgresql option {name!r}", value, _IDENTIFIER_RULE)
        if self.max_size < max(self.min_size, 1):
            raise ConfigurationError(
                "postgresql option 'max_size'",
                self.max_size,
                f"an integer >= min_size ({self.min_size}) and >= 1",
            )

    @classmethod
    def from_url(cls, url: str | EngineURL) -> PostgresSettings:
        """Read ``postgresql://[user[:password]@]host[:port][/dbname][?options]``.

        Args:
            url: The URL, as text or already parsed.

        Returns:
            The validated settings.

        Raises:
            ConfigurationError: naming an unknown option, a bad value, or a bad URL.

        Example:
            >>> PostgresSettings.from_url("postgresql://app@db:5433/cache?table=entries").address
            'db:5433/cache'
        """
        parsed = parse_url(url) if isinstance(url, str) else url
        hosts = parsed.require_host(DEFAULT_PORT)
        if len(hosts) != 1:
            raise ConfigurationError(
                "url", parsed.redacted, "exactly one host: postgresql://HOST:PORT/DB"
            )
        dbname = parsed.path.lstrip("/")
        if "/" in dbname:
            raise ConfigurationError("url database", dbname, "one path segment: the database name")
        settings = cls(
            host=hosts[0][0],
            port=hosts[0][1],
            dbname=dbname or None,
            user=parsed.username,
            password=parsed.password,
            table=parsed.option_str("table", DEFAULT_TABLE),
            schema=parsed.option_str("schema", "public"),
            unlogged=parsed.option_bool("unlogged", True),
            min_size=parsed.option_int("min_size", 1, minimum=0),
            max_size=parsed.option_int("max_size", 10, minimum=1),
            timeout=parsed.option_float("timeout", DEFAULT_TIMEOUT, minimum=0.001),
            connect_timeout=parsed.option_int(
                "connect_timeout", math.ceil(DEFAULT_CONNECT_TIMEOUT), minimum=1
            ),
            statement_timeout=parsed.option_float("statement_timeout", None, minimum=0.001),
            purge_every=parsed.option_int("purge_every", 1000, minimum=0),
            sslmode=parsed.option_str("sslmode", None, choices=SSL_MODES),
        )
        parsed.finish()
        return settings

    def bounded(self, config: CacheConfig, url: EngineURL) -> PostgresSettings:
        """These settings with the cache's ``timeout=`` as the pool's, statements' and connects'.

        Options the URL sets itself are kept.
        """
        own = client_timeouts(
            config, url, reply=["timeout", "statement_timeout"], connect=["connect_timeout"]
        )
        connect = own.get("connect_timeout")
        return replace(
            self,
            timeout=own.get("timeout", self.timeout),
            statement_timeout=own.get("statement_timeout", self.statement_timeout),
            connect_timeout=self.connect_timeout if connect is None else math.ceil(connect),
        )

    @property
    def address(self) -> str:
        """``host:port/dbname``, safe to show (no user, no password)."""
        return f"{self.host}:{self.port}/{self.dbname or ''}"

    def connect_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of :func:`psycopg.connect` (autocommit connections)."""
        kwargs: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "connect_timeout": self.connect_timeout,
            "application_name": "twat-cache",
            "autocommit": True,
        }
        if self.statement_timeout is not None:  # milliseconds, set when each connection opens
            kwargs["options"] = (
                f"-c statement_timeout={max(1, round(self.statement_timeout * 1000))}"
            )
        optional = {
            "dbname": self.dbname,
            "user": self.user,
            "password": self.password,
            "sslmode": self.sslmode,
        }
        kwargs.update({name: value for name, value in optional.items() if value is not None})
        return kwargs

    def error(self, exc: BaseException, what: str = "") -> BackendError:
        """Build the :class:`BackendError` for a client failure (the caller raises it ``from exc``).

        The message names host, port and database; the password never appears in it.

        Args:
            exc: The client's exception.
            what: What was being done, if not said by ``exc`` itself.
        """
        reason = redact_text(" ".join(str(exc).split()) or type(exc).__name__, self.password)
        if what:
            reason = f"{what}: {reason}"
        database = repr(self.dbname) if self.dbname else "(the user's default)"
        user = repr(self.user) if self.user else "(default)"
        return BackendError(
            f"PostgreSQL at {self.host}:{self.port}, database {database}, user {user}: {reason}",
            host=self.host,
            port=self.port,
            database=self.dbname,
        )
