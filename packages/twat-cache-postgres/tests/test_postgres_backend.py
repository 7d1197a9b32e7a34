"""twat-cache-postgres: the conformance kit (sync and native async) plus engine-specific tests.

Every test talks to a real PostgreSQL started by the harness on a loopback port
(``postgres_server``, shared; ``fresh_postgres_server`` for tests that change or
stop the server).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import psycopg
import pytest
from psycopg import sql
from psycopg_pool import PoolTimeout
from twat_cache import Cache, CacheConfig, ucache
from twat_cache.exceptions import BackendError, CacheOperationError, ConfigurationError
from twat_cache.protocols import capabilities_of
from twat_cache.registry import create_backend
from twat_cache.serializers import encode_int
from twat_cache.testing import AsyncBackendConformance, BackendConformance
from twat_cache_postgres import (
    DEFAULT_PORT,
    PURGE_BATCH,
    AsyncPostgresBackend,
    PostgresBackend,
    PostgresSettings,
)
from twat_cache_postgres.engine import is_alive
from twat_cache_postgres.statements import Statements

MakeBackend = Callable[[str], Any]


class PostgresServer(Protocol):
    """What these tests use of the harness's server (tools/twat_cache_harness/servers.py)."""

    url: str
    port: int
    dbname: str

    def psql(self, sql: str) -> str: ...
    def restart(self) -> object: ...
    def kill(self) -> None: ...


DEADLINE = 30.0  # seconds a condition polled for may take before the test fails


def _table() -> str:
    return "t_" + uuid.uuid4().hex[:12]


def _url(server: PostgresServer, **options: object) -> str:
    query = "&".join(f"{name}={value}" for name, value in options.items())
    return f"{server.url}?{query}" if query else server.url


def _sql(
    server: PostgresServer, query: str | bytes | sql.Composed, *params: object
) -> list[tuple[Any, ...]]:
    """Run one statement as the superuser on its own connection; return its rows (if any)."""
    with psycopg.connect(server.url, autocommit=True) as conn:
        cur = conn.execute(query, params or None)
        return cur.fetchall() if cur.description else []


