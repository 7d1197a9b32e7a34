"""twat-cache-redis: the conformance kit on a real server and Cluster, plus engine-specific tests.

Every server is started by the harness (tools/twat_cache_harness) on a loopback port.
"""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster
from redis.crc import key_slot
from twat_cache import Cache, CacheConfig
from twat_cache.adapters import run_blocking
from twat_cache.exceptions import BackendError, CacheOperationError, ConfigurationError
from twat_cache.protocols import capabilities_of
from twat_cache.registry import create_backend
from twat_cache.serializers import encode_int
from twat_cache.testing import AsyncBackendConformance, BackendConformance

# the harness lives in tools/ (on pytest's pythonpath); mypy is not pointed there
from twat_cache_harness import (  # type: ignore[import-not-found,unused-ignore]
    HarnessError,
    RedisServer,
    ensure_binary,
    free_port,
    redis_command,
)
from twat_cache_redis import AsyncRedisBackend, RedisBackend, RedisSettings
from twat_cache_redis.keyspace import Keyspace, by_slot, ttl_ms

MakeBackend = Callable[[str], Any]
PASSWORD = "s3cret-Pa55word"


# -- the conformance kit ---------------------------------------------------------------


class _Standalone:
    @pytest.fixture
    def make_backend(self, redis_server: Any) -> MakeBackend:
        def make(namespace: str) -> RedisBackend:
            return RedisBackend.from_url(redis_server.url, namespace=namespace)

        return make


class _StandaloneAsync:
    @pytest.fixture
    def make_backend(self, redis_server: Any) -> MakeBackend:
        def make(namespace: str) -> AsyncRedisBackend:
            return AsyncRedisBackend.from_url(redis_server.url, namespace=namespace)

        return make


class _Cluster:
    @pytest.fixture
    def make_backend(self, redis_cluster: Any) -> MakeBackend:
        def make(namespace: str) -> RedisBackend:
            return RedisBackend.from_url(redis_cluster.url, namespace=namespace)

        return make


class TestStandaloneConformance(_Standalone, BackendConformance):
    pass


class TestStandaloneAsyncConformance(_Standalone, AsyncBackendConformance):
    """The async twin, as core gets it from ``RedisBackend.make_async()``."""


class TestNativeAsyncConformance(_StandaloneAsync, AsyncBackendConformance):
    """``AsyncRedisBackend`` built directly."""


class TestNativeAsyncAsSyncConformance(_StandaloneAsync, BackendConformance):
    """The sync twin of an ``AsyncRedisBackend`` (``make_sync()``)."""


class TestClusterConformance(_Cluster, BackendConformance):
    pass


class TestClusterAsyncConformance(_Cluster, AsyncBackendConformance):
    pass


# -- servers configured beyond the harness defaults --------------------------------------


class _ConfiguredRedis(RedisServer):  # type: ignore[misc,unused-ignore]
    """A harness redis-server with a password, a Unix socket or a TLS port."""

    def __init__(
        self, *, password: str | None = None, unix_socket: bool = False, tls_dir: Path | None = None
    ) -> None:
        super().__init__()
        self.password = password
        self.unix_socket = unix_socket
        self.tls_dir = tls_dir
        self.tls_port = free_port() if tls_dir is not None else 0

    @property
    def socket_path(self) -> str:
        return os.path.join(str(self.tmpdir), "redis.sock")

    def _command(self) -> list[str]:
        cmd: list[str] = super()._command()
        if self.password:
            cmd += ["--requirepass", self.password]
        if self.unix_socket:
            cmd += ["--unixsocket", self.socket_path, "--unixsocketperm", "700"]
        if self.tls_dir is not None:
            cmd += ["--tls-port", str(self.tls_port), "--tls-auth-clients", "no"]
            cmd += ["--tls-cert-file", str(self.tls_dir / "server.crt")]
            cmd += ["--tls-key-file", str(self.tls_dir / "server.key")]
            cmd += ["--tls-ca-cert-file", str(self.tls_dir / "ca.crt")]
        return cmd

    def _ready(self) -> bool:
        try:
            return bool(super()._ready())
        except HarnessError as exc:
            if "NOAUTH" in str(exc):  # it answers: it only wants the password
                return True
            raise


def _serve(server: Any) -> Iterator[Any]:
    try:
        server.start()
    except HarnessError as exc:
        server.stop()
        pytest.fail(f"could not start {server!r}: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def password_server() -> Iterator[Any]:
    yield from _serve(_ConfiguredRedis(password=PASSWORD))


@pytest.fixture(scope="module")
def unix_server() -> Iterator[Any]:
    yield from _serve(_ConfiguredRedis(unix_socket=True))


def _make_certificates(folder: Path) -> None:
    """A CA and a server certificate for 127.0.0.1, made with the openssl command."""
    openssl = ensure_binary("openssl", "openssl")
    # extensions that Python's strict X.509 checks (3.13+) want of a CA and of a server
    (folder / "openssl.cnf").write_text(
        "[req]\ndistinguished_name=dn\nprompt=no\n"
        "[dn]\nCN=twat-cache test CA\n"
        "[ca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n"
        "[server]\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n"
    )

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], cwd=folder, check=True, capture_output=True, timeout=60)

    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    config = ["-config", "openssl.cnf"]
    run("req", "-x509", *key, *config, "-extensions", "ca", "-keyout", "ca.key", "-out", "ca.crt")
    run("req", *key, *config, "-subj", "/CN=127.0.0.1", "-keyout", "server.key", "-out", "s.csr")
    run(
        "x509", "-req", "-in", "s.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.crt", "-days", "2", "-extfile", "openssl.cnf", "-extensions", "server",
    )  # fmt: skip


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    folder = tmp_path_factory.mktemp("tls")
    _make_certificates(folder)
    yield from _serve(_ConfiguredRedis(tls_dir=folder))


