"""twat-cache-aio: the conformance kit over aiocache's three backends, and what each adds.

Redis and memcached are real servers started by the harness (tools/twat_cache_harness)
on loopback ports.
"""

from __future__ import annotations

import asyncio
import gc
import warnings
from collections.abc import AsyncIterator, Callable
from importlib.metadata import entry_points
from typing import Any

import aiomcache
import pytest
import redis
import redis.asyncio
from twat_cache import Cache, CacheConfig
from twat_cache.adapters import as_sync
from twat_cache.exceptions import (
    BackendError,
    CacheOperationError,
    ConfigurationError,
    EngineNotAvailableError,
)
from twat_cache.protocols import capabilities_of
from twat_cache.registry import create_backend
from twat_cache.serializers import encode_int
from twat_cache.testing import AsyncBackendConformance, BackendConformance
from twat_cache.urls import parse_url
from twat_cache_aio import SCHEMES, AiocacheBackend
from twat_cache_aio.memcached_store import (
    MemcachedStore,
    check_aiomcache_version,
    memcached_exptime,
)

# the harness lives in tools/ (on pytest's pythonpath); mypy is not pointed there
from twat_cache_harness import (  # type: ignore[import-not-found,unused-ignore]
    MemcachedServer,
    free_port,
    redis_command,
)

MakeBackend = Callable[[str], AiocacheBackend]


def redis_url(server: Any, db: int = 0, query: str = "") -> str:
    return f"aiocache+redis://{server.host}:{server.port}/{db}" + (f"?{query}" if query else "")


def memcached_url(server: Any, query: str = "") -> str:
    return f"aiocache+memcached://{server.host}:{server.port}" + (f"?{query}" if query else "")


@pytest.fixture
async def abackend_factory() -> AsyncIterator[Callable[..., AiocacheBackend]]:
    """Backends made in an async test, closed after it in the test's loop (even when it fails)."""
    made: list[AiocacheBackend] = []

    def make(url: str, namespace: str = "aio-test", **options: object) -> AiocacheBackend:
        backend = AiocacheBackend(url, namespace=namespace, **options)
        made.append(backend)
        return backend

    yield make
    for backend in made:
        await backend.close()