def _expire(server: PostgresServer, table: str, namespace: str, *keys: str) -> None:
    """Make entries expired an hour ago, without waiting for a TTL."""
    _sql(
        server,
        f"UPDATE {table} SET expires_at = now() - interval '1 hour'"
        " WHERE namespace = %s AND key = ANY(%s)",
        namespace,
        list(keys),
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


# -- the conformance kit ---------------------------------------------------------------


class _Postgres:
    @pytest.fixture
    def make_backend(self, postgres_server: PostgresServer) -> MakeBackend:
        def make(namespace: str) -> PostgresBackend:
            return PostgresBackend(postgres_server.url, namespace=namespace)

        return make


class TestPostgresConformance(_Postgres, BackendConformance):
    """The sync kit on PostgresBackend."""


class TestPostgresAsyncConformance(_Postgres, AsyncBackendConformance):
    """The async kit on the native AsyncPostgresBackend (reached through make_async())."""

    async def test_twin_is_native(self, make_backend: MakeBackend) -> None:
        twin = make_backend("twin").make_async()
        assert type(twin) is AsyncPostgresBackend
        assert type(twin.make_sync()) is PostgresBackend
        await twin.close()


class TestPostgresConformanceFromAsync(BackendConformance):
    """The sync kit on the twin of an AsyncPostgresBackend (make_sync())."""

    @pytest.fixture
    def make_backend(self, postgres_server: PostgresServer) -> MakeBackend:
        def make(namespace: str) -> AsyncPostgresBackend:
            return AsyncPostgresBackend(postgres_server.url, namespace=namespace)

        return make


# -- URL and options (no server) -------------------------------------------------------


def test_url_defaults() -> None:
    settings = PostgresSettings.from_url("postgresql://db.internal/cache")
    assert (settings.host, settings.port, settings.dbname) == ("db.internal", DEFAULT_PORT, "cache")
    assert (settings.table, settings.schema, settings.unlogged) == ("twat_cache", "public", True)
    assert (settings.min_size, settings.max_size, settings.timeout) == (1, 10, 5.0)
    assert (settings.connect_timeout, settings.purge_every, settings.sslmode) == (1, 1000, None)
    assert settings.statement_timeout is None
    assert "options" not in settings.connect_kwargs()
    assert settings.user is None
    assert settings.password is None
    assert settings.address == "db.internal:5432/cache"
    assert "password" not in settings.connect_kwargs()
    assert "dbname" in settings.connect_kwargs()


def test_url_every_option() -> None:
    settings = PostgresSettings.from_url(
        "postgres://app:s3cret@[::1]:6543/appdb?table=Entries&schema=cache_s&unlogged=false"
        "&min_size=0&max_size=3&timeout=0.5&connect_timeout=2&purge_every=0&sslmode=require"
    )
    assert (settings.host, settings.port, settings.dbname) == ("::1", 6543, "appdb")
    assert (settings.user, settings.password) == ("app", "s3cret")
    assert (settings.table, settings.schema, settings.unlogged) == ("Entries", "cache_s", False)
    assert (settings.min_size, settings.max_size, settings.timeout) == (0, 3, 0.5)
    assert (settings.connect_timeout, settings.purge_every, settings.sslmode) == (2, 0, "require")
    kwargs = settings.connect_kwargs()
    assert kwargs["password"] == "s3cret"
    assert kwargs["sslmode"] == "require"
    assert kwargs["autocommit"] is True
    assert "s3cret" not in repr(settings)
    assert "s3cret" not in repr(PostgresBackend(settings))


def test_no_database_in_url() -> None:
    settings = PostgresSettings.from_url("postgresql://h")
    assert settings.dbname is None
    assert "dbname" not in settings.connect_kwargs()


@pytest.mark.parametrize(
    ("query", "option", "allowed"),
    [
        ("tabel=x", "tabel", "known options are"),
        ("min_size=-1", "min_size", ">= 0"),
        ("max_size=0", "max_size", ">= 1"),
        ("max_size=many", "max_size", "an integer"),
        ("min_size=5&max_size=2", "max_size", ">= min_size"),
        ("timeout=0", "timeout", ">= 0.001"),
        ("timeout=inf", "timeout", "finite"),
        ("connect_timeout=0", "connect_timeout", ">= 1"),
        ("unlogged=maybe", "unlogged", "true or false"),
        ("purge_every=-5", "purge_every", ">= 0"),
        ("sslmode=sometimes", "sslmode", "verify-full"),
    ],
)
def test_bad_options_are_named(query: str, option: str, allowed: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        PostgresSettings.from_url(f"postgresql://h:5432/db?{query}")
    assert option in str(info.value)
    assert allowed in str(info.value)


@pytest.mark.parametrize(
    "name",
    ["x; drop table y", 'x"y', "1abc", "", "a" * 64, "tab-le", "naïve", "x.y", "x y"],
)
@pytest.mark.parametrize("option", ["table", "schema"])
def test_bad_identifiers_rejected(option: str, name: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        PostgresSettings.from_url(f"postgresql://h/db?{option}={name}")
    assert option in str(info.value)
    with pytest.raises(ConfigurationError):
        PostgresSettings(table=name) if option == "table" else PostgresSettings(schema=name)


def test_longest_identifier_accepted(postgres_server: PostgresServer) -> None:
    name = "z" + uuid.uuid4().hex[:8] + "a" * 54  # 63 characters: the server's limit
    assert PostgresSettings.from_url(f"postgresql://h/db?table={name}").table == name
    try:
        with PostgresBackend(_url(postgres_server, table=name)) as backend:
            backend.set("k", b"v")
            assert backend.get("k") == b"v"
        indexes = _sql(
            postgres_server, "SELECT indexname FROM pg_indexes WHERE tablename = %s", name
        )
        expiry = [i for (i,) in indexes if i.endswith("_expires_idx")]
        assert len(expiry) == 1
        assert len(expiry[0]) <= 63
    finally:
        _sql(postgres_server, f"DROP TABLE IF EXISTS {name}")


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("postgresql:///db", "url"),
        ("postgresql://a:5432,b:5432/db", "url"),
        ("postgresql://h/db/extra", "url database"),
    ],
)
def test_bad_urls(url: str, field: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        PostgresSettings.from_url(url)
    assert info.value.field == field


def test_from_config_through_the_registry_does_no_io() -> None:
    port = _free_port()  # nothing listens: construction must not connect
    config = CacheConfig(
        url=f"postgresql://u:pw@127.0.0.1:{port}/db",
        namespace="ns1",
        options={"table": "via_config"},
    )
    backend = create_backend(config)
    assert type(backend) is PostgresBackend
    assert backend.namespace == "ns1"
    assert backend.settings.table == "via_config"
    backend.close()
    with pytest.raises(ConfigurationError, match="bogus"):
        create_backend(CacheConfig(url=f"postgres://127.0.0.1:{port}/db?bogus=1"))
    abackend = AsyncPostgresBackend.from_config(config, config.engine_url())
    assert abackend.settings == backend.settings


# -- storage ---------------------------------------------------------------------------


@pytest.fixture
def table(postgres_server: PostgresServer) -> Iterator[str]:
    """A table name of this test's own, dropped afterwards."""
    name = _table()
    yield name
    _sql(postgres_server, f"DROP TABLE IF EXISTS {name}")


def test_table_layout_and_unlogged(postgres_server: PostgresServer, table: str) -> None:
    with PostgresBackend(_url(postgres_server, table=table)) as backend:
        backend.set("k", b"v")
    rows = _sql(postgres_server, "SELECT relpersistence FROM pg_class WHERE relname = %s", table)
    assert rows == [("u",)]
    columns = _sql(
        postgres_server,
        "SELECT column_name, data_type FROM information_schema.columns"
        " WHERE table_name = %s ORDER BY ordinal_position",
        table,
    )
    assert columns == [
        ("namespace", "text"),
        ("key", "text"),
        ("value", "bytea"),
        ("expires_at", "timestamp with time zone"),
    ]
    indexes = _sql(postgres_server, "SELECT indexdef FROM pg_indexes WHERE tablename = %s", table)
    assert any("(namespace, key)" in i for (i,) in indexes)
    assert any("(expires_at)" in i for (i,) in indexes)


def test_logged_table_by_option(postgres_server: PostgresServer, table: str) -> None:
    with PostgresBackend(_url(postgres_server, table=table, unlogged="false")) as backend:
        backend.set("k", b"v")
    rows = _sql(postgres_server, "SELECT relpersistence FROM pg_class WHERE relname = %s", table)
    assert rows == [("p",)]


def test_quoted_identifiers_and_schema(postgres_server: PostgresServer) -> None:
    schema, table = "Cache_" + uuid.uuid4().hex[:6], "Mixed_Case"
    _sql(postgres_server, f'CREATE SCHEMA "{schema}"')
    try:
        with PostgresBackend(_url(postgres_server, schema=schema, table=table)) as backend:
            backend.set("k", b"v")
            assert backend.get("k") == b"v"
        assert _sql(postgres_server, f'SELECT key FROM "{schema}"."{table}"') == [("k",)]
    finally:
        _sql(postgres_server, f'DROP SCHEMA "{schema}" CASCADE')


def test_missing_schema_is_a_backend_error(postgres_server: PostgresServer) -> None:
    with PostgresBackend(_url(postgres_server, schema="no_such_schema")) as backend:
        with pytest.raises(BackendError, match="cannot create the cache table") as info:
            backend.set("k", b"v")
        assert f"127.0.0.1:{postgres_server.port}" in str(info.value)
        assert isinstance(info.value.__cause__, psycopg.Error)


def test_two_namespaces_share_one_table(postgres_server: PostgresServer, table: str) -> None:
    url = _url(postgres_server, table=table)
    with PostgresBackend(url, namespace="one") as one, PostgresBackend(url, namespace="two") as two:
        one.set("k", b"1")
        two.set("k", b"2")
        one.set("only-one", b"x")
        assert (one.get("k"), two.get("k")) == (b"1", b"2")
        assert sorted(one.keys()) == ["k", "only-one"]
        assert list(two.keys()) == ["k"]
        assert two.get("only-one") is None
        assert two.incr("k", 5) == 7
        assert one.get("k") == b"1"
        assert two.delete_many(["k", "only-one"]) == 1
        assert one.get_many(["k", "only-one"]) == {"k": b"1", "only-one": b"x"}
        two.set("k", b"2")
        one.clear()
        assert one.get("k") is None
        assert two.get("k") == b"2"
    counts = _sql(postgres_server, f"SELECT namespace, count(*) FROM {table} GROUP BY 1")
    assert counts == [("two", 1)]


def test_expired_rows_are_absent_everywhere(postgres_server: PostgresServer, table: str) -> None:
    with PostgresBackend(_url(postgres_server, table=table), namespace="ns") as backend:
        backend.set_many({"a": b"1", "b": b"2", "c": encode_int(3), "live": b"4"}, ttl=3600)
        _expire(postgres_server, table, "ns", "a", "b", "c")
        assert backend.get("a") is None
        assert backend.get_many(["a", "b", "live"]) == {"live": b"4"}
        assert sorted(backend.keys()) == ["live"]
        assert backend.touch("a", 60) is False
        with pytest.raises(ValueError):
            backend.incr("c")
        assert backend.delete("b") is False
        assert backend.delete_many(["c", "live"]) == 1
        assert backend.add("a", b"new") is True  # the expired row counts as absent
        assert backend.get("a") == b"new"
        assert backend.add("a", b"newer") is False


def test_ttl_none_and_touch_none_never_expire(postgres_server: PostgresServer, table: str) -> None:
    with PostgresBackend(_url(postgres_server, table=table), namespace="ns") as backend:
        backend.set("k", b"v", ttl=None)
        backend.set("t", b"v", ttl=3600)
        assert backend.touch("t", None) is True
        rows = _sql(postgres_server, f"SELECT key, expires_at FROM {table} ORDER BY key")
        assert rows == [("k", None), ("t", None)]
        backend.set("k", b"v", ttl=10)
        (expires,) = _sql(
            postgres_server, f"SELECT expires_at - now() FROM {table} WHERE key = 'k'"
        )[0]
        assert 0 < expires.total_seconds() <= 10


def test_purge_expired_in_batches(postgres_server: PostgresServer, table: str) -> None:
    url = _url(postgres_server, table=table, purge_every=0)
    with PostgresBackend(url, namespace="a") as a, PostgresBackend(url, namespace="b") as b:
        a.set_many({f"k{i}": b"x" for i in range(25)}, ttl=3600)
        b.set_many({f"k{i}": b"x" for i in range(5)}, ttl=None)
        _expire(postgres_server, table, "a", *[f"k{i}" for i in range(20)])
        _expire(postgres_server, table, "b", "k0")
        assert a.purge_expired(batch=7) == 21  # every namespace's expired rows, 7 at a time
        assert a.purge_expired() == 0
        assert _sql(postgres_server, f"SELECT count(*) FROM {table}") == [(9,)]
        assert len(a.get_many([f"k{i}" for i in range(25)])) == 5
        with pytest.raises(ValueError, match="batch"):
            a.purge_expired(batch=0)


def test_lazy_purge_every_n_writes(postgres_server: PostgresServer, table: str) -> None:
    url = _url(postgres_server, table=table, purge_every=3)
    with PostgresBackend(url, namespace="ns") as backend:
        backend.set_many({"old1": b"x", "old2": b"x"}, ttl=3600)  # write 1
        _expire(postgres_server, table, "ns", "old1", "old2")
        backend.set("k", b"v")  # write 2
        assert _sql(postgres_server, f"SELECT count(*) FROM {table}") == [(3,)]
        assert backend.add("k2", b"v") is True  # write 3: purges one batch
        assert _sql(postgres_server, f"SELECT count(*) FROM {table}") == [(2,)]


def test_incr_errors_leave_the_connection_clean(
    postgres_server: PostgresServer, table: str
) -> None:
    url = _url(
        postgres_server, table=table, min_size=1, max_size=1
    )  # one connection for every call
    with PostgresBackend(url) as backend:
        backend.set_many(
            {
                "text": b"abc",
                "binary": b"\xff\xfe",
                "float": b"1.5",
                "huge": encode_int(2**64),
                "big": encode_int(2**63 - 1),
                "small": encode_int(-(2**63)),
            }
        )
        for key in ("text", "binary", "float", "huge"):
            with pytest.raises(TypeError, match=key):
                backend.incr(key)
        with pytest.raises(OverflowError, match="big"):
            backend.incr("big")
        with pytest.raises(OverflowError, match="small"):
            backend.incr("small", -1)
        with pytest.raises(OverflowError):
            backend.incr("small", 2**64)
        assert backend.get_many(["big", "small"]) == {
            "big": encode_int(2**63 - 1),
            "small": encode_int(-(2**63)),
        }
        backend.set("n", encode_int(-3))
        assert backend.incr("n", 3) == 0
        assert backend.get("n") == b"0"
        with pytest.raises(ValueError):
            backend.incr("absent")


def test_keys_are_paged(postgres_server: PostgresServer, table: str) -> None:
    keys = [f"key-{i:05d}" for i in range(2 * 1000 + 17)]
    with PostgresBackend(_url(postgres_server, table=table), namespace="paged") as backend:
        backend.set_many(dict.fromkeys(keys, b"v"))
        assert list(backend.keys()) == keys
        backend.set_many({}, ttl=None)
        assert backend.get_many(["key-00000", "key-00000"]) == {"key-00000": b"v"}


async def test_async_keys_purge_and_namespaces(postgres_server: PostgresServer, table: str) -> None:
    url = _url(postgres_server, table=table, purge_every=2)
    keys = [f"key-{i:05d}" for i in range(1000)]
    async with (
        AsyncPostgresBackend(url, namespace="x") as x,
        AsyncPostgresBackend(url, namespace="y") as y,
    ):
        await x.set_many(dict.fromkeys(keys, b"v"))
        await x.set_many({})
        assert [k async for k in x.keys()] == keys
        await y.set_many({"a": b"1", "b": b"2"}, ttl=3600)
        _expire(postgres_server, table, "y", "a")
        await y.set("c", b"3")  # second write of y: lazy purge of one batch
        assert _sql(postgres_server, f"SELECT count(*) FROM {table} WHERE namespace = 'y'") == [
            (2,)
        ]
        _expire(postgres_server, table, "x", *keys[:10])
        assert await y.purge_expired(batch=4) == 10
        with pytest.raises(ValueError, match="batch"):
            await y.purge_expired(batch=0)
        assert await y.get_many([]) == {}
        assert await y.delete_many([]) == 0
        assert await y.incr("c", 39) == 42
        await y.set("b", b"\xff")
        with pytest.raises(TypeError):
            await y.incr("b")
        assert await y.touch("absent") is False


def test_closed_engine_refuses_everything(postgres_server: PostgresServer) -> None:
    backend = PostgresBackend(postgres_server.url)
    backend.close()  # never used: no pool to close
    for call in (
        lambda: backend.get("k"),
        backend.keys,
        lambda: backend.get_many([]),
        lambda: backend.set_many({}),
        lambda: backend.delete_many([]),
        backend.purge_expired,
    ):
        with pytest.raises(CacheOperationError):
            call()


async def test_closed_async_engine_refuses_everything(postgres_server: PostgresServer) -> None:
    backend = AsyncPostgresBackend(postgres_server.url)
    await backend.close()
    with pytest.raises(CacheOperationError):
        backend.keys()
    for call in (
        backend.get_many([]),
        backend.set_many({}),
        backend.delete_many([]),
        backend.purge_expired(),
    ):
        with pytest.raises(CacheOperationError):
            await call


# -- table creation races ----------------------------------------------------------------


def _create_in_open_transaction(server: PostgresServer, table: str) -> psycopg.Connection[Any]:
    """Another creator that has created the table (and index) but not committed yet."""
    other = psycopg.connect(server.url)
    statements = Statements("public", table, True)
    other.execute(statements.create_table)
    other.execute(statements.create_index)
    return other


def _someone_waits(server: PostgresServer) -> bool:
    return bool(_sql(server, "SELECT count(*) FROM pg_locks WHERE NOT granted")[0][0] > 0)


def test_losing_the_creation_race_is_harmless(postgres_server: PostgresServer, table: str) -> None:
    other = _create_in_open_transaction(postgres_server, table)
    backend = PostgresBackend(_url(postgres_server, table=table))
    outcome: list[object] = []

    def first_use() -> None:
        try:
            backend.set("k", b"v")
            outcome.append("ok")
        except Exception as exc:  # reported below
            outcome.append(exc)

    thread = threading.Thread(target=first_use)
    thread.start()
    try:  # our CREATE waits on the other creator's uncommitted catalog rows, then loses
        _wait_for(lambda: _someone_waits(postgres_server), "the engine never waited on the creator")
    finally:
        other.commit()
        other.close()
    thread.join(timeout=DEADLINE)
    assert outcome == ["ok"]
    assert backend.get("k") == b"v"
    backend.close()


async def test_async_losing_the_creation_race_is_harmless(
    postgres_server: PostgresServer, table: str
) -> None:
    other = _create_in_open_transaction(postgres_server, table)
    async with AsyncPostgresBackend(_url(postgres_server, table=table)) as backend:
        task = asyncio.create_task(backend.set("k", b"v"))
        try:
            deadline = time.monotonic() + DEADLINE
            while not _someone_waits(postgres_server):
                assert time.monotonic() < deadline, "the engine never waited on the creator"
                await asyncio.sleep(0.05)
        finally:
            other.commit()
            other.close()
        await asyncio.wait_for(task, DEADLINE)
        assert await backend.get("k") == b"v"


def test_many_first_users_at_once(postgres_server: PostgresServer, table: str) -> None:
    backends = [
        PostgresBackend(_url(postgres_server, table=table), namespace=f"n{i}") for i in range(8)
    ]
    barrier = threading.Barrier(len(backends))
    errors: list[BaseException] = []

    def first_use(backend: PostgresBackend) -> None:
        barrier.wait()
        try:
            backend.set("k", backend.namespace.encode())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=first_use, args=(b,)) for b in backends]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=DEADLINE)
    assert errors == []
    assert [b.get("k") for b in backends] == [f"n{i}".encode() for i in range(8)]
    for b in backends:
        b.close()


