"""twat-cache-memcached against real memcached servers (the harness starts them on loopback)."""

from __future__ import annotations

import re
import socket
import string
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymemcache.client.base import Client
from pymemcache.exceptions import (
    MemcacheServerError,
    MemcacheUnexpectedCloseError,
    MemcacheUnknownError,
)
from twat_cache import Cache
from twat_cache.config import CacheConfig
from twat_cache.exceptions import (
    BackendError,
    CacheOperationError,
    ConfigurationError,
)
from twat_cache.registry import create_backend
from twat_cache.testing import AsyncBackendConformance, BackendConformance
from twat_cache_memcached import DEFAULT_ITEM_SIZE_LIMIT, MemcachedBackend
from twat_cache_memcached.protocol import (
    MAX_KEY_LENGTH,
    meta_delete_reply,
    meta_delete_request,
    meta_ttl_reply,
    meta_ttl_request,
    physical_key,
    to_exptime,
)

MakeBackend = Callable[[str], MemcachedBackend]
_SAFE = set(string.printable) - set(string.whitespace)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def made() -> Iterator[list[MemcachedBackend]]:
    backends: list[MemcachedBackend] = []
    yield backends
    for backend in backends:
        backend.close()


@pytest.fixture
def connect(made: list[MemcachedBackend]) -> Callable[..., MemcachedBackend]:
    """Build a backend from a URL (closed after the test)."""

    def make(url: str, namespace: str = "test", **options: object) -> MemcachedBackend:
        backend = MemcachedBackend.from_url(url, namespace=namespace, **options)
        made.append(backend)
        return backend

    return make


@pytest.fixture
def server(memcached_server: Any, connect: Callable[..., MemcachedBackend]) -> MemcachedBackend:
    return connect(memcached_server.url, namespace=f"t{time.monotonic_ns()}")


def _raw_client(url: str) -> Client:
    host, port = url.removeprefix("memcached://").split(",")[0].rsplit(":", 1)
    return Client((host, int(port)), default_noreply=False, connect_timeout=2, timeout=2)


# -- the conformance kit, on one server and on a ring ---------------------------------------------


class _Kit:
    max_value_size = DEFAULT_ITEM_SIZE_LIMIT - 4096  # -I 1m bounds key + value + item header
    ttl_resolution = 1.0
    supports_keys = MemcachedBackend.supports_keys


class _OneServer(_Kit):
    @pytest.fixture
    def make_backend(self, memcached_server: Any) -> MakeBackend:
        return lambda namespace: MemcachedBackend.from_url(
            memcached_server.url, namespace=namespace
        )


class _Ring(_Kit):
    @pytest.fixture
    def make_backend(self, memcached_ring: Any) -> MakeBackend:
        return lambda namespace: MemcachedBackend.from_url(memcached_ring.url, namespace=namespace)


class TestMemcachedConformance(_OneServer, BackendConformance):
    pass


class TestMemcachedAsyncConformance(_OneServer, AsyncBackendConformance):
    pass


class TestMemcachedRingConformance(_Ring, BackendConformance):
    pass


class TestMemcachedRingAsyncConformance(_Ring, AsyncBackendConformance):
    pass


# -- configuration --------------------------------------------------------------------------------


def test_entry_point_creates_the_engine_without_connecting() -> None:
    port = _free_port()  # nothing listens there: from_config must not connect
    backend = create_backend(CacheConfig(url=f"memcached://127.0.0.1:{port}", namespace="ep"))
    try:
        assert isinstance(backend, MemcachedBackend)
        assert backend.servers == [f"127.0.0.1:{port}"]
        assert backend.namespace == "ep"
        assert backend.stores_objects is False
        assert backend.blocking is True
    finally:
        backend.close()