def _ns() -> str:
    return f"t{time.monotonic_ns()}"


def _raw(server: Any) -> redis.Redis:
    return redis.Redis(host=server.host, port=server.port)


# -- URLs and options --------------------------------------------------------------------


class TestURLs:
    def test_defaults(self) -> None:
        s = RedisSettings.from_url("redis://cache.example:6380/3")
        assert s.hosts == (("cache.example", 6380),)
        assert (s.db, s.cluster, s.tls, s.unix_path) == (3, False, False, None)
        assert (s.socket_timeout, s.socket_connect_timeout, s.retries) == (5.0, 1.0, 1)
        assert s.address == "cache.example:6380"

    def test_default_port_and_db(self) -> None:
        s = RedisSettings.from_url("redis://cache")
        assert (s.hosts, s.db) == ((("cache", 6379),), 0)
        assert RedisSettings.from_url("redis://cache/?db=4").db == 4
        assert RedisSettings.from_url("redis://[::1]:7000").address == "[::1]:7000"

    def test_credentials_are_kept_out_of_repr(self) -> None:
        s = RedisSettings.from_url(f"redis://app:{PASSWORD}@cache:6379/0")
        assert (s.username, s.password) == ("app", PASSWORD)
        assert PASSWORD not in repr(s)

    def test_pool_options(self) -> None:
        s = RedisSettings.from_url(
            "redis://h/0?max_connections=20&socket_timeout=0.5&socket_connect_timeout=0.25"
            "&health_check_interval=30&retry_on_timeout=true&client_name=web&retries=3"
        )
        assert s.max_connections == 20
        assert (s.socket_timeout, s.socket_connect_timeout) == (0.5, 0.25)
        assert (s.health_check_interval, s.retry_on_timeout, s.retries) == (30.0, True, 3)
        assert s.client_name == "web"

    def test_unix(self) -> None:
        s = RedisSettings.from_url("unix:///run/redis/redis.sock?db=2")
        assert (s.unix_path, s.db, s.hosts) == ("/run/redis/redis.sock", 2, ())
        assert s.address == "unix:/run/redis/redis.sock"

    def test_cluster(self) -> None:
        s = RedisSettings.from_url("redis+cluster://a:7000,b:7001,c")
        assert s.cluster
        assert not s.tls
        assert s.hosts == (("a", 7000), ("b", 7001), ("c", 6379))
        assert s.address == "a:7000,b:7001,c:6379"
        assert RedisSettings.from_url("rediss+cluster://a:7000/0").tls

    def test_tls_options(self, tmp_path: Path) -> None:
        ca = tmp_path / "ca.pem"
        ca.write_text("x")
        s = RedisSettings.from_url(f"rediss://h:6380/0?ssl_ca_certs={ca}&ssl_cert_reqs=optional")
        assert (s.tls, s.ssl_ca_certs, s.ssl_cert_reqs, s.ssl_check_hostname) == (
            True,
            str(ca),
            "optional",
            True,
        )
        s = RedisSettings.from_url(
            f"rediss://h?ssl_cert_reqs=none&ssl_certfile={ca}&ssl_keyfile={ca}"
        )
        assert (s.ssl_check_hostname, s.ssl_certfile, s.ssl_keyfile) == (False, str(ca), str(ca))
        s = RedisSettings.from_url("rediss://h?ssl_check_hostname=false")
        assert (s.ssl_cert_reqs, s.ssl_check_hostname) == ("required", False)

    @pytest.mark.parametrize(
        ("url", "names"),
        [
            ("redis://h/0?colour=blue", ["colour", "known options"]),
            ("redis://h/0?decode_responses=true", ["decode_responses", "bytes"]),
            ("redis://h/0?password=x", ["password"]),
            ("redis://h/0?max_connections=0", ["max_connections", "'0'"]),
            ("redis://h/0?max_connections=many", ["max_connections", "integer"]),
            ("redis://h/0?socket_timeout=0", ["socket_timeout"]),
            ("redis://h/0?socket_timeout=inf", ["socket_timeout"]),
            ("redis://h/0?socket_connect_timeout=-1", ["socket_connect_timeout"]),
            ("redis://h/0?health_check_interval=soon", ["health_check_interval"]),
            ("redis://h/0?retry_on_timeout=maybe", ["retry_on_timeout", "true or false"]),
            ("redis://h/0?retries=-1", ["retries"]),
            ("redis://h/0?client_name=my%20app", ["client_name", "spaces"]),
            ("redis://h/0?client_name=", ["client_name"]),
            ("redis://h/0?ssl_ca_certs=/ca.pem", ["ssl_ca_certs", "rediss://"]),
            ("rediss://h/0?ssl_cert_reqs=sometimes", ["ssl_cert_reqs", "required"]),
            ("rediss://h/0?ssl_ca_certs=/no/such/ca.pem", ["ssl_ca_certs", "existing file"]),
            ("rediss://h/0?ssl_cert_reqs=none&ssl_check_hostname=true", ["ssl_check_hostname"]),
            ("redis:///0", ["url", "host is required"]),
            ("redis://h:0/0", ["port"]),
            ("redis://h:99999/0", ["port"]),
            ("redis://h:port/0", ["port"]),
            ("redis://h/zero", ["db", "zero"]),
            ("redis://h/1?db=2", ["db", "once"]),
            ("redis://a:1,b:2/0", ["redis+cluster://"]),
            ("redis+cluster://a:1,b:2/1", ["db", "Cluster"]),
            ("redis+cluster://a:1?db=1", ["db"]),
            ("unix://", ["unix:///"]),
            ("unix://host/sock", ["unix:///"]),
            ("memcached://h:11211", ["scheme", "memcached"]),
        ],
    )
    def test_bad_urls_fail_at_construction(self, url: str, names: list[str]) -> None:
        with pytest.raises(ConfigurationError) as info:
            RedisBackend.from_url(url)
        for name in names:
            assert name in str(info.value)

    def test_tls_keyfile_needs_certfile(self, tmp_path: Path) -> None:
        key = tmp_path / "k.pem"
        key.write_text("x")
        with pytest.raises(ConfigurationError, match="ssl_keyfile"):
            RedisSettings.from_url(f"rediss://h?ssl_keyfile={key}")

    def test_password_is_redacted_in_configuration_errors(self) -> None:
        with pytest.raises(ConfigurationError) as info:
            RedisBackend.from_url(f"redis://:{PASSWORD}@a:1,b:2/0")
        assert PASSWORD not in str(info.value)

    @pytest.mark.parametrize(
        "url",
        [
            "redis://127.0.0.1:1/0",
            "rediss://127.0.0.1:1/0",
            "unix:///nowhere/redis.sock",
            "redis+cluster://127.0.0.1:1,127.0.0.1:2",
            "rediss+cluster://127.0.0.1:1",
        ],
    )
    def test_core_finds_the_engine_by_entry_point_without_connecting(self, url: str) -> None:
        backend = create_backend(CacheConfig(url=url, namespace="app", options={"retries": 0}))
        assert type(backend) is RedisBackend
        assert backend.namespace == "app"
        assert backend.settings.retries == 0  # built, though nothing listens on port 1
        backend.close()

    def test_unknown_option_through_core(self) -> None:
        with pytest.raises(ConfigurationError, match="colour"):
            create_backend(CacheConfig(url="redis://127.0.0.1:1/0", options={"colour": "blue"}))

    def test_async_from_config_and_twins(self) -> None:
        url = "redis://127.0.0.1:1/0?socket_timeout=0.5"
        config = CacheConfig(url=url, namespace="app")
        backend = AsyncRedisBackend.from_config(config, config.engine_url())
        assert backend.settings.socket_timeout == 0.5
        twin = backend.make_sync()
        assert (twin.settings, twin.namespace) == (backend.settings, "app")
        assert twin.make_async().settings is backend.settings
        assert backend.stores_objects is False
        assert twin.blocking is True

    @pytest.mark.parametrize(
        ("url", "sync_type", "async_type"),
        [
            ("redis://127.0.0.1:1/2", redis.Redis, redis.asyncio.Redis),
            ("unix:///tmp/x.sock?db=1", redis.Redis, redis.asyncio.Redis),
            ("rediss://127.0.0.1:1/0?ssl_cert_reqs=none", redis.Redis, redis.asyncio.Redis),
        ],
    )
    async def test_clients_are_built_without_connecting(
        self, url: str, sync_type: type, async_type: type
    ) -> None:
        settings = RedisSettings.from_url(url)
        client = settings.sync_client()
        assert isinstance(client, sync_type)
        assert client.get_connection_kwargs()["decode_responses"] is False
        client.close()
        aclient = settings.async_client()
        assert isinstance(aclient, async_type)
        await aclient.aclose()

    async def test_async_cluster_client_is_built_without_connecting(self) -> None:
        settings = RedisSettings.from_url("rediss+cluster://127.0.0.1:1?ssl_cert_reqs=none")
        client = settings.async_client()
        assert isinstance(client, redis.asyncio.cluster.RedisCluster)
        await client.aclose()

    def test_pool_and_retry_options_reach_the_client(self) -> None:
        url = "redis://127.0.0.1:1/0?max_connections=5&retry_on_timeout=true&retries=2"
        client = RedisSettings.from_url(url).sync_client()
        assert isinstance(client, redis.Redis)
        kwargs = client.connection_pool.connection_kwargs
        assert client.connection_pool.max_connections == 5
        assert redis.exceptions.TimeoutError in kwargs["retry_on_error"]
        assert kwargs["socket_connect_timeout"] == 1.0
        client.close()