def test_table_made_by_a_dba_and_a_role_without_delete(
    postgres_server: PostgresServer, table: str
) -> None:
    """A role without CREATE or DELETE rights uses a table made for it; failed lazy purges pass."""
    role = "cache_writer_" + uuid.uuid4().hex[:6]
    _sql(postgres_server, Statements("public", table, True).create_table)
    _sql(postgres_server, f"CREATE ROLE {role} LOGIN")
    _sql(postgres_server, f"GRANT SELECT, INSERT, UPDATE ON {table} TO {role}")
    url = f"postgresql://{role}@127.0.0.1:{postgres_server.port}/{postgres_server.dbname}"
    try:
        with PostgresBackend(f"{url}?table={table}&purge_every=1") as backend:
            backend.set("k", b"v")  # the purge after this write is denied, the write is not
            assert backend.get("k") == b"v"
            with pytest.raises(BackendError, match="permission denied") as info:
                backend.purge_expired()
            assert f"database {postgres_server.dbname!r}" in str(info.value)

        async def use_async() -> None:
            async with AsyncPostgresBackend(f"{url}?table={table}&purge_every=1") as abackend:
                await abackend.set("k", b"w")
                assert await abackend.get("k") == b"w"

        asyncio.run(use_async())
    finally:
        _sql(postgres_server, f"DROP TABLE {table}")
        _sql(postgres_server, f"DROP ROLE {role}")