def no_resource_warnings() -> list[str]:
    """Collect garbage and return the ResourceWarnings it raised (unclosed sockets).

    An event loop some older pytest-asyncio left to the garbage collector is not the engine's.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gc.collect()
    return [
        str(w.message)
        for w in caught
        if issubclass(w.category, ResourceWarning) and "event loop" not in str(w.message)
    ]


# -- the conformance kit, sync (through core's SyncAdapter) and async -------------------------


class _Memory:
    @pytest.fixture
    def make_backend(self) -> MakeBackend:
        return lambda namespace: AiocacheBackend("aiocache+memory://", namespace=namespace)


class TestMemoryConformance(_Memory, BackendConformance):
    pass


class TestMemoryAsyncConformance(_Memory, AsyncBackendConformance):
    pass


class _Redis:
    @pytest.fixture
    def make_backend(self, redis_server: Any) -> MakeBackend:
        return lambda namespace: AiocacheBackend(redis_url(redis_server), namespace=namespace)


class TestRedisConformance(_Redis, BackendConformance):
    pass


class TestRedisAsyncConformance(_Redis, AsyncBackendConformance):
    pass


class _Memcached:
    max_value_size = 1000 * 1024  # the harness runs memcached with -I 1m (item header included)
    ttl_resolution = 1.0
    supports_keys = False

    @pytest.fixture
    def make_backend(self, memcached_server: Any) -> MakeBackend:
        return lambda namespace: AiocacheBackend(
            memcached_url(memcached_server), namespace=namespace
        )


class TestMemcachedConformance(_Memcached, BackendConformance):
    pass


class TestMemcachedAsyncConformance(_Memcached, AsyncBackendConformance):
    pass


# -- URLs, options and construction ---------------------------------------------------------


def test_entry_points_name_the_engine() -> None:
    found = {ep.name: ep for ep in entry_points(group="twat_cache.engines") if ep.name in SCHEMES}
    assert sorted(found) == sorted(SCHEMES)
    assert all(ep.load() is AiocacheBackend for ep in found.values())


@pytest.mark.parametrize(
    ("url", "kind", "supports_keys"),
    [
        ("aiocache+memory://", "memory", True),
        ("aiocache+redis://127.0.0.1:6390/3?timeout=0.5&pool_max_size=4", "redis", True),
        ("aiocache+redis://:pw@localhost?create_connection_timeout=1&ssl=false", "redis", True),
        ("aiocache+memcached://127.0.0.1?pool_size=4&timeout=0", "memcached", False),
    ],
)
def test_valid_urls_build_without_connecting(url: str, kind: str, supports_keys: bool) -> None:
    backend = create_backend(CacheConfig(url=url, namespace="app"))
    assert isinstance(backend, AiocacheBackend)
    assert (backend.kind, backend.supports_keys, backend.namespace) == (kind, supports_keys, "app")
    assert backend.stores_objects is False
    assert f"aiocache+{kind}" in repr(backend)
    assert "pw" not in repr(backend)


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("redis://127.0.0.1", "url scheme"),
        ("aiocache+memory://somehost", "url"),
        ("aiocache+memory:///path", "url"),
        ("aiocache+memory://?timeout=1", "aiocache+memory URL option 'timeout'"),
        ("aiocache+redis://", "url"),
        ("aiocache+redis://h:1,h:2/0", "url"),
        ("aiocache+redis://h/zero", "url path"),
        ("aiocache+redis://h/0/1", "url path"),
        ("aiocache+redis://h?timeout=soon", "aiocache+redis option 'timeout'"),
        ("aiocache+redis://h?timeout=-1", "aiocache+redis option 'timeout'"),
        ("aiocache+redis://h?pool_max_size=0", "aiocache+redis option 'pool_max_size'"),
        (
            "aiocache+redis://h?create_connection_timeout=0",
            "aiocache+redis option 'create_connection_timeout'",
        ),
        ("aiocache+redis://h?ssl=maybe", "aiocache+redis option 'ssl'"),
        ("aiocache+redis://h?pool_size=2", "aiocache+redis URL option 'pool_size'"),
        ("aiocache+memcached://u:p@h", "url"),
        ("aiocache+memcached://h/0", "url path"),
        ("aiocache+memcached://h?pool_size=0", "aiocache+memcached option 'pool_size'"),
        ("aiocache+memcached://h?pool_max_size=2", "aiocache+memcached URL option 'pool_max_size'"),
    ],
)
def test_invalid_urls_name_the_field(url: str, field: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        AiocacheBackend(url)
    assert info.value.field == field


def test_options_as_keywords_and_their_errors() -> None:
    backend = AiocacheBackend("aiocache+redis://127.0.0.1", timeout=2, ssl=True)
    cache = backend._store.connect()  # no I/O: redis-py connects on the first command
    assert cache.timeout == 2.0
    assert cache.client.connection_pool.connection_class is redis.asyncio.SSLConnection
    with pytest.raises(ConfigurationError, match="pool_size"):
        AiocacheBackend("aiocache+memcached://127.0.0.1", pool_size="many")
    with pytest.raises(TypeError):
        AiocacheBackend(parse_url("aiocache+memory://"), timeout=1)


@pytest.mark.parametrize("option", ["maxsize", "maxbytes"])
def test_memory_refuses_a_size_bound_it_cannot_keep(option: str) -> None:
    config = CacheConfig(url="aiocache+memory://", **{option: 100})  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError) as info:
        create_backend(config)
    assert info.value.field == option
    redis_config = CacheConfig(url="aiocache+redis://127.0.0.1", **{option: 100})  # type: ignore[arg-type]
    assert isinstance(create_backend(redis_config), AiocacheBackend)  # the server bounds its memory


@pytest.mark.parametrize("namespace", ["", "a b", "x" * 65, "a:b"])
def test_invalid_namespace(namespace: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        AiocacheBackend("aiocache+memory://", namespace=namespace)
    assert info.value.field == "namespace"


def test_aiocache_disable_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIOCACHE_DISABLE", "1")
    with pytest.raises(ConfigurationError, match="AIOCACHE_DISABLE"):
        AiocacheBackend("aiocache+memory://")


def test_memcached_exptime() -> None:
    assert memcached_exptime(None) == 0
    assert memcached_exptime(0.2) == 2
    assert memcached_exptime(1.0) == 2
    assert memcached_exptime(60) == 61
    far = memcached_exptime(60 * 24 * 3600)  # over 30 days: a Unix time
    assert far > 1_600_000_000


# -- through core's Cache -----------------------------------------------------------------------


async def test_core_cache_sync_and_async_share_entries(redis_server: Any) -> None:
    cache = Cache(redis_url(redis_server), namespace="aio-core")
    try:
        cache.clear()
        cache.set("k", {"a": 1})
        assert await cache.aget("k") == {"a": 1}
        await cache.aset("n", 5)
        assert cache.incr("n") == 6
        assert await cache.aincr("n", 2) == 8
        cache.set("tagged", "v", tags=["t"])
        await cache.ainvalidate_tags("t")
        assert cache.get("tagged") is None
    finally:
        await cache.aclose()  # closes the private loop's client from this loop
    assert no_resource_warnings() == []


async def test_sync_close_inside_a_running_loop_does_not_hang(redis_server: Any) -> None:
    cache = Cache(redis_url(redis_server), namespace="aio-core")
    cache.set("k", 1)  # a client on core's private loop
    assert await cache.aget("k") == 1  # and one on this loop
    cache.close()  # blocks this loop: its client is closed once the loop runs again
    await asyncio.sleep(0.2)
    assert no_resource_warnings() == []


def test_core_cache_over_memory_and_memcached(memcached_server: Any) -> None:
    for url in ("aiocache+memory://", memcached_url(memcached_server)):
        with Cache(url, namespace="aio-core") as cache:
            cache.set("k", [1, 2])
            assert cache.get("k") == [1, 2]
            cache.clear()
            assert cache.get("k") is None


# -- memory ---------------------------------------------------------------------------------------


async def test_memory_is_shared_by_sync_and_async_callers() -> None:
    backend = AiocacheBackend("aiocache+memory://", namespace="shared")
    view = as_sync(backend)
    try:
        await asyncio.to_thread(view.set, "from-sync", b"1")
        await backend.set("n", encode_int(1))
        assert await backend.get("from-sync") == b"1"
        assert await asyncio.to_thread(view.incr, "n", 4) == 5
        assert await backend.get_many(["n", "from-sync"]) == {"n": b"5", "from-sync": b"1"}
        assert sorted([key async for key in backend.keys()]) == ["from-sync", "n"]
    finally:
        await asyncio.to_thread(view.close)
    assert backend.closed


async def test_memory_incr_keeps_the_expiry() -> None:
    async with AiocacheBackend("aiocache+memory://") as backend:
        await backend.set("n", encode_int(1), ttl=0.3)
        assert await backend.incr("n") == 2
        await asyncio.sleep(0.8)
        assert await backend.get("n") is None


async def test_memory_clear_stops_old_expiry_timers() -> None:
    async with AiocacheBackend("aiocache+memory://") as backend:
        await backend.set("k", b"old", ttl=0.3)
        await backend.clear()
        await backend.set("k", b"new")  # no ttl: an old timer must not delete it
        await asyncio.sleep(0.8)
        assert await backend.get("k") == b"new"


# -- redis --------------------------------------------------------------------------------


@pytest.fixture
async def raw_redis(redis_server: Any) -> AsyncIterator[redis.asyncio.Redis]:
    client = redis.asyncio.Redis(host=redis_server.host, port=redis_server.port, db=0)
    yield client
    await client.aclose()


async def test_redis_clear_touches_only_the_namespace(
    redis_server: Any,
    raw_redis: redis.asyncio.Redis,
    abackend_factory: Callable[..., AiocacheBackend],
) -> None:
    backend = abackend_factory(redis_url(redis_server), namespace="app")
    outside = {
        b"app": b"1",
        b"appx:k": b"2",
        b"app-other:k": b"3",
        b"other:app:k": b"4",
        b"App:k": b"5",
    }
    await raw_redis.mset(outside)
    await backend.set_many({f"k{i}": b"v" for i in range(1200)})  # more than one SCAN/UNLINK batch
    assert len([key async for key in backend.keys()]) == 1200
    await backend.clear()
    assert [key async for key in backend.keys()] == []
    assert await raw_redis.mget(list(outside)) == list(outside.values())
    await raw_redis.delete(*outside)
    await backend.close()


async def test_redis_keys_are_relative_and_glob_safe(
    redis_server: Any,
    raw_redis: redis.asyncio.Redis,
    abackend_factory: Callable[..., AiocacheBackend],
) -> None:
    backend = abackend_factory(redis_url(redis_server), namespace="glob")
    await raw_redis.set("globX:k", b"not mine")
    await backend.set_many({"ключ 🔑": b"1", "a*b?[c]": b"2", "x:y": b"3"})
    assert sorted([key async for key in backend.keys()]) == sorted(["ключ 🔑", "a*b?[c]", "x:y"])
    assert await raw_redis.get("glob:x:y") == b"3"  # aiocache's key form: {namespace}:{key}
    await backend.clear()
    assert await raw_redis.get("globX:k") == b"not mine"
    await raw_redis.delete("globX:k")
    await backend.close()


async def test_redis_touch_and_ttl(
    redis_server: Any,
    raw_redis: redis.asyncio.Redis,
    abackend_factory: Callable[..., AiocacheBackend],
) -> None:
    backend = abackend_factory(redis_url(redis_server), namespace="touch")
    await backend.set("forever", b"v")
    assert await backend.touch("forever", None) is True  # PERSIST alone would answer 0
    await backend.set("k", b"v", ttl=100)
    assert 0 < await raw_redis.pttl("touch:k") <= 100_000
    assert await backend.touch("k", None) is True
    assert await raw_redis.pttl("touch:k") == -1
    assert await backend.touch("k", 0.0001) is True  # below a millisecond: 1 ms, not an error
    await backend.set("tiny", b"v", ttl=0.0001)
    await backend.set_many({"a": b"1"}, ttl=0.0001)
    assert await backend.add("added", b"v", ttl=0.0001) is True
    await backend.close()


async def test_redis_incr_errors(
    redis_server: Any,
    raw_redis: redis.asyncio.Redis,
    abackend_factory: Callable[..., AiocacheBackend],
) -> None:
    backend = abackend_factory(redis_url(redis_server), namespace="incr")
    with pytest.raises(ValueError):
        await backend.incr("missing")
    assert await raw_redis.exists("incr:missing") == 0  # aiocache's increment would have created it
    await backend.set("big", encode_int(2**63 - 1))
    with pytest.raises(OverflowError):
        await backend.incr("big")
    assert await backend.get("big") == encode_int(2**63 - 1)
    assert await backend.incr("big", 0) == 2**63 - 1  # exact: no Lua number on the way back
    await raw_redis.rpush("incr:list", b"x")
    with pytest.raises(TypeError):
        await backend.incr("list")
    await backend.set("n", encode_int(-5))
    assert await backend.incr("n", -5) == -10
    await backend.clear()
    await backend.close()


async def test_redis_databases_are_separate(
    redis_server: Any, abackend_factory: Callable[..., AiocacheBackend]
) -> None:
    zero = abackend_factory(redis_url(redis_server, db=0), namespace="dbs")
    one = abackend_factory(redis_url(redis_server, db=1), namespace="dbs")
    await zero.set("k", b"zero")
    await one.set("k", b"one")
    await one.clear()
    assert await zero.get("k") == b"zero"
    assert await one.get("k") is None
    await zero.clear()
    await zero.close()
    await one.close()


async def test_redis_small_pool_waits_instead_of_failing(
    redis_server: Any, abackend_factory: Callable[..., AiocacheBackend]
) -> None:
    backend = abackend_factory(redis_url(redis_server, query="pool_max_size=2"), namespace="pool")
    await backend.set("n", encode_int(0))
    await asyncio.gather(*(backend.incr("n") for _ in range(40)))
    assert await backend.incr("n", 0) == 40
    await backend.clear()
    await backend.close()


async def test_redis_password_and_acl_user(
    fresh_redis_server: Any, abackend_factory: Callable[..., AiocacheBackend]
) -> None:
    server = fresh_redis_server
    redis_command(
        server.host, server.port, "ACL", "SETUSER", "alice", "on", ">alice-pw", "~*", "+@all"
    )
    redis_command(server.host, server.port, "CONFIG", "SET", "requirepass", "s3cret")
    base = f"{server.host}:{server.port}/0"
    for url in (f"aiocache+redis://:s3cret@{base}", f"aiocache+redis://alice:alice-pw@{base}"):
        backend = abackend_factory(url, namespace="auth")
        await backend.set("k", b"v")
        assert await backend.get("k") == b"v"
        await backend.close()
    wrong = abackend_factory(f"aiocache+redis://:nope@{base}", namespace="auth")
    with pytest.raises(BackendError) as info:
        await wrong.get("k")
    assert isinstance(info.value.__cause__, redis.RedisError)
    await wrong.close()


async def test_redis_timeout_is_a_backend_error(
    fresh_redis_server: Any, abackend_factory: Callable[..., AiocacheBackend]
) -> None:
    server = fresh_redis_server
    backend = abackend_factory(redis_url(server, query="timeout=0.3"), namespace="slow")
    await backend.set("k", b"v")
    redis_command(server.host, server.port, "CLIENT", "PAUSE", "3000", "ALL")  # answers at once
    try:
        with pytest.raises(BackendError) as info:
            await backend.get("k")
        assert isinstance(info.value.__cause__, asyncio.TimeoutError)
    finally:
        redis_command(server.host, server.port, "CLIENT", "UNPAUSE")
    await backend.close()


async def test_redis_refusing_writes_is_a_backend_error(
    fresh_redis_server: Any, abackend_factory: Callable[..., AiocacheBackend]
) -> None:
    server = fresh_redis_server
    backend = abackend_factory(redis_url(server), namespace="oom")
    await backend.set("n", encode_int(1))
    redis_command(server.host, server.port, "CONFIG", "SET", "maxmemory-policy", "noeviction")
    redis_command(server.host, server.port, "CONFIG", "SET", "maxmemory", "1")
    try:
        with pytest.raises(BackendError, match="maxmemory"):
            await backend.incr("n")  # a refusal, not "not an integer"
        with pytest.raises(BackendError, match="maxmemory"):
            await backend.set("k", b"v")
        assert await backend.get("n") == b"1"
    finally:
        redis_command(server.host, server.port, "CONFIG", "SET", "maxmemory", "0")
    await backend.close()


@pytest.mark.parametrize("url", ["aiocache+memory://", "aiocache+redis://127.0.0.1:1/0"])
async def test_empty_batches_do_no_io(url: str) -> None:
    backend = AiocacheBackend(url)  # port 1: nothing listens, and nothing is asked
    await backend.set_many({})
    assert await backend.get_many([]) == {}
    assert await backend.delete_many([]) == 0
    await backend.close()
    with pytest.raises(CacheOperationError):
        await backend.set_many({})


OPERATIONS: list[tuple[str, tuple[Any, ...]]] = [
    ("get", ("k",)),
    ("get_many", (["a", "b"],)),
    ("set", ("k", b"v", 5.0)),
    ("set_many", ({"a": b"1"}, None)),
    ("add", ("k", b"v", None)),
    ("delete", ("k",)),
    ("delete_many", (["a", "b"],)),
    ("touch", ("k", 5.0)),
    ("incr", ("k", 1)),
    ("clear", ()),
]


@pytest.mark.parametrize("scheme", ["aiocache+redis", "aiocache+memcached"])
async def test_server_down_is_a_backend_error(scheme: str) -> None:
    backend = AiocacheBackend(f"{scheme}://127.0.0.1:{free_port()}/", namespace="down")
    for name, args in OPERATIONS:
        with pytest.raises(BackendError) as info:
            await getattr(backend, name)(*args)
        assert isinstance(info.value.__cause__, (redis.RedisError, OSError)), name
        assert scheme in str(info.value)
    if backend.supports_keys:
        with pytest.raises(BackendError):
            _ = [key async for key in backend.keys()]
    await backend.close()
    await backend.close()


async def test_redis_recovers_after_a_restart(
    fresh_redis_server: Any, abackend_factory: Callable[..., AiocacheBackend]
) -> None:
    server = fresh_redis_server
    backend = abackend_factory(redis_url(server), namespace="restart")
    await backend.set("k", b"v")
    server.kill()
    with pytest.raises(BackendError):
        await backend.get("k")
    server.restart()
    await backend.set("k", b"again")  # a new connection, no restart of the engine
    assert await backend.get("k") == b"again"
    await backend.close()


def test_redis_used_from_several_event_loops(redis_server: Any) -> None:
    backend = AiocacheBackend(redis_url(redis_server), namespace="loops")

    async def use(value: bytes) -> bytes | None:
        await backend.set("k", value)
        return await backend.get("k")

    assert asyncio.run(use(b"first")) == b"first"
    assert asyncio.run(use(b"second")) == b"second"  # the first loop's client is dropped cleanly
    asyncio.run(backend.clear())
    asyncio.run(backend.close())
    assert no_resource_warnings() == []


# -- memcached ----------------------------------------------------------------------------


@pytest.fixture
async def raw_memcached(memcached_server: Any) -> AsyncIterator[aiomcache.Client]:
    client = aiomcache.Client(memcached_server.host, memcached_server.port)
    yield client
    await client.close()


async def test_memcached_clear_never_flushes(
    memcached_server: Any,
    raw_memcached: aiomcache.Client,
    abackend_factory: Callable[..., AiocacheBackend],
) -> None:
    mine = abackend_factory(memcached_url(memcached_server), namespace="mc-mine")
    other = abackend_factory(memcached_url(memcached_server), namespace="mc-other")
    await raw_memcached.set(b"someone-else", b"keep")
    await mine.set_many({"a": b"1", "b": b"2"})
    await other.set("a", b"other")
    await mine.clear()
    assert await mine.get_many(["a", "b"]) == {}
    assert await other.get("a") == b"other"
    assert await raw_memcached.get(b"someone-else") == b"keep"
    await mine.set("a", b"again")
    assert await mine.get("a") == b"again"
    with pytest.raises(CacheOperationError):
        mine.keys()
    await raw_memcached.delete(b"someone-else")
    await mine.close()
    await other.close()


async def test_memcached_clear_by_another_process_is_seen(
    memcached_server: Any, abackend_factory: Callable[..., AiocacheBackend]
) -> None:
    first = abackend_factory(memcached_url(memcached_server), namespace="mc-two")
    second = abackend_factory(memcached_url(memcached_server), namespace="mc-two")
    await first.set("k", b"v")
    assert await first.get("k") == b"v"  # first now knows the generation
    assert await second.get("k") == b"v"
    await second.clear()
    assert await first.get("k") is None  # the generation it knew is stale: read again
    await first.set("k", b"new")
    assert await second.get_many(["k"]) == {"k": b"new"}
    await first.close()
    await second.close()


async def test_memcached_lost_generation_starts_fresh(
    memcached_server: Any,
    raw_memcached: aiomcache.Client,
    abackend_factory: Callable[..., AiocacheBackend],
) -> None:
    backend = abackend_factory(memcached_url(memcached_server), namespace="mc-lost")
    await backend.set("k", b"v")
    await raw_memcached.delete(b"mc-lost:__gen__")  # evicted, or the server restarted
    assert await backend.get("k") is None
    await raw_memcached.delete(b"mc-lost:__gen__")
    await backend.clear()  # the counter is created again, not an error
    await backend.set("k", b"v2")
    assert await backend.get("k") == b"v2"
    await raw_memcached.set(b"mc-lost:__gen__", b"garbage")
    with pytest.raises(BackendError, match="generation"):
        await backend.get("k")
    await raw_memcached.delete(b"mc-lost:__gen__")
    await backend.close()


async def test_memcached_generation_race_adopts_the_winner(
    memcached_server: Any,
    raw_memcached: aiomcache.Client,
    abackend_factory: Callable[..., AiocacheBackend],
) -> None:
    backend = abackend_factory(memcached_url(memcached_server), namespace="mc-race")
    store = backend._store
    assert isinstance(store, MemcachedStore)
    cache = await backend._cache()
    await raw_memcached.set(b"mc-race:__gen__", b"12345")  # another process won the add
    assert await store._new_generation(cache) == 12345
    await backend.close()


async def test_memcached_keys_never_collide(
    memcached_server: Any, abackend_factory: Callable[..., AiocacheBackend]
) -> None:
    backend = abackend_factory(memcached_url(memcached_server), namespace="mc-keys")
    keys = ["a b", "a_b", "#a_b", "k" * 300, "k" * 301, "ключ", "tab\there"]
    await backend.set_many({key: key.encode() for key in keys})
    assert await backend.get_many(keys) == {key: key.encode() for key in keys}
    assert await backend.delete_many([*keys, "absent"]) == len(keys)
    await backend.close()


async def test_memcached_value_too_large(
    memcached_server: Any, abackend_factory: Callable[..., AiocacheBackend]
) -> None:
    backend = abackend_factory(memcached_url(memcached_server), namespace="mc-big")
    big = b"x" * (2 * 1024 * 1024)
    assert await backend.set("big", big) is False  # declined, not failed
    assert await backend.add("big", big) is False
    assert await backend.set_many({"big": big}) is False
    assert await backend.set("small", b"x") is True  # the connection is usable afterwards
    assert await backend.get("small") == b"x"
    await backend.close()


async def test_memcached_counters_are_signed_64_bit(
    memcached_server: Any, abackend_factory: Callable[..., AiocacheBackend]
) -> None:
    backend = abackend_factory(memcached_url(memcached_server), namespace="mc-incr")
    await backend.set("n", encode_int(3))
    assert await backend.incr("n", -10) == -7  # memcached's own decr would stop at 0
    assert await backend.incr("n") == -6  # and its incr refuses a negative number
    assert await backend.incr("n", 10) == 4
    await backend.set("top", encode_int(2**63 - 1))
    with pytest.raises(OverflowError):
        await backend.incr("top")
    await backend.set("bottom", encode_int(-(2**63)))
    with pytest.raises(OverflowError):
        await backend.incr("bottom", -1)
    assert await backend.get_many(["top", "bottom"]) == {
        "top": encode_int(2**63 - 1),
        "bottom": encode_int(-(2**63)),
    }
    await backend.set("text", b"abc")
    for delta in (1, -1):
        with pytest.raises(TypeError):
            await backend.incr("text", delta)
    with pytest.raises(ValueError):
        await backend.incr("absent", -1)
    await backend.close()


async def test_memory_incr_limits(abackend_factory: Callable[..., AiocacheBackend]) -> None:
    backend = abackend_factory("aiocache+memory://", namespace="mem-incr")
    await backend.set("top", encode_int(2**63 - 1))
    with pytest.raises(OverflowError):
        await backend.incr("top")
    assert await backend.get("top") == encode_int(2**63 - 1)
    assert await backend.incr("top", -1) == 2**63 - 2
    assert await backend.incr("top", 1) == 2**63 - 1  # a Python int in aiocache's dict now
    with pytest.raises(OverflowError):
        await backend.incr("top")
    await backend.set("text", b"1.5")
    with pytest.raises(TypeError):
        await backend.incr("text")
    await backend.close()


@pytest.mark.parametrize(
    ("url", "lists_keys", "shared"),
    [
        ("aiocache+memory://", True, False),
        ("aiocache+redis://127.0.0.1:1", True, True),
        ("aiocache+memcached://127.0.0.1:1", False, True),
    ],
)
def test_capabilities_follow_the_url(url: str, lists_keys: bool, shared: bool) -> None:
    backend = AiocacheBackend(url)
    caps = capabilities_of(backend)
    assert (caps.lists_keys, caps.shared, caps.native_async) == (lists_keys, shared, True)
    assert caps is type(backend._store).capabilities
    assert AiocacheBackend.capabilities.lists_keys is True  # the default URL's record


def test_aiomcache_outside_the_patched_releases_is_refused() -> None:
    check_aiomcache_version("0.8.2")
    for version in ("0.7.0", "0.9.0", "1.0", "garbage"):
        with pytest.raises(EngineNotAvailableError, match=r">=0\.8,<0\.9"):
            check_aiomcache_version(version)


async def test_any_client_exception_becomes_a_backend_error(
    redis_server: Any,
    abackend_factory: Callable[..., AiocacheBackend],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    backend = abackend_factory(redis_url(redis_server), namespace="bug")

    async def broken(*args: Any, **kwargs: Any) -> None:
        raise AttributeError("a bug inside the client")

    monkeypatch.setattr(redis.asyncio.Redis, "get", broken)
    with pytest.raises(BackendError, match="a bug inside the client") as info:
        await backend.get("k")
    assert isinstance(info.value.__cause__, AttributeError)
    await backend.close()


@pytest.mark.timeout(60)
async def test_memcached_dying_mid_command_raises_instead_of_spinning() -> None:
    with MemcachedServer() as server:
        backend = AiocacheBackend(memcached_url(server), namespace="mc-dies")
        await backend.set("k", b"v")  # a pooled connection now exists
        server.kill()
        # no await between the kill and the command: the pooled socket is not yet seen closed,
        # so the command is written and the reply read hits EOF (aiomcache alone spins forever)
        with pytest.raises(BackendError):
            await backend.clear()
        for _ in range(3):
            with pytest.raises(BackendError):
                await backend.set("k", b"v")
        await backend.close()


def test_memcached_used_from_several_event_loops(memcached_server: Any) -> None:
    backend = AiocacheBackend(memcached_url(memcached_server), namespace="mc-loops")

    async def use(value: bytes) -> bytes | None:
        await backend.set("k", value)
        return await backend.get("k")

    assert asyncio.run(use(b"first")) == b"first"
    assert asyncio.run(use(b"second")) == b"second"
    asyncio.run(backend.close())
    assert no_resource_warnings() == []