class TestKeyspace:
    def test_keys_and_pattern(self) -> None:
        space = Keyspace("app")
        assert space.key("user:1") == b"app:user:1"
        assert space.relative(b"app:user:1") == "user:1"
        assert space.relative("app:ключ") == "ключ"
        assert space.pattern == b"app:*"
        assert Keyspace("a*b?[c]\\").pattern == b"a\\*b\\?\\[c\\]\\\\:*"

    def test_ttl_ms(self) -> None:
        assert ttl_ms(None) is None
        assert ttl_ms(1.5) == 1500
        assert ttl_ms(0.0001) == 1
        assert ttl_ms(0) == 1

    def test_by_slot(self) -> None:
        keys = [f"k{i}".encode() for i in range(50)] + [b"{tag}a", b"{tag}b"]
        groups = by_slot(keys)
        assert sorted(k for g in groups for k in g) == sorted(keys)
        for group in groups:
            assert len({key_slot(k) for k in group}) == 1
        assert [b"{tag}a", b"{tag}b"] in groups


# -- behaviour on a real server ------------------------------------------------------------


class TestStandalone:
    def test_get_many_is_one_mget(self, redis_server: Any) -> None:
        with RedisBackend.from_url(redis_server.url, namespace=_ns()) as backend:
            backend.set_many({f"k{i}": b"v" for i in range(20)})
            redis_command(redis_server.host, redis_server.port, "CONFIG", "RESETSTAT")
            assert len(backend.get_many([f"k{i}" for i in range(25)])) == 20
            stats = redis_command(redis_server.host, redis_server.port, "INFO", "commandstats")
            assert isinstance(stats, bytes)
            assert b"cmdstat_mget:calls=1," in stats
            assert b"cmdstat_get:" not in stats

    def test_clear_leaves_other_namespaces_and_plain_keys(self, redis_server: Any) -> None:
        raw = _raw(redis_server)
        ns = _ns()
        mine = RedisBackend.from_url(redis_server.url, namespace=ns)
        longer = RedisBackend.from_url(redis_server.url, namespace=ns + "2")
        try:
            mine.set_many({f"k{i}": b"v" for i in range(2500)})  # more than one UNLINK batch
            longer.set("k1", b"other")
            raw.set(f"plain-{ns}", b"x")
            raw.set(ns, b"the namespace itself, without a colon")
            mine.clear()
            assert list(mine.keys()) == []
            assert longer.get("k1") == b"other"
            assert raw.get(f"plain-{ns}") == b"x"
            assert raw.get(ns) is not None
        finally:
            raw.delete(f"plain-{ns}", ns)
            longer.clear()
            mine.close()
            longer.close()
            raw.close()

    def test_glob_characters_in_a_namespace_are_literal(self, redis_server: Any) -> None:
        settings = RedisSettings.from_url(redis_server.url)
        starred = RedisBackend(settings, namespace="st*r")
        plain = RedisBackend(settings, namespace="stXr")
        try:
            starred.set("a", b"1")
            plain.set("b", b"2")
            assert list(starred.keys()) == ["a"]
            starred.clear()
            assert plain.get("b") == b"2"
        finally:
            plain.clear()
            starred.close()
            plain.close()

    def test_keys_are_stored_under_the_namespace(self, redis_server: Any) -> None:
        ns = _ns()
        raw = _raw(redis_server)
        with RedisBackend.from_url(redis_server.url, namespace=ns) as backend:
            backend.set("user:1", b"v", ttl=100)
            assert raw.get(f"{ns}:user:1") == b"v"
            assert 0 < raw.pttl(f"{ns}:user:1") <= 100_000
            assert backend.touch("user:1", None) is True
            assert raw.pttl(f"{ns}:user:1") == -1
            assert backend.touch("user:1", None) is True, "present without a ttl is present"
            backend.clear()
        raw.close()

    def test_incr_keeps_the_ttl_and_refuses_non_integers(self, redis_server: Any) -> None:
        ns = _ns()
        raw = _raw(redis_server)
        with RedisBackend.from_url(redis_server.url, namespace=ns) as backend:
            backend.set("n", encode_int(41), ttl=100)
            assert backend.incr("n") == 42
            assert raw.pttl(f"{ns}:n") > 0
            backend.set("f", b"1.5")
            with pytest.raises(TypeError):
                backend.incr("f")
            backend.set("big", encode_int(2**63 - 1))
            with pytest.raises(OverflowError):
                backend.incr("big")
            assert backend.get("big") == encode_int(2**63 - 1)
            backend.set("small", encode_int(-(2**63)))
            with pytest.raises(OverflowError):
                backend.incr("small", -1)
            with pytest.raises(OverflowError):
                backend.incr("small", 2**64)
            assert backend.get("small") == encode_int(-(2**63))
            raw.hset(f"{ns}:hash", "a", "1")
            with pytest.raises(TypeError):
                backend.incr("hash")
            with pytest.raises(BackendError):
                backend.get("hash")  # WRONGTYPE: not something this engine wrote
            backend.clear()
        raw.close()

    def test_keys_after_close_and_empty_batches(self, redis_server: Any) -> None:
        backend = RedisBackend.from_url(redis_server.url, namespace=_ns())
        assert backend.get_many([]) == {}
        backend.set_many({})
        assert backend.delete_many([]) == 0
        backend.close()
        for call in (
            backend.keys,
            lambda: backend.get_many([]),
            lambda: backend.set_many({}),
            lambda: backend.delete_many([]),
            backend.clear,
            lambda: backend.incr("n"),
        ):
            with pytest.raises(CacheOperationError):
                call()
        assert "closed" in repr(backend)

    def test_unix_socket(self, unix_server: Any) -> None:
        url = f"unix://{unix_server.socket_path}?db=1"
        with RedisBackend.from_url(url, namespace=_ns()) as backend:
            backend.set("k", b"v")
            assert backend.get("k") == b"v"
            backend.clear()
        raw = redis.Redis(unix_socket_path=unix_server.socket_path, db=0)
        assert raw.dbsize() == 0, "db=1 was used"
        raw.close()

    async def test_unix_socket_async(self, unix_server: Any) -> None:
        url = f"unix://{unix_server.socket_path}?db=1"
        async with AsyncRedisBackend.from_url(url, namespace=_ns()) as backend:
            await backend.set("k", b"v")
            assert await backend.get("k") == b"v"
            await backend.clear()

    def test_through_core_cache(self, redis_server: Any) -> None:
        with Cache(redis_server.url, namespace=_ns(), ttl=60) as cache:
            cache.set("user", {"id": 1}, tags=["users"])
            assert cache.get("user") == {"id": 1}
            cache.set("hits", 1)
            assert cache.incr("hits", 2) == 3
            cache.invalidate_tags("users")
            assert cache.get("user") is None
            cache.clear()

    async def test_through_core_cache_async(self, redis_server: Any) -> None:
        cache = Cache(redis_server.url, namespace=_ns(), ttl=60)
        try:
            await cache.aset("k", [1, 2])
            assert await cache.aget("k") == [1, 2]
            await cache.aclear()
        finally:
            await cache.aclose()