# -- failures: messages, no password, recovery -----------------------------------------------


def _check_message(exc: BackendError, port: int, database: str, password: str) -> None:
    message = str(exc)
    assert f"127.0.0.1:{port}" in message
    assert repr(database) in message
    assert password not in message
    assert password not in repr(exc.context)
    assert exc.__cause__ is not None
    assert password not in str(exc.__cause__)


def test_nothing_listening(postgres_server: PostgresServer) -> None:
    port = _free_port()
    url = f"postgresql://app:hunter2-secret@127.0.0.1:{port}/appdb?connect_timeout=2"
    backend = PostgresBackend(url)
    with pytest.raises(BackendError) as info:
        backend.get("k")
    _check_message(info.value, port, "appdb", "hunter2-secret")
    assert isinstance(info.value.__cause__, psycopg.OperationalError)
    backend.close()


async def test_async_nothing_listening() -> None:
    port = _free_port()
    backend = AsyncPostgresBackend(f"postgresql://app:hunter2-secret@127.0.0.1:{port}/appdb")
    with pytest.raises(BackendError) as info:
        await backend.set("k", b"v")
    _check_message(info.value, port, "appdb", "hunter2-secret")
    await backend.close()


def test_unknown_database(postgres_server: PostgresServer) -> None:
    url = f"postgresql://postgres@127.0.0.1:{postgres_server.port}/no_such_db"
    with PostgresBackend(url) as backend, pytest.raises(BackendError) as info:
        backend.get("k")
    _check_message(info.value, postgres_server.port, "no_such_db", "no password here")
    assert "no_such_db" in str(info.value.__cause__)


