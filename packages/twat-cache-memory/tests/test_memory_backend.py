"""Tests of the memory:// engine: the conformance kit on every policy, then its own behaviour."""

from __future__ import annotations

import random
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from twat_cache import Cache, mcache
from twat_cache.config import CacheConfig, resolve_config
from twat_cache.exceptions import CacheOperationError, ConfigurationError
from twat_cache.protocols import capabilities_of
from twat_cache.registry import create_backend, engine_class
from twat_cache.testing import AsyncBackendConformance, BackendConformance, frozen_clock
from twat_cache_memory import DEFAULT_MAXSIZE, POLICIES, MemoryBackend
from twat_cache_memory.backend import _sizeof

SHORT = 0.2  # a ttl that surely passed after PAST seconds
PAST = 0.4


@pytest.fixture
def make() -> Iterator[Callable[..., MemoryBackend]]:
    made: list[MemoryBackend] = []

    def build(**options: object) -> MemoryBackend:
        backend = MemoryBackend(**options)  # type: ignore[arg-type]
        made.append(backend)
        return backend

    yield build
    for backend in made:
        backend.close()


def _names(backend: MemoryBackend) -> list[str]:
    return sorted(str(key) for key in backend.keys())


# -- the conformance kit, under every policy and with a byte limit ---------------------------
_VARIANTS = [{"policy": p} for p in POLICIES] + [{"policy": "lru", "maxbytes": 64 * 1024 * 1024}]


class _Memory:
    @pytest.fixture(params=_VARIANTS, ids=lambda v: "-".join(str(x) for x in v.values()))
    def make_backend(self, request: pytest.FixtureRequest) -> Callable[[str], MemoryBackend]:
        options = request.param

        def build(namespace: str) -> MemoryBackend:
            return MemoryBackend(namespace, **options)

        return build


class TestMemoryConformance(_Memory, BackendConformance):
    @pytest.fixture(params=POLICIES)
    def make_bounded_backend(self, request: pytest.FixtureRequest) -> Callable[[str, int], Any]:
        return lambda namespace, maxsize: MemoryBackend(
            namespace=namespace, maxsize=maxsize, policy=request.param
        )


class TestMemoryAsyncConformance(_Memory, AsyncBackendConformance):
    pass


# -- construction ------------------------------------------------------------------------------
def test_entry_point_resolves_memory_to_this_engine() -> None:
    assert engine_class("memory") is MemoryBackend


def test_from_config_defaults() -> None:
    backend = create_backend(CacheConfig(namespace="ns"))
    assert isinstance(backend, MemoryBackend)
    assert (backend.namespace, backend.policy, backend.maxsize, backend.maxbytes) == (
        "ns",
        "lru",
        DEFAULT_MAXSIZE,
        None,
    )
    assert backend.stores_objects is True
    assert backend.blocking is False


def test_from_config_reads_config_fields() -> None:
    backend = create_backend(CacheConfig(policy="lfu", maxsize=10, maxbytes=5000))
    assert (backend.policy, backend.maxsize, backend.maxbytes) == ("lfu", 10, 5000)


def test_url_options_override_config() -> None:
    config = CacheConfig(
        url="memory://?policy=fifo&maxsize=7&maxbytes=999", policy="lfu", maxsize=10
    )
    backend = create_backend(config)
    assert (backend.policy, backend.maxsize, backend.maxbytes) == ("fifo", 7, 999)


def test_resolve_config_moves_url_options_into_the_config() -> None:
    backend = create_backend(resolve_config("memory://?policy=rr&maxsize=3"))
    assert (backend.policy, backend.maxsize) == ("rr", 3)


@pytest.mark.parametrize(
    ("url", "option"),
    [
        ("memory://?policy=nope", "policy"),
        ("memory://?maxsize=0", "maxsize"),
        ("memory://?maxsize=many", "maxsize"),
        ("memory://?maxbytes=-1", "maxbytes"),
        ("memory://?evict=lru", "evict"),
    ],
)
def test_bad_url_option_names_it(url: str, option: str) -> None:
    with pytest.raises(ConfigurationError, match=option):
        create_backend(CacheConfig(url=url))