class TestAsyncDetails:
    async def test_edges(self, redis_server: Any) -> None:
        ns = _ns()
        raw = _raw(redis_server)
        backend = AsyncRedisBackend.from_url(redis_server.url, namespace=ns)
        assert await backend.get_many([]) == {}
        await backend.set_many({})
        assert await backend.delete_many([]) == 0
        await backend.set("p", b"v", ttl=100)
        assert await backend.touch("p", None) is True
        assert raw.pttl(f"{ns}:p") == -1
        assert await backend.touch("p", None) is True
        assert await backend.touch("absent", None) is False
        await backend.set("f", b"x")
        with pytest.raises(TypeError):
            await backend.incr("f")
        await backend.set("big", encode_int(2**63 - 1))
        with pytest.raises(OverflowError):
            await backend.incr("big", 1)
        assert await backend.get("big") == encode_int(2**63 - 1)
        await backend.set_many({f"k{i}": b"v" for i in range(1500)}, ttl=60)
        assert len({k async for k in backend.keys()}) == 1503
        await backend.clear()
        assert [k async for k in backend.keys()] == []
        await backend.close()
        await backend.close()
        for call in (
            lambda: backend.get_many([]),
            lambda: backend.set_many({}),
            lambda: backend.delete_many([]),
            backend.clear,
        ):
            with pytest.raises(CacheOperationError):
                await call()
        with pytest.raises(CacheOperationError):
            backend.keys()
        raw.close()