def _require_password(server: PostgresServer, role: str, password: str) -> None:
    """Make ``role`` log in with a SCRAM password over TCP (other roles keep trust)."""
    server.psql(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    server.psql(f"GRANT CREATE, USAGE ON SCHEMA public TO {role}")
    hba = Path(server.psql("SHOW hba_file").strip())
    hba.write_text(f"host all {role} 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
    server.psql("SELECT pg_reload_conf()")


def test_wrong_password_is_never_shown(fresh_postgres_server: PostgresServer) -> None:
    server = fresh_postgres_server
    _require_password(server, "cache_user", "right-Secret-1")
    base = f"127.0.0.1:{server.port}/{server.dbname}"
    with PostgresBackend(f"postgresql://cache_user:wrong-Secret-2@{base}") as backend:
        with pytest.raises(BackendError, match="password authentication failed") as info:
            backend.get("k")
        _check_message(info.value, server.port, server.dbname, "wrong-Secret-2")

    async def async_wrong() -> None:
        async with AsyncPostgresBackend(
            f"postgresql://cache_user:wrong-Secret-2@{base}"
        ) as abackend:
            with pytest.raises(BackendError, match="password authentication failed") as ainfo:
                await abackend.get("k")
            _check_message(ainfo.value, server.port, server.dbname, "wrong-Secret-2")

    asyncio.run(async_wrong())
    with PostgresBackend(f"postgresql://cache_user:right-Secret-1@{base}") as backend:
        backend.set("k", b"v")
        assert backend.get("k") == b"v"


def test_recovers_after_restart(fresh_postgres_server: PostgresServer) -> None:
    server = fresh_postgres_server
    with PostgresBackend(_url(server, max_size=4)) as backend:
        backend.set("k", b"v")
        pool = backend._pools.get().pool
        held = [
            pool.getconn() for _ in range(3)
        ]  # with the one this thread keeps, four idle connections, all broken by the restart
        for conn in held:
            pool.putconn(conn)
        server.restart()
        assert backend.get("k") == b"v"  # a clean shutdown keeps even an unlogged table
        backend.set("k", b"after")
        assert backend.get("k") == b"after"


async def test_async_recovers_after_restart(fresh_postgres_server: PostgresServer) -> None:
    server = fresh_postgres_server
    async with AsyncPostgresBackend(_url(server, max_size=3)) as backend:
        await backend.set("k", b"v")
        pool = (await backend._pools.get()).pool
        held = [await pool.getconn() for _ in range(3)]
        for conn in held:
            await pool.putconn(conn)
        server.restart()
        assert await backend.get("k") == b"v"


def test_server_down_then_back(fresh_postgres_server: PostgresServer) -> None:
    server = fresh_postgres_server
    with PostgresBackend(_url(server, timeout=1)) as backend:
        backend.set("k", b"v")
        server.kill()
        # the first call may still be answered, or fail mid-query, while the server's processes die
        _wait_for(lambda: _get_fails(backend), "calls kept succeeding after the server was killed")
        with pytest.raises(BackendError, match="no connection within the pool timeout") as info:
            backend.get("k")
        assert f"127.0.0.1:{server.port}" in str(info.value)
        assert isinstance(info.value.__cause__, psycopg.OperationalError)  # the diagnosis
        server.restart()
        # the harness runs with fsync off, so a crash may lose the table itself: it comes back too
        _wait_for(lambda: _set_and_get(backend), "the engine did not recover after restart")


def _get_fails(backend: PostgresBackend) -> bool:
    try:
        backend.get("k")
    except BackendError:
        return True
    return False


def _set_and_get(backend: PostgresBackend) -> bool:
    try:
        backend.set("k2", b"v2")
        return backend.get("k2") == b"v2"
    except BackendError:
        return False


def test_table_dropped_behind_our_back(postgres_server: PostgresServer, table: str) -> None:
    with PostgresBackend(_url(postgres_server, table=table), namespace="ns") as backend:
        backend.set("k", b"v")
        _sql(postgres_server, f"DROP TABLE {table}")
        assert backend.get("k") is None  # created again, empty
        _sql(postgres_server, f"DROP TABLE {table}")
        with pytest.raises(ValueError):
            backend.incr("k")
        _sql(postgres_server, f"DROP TABLE {table}")
        backend.set_many({"a": b"1"})
        assert backend.get_many(["a"]) == {"a": b"1"}


async def test_async_table_dropped_behind_our_back(
    postgres_server: PostgresServer, table: str
) -> None:
    async with AsyncPostgresBackend(_url(postgres_server, table=table), namespace="ns") as backend:
        await backend.set("k", b"v")
        _sql(postgres_server, f"DROP TABLE {table}")
        assert await backend.add("k", b"w") is True
        assert await backend.get("k") == b"w"


async def test_async_server_down(fresh_postgres_server: PostgresServer) -> None:
    server = fresh_postgres_server
    async with AsyncPostgresBackend(_url(server, timeout=1)) as backend:
        await backend.set("k", b"v")
        server.kill()
        deadline = time.monotonic() + DEADLINE
        while True:  # the first call may still be answered while the server's processes die
            try:
                await backend.get("k")
            except BackendError:
                break
            assert time.monotonic() < deadline, "calls kept succeeding after the server was killed"
            await asyncio.sleep(0.05)
        with pytest.raises(BackendError, match="no connection within the pool timeout"):
            await backend.get("k")


def test_pool_exhausted(postgres_server: PostgresServer) -> None:
    with PostgresBackend(_url(postgres_server, min_size=1, max_size=1, timeout=0.2)) as backend:
        backend.set("k", b"v")
        pool = backend._pools.get().pool
        conn = pool.getconn()
        try:
            with pytest.raises(BackendError, match="couldn't get a connection") as info:
                backend.get("k")
            assert isinstance(info.value.__cause__, PoolTimeout)
        finally:
            pool.putconn(conn)
        assert backend.get("k") == b"v"


async def test_async_pool_exhausted(postgres_server: PostgresServer) -> None:
    async with AsyncPostgresBackend(
        _url(postgres_server, min_size=0, max_size=1, timeout=0.2)
    ) as backend:
        await backend.set("k", b"v")
        pool = (await backend._pools.get()).pool
        conn = await pool.getconn()
        try:
            with pytest.raises(BackendError, match="couldn't get a connection"):
                await backend.get("k")
        finally:
            await pool.putconn(conn)


def test_broken_statement_is_a_backend_error(postgres_server: PostgresServer, table: str) -> None:
    with PostgresBackend(_url(postgres_server, table=table)) as backend:
        backend.set("k", b"v")
        with pytest.raises(BackendError) as info:
            backend.set("nul\x00key", b"v")  # PostgreSQL text cannot hold NUL
        assert isinstance(info.value.__cause__, psycopg.Error)
        assert backend.get("k") == b"v"


async def test_async_broken_statement_is_a_backend_error(postgres_server: PostgresServer) -> None:
    async with AsyncPostgresBackend(postgres_server.url, namespace=_table()) as backend:
        with pytest.raises(BackendError, match=f"127.0.0.1:{postgres_server.port}"):
            await backend.get("nul\x00key")
        assert await backend.get("k") is None


def test_closed_connection_is_not_alive(postgres_server: PostgresServer) -> None:
    conn = psycopg.connect(postgres_server.url)
    assert is_alive(conn)
    conn.close()
    assert not is_alive(conn)


def test_loop_shutdown_with_the_pool_open(postgres_server: PostgresServer) -> None:
    """asyncio.run() ends without close(), right after the pool started growing: no hang."""

    async def use_and_leave() -> None:
        backend = AsyncPostgresBackend(_url(postgres_server, min_size=1, max_size=4))
        await asyncio.gather(*(backend.set(f"k{i}", b"v") for i in range(4)))

    finished: list[bool] = []
    for _ in range(5):
        thread = threading.Thread(
            target=lambda: finished.append(asyncio.run(use_and_leave()) is None)
        )
        thread.start()
        thread.join(timeout=DEADLINE)
        assert not thread.is_alive(), "the event loop's shutdown hung on the open pool"
    assert finished == [True] * 5


def test_one_async_engine_in_two_event_loops(postgres_server: PostgresServer) -> None:
    backend = AsyncPostgresBackend(postgres_server.url, namespace=_table())
    asyncio.run(backend.set("k", b"v"))  # the first loop's end closes its pool
    assert asyncio.run(backend.get("k")) == b"v"  # the second loop opens another
    asyncio.run(backend.close())


# -- through core ----------------------------------------------------------------------------


def test_cache_and_decorator_end_to_end(postgres_server: PostgresServer, table: str) -> None:
    url = _url(postgres_server, table=table)
    calls: list[int] = []

    @ucache(url, namespace="e2e", ttl=60, strict=True)
    def square(x: int) -> int:
        calls.append(x)
        return x * x

    assert [square(3), square(3), square(4)] == [9, 9, 16]
    assert calls == [3, 4]
    with Cache(url, namespace="e2e-cache", strict=True) as cache:
        cache.set("profile", {"name": "ada"})
        assert cache.get("profile") == {"name": "ada"}
        cache.set("visits", 1)
        assert cache.incr("visits", 2) == 3
    with Cache(url, namespace="e2e-tags", strict=True, tags=["users"]) as tagged:
        tagged.set("profile", {"name": "ada"})
        assert tagged.get("profile") == {"name": "ada"}
        tagged.invalidate_tags("users")
        assert tagged.get("profile") is None
    square.cache_clear()


async def test_async_decorator_end_to_end(postgres_server: PostgresServer, table: str) -> None:
    calls: list[int] = []

    @ucache(_url(postgres_server, table=table), namespace="e2e-async", strict=True)
    async def double(x: int) -> int:
        calls.append(x)
        return 2 * x

    assert [await double(5), await double(5)] == [10, 10]
    assert calls == [5]


def test_capabilities_are_declared_on_both_twins() -> None:
    for cls in (PostgresBackend, AsyncPostgresBackend):
        caps = capabilities_of(cls("postgresql://127.0.0.1:1/x"))
        assert caps is cls.capabilities
        assert caps.native_ttl is False  # an expiry column checked on read
        assert (caps.lists_keys, caps.atomic_add, caps.atomic_incr) == (True, True, True)
        assert (caps.native_async, caps.shared, caps.persistent) == (True, True, True)
        assert caps.max_key_length == 2048


def test_writes_say_they_happened(postgres_server: PostgresServer, table: str) -> None:
    with PostgresBackend(_url(postgres_server, table=table), namespace="w") as backend:
        assert backend.set("k", b"v") is True
        assert backend.set_many({"a": b"1"}) is True
        assert backend.set_many({}) is True


async def test_writes_say_they_happened_async(postgres_server: PostgresServer, table: str) -> None:
    url = _url(postgres_server, table=table)
    async with AsyncPostgresBackend(url, namespace="w") as abackend:
        assert await abackend.set("k", b"v") is True
        assert await abackend.set_many({"a": b"1"}) is True
        assert await abackend.set_many({}) is True


def test_any_client_exception_becomes_a_backend_error(
    postgres_server: PostgresServer, table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise AttributeError("a bug inside the client")

    with PostgresBackend(_url(postgres_server, table=table)) as backend:
        backend.set("k", b"v")
        monkeypatch.setattr(psycopg.Cursor, "execute", broken)
        with pytest.raises(BackendError, match="a bug inside the client") as info:
            backend.get("k")
        assert isinstance(info.value.__cause__, AttributeError)


def test_purge_batch_default() -> None:
    assert PURGE_BATCH == 1000


def test_timeout_is_the_clients_own_and_the_servers_statement_timeout(
    postgres_server: PostgresServer,
) -> None:
    cache = Cache(postgres_server.url, timeout=0.5)
    settings = cache._raw.settings  # type: ignore[union-attr]
    assert (settings.timeout, settings.statement_timeout, settings.connect_timeout) == (0.5, 0.5, 1)
    # the connections the engine opens (its pool uses these arguments) carry the timeout
    with psycopg.connect(**settings.connect_kwargs()) as conn:
        assert conn.execute("SHOW statement_timeout").fetchone() == ("500ms",)
        with pytest.raises(psycopg.errors.QueryCanceled):
            conn.execute("SELECT pg_sleep(3)")
    cache.set("k", 1)
    assert cache.get("k") == 1
    cache.close()
    given = Cache(_url(postgres_server, statement_timeout=3, timeout=2), timeout=0.5)
    kept = given._raw.settings  # type: ignore[union-attr]
    assert (kept.statement_timeout, kept.timeout, kept.connect_timeout) == (3.0, 2.0, 1)
    given.close()
    assert Cache(postgres_server.url)._raw.settings.statement_timeout is None  # type: ignore[union-attr]


_LISTENING = b"SELECT pg_listening_channels()"


def test_lock_waiters_leave_no_connection_listening(
    postgres_server: PostgresServer, table: str
) -> None:
    # one connection open (a second only on demand): every call below runs on the one
    # the waits used
    url = _url(postgres_server, table=table, min_size=1, max_size=2)
    with (
        PostgresBackend(url, namespace="locks") as backend,
        PostgresBackend(url, namespace="other") as other,
    ):
        backend.set("lock", b"t1", ttl=60)
        assert backend.wait_deleted("lock", b"t1", 0.05) is False
        assert backend._run(backend._fetch_all, _LISTENING, (), read=True) == []
        assert backend.delete_if("lock", b"t1") is True
        assert backend.wait_deleted("lock", b"t1", 5) is True
        assert backend._run(backend._fetch_all, _LISTENING, (), read=True) == []
        # the release's wake row: in no namespace's keys, and no other namespace's release
        assert list(backend.keys()) == []
        assert other.wait_deleted("lock", b"t1", 0.05) is False
        assert backend.delete_if("lock", b"t1") is False


async def test_async_lock_waiters_leave_no_connection_listening(
    postgres_server: PostgresServer, table: str
) -> None:
    url = _url(postgres_server, table=table, min_size=1, max_size=2)
    async with AsyncPostgresBackend(url, namespace="locks") as backend:
        await backend.set("lock", b"t1", ttl=60)
        assert await backend.wait_deleted("lock", b"t1", 0.05) is False
        assert await backend._run(backend._fetch_all, _LISTENING, (), read=True) == []
        assert await backend.delete_if("lock", b"t1") is True
        assert await backend.wait_deleted("lock", b"t1", 5) is True
        assert await backend._run(backend._fetch_all, _LISTENING, (), read=True) == []
        assert [key async for key in backend.keys()] == []


def test_lock_waiters_leave_half_the_pool_free(postgres_server: PostgresServer, table: str) -> None:
    # a pool of one: no waiter may LISTEN on it (the release needs it); they look for the
    # release's wake row instead
    url = _url(postgres_server, table=table, min_size=1, max_size=1)
    with PostgresBackend(url, namespace="locks") as backend:
        backend.set("lock", b"t1", ttl=60)
        # not released: the waiter looks once, after a short pause (not for its 30 s)
        assert backend.wait_deleted("lock", b"t1", 30) is False
        assert backend.delete_if("lock", b"t1") is True
        assert backend.wait_deleted("lock", b"t1", 30) is True
        assert backend.wait_deleted("lock", b"t2", 0) is False
        assert backend._run(backend._fetch_all, _LISTENING, (), read=True) == []


def test_reads_reuse_one_cursor_per_connection(postgres_server: PostgresServer, table: str) -> None:
    """A hit runs on its connection's kept cursor (psycopg keeps its adapters for the query)."""
    with PostgresBackend(_url(postgres_server, table=table)) as backend:
        backend.set("k", b"v")
        assert backend.get("k") == b"v"
        conn = backend._pools.get().acquire(False)
        kept = conn.kept()
        assert backend.get("k") == b"v"
        assert backend.get("absent") is None
        assert conn.kept() is kept
        kept.close()  # closed by anyone: the next statement makes a new one
        assert backend.get("k") == b"v"
        assert conn.kept() is not kept


async def test_async_reads_reuse_one_cursor_per_connection(
    postgres_server: PostgresServer, table: str
) -> None:
    async with AsyncPostgresBackend(_url(postgres_server, table=table)) as backend:
        await backend.set("k", b"v")
        assert await backend.get("k") == b"v"
        leases = await backend._pools.get()
        conn = await leases.acquire()
        kept = conn.kept()
        assert conn.kept() is kept
        await leases.release(conn)
        await kept.close()
        assert await backend.get("k") == b"v"
        assert await backend.get("absent") is None
        assert conn.kept() is not kept