def test_options_are_read() -> None:
    backend = MemcachedBackend.from_url(
        "memcached://127.0.0.1,[::1]:11311/?connect_timeout=0.5&timeout=3&max_pool_size=4"
        "&no_delay=false&dead_timeout=7.5&retry_attempts=0&item_size_limit=4m"
    )
    try:
        assert backend.servers == ["127.0.0.1:11211", "[::1]:11311"]
        assert backend.timeout == 3.0
        assert backend.item_size_limit == 4 * 1024 * 1024
        assert backend._ring.retry_attempts == 0
        assert backend._ring.dead_timeout == 7.5
        assert backend.client_options["connect_timeout"] == 0.5
        assert backend.client_options["no_delay"] is False
        assert backend._ring.nodes[0].slots is not None
        assert backend.capabilities.max_value_size == 4 * 1024 * 1024
    finally:
        backend.close()


@pytest.mark.parametrize(
    ("raw", "size"), [("1048576", 1048576), ("512k", 512 * 1024), ("2M", 2 * 1024 * 1024)]
)
def test_item_size_limit_forms(raw: str, size: int) -> None:
    assert (
        MemcachedBackend.from_url(f"memcached://127.0.0.1?item_size_limit={raw}").item_size_limit
        == size
    )


@pytest.mark.parametrize(
    ("query", "option"),
    [
        ("connect_timeout=0", "connect_timeout"),
        ("timeout=soon", "timeout"),
        ("max_pool_size=0", "max_pool_size"),
        ("no_delay=maybe", "no_delay"),
        ("dead_timeout=-1", "dead_timeout"),
        ("retry_attempts=-1", "retry_attempts"),
        ("item_size_limit=1g", "item_size_limit"),
        ("item_size_limit=0", "item_size_limit"),
        ("pool=3", "pool"),
    ],
)
def test_bad_options_name_option_and_value(query: str, option: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        MemcachedBackend.from_url(f"memcached://127.0.0.1:11211?{query}")
    assert option in info.value.field
    assert info.value.value == query.split("=", 1)[1]
    assert info.value.allowed


@pytest.mark.parametrize(
    "url",
    ["memcached://user:secret@127.0.0.1:11211", "memcached://127.0.0.1:11211/0", "memcached://"],
)
def test_bad_urls(url: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        MemcachedBackend.from_url(url)
    assert "secret" not in str(info.value)


def test_bad_namespace_and_servers() -> None:
    with pytest.raises(ConfigurationError, match="namespace"):
        MemcachedBackend(namespace="has space")
    with pytest.raises(ConfigurationError, match="servers"):
        MemcachedBackend([])


# -- keys and ttls --------------------------------------------------------------------------------


def test_physical_keys() -> None:
    assert physical_key("app", 7, "user:1") == "app:7:user:1"
    for key in ["with space", "ünï", "tab\there", "#starts-with-hash", "x" * 300, "\x00"]:
        name = physical_key("app", 7, key)
        assert name.startswith("app:7:#"), key
        assert len(name) <= MAX_KEY_LENGTH
        assert set(name) <= _SAFE
    assert physical_key("app", 7, "with space").startswith("app:7:#with_space~")
    longest = "k" * (MAX_KEY_LENGTH - len("app:7:"))
    assert physical_key("app", 7, longest) == "app:7:" + longest
    assert physical_key("app", 7, longest + "k").startswith("app:7:#kkk")
    assert physical_key("app", 7, "#x") != physical_key("app", 7, "x")


@given(st.lists(st.text(max_size=300), min_size=2, max_size=20, unique=True))
@settings(max_examples=200, deadline=None)
def test_physical_keys_are_safe_and_distinct(keys: list[str]) -> None:
    names = [physical_key("ns.1", 1732420000000000000, key) for key in keys]
    assert len(set(names)) == len(keys)
    for name in names:
        assert len(name.encode()) <= MAX_KEY_LENGTH
        assert set(name) <= _SAFE


def test_exptime_rounds_up_and_goes_absolute_past_30_days() -> None:
    assert to_exptime(None) == 0
    assert to_exptime(0) == -1
    assert to_exptime(0.2) == 2
    assert to_exptime(1) == 2
    assert to_exptime(1.5) == 3
    assert to_exptime(30 * 24 * 3600 - 1) == 30 * 24 * 3600
    forty_days = 40 * 24 * 3600
    assert abs(to_exptime(forty_days) - (time.time() + forty_days + 1)) < 5


def test_keys_at_the_length_limit_roundtrip(server: MemcachedBackend) -> None:
    assert server.get("init") is None
    head = len(f"{server.namespace}:{server._ring.nodes[0].generation}:")
    for key in ["k" * (MAX_KEY_LENGTH - head), "k" * (MAX_KEY_LENGTH - head + 1), "#hash", "hash"]:
        server.set(key, key.encode())
    for key in ["k" * (MAX_KEY_LENGTH - head), "k" * (MAX_KEY_LENGTH - head + 1), "#hash", "hash"]:
        assert server.get(key) == key.encode()


def test_long_and_past_ttls(server: MemcachedBackend) -> None:
    server.set("long", b"v", ttl=40 * 24 * 3600)  # sent as a Unix time, or memcached drops it
    assert server.get("long") == b"v"
    assert server.touch("long", 40 * 24 * 3600) is True
    assert server.get("long") == b"v"
    server.set("past", b"v", ttl=-1)
    assert server.get("past") is None


# -- generations: clear() -------------------------------------------------------------------------


def test_clear_is_seen_by_other_instances(
    memcached_server: Any, connect: Callable[..., MemcachedBackend]
) -> None:
    one = connect(memcached_server.url, namespace="shared-gen")
    two = connect(memcached_server.url, namespace="shared-gen")
    one.clear()
    one.set("k", b"v")
    assert two.get("k") == b"v"  # two now knows the generation: reads are one round trip
    assert two.get("k") == b"v"
    one.clear()
    assert two.get("k") is None  # its optimistic read noticed the new generation
    assert two.get_many(["k"]) == {}
    two.set("k", b"w")
    assert one.get("k") == b"w"


def test_lost_generation_never_brings_cleared_entries_back(
    memcached_server: Any, connect: Callable[..., MemcachedBackend]
) -> None:
    backend = connect(memcached_server.url, namespace="lost-gen")
    backend.set("old", b"before clear")
    backend.clear()
    backend.set("new", b"after clear")
    raw = _raw_client(memcached_server.url)
    try:
        assert raw.delete("lost-gen:__gen__") is True  # as if evicted, or the server restarted
    finally:
        raw.close()
    # the counter starts again at the current time, above every generation it had
    assert backend.get("old") is None
    assert backend.get("new") is None
    backend.set("new", b"again")
    assert backend.get("new") == b"again"


def test_generation_created_by_someone_else_is_adopted(server: MemcachedBackend) -> None:
    node = server._ring.nodes[0]
    first = server._initial_generation(node)
    assert server._initial_generation(node) == first  # add lost the race: read the winner's


# -- values, incr ---------------------------------------------------------------------------------


def test_value_larger_than_item_size_limit_is_declined(server: MemcachedBackend) -> None:
    too_big = b"x" * (DEFAULT_ITEM_SIZE_LIMIT + 1)
    assert server.set("big", too_big) is False
    assert server.add("big", too_big) is False
    assert server.set_many({"small": b"s", "big": too_big}) is False
    assert server.get("small") is None  # nothing of the batch was written
    assert server.set("small", b"s") is True
    assert server.set_many({"a": b"1"}) is True


def test_server_refusing_a_large_value(
    memcached_server: Any, connect: Callable[..., MemcachedBackend]
) -> None:
    # a limit above the server's -I 1m: the server says "object too large for cache"
    backend = connect(memcached_server.url, namespace="too-large", item_size_limit="2m")
    big = b"x" * (1024 * 1024 + 512 * 1024)
    assert backend.set("big", big) is False
    assert backend.set_many({"big": big}) is False
    backend.set("after", b"fine")  # the connection was replaced
    assert backend.get("after") == b"fine"
    near = b"x" * (1024 * 1024 - 4096)
    backend.set("near", near)
    assert backend.get("near") == near


def test_incr_is_signed_64_bit_as_on_every_engine(server: MemcachedBackend) -> None:
    server.set("n", b"5")
    assert server.incr("n", -10) == -5  # memcached's own decr would stop at 0
    assert server.incr("n") == -4  # and its incr refuses a negative number
    assert server.incr("n", 10) == 6
    with pytest.raises(ValueError, match="not found"):
        server.incr("absent", -1)
    with pytest.raises(ValueError, match="not found"):
        server.incr("absent")
    server.set("text", b"abc")
    for delta in (1, -1):
        with pytest.raises(TypeError):
            server.incr("text", delta)
    top, bottom = str(2**63 - 1).encode(), str(-(2**63)).encode()
    server.set("top", top)
    server.set("bottom", bottom)
    with pytest.raises(OverflowError):
        server.incr("top")
    with pytest.raises(OverflowError):
        server.incr("bottom", -1)
    with pytest.raises(OverflowError):
        server.incr("top", 2**64)
    assert server.get_many(["top", "bottom"]) == {"top": top, "bottom": bottom}


def test_incr_keeps_the_ttl_of_a_positive_counter(server: MemcachedBackend) -> None:
    server.set("n", b"1", ttl=1)
    assert server.incr("n", 41) == 42
    deadline = time.monotonic() + 10
    while server.get("n") is not None:
        assert time.monotonic() < deadline, "the counter lost its ttl"
        time.sleep(0.2)


def test_incr_under_contention_of_negative_steps(server: MemcachedBackend) -> None:
    server.set("n", b"0")
    threads = [
        threading.Thread(target=lambda: [server.incr("n", -1) for _ in range(20)]) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert server.incr("n", 0) == -80


def test_capabilities() -> None:
    caps = MemcachedBackend.capabilities
    assert caps.lists_keys is False
    assert (caps.atomic_add, caps.atomic_incr, caps.native_ttl, caps.shared) == (
        True,
        True,
        True,
        True,
    )
    assert caps.native_async is False
    assert caps.max_value_size == DEFAULT_ITEM_SIZE_LIMIT
    assert caps.max_key_length == MAX_KEY_LENGTH - 64 - 22
    longest = "k" * caps.max_key_length
    assert physical_key("n" * 64, 2**64 - 1, longest).endswith(longest)  # never hashed


def test_core_cache_over_memcached(memcached_server: Any) -> None:
    with Cache(memcached_server.url, namespace="core-cache", strict=True) as cache:
        cache.clear()
        cache.set("n", 41)
        assert cache.incr("n") == 42
        cache.set("obj", {"a": [1, 2]}, tags=["users"])
        assert cache.get("obj") == {"a": [1, 2]}
        cache.invalidate_tags("users")
        assert cache.get("obj") is None
        with pytest.raises(CacheOperationError):
            list(cache.keys())


def test_pool_bound_is_respected_by_many_threads(
    memcached_server: Any, connect: Callable[..., MemcachedBackend]
) -> None:
    backend = connect(memcached_server.url, namespace="pool", max_pool_size=1)
    backend.set("n", b"0")
    errors: list[BaseException] = []

    def bump() -> None:
        try:
            for _ in range(20):
                backend.incr("n")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=bump) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert backend.incr("n", 0) == 120
    assert len(backend._ring.nodes[0].idle) == 1


def test_no_free_connection_in_time(
    memcached_server: Any, connect: Callable[..., MemcachedBackend]
) -> None:
    backend = connect(memcached_server.url, namespace="pool", max_pool_size=1, timeout=0.2)
    slots = backend._ring.nodes[0].slots
    assert slots is not None
    slots.acquire()  # another thread holds the only connection
    try:
        with pytest.raises(BackendError, match="no free connection"):
            backend.get("k")
    finally:
        slots.release()
    assert backend.get("k") is None


# -- closing --------------------------------------------------------------------------------------


def test_close_is_final(server: MemcachedBackend) -> None:
    server.set("k", b"v")
    server.close()
    server.close()
    assert server.closed
    for call in (
        lambda: server.get("k"),
        lambda: server.get_many(["k"]),
        lambda: server.set_many({"k": b"v"}),
        lambda: server.delete("k"),
        lambda: server.delete_many(["k"]),
        lambda: server.touch("k"),
        lambda: server.incr("k"),
        server.clear,
        server.keys,
    ):
        with pytest.raises(CacheOperationError, match="closed"):
            call()


def test_keys_raises_a_documented_error(server: MemcachedBackend) -> None:
    with pytest.raises(CacheOperationError, match="cannot enumerate keys"):
        server.keys()


# -- faults ---------------------------------------------------------------------------------------


def test_server_not_running_fails_quickly(connect: Callable[..., MemcachedBackend]) -> None:
    port = _free_port()
    backend = connect(f"memcached://127.0.0.1:{port}")
    calls: list[Callable[[], object]] = [
        lambda: backend.get("k"),
        lambda: backend.get_many(["k", "j"]),
        lambda: backend.set("k", b"v"),
        lambda: backend.set_many({"k": b"v"}),
        lambda: backend.add("k", b"v"),
        lambda: backend.delete("k"),
        lambda: backend.delete_many(["k"]),
        lambda: backend.touch("k", 1),
        lambda: backend.incr("k"),
        backend.clear,
    ]
    for call in calls:
        started = time.monotonic()
        with pytest.raises(BackendError, match=f"127.0.0.1:{port}") as info:
            call()
        assert time.monotonic() - started < 1.0
        assert isinstance(info.value.__cause__, OSError)
    # one server is never left out: each call tries it again
    assert backend.server_for("k") == f"127.0.0.1:{port}"


def test_server_that_does_not_answer_times_out(connect: Callable[..., MemcachedBackend]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts (backlog), never replies
        port = silent.getsockname()[1]
        backend = connect(f"memcached://127.0.0.1:{port}?timeout=0.2")
        started = time.monotonic()
        with pytest.raises(BackendError, match=f"127.0.0.1:{port}") as info:
            backend.get("k")
        assert time.monotonic() - started < 2.0
        assert isinstance(info.value.__cause__, TimeoutError)


def test_other_client_errors_become_backend_errors(
    server: MemcachedBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = Client
    server.set("k", b"v")
    # a hit's get is read by the engine itself (protocol.get_current), raising pymemcache's errors
    read = "twat_cache_memcached.backend.get_current"
    monkeypatch.setattr(read, _raiser(MemcacheServerError(b"out of memory")))
    with pytest.raises(BackendError, match="out of memory"):
        server.get("k")
    monkeypatch.setattr(read, _raiser(MemcacheUnknownError(b"GARBAGE")))
    with pytest.raises(BackendError, match="GARBAGE"):
        server.get("k")
    monkeypatch.setattr(read, _raiser(MemcacheUnexpectedCloseError()))
    with pytest.raises(BackendError, match="MemcacheUnexpectedCloseError"):
        server.get("k")
    monkeypatch.setattr(read, _raiser(AttributeError("a bug in the client")))
    with pytest.raises(BackendError, match="a bug in the client") as info:
        server.get("k")
    assert isinstance(info.value.__cause__, AttributeError)
    # an answer of the server is not a failure of it; garbage, a closed connection, a bug are
    assert server._ring.nodes[0].failures == 3
    monkeypatch.undo()
    assert server.get("k") == b"v"
    assert server._ring.nodes[0].failures == 0  # a success resets the count
    monkeypatch.setattr(client, "incr", _raiser(MemcacheServerError(b"busy")))
    with pytest.raises(BackendError, match="busy"):
        server.incr("k")
    monkeypatch.setattr(client, "set", lambda *args: False)
    with pytest.raises(BackendError, match="did not store"):
        server.set("k", b"v")
    monkeypatch.setattr(client, "set_many", lambda self, values, exptime: list(values))
    with pytest.raises(BackendError, match="did not store"):
        server.set_many({"k": b"v"})


def _raiser(exc: Exception) -> Callable[..., Any]:
    def raise_(*args: object) -> Any:
        raise exc

    return raise_


def _split_by_server(
    backend: MemcachedBackend, server: str, count: int = 60
) -> tuple[list[str], list[str]]:
    keys = [f"key-{i}" for i in range(count)]
    there = [k for k in keys if backend.server_for(k) == server]
    elsewhere = [k for k in keys if backend.server_for(k) != server]
    assert there
    assert elsewhere
    return there, elsewhere


@pytest.mark.slow
def test_ring_keeps_serving_keys_of_live_servers(
    fresh_memcached_ring: Any, connect: Callable[..., MemcachedBackend]
) -> None:
    ring = fresh_memcached_ring
    backend = connect(ring.url, namespace="ring", retry_attempts=1, dead_timeout=60)
    stopped = f"127.0.0.1:{ring.nodes[0].port}"
    there, elsewhere = _split_by_server(backend, stopped)
    backend.set_many({k: k.encode() for k in there + elsewhere})
    assert backend.get_many(there + elsewhere) == {k: k.encode() for k in there + elsewhere}

    ring.stop_node(0)
    # keys on the live servers keep hitting, and never wait for the stopped one
    assert backend.get_many(elsewhere) == {k: k.encode() for k in elsewhere}
    # the stopped server's keys fail retry_attempts + 1 times, then it is left out
    for _ in range(2):
        with pytest.raises(BackendError, match=stopped):
            backend.get(there[0])
    assert backend.server_for(there[0]) != stopped
    assert backend.get(there[0]) is None  # a miss on its new server
    backend.set(there[0], b"moved")
    assert backend.get(there[0]) == b"moved"
    assert backend.get_many(elsewhere) == {k: k.encode() for k in elsewhere}
    backend.clear()  # clears the live servers; the stopped one is bumped when it is back
    assert backend.get_many(there + elsewhere) == {}


@pytest.mark.slow
def test_ring_server_comes_back_after_dead_timeout(
    fresh_memcached_ring: Any, connect: Callable[..., MemcachedBackend]
) -> None:
    ring = fresh_memcached_ring
    backend = connect(ring.url, namespace="revive", retry_attempts=0, dead_timeout=0.5)
    stopped = f"127.0.0.1:{ring.nodes[1].port}"
    there, _ = _split_by_server(backend, stopped)
    ring.stop_node(1)
    with pytest.raises(BackendError):
        backend.get(there[0])
    assert backend.server_for(there[0]) != stopped
    ring.start_node(1)
    deadline = time.monotonic() + 10
    while backend.server_for(there[0]) != stopped:
        assert time.monotonic() < deadline, "the server was not tried again after dead_timeout"
        time.sleep(0.1)
    backend.set(there[0], b"home again")
    assert backend.get(there[0]) == b"home again"


def test_revived_server_forgets_what_a_clear_missed(
    memcached_ring: Any, connect: Callable[..., MemcachedBackend]
) -> None:
    # a server left out while still holding data (a network partition): a clear() done
    # meanwhile did not reach it, so it is bumped before it serves again
    backend = connect(memcached_ring.url, namespace="partition", retry_attempts=0, dead_timeout=0.3)
    node = backend._ring.nodes[2]
    there, _ = _split_by_server(backend, node.name)
    backend.set(there[0], b"stale")
    backend._ring.failed(node)  # left out, as after a failed call
    assert backend.server_for(there[0]) != node.name
    backend.clear()
    time.sleep(0.4)
    assert backend.server_for(there[0]) == node.name
    assert backend.get(there[0]) is None
    backend.set(there[0], b"fresh")
    assert backend.get(there[0]) == b"fresh"


def test_every_ring_server_down(connect: Callable[..., MemcachedBackend]) -> None:
    ports = [_free_port(), _free_port()]
    backend = connect("memcached://" + ",".join(f"127.0.0.1:{p}" for p in ports), retry_attempts=0)
    keys = iter(f"k{i}" for i in range(1000))
    for _ in ports:  # each failure leaves one server out
        with pytest.raises(BackendError) as info:
            backend.get(next(keys))
        assert isinstance(info.value.__cause__, OSError)
    with pytest.raises(BackendError, match="no memcached server is available"):
        backend.get(next(keys))


def test_timeouts_default_to_the_constants_and_follow_the_caches_timeout() -> None:
    from twat_cache.constants import DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT

    plain = MemcachedBackend.from_url("memcached://127.0.0.1:11211")
    assert plain.timeout == DEFAULT_TIMEOUT
    assert plain.client_options["connect_timeout"] == DEFAULT_CONNECT_TIMEOUT
    bounded = Cache("memcached://127.0.0.1:11211", timeout=0.25)._raw
    assert bounded.timeout == 0.25  # type: ignore[union-attr]
    assert bounded.client_options["timeout"] == 0.25  # type: ignore[union-attr]
    assert bounded.client_options["connect_timeout"] == 0.25  # type: ignore[union-attr]
    given = Cache("memcached://127.0.0.1:11211?timeout=3", timeout=0.25)._raw
    assert given.timeout == 3.0  # type: ignore[union-attr]


def test_meta_ttl_request_and_reply() -> None:
    """One pipelined request per server; quiet misses; replies matched by their opaque index."""
    assert meta_ttl_request(["a:1:x", "a:1:y"]) == b"mg a:1:x t q O0\r\nmg a:1:y t q O1\r\nmn"
    assert meta_ttl_reply(b"HD t59 O1\r\nHD t-1 O0\r\n", 2) == {1: 59, 0: -1}
    assert meta_ttl_reply(b"", 3) == {}  # every key missed
    with pytest.raises(ValueError, match="unexpected reply"):
        meta_ttl_reply(b"ERROR\r\n", 1)  # a server without meta commands
    with pytest.raises(ValueError, match="unknown request"):
        meta_ttl_reply(b"HD t5 O7\r\n", 2)


def test_meta_delete_request_and_reply() -> None:
    """A meta delete on a CAS number; only ``HD`` means removed."""
    assert meta_delete_request("a:1:lock", b"42") == b"md a:1:lock C42"
    with pytest.raises(ValueError, match="CAS"):
        meta_delete_request("a:1:lock", b"42 noreply")
    assert [meta_delete_reply(r) for r in (b"HD", b"EX", b"NF")] == [True, False, False]
    with pytest.raises(ValueError, match="meta delete reply"):
        meta_delete_reply(b"ERROR")  # a server without meta commands


def test_delete_if_spares_an_entry_written_after_its_read(memcached_server: Any) -> None:
    """The meta delete carries the CAS number read: a write in between keeps the new value."""
    backend = MemcachedBackend.from_url(memcached_server.url, namespace="cas-delete")
    try:
        backend.set("lock", b"t1", ttl=60)
        node, name = backend._locate("lock")
        _, cas = backend._ring.call(node, Client.gets, name)
        backend.set("lock", b"t1", ttl=60)  # another holder's write, same bytes, new CAS
        reply = backend._ring.call(node, Client.raw_command, meta_delete_request(name, cas))
        assert meta_delete_reply(reply) is False
        assert backend.get("lock") == b"t1"
        assert backend.delete_if("lock", b"t1") is True
        assert backend.get("lock") is None
    finally:
        backend.close()


def test_expiries_on_a_ring_and_server_version(memcached_ring: Any) -> None:
    """Keys spread over three servers: one meta request each; every server names its version."""
    backend = MemcachedBackend.from_url(memcached_ring.url, namespace="ring-expiry")
    try:
        keys = [f"k{n}" for n in range(30)]
        backend.set_many(dict.fromkeys(keys, b"v"), ttl=600)
        found = backend.expiries([*keys, "absent"])
        assert set(found) == set(keys)
        assert len({backend.server_for(key) for key in keys}) > 1
        assert re.fullmatch(r"memcached 1\.\d+\.\d+", backend.server_version())
    finally:
        backend.clear()
        backend.close()