class TestCluster:
    def test_get_many_across_slots_is_one_mget_per_slot(self, redis_cluster: Any) -> None:
        ns = _ns()
        keys = [f"key-{i}" for i in range(60)]
        physical = [f"{ns}:{k}".encode() for k in keys]
        slots = {key_slot(k) for k in physical}
        assert len(slots) > 10, "the keys should spread over the Cluster"
        with RedisBackend.from_url(redis_cluster.url, namespace=ns) as backend:
            backend.set_many({k: k.encode() for k in keys})
            for port in redis_cluster.ports:
                redis_command(redis_cluster.host, port, "CONFIG", "RESETSTAT")
            found = backend.get_many([*keys, "missing"])
            assert found == {k: k.encode() for k in keys}
            calls = 0
            for port in redis_cluster.ports:
                stats = redis_command(redis_cluster.host, port, "INFO", "commandstats")
                assert isinstance(stats, bytes)
                assert b"cmdstat_mget:" in stats, "every node holds some of the keys"
                calls += int(stats.split(b"cmdstat_mget:calls=")[1].split(b",")[0])
            assert calls == len(slots | {key_slot(f"{ns}:missing".encode())})
            assert backend.delete_many([*keys[:30], "missing"]) == 30
            assert sorted(backend.keys()) == sorted(keys[30:])
            backend.clear()
            assert list(backend.keys()) == []

    def test_clear_spans_every_node_and_only_the_namespace(self, redis_cluster: Any) -> None:
        ns = _ns()
        raw = redis.cluster.RedisCluster(host=redis_cluster.host, port=redis_cluster.port)
        other = RedisBackend.from_url(redis_cluster.url, namespace=ns + "-other")
        try:
            with RedisBackend.from_url(redis_cluster.url, namespace=ns) as backend:
                backend.set_many({f"k{i}": b"v" for i in range(2100)})
                other.set("k1", b"kept")
                raw.set(f"plain-{ns}", b"x")
                assert len(set(backend.keys())) == 2100
                backend.clear()
                assert list(backend.keys()) == []
            assert other.get("k1") == b"kept"
            assert raw.get(f"plain-{ns}") == b"x"
        finally:
            raw.delete(f"plain-{ns}")
            other.clear()
            other.close()
            raw.close()

    async def test_async_get_many_and_clear(self, redis_cluster: Any) -> None:
        ns = _ns()
        async with AsyncRedisBackend.from_url(redis_cluster.url, namespace=ns) as backend:
            await backend.set_many({f"k{i}": b"%d" % i for i in range(1200)})
            found = await backend.get_many([f"k{i}" for i in range(0, 1300, 7)])
            assert found == {f"k{i}": b"%d" % i for i in range(0, 1200, 7)}
            assert await backend.delete_many(["k0", "k1", "nope"]) == 2
            assert len([k async for k in backend.keys()]) == 1198
            await backend.clear()
            assert [k async for k in backend.keys()] == []

    def test_cluster_nobody_home(self) -> None:
        url = f"redis+cluster://127.0.0.1:{free_port()}"
        backend = RedisBackend.from_url(url)
        started = time.monotonic()
        with pytest.raises(BackendError) as info:
            backend.get("k")
        assert time.monotonic() - started < 10
        assert url.split("://")[1] in str(info.value)
        backend.close()