def test_bad_policy_through_config_fails_at_decoration() -> None:
    with pytest.raises(ConfigurationError, match="policy"):
        mcache(policy="nope")(lambda: 1)  # type: ignore[call-overload]


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"policy": "mru"}, "policy"),
        ({"maxsize": 0}, "maxsize"),
        ({"maxsize": True}, "maxsize"),
        ({"maxbytes": 1.5}, "maxbytes"),
    ],
)
def test_constructor_validates(options: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        MemoryBackend(**options)  # type: ignore[arg-type]
    assert info.value.field == field


def test_maxsize_none_means_no_count_limit(make: Callable[..., MemoryBackend]) -> None:
    backend = make(maxsize=None)
    for i in range(DEFAULT_MAXSIZE + 10):
        backend.set(i, i)
    assert len(backend) == DEFAULT_MAXSIZE + 10


# -- policies ----------------------------------------------------------------------------------
def _fill(backend: MemoryBackend, *keys: str) -> None:
    for key in keys:
        backend.set(key, key.upper())


def test_lru_evicts_least_recently_used(make: Callable[..., MemoryBackend]) -> None:
    backend = make(policy="lru", maxsize=2)
    _fill(backend, "a", "b")
    assert backend.get("a") == "A"
    backend.set("c", "C")
    assert _names(backend) == ["a", "c"]


def test_lfu_evicts_least_frequently_used(make: Callable[..., MemoryBackend]) -> None:
    backend = make(policy="lfu", maxsize=2)
    _fill(backend, "a", "b")
    for _ in range(3):
        backend.get("a")
    backend.get("b")
    backend.set("c", "C")
    assert _names(backend) == ["a", "c"]


def test_fifo_evicts_first_written(make: Callable[..., MemoryBackend]) -> None:
    backend = make(policy="fifo", maxsize=2)
    _fill(backend, "a", "b")
    backend.get("a")
    backend.set("c", "C")
    assert _names(backend) == ["b", "c"]


def test_rr_keeps_maxsize(make: Callable[..., MemoryBackend]) -> None:
    backend = make(policy="rr", maxsize=3)
    _fill(backend, *"abcdefg")
    assert len(backend) == 3
    assert backend.get("g") == "G"  # the entry just written is never the one evicted for itself


def test_ttl_policy_purges_expired_before_evicting_live(make: Callable[..., MemoryBackend]) -> None:
    backend = make(policy="ttl", maxsize=2)
    backend.set("keep", 1)
    backend.set("short", 2, ttl=SHORT)
    backend.get("short")  # most recently used, so plain LRU would evict "keep"
    time.sleep(PAST)
    backend.set("new", 3)
    assert backend.get("keep") == 1
    assert backend.get("new") == 3


def test_ttl_policy_frees_memory_of_expired_entries_on_write(
    make: Callable[..., MemoryBackend],
) -> None:
    backend = make(policy="ttl")
    for i in range(50):
        backend.set(i, i, ttl=SHORT)
    time.sleep(PAST)
    backend.set("live", 1)
    assert len(backend) == 1


def test_frozen_clock_drives_the_ttl_policys_purge(make: Callable[..., MemoryBackend]) -> None:
    backend = make(policy="ttl", maxsize=2)  # made before: cachetools' timer still follows
    with frozen_clock() as clock:
        backend.set("keep", 1)
        backend.set("short", 2, ttl=60)
        backend.get("short")
        clock.advance(59)
        backend.set("new", 3)  # nothing expired yet: plain LRU drops "keep"
        assert backend.get("keep") is None
        clock.advance(2)
        backend.set("newer", 4)  # "short" expired: purged before any live entry goes
        assert (backend.get("new"), backend.get("newer")) == (3, 4)
        assert backend.evictions == 1


@pytest.mark.parametrize("policy", POLICIES)
def test_frozen_clock_drives_every_policy(make: Callable[..., MemoryBackend], policy: str) -> None:
    with frozen_clock() as clock:
        backend = make(policy=policy)
        backend.set("k", 1, ttl=60)
        clock.advance(59)
        assert backend.get("k") == 1
        clock.advance(1)
        assert backend.get("k") is None


@pytest.mark.parametrize("policy", POLICIES)
def test_per_entry_ttl_on_every_policy(make: Callable[..., MemoryBackend], policy: str) -> None:
    backend = make(policy=policy)
    backend.set("short", 1, ttl=SHORT)
    backend.set("long", 2, ttl=60)
    backend.set("forever", 3)
    time.sleep(PAST)
    assert _names(backend) == ["forever", "long"]
    assert backend.get("short") is None
    assert backend.get_many(["short", "long", "forever"]) == {"long": 2, "forever": 3}


# -- values and keys ---------------------------------------------------------------------------
def test_objects_are_kept_as_they_are(make: Callable[..., MemoryBackend]) -> None:
    backend = make()
    value = {"a": [1, 2]}
    key = ("module.f", 1, frozenset({2}))
    backend.set(key, value)
    assert backend.get(key) is value
    backend.set(("ttl",), value, ttl=60)
    assert backend.get(("ttl",)) is value


def test_keys_snapshot_does_not_count_as_use(make: Callable[..., MemoryBackend]) -> None:
    backend = make(policy="lru", maxsize=2)
    _fill(backend, "a", "b")
    assert _names(backend) == ["a", "b"]
    backend.set("c", "C")
    assert backend.get("a") is None


@pytest.mark.parametrize("policy", POLICIES)
def test_incr_keeps_expiry_and_checks_types(
    make: Callable[..., MemoryBackend], policy: str
) -> None:
    backend = make(policy=policy)
    backend.set("n", 1, ttl=SHORT)
    assert backend.incr("n", 4) == 5
    assert backend.get("n") == 5
    time.sleep(PAST)
    with pytest.raises(ValueError, match="not found"):
        backend.incr("n")
    backend.set("flag", True)
    with pytest.raises(TypeError, match="bool"):
        backend.incr("flag")
    backend.set("digits", b"42")
    with pytest.raises(TypeError):
        backend.incr("digits")
    backend.set("big", 2**63 - 1)
    with pytest.raises(OverflowError, match="64-bit"):
        backend.incr("big")
    assert backend.get("big") == 2**63 - 1
    assert backend.incr("big", -1) == 2**63 - 2
    backend.set("low", -(2**63))
    with pytest.raises(OverflowError):
        backend.incr("low", -1)
    assert backend.get("low") == -(2**63)


def test_the_memory_engine_declares_what_it_is() -> None:
    caps = capabilities_of(MemoryBackend())
    assert (caps.stores_objects, caps.blocking, caps.shared, caps.persistent) == (
        True,
        False,
        False,
        False,
    )
    assert not caps.native_ttl
    assert caps.atomic_add
    assert caps.atomic_incr
    assert caps.lists_keys


def test_touch_and_delete_skip_expired_entries(make: Callable[..., MemoryBackend]) -> None:
    backend = make()
    backend.set_many({"a": 1, "b": 2, "c": 3}, ttl=SHORT)
    backend.set("d", 4)
    assert backend.touch("a", 60) is True
    time.sleep(PAST)
    assert backend.touch("b", 60) is False
    assert backend.delete("c") is False
    assert backend.add("b", 20) is True
    assert backend.delete_many(["a", "b", "c", "d"]) == 3
    assert len(backend) == 0


# -- size by bytes -----------------------------------------------------------------------------
def test_sizeof_counts_container_items_one_level_down() -> None:
    words = ["x" * 100 for _ in range(10)]
    assert _sizeof(words) == sys.getsizeof(words) + sum(sys.getsizeof(w) for w in words)
    mapping = {"k" * 50: "v" * 50}
    assert _sizeof(mapping) > sys.getsizeof(mapping) + 100
    assert _sizeof(b"abc") == sys.getsizeof(b"abc")


def test_maxbytes_evicts_by_size(make: Callable[..., MemoryBackend]) -> None:
    backend = make(maxbytes=1000)
    for key in "abc":
        backend.set(key, b"x" * 400)
    assert _names(backend) == ["b", "c"]


def test_maxbytes_and_maxsize_both_hold(make: Callable[..., MemoryBackend]) -> None:
    backend = make(maxsize=2, maxbytes=10**6)
    _fill(backend, "a", "b", "c")
    assert _names(backend) == ["b", "c"]


def test_value_larger_than_maxbytes_is_refused_and_old_entry_dropped(
    make: Callable[..., MemoryBackend],
) -> None:
    backend = make(maxbytes=1000)
    assert backend.set("k", b"small") is True
    assert backend.set("k", b"x" * 2000, ttl=60) is False
    assert backend.get("k") is None
    assert backend.set("absent", list(range(1000))) is False
    assert backend.get("absent") is None
    assert backend.add("added", b"x" * 2000) is False
    assert backend.set_many({"a": 1, "b": b"x" * 2000}) is False
    assert (backend.get("a"), backend.get("b")) == (1, None)


def test_value_error_of_an_unsized_cache_is_not_masked(make: Callable[..., MemoryBackend]) -> None:
    class Angry:
        def __hash__(self) -> int:
            return 1

        def __eq__(self, other: object) -> bool:
            raise ValueError("no comparing")

    backend = make()
    backend.set(Angry(), 1)
    with pytest.raises(ValueError, match="no comparing"):
        backend.set(Angry(), 2)


# -- concurrency and lifecycle -----------------------------------------------------------------
@pytest.mark.parametrize("policy", POLICIES)
def test_threads_hammering_keep_the_cache_consistent(
    make: Callable[..., MemoryBackend], policy: str
) -> None:
    backend = make(policy=policy, maxsize=50)
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        rng = random.Random(seed)  # deterministic per thread
        try:
            for _ in range(2000):
                key = rng.randrange(80)
                action = rng.randrange(4)
                if action == 0:
                    backend.set(key, key, ttl=rng.choice([None, 0.05]))
                elif action == 1:
                    value = backend.get(key)
                    assert value is None or value == key
                elif action == 2:
                    backend.delete(key)
                else:
                    backend.add(key, key)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert len(backend) <= 50
    assert all(backend.get(k) in (None, k) for k in range(80))


def test_every_operation_fails_after_close(make: Callable[..., MemoryBackend]) -> None:
    backend = make()
    backend.set("k", 1)
    backend.close()
    assert backend.closed
    assert len(backend) == 0
    calls: list[Callable[[], object]] = [
        lambda: backend.get("k"),
        lambda: backend.get_many(["k"]),
        lambda: backend.set("k", 1),
        lambda: backend.set_many({"k": 1}),
        lambda: backend.add("k", 1),
        lambda: backend.delete("k"),
        lambda: backend.delete_many(["k"]),
        lambda: backend.touch("k"),
        lambda: backend.incr("k"),
        backend.clear,
        backend.keys,
    ]
    for call in calls:
        with pytest.raises(CacheOperationError, match="closed"):
            call()


# -- through core ------------------------------------------------------------------------------
def test_cache_object_over_memory_engine() -> None:
    cache = Cache("memory://?policy=lfu", maxsize=100, namespace="objects")
    try:
        assert isinstance(cache.backend, MemoryBackend)
        cache.set(("tuple", "key"), [1, 2, 3])
        assert cache.get(("tuple", "key")) == [1, 2, 3]
        cache.set("none", None)
        assert cache.get("none", "default") is None
        cache.set("n", 1)
        assert cache.incr("n", 41) == 42
        assert cache.add("n", 0) is False
        cache.clear()
        assert cache.get("n") is None
    finally:
        cache.close()


def test_decorated_function_hits_the_engine() -> None:
    calls = []

    @mcache(maxsize=8, policy="fifo", ttl=60)
    def square(x: int) -> int:
        calls.append(x)
        return x * x

    try:
        assert [square(3), square(3), square(4)] == [9, 9, 16]
        assert calls == [3, 4]
    finally:
        square.cache_clear()


@pytest.mark.parametrize("policy", POLICIES)
def test_evictions_by_bytes_counted_and_clear_is_not_one(policy: str) -> None:
    engine = MemoryBackend(policy=policy, maxsize=None, maxbytes=1000)
    for i in range(20):
        assert engine.set(f"k{i}", b"x" * 100) is True
    assert engine.evictions == 20 - len(list(engine.keys())) > 0
    evicted = engine.evictions
    engine.clear()
    engine.delete("k19")
    assert engine.evictions == evicted
    with Cache(backend=engine) as cache:
        cache.set("a", b"y" * 600)
        cache.set("b", b"y" * 600)
        assert cache.stats.evictions == 1