# -- failures: what fail-open and the circuit breaker rely on ---------------------------------


class TestContract:
    def test_capabilities_are_declared_on_both_twins(self) -> None:
        for cls in (RedisBackend, AsyncRedisBackend):
            caps = capabilities_of(cls())
            assert caps is cls.capabilities
            assert (caps.lists_keys, caps.native_ttl, caps.atomic_add, caps.atomic_incr) == (
                True,
                True,
                True,
                True,
            )
            assert (caps.native_async, caps.shared, caps.persistent) == (True, True, True)
            assert caps.stores_objects is False
            assert caps.max_value_size == 512 * 1024 * 1024

    def test_writes_say_they_happened(self, redis_server: Any) -> None:
        with RedisBackend.from_url(redis_server.url, namespace=_ns()) as backend:
            assert backend.set("k", b"v") is True
            assert backend.set_many({"a": b"1", "b": b"2"}) is True
            assert backend.set_many({}) is True
            backend.clear()

    async def test_writes_say_they_happened_async(self, redis_server: Any) -> None:
        backend = AsyncRedisBackend.from_url(redis_server.url, namespace=_ns())
        assert await backend.set("k", b"v") is True
        assert await backend.set_many({"a": b"1"}) is True
        assert await backend.set_many({}) is True
        await backend.clear()
        await backend.close()

    def test_any_client_exception_becomes_a_backend_error(
        self, redis_server: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def broken(*args: Any, **kwargs: Any) -> None:
            raise AttributeError("'NoneType' object has no attribute 'writelines'")

        with RedisBackend.from_url(redis_server.url, namespace=_ns()) as backend:
            monkeypatch.setattr(redis.Redis, "get", broken)
            with pytest.raises(BackendError, match="writelines") as info:
                backend.get("k")
            assert isinstance(info.value.__cause__, AttributeError)

    async def test_many_first_commands_at_once_on_a_fresh_cluster_client(
        self, redis_cluster: Any
    ) -> None:
        # redis-py's asyncio RedisCluster built its node table inside the first commands and
        # closed connections other tasks had just taken: this failed within a few rounds
        for _ in range(5):
            backend = AsyncRedisBackend.from_url(redis_cluster.url, namespace=_ns())
            results = await asyncio.gather(*(backend.add("lock", b"t") for _ in range(40)))
            assert sorted(results) == [False] * 39 + [True]
            await backend.clear()
            await backend.close()


class TestFailures:
    def test_no_server_fails_fast_naming_the_address(self) -> None:
        port = free_port()
        backend = RedisBackend.from_url(f"redis://127.0.0.1:{port}/0", namespace="x")
        for call in (
            lambda: backend.get("k"),
            lambda: backend.set("k", b"v"),
            lambda: backend.get_many(["a", "b"]),
            lambda: backend.set_many({"a": b"1"}),
            lambda: backend.incr("k"),
            lambda: list(backend.keys()),
            backend.clear,
        ):
            started = time.monotonic()
            with pytest.raises(BackendError) as info:
                call()
            assert time.monotonic() - started < 5, "a refused connection must fail at once"
            assert f"127.0.0.1:{port}" in str(info.value)
            assert isinstance(info.value.__cause__, redis.exceptions.ConnectionError)
        backend.close()

    async def test_no_server_fails_fast_async(self) -> None:
        port = free_port()
        backend = AsyncRedisBackend.from_url(f"redis://127.0.0.1:{port}/0")
        started = time.monotonic()
        with pytest.raises(BackendError, match=f"127.0.0.1:{port}") as info:
            await backend.get("k")
        assert time.monotonic() - started < 5
        assert isinstance(info.value.__cause__, redis.exceptions.ConnectionError)
        with pytest.raises(BackendError):
            _ = [k async for k in backend.keys()]
        await backend.close()

    def test_killed_server_then_restarted(self, fresh_redis_server: Any) -> None:
        server = fresh_redis_server
        backend = RedisBackend.from_url(server.url, namespace="fault")
        backend.set("k", b"v")
        server.kill()
        with pytest.raises(BackendError, match=f"127.0.0.1:{server.port}"):
            backend.get("k")
        server.restart()
        assert backend.get("k") is None  # the harness' servers keep nothing on disk
        backend.set("k", b"again")
        assert backend.get("k") == b"again"
        backend.close()

    def test_restart_between_calls_is_invisible(self, fresh_redis_server: Any) -> None:
        server = fresh_redis_server
        backend = RedisBackend.from_url(server.url, namespace="fault")
        backend.set("k", b"v")
        server.kill()
        server.restart()
        backend.set("k", b"after")  # the pooled connection is dead; the next call reconnects
        assert backend.get("k") == b"after"
        backend.close()

    async def test_killed_server_then_restarted_async(self, fresh_redis_server: Any) -> None:
        server = fresh_redis_server
        backend = AsyncRedisBackend.from_url(server.url, namespace="fault")
        await backend.set("k", b"v")
        server.kill()
        with pytest.raises(BackendError, match=f"127.0.0.1:{server.port}"):
            await backend.get("k")
        server.restart()
        await backend.set("k", b"after")
        assert await backend.get("k") == b"after"
        server.kill()
        server.restart()
        assert await backend.get("k") is None
        await backend.close()

    def test_core_fails_open_and_strict_raises(self) -> None:
        url = f"redis://127.0.0.1:{free_port()}/0"
        with Cache(url, namespace="open") as cache:
            assert cache.get("k", "fallback") == "fallback"
            cache.set("k", 1)  # swallowed: fail-open
        with Cache(url, namespace="strict", strict=True) as cache, pytest.raises(BackendError):
            cache.get("k")

    def test_password_never_in_messages(self, password_server: Any) -> None:
        good = RedisBackend.from_url(
            f"redis://:{PASSWORD}@127.0.0.1:{password_server.port}/0", namespace=_ns()
        )
        good.set("k", b"v")
        assert good.get("k") == b"v"
        good.clear()
        good.close()
        wrong = "not-" + PASSWORD
        for url in (
            f"redis://:{wrong}@127.0.0.1:{password_server.port}/0",
            f"redis://someone:{wrong}@127.0.0.1:{password_server.port}/0",
            f"redis://:{wrong}@127.0.0.1:{free_port()}/0",
        ):
            backend = RedisBackend.from_url(url)
            with pytest.raises(BackendError) as info:
                backend.get("k")
            message = str(info.value)
            assert "127.0.0.1:" in message
            assert wrong not in message
            assert PASSWORD not in message
            assert wrong not in repr(backend.settings)
            backend.close()

    def test_password_is_scrubbed_from_client_messages(self) -> None:
        settings = RedisSettings.from_url(f"redis://:{PASSWORD}@127.0.0.1:6390/0")
        error = settings.error("get", redis.exceptions.ResponseError(f"echo {PASSWORD} back"))
        assert PASSWORD not in str(error)
        assert "***" in str(error)
        assert "127.0.0.1:6390" in str(error)
        assert error.context["address"] == "127.0.0.1:6390"


class TestTLS:
    def test_verified_tls(self, tls_server: Any) -> None:
        ca = tls_server.tls_dir / "ca.crt"
        url = f"rediss://127.0.0.1:{tls_server.tls_port}/0?ssl_ca_certs={ca}"
        with RedisBackend.from_url(url, namespace=_ns()) as backend:
            backend.set("k", b"secret")
            assert backend.get("k") == b"secret"
            backend.clear()

    async def test_verified_tls_async(self, tls_server: Any) -> None:
        ca = tls_server.tls_dir / "ca.crt"
        url = f"rediss://127.0.0.1:{tls_server.tls_port}/0?ssl_ca_certs={ca}"
        async with AsyncRedisBackend.from_url(url, namespace=_ns()) as backend:
            await backend.set("k", b"secret")
            assert await backend.get("k") == b"secret"
            await backend.clear()

    def test_untrusted_certificate_is_a_backend_error(self, tls_server: Any) -> None:
        url = f"rediss://127.0.0.1:{tls_server.tls_port}/0"
        with RedisBackend.from_url(url) as backend, pytest.raises(BackendError) as info:
            backend.get("k")
        assert f"127.0.0.1:{tls_server.tls_port}" in str(info.value)

    def test_unverified_tls(self, tls_server: Any) -> None:
        url = f"rediss://127.0.0.1:{tls_server.tls_port}/0?ssl_cert_reqs=none"
        with RedisBackend.from_url(url, namespace=_ns()) as backend:
            backend.set("k", b"v")
            assert backend.get("k") == b"v"
            backend.clear()


# -- event loops ------------------------------------------------------------------------------


def _resource_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    # the engine's sockets and transports; an event loop some older pytest-asyncio left to the
    # garbage collector is not the engine's
    return [
        str(w.message)
        for w in caught
        if issubclass(w.category, ResourceWarning) and "event loop" not in str(w.message)
    ]


class TestEventLoops:
    def test_a_second_asyncio_run_reconnects_cleanly(self, redis_server: Any) -> None:
        backend = AsyncRedisBackend.from_url(redis_server.url, namespace=_ns())

        async def roundtrip(value: bytes) -> bytes | None:
            await asyncio.gather(*(backend.set(f"k{i}", value) for i in range(4)))
            return await backend.get("k0")

        gc.collect()  # what earlier tests left is not this test's business
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert asyncio.run(roundtrip(b"1")) == b"1"
            assert asyncio.run(roundtrip(b"2")) == b"2"  # the first loop is closed by now
            gc.collect()
        assert _resource_warnings(caught) == []

        async def finish() -> None:
            await backend.clear()
            await backend.close()

        asyncio.run(finish())

    def test_cluster_client_of_a_closed_loop_is_let_go(self, redis_cluster: Any) -> None:
        backend = AsyncRedisBackend.from_url(redis_cluster.url, namespace=_ns())
        gc.collect()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            asyncio.run(backend.set_many({f"k{i}": b"v" for i in range(30)}))
            assert len(asyncio.run(backend.get_many([f"k{i}" for i in range(30)]))) == 30
            asyncio.run(backend.clear())
            run_blocking(backend.close())  # from yet another loop, while the last one is closed
            gc.collect()
        assert _resource_warnings(caught) == []

    def test_close_from_another_thread_while_its_loop_runs(self, redis_server: Any) -> None:
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()
        name = f"probe-{_ns()}"
        raw = _raw(redis_server)
        try:
            url = f"{redis_server.url}?client_name={name}"
            backend = AsyncRedisBackend.from_url(url, namespace=_ns())
            asyncio.run_coroutine_threadsafe(backend.set("k", b"v"), loop).result(timeout=30)
            assert _named_connections(raw, name) > 0
            asyncio.run(backend.close())  # core's Cache.close() does this from its own loop
            assert backend.closed
            deadline = time.monotonic() + 30
            while _named_connections(raw, name):
                assert time.monotonic() < deadline, "the client was not closed in its own loop"
                time.sleep(0.05)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=30)
            loop.close()
            raw.close()

    def test_each_loop_gets_its_client_closed_when_the_loop_ends(self, redis_server: Any) -> None:
        name = f"probe-{_ns()}"
        raw = _raw(redis_server)
        backend = AsyncRedisBackend.from_url(f"{redis_server.url}?client_name={name}")

        async def use() -> int:
            await backend.set("k", b"v")
            return _named_connections(raw, name)

        assert asyncio.run(use()) == 1
        assert _named_connections(raw, name) == 0  # asyncio.run's shutdown closed it
        assert asyncio.run(use()) == 1
        run_blocking(backend.close())
        raw.close()


def _named_connections(raw: redis.Redis, name: str) -> int:
    return sum(1 for client in raw.client_list() if client.get("name") == name)


def test_timeout_is_the_clients_own_socket_timeout(redis_server: Any) -> None:
    cache = Cache(redis_server.url, timeout=0.3, namespace="own-timeout")
    raw: Any = cache._raw
    assert (raw.settings.socket_timeout, raw.settings.socket_connect_timeout) == (0.3, 0.3)
    assert raw.set("k", b"v") is True
    pauser: Any = redis.Redis(host=redis_server.host, port=redis_server.port)
    pauser.execute_command("CLIENT", "PAUSE", "3000", "ALL")
    try:  # the engine itself (no core time limit here) gives up after its socket_timeout
        with pytest.raises(BackendError) as info:
            raw.get("k")
        assert isinstance(info.value.__cause__, redis.exceptions.TimeoutError)
    finally:
        pauser.execute_command("CLIENT", "UNPAUSE")
        pauser.close()
    assert raw.get("k") == b"v"
    cache.close()
    given = Cache(redis_server.url + "?socket_timeout=2", timeout=0.3)
    assert cast(Any, given._raw).settings.socket_timeout == 2.0
    given.close()
