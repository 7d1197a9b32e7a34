"""The built-in engine keeps every option it accepts: policies, maxbytes, the incr range."""

from __future__ import annotations

import importlib.util
import time
from typing import Any

import pytest
from twat_cache import Cache, ConfigurationError, ucache
from twat_cache.engines.builtin import BuiltinMemoryBackend, estimate_size
from twat_cache.protocols import capabilities_of

# memory:// is the built-in engine only while twat-cache-memory is absent (core's own test run)
CORE_ONLY_URLS = ["builtin://"]
if importlib.util.find_spec("twat_cache_memory") is None:
    CORE_ONLY_URLS.append("memory://")


def _function(x: int) -> int:
    return x


@pytest.mark.parametrize("url", CORE_ONLY_URLS)
@pytest.mark.parametrize("policy", ["lfu", "rr"])
def test_a_policy_the_builtin_engine_lacks_names_the_package_that_has_it(
    url: str, policy: str
) -> None:
    with pytest.raises(ConfigurationError, match="policy") as info:
        ucache(url, policy=policy)(_function)  # type: ignore[call-overload]
    assert info.value.value == policy
    assert 'pip install "twat-cache[memory]"' in info.value.allowed
    with pytest.raises(ConfigurationError, match="twat-cache-memory"):
        ucache(f"{url}?policy={policy}")(_function)


@pytest.mark.parametrize("url", CORE_ONLY_URLS)
def test_fifo_evicts_the_oldest_write_even_when_it_was_just_read(url: str) -> None:
    with Cache(f"{url}?policy=fifo", maxsize=2) as cache:
        cache.set("a", 1)
        cache.set("b", 2)
        assert cache.get("a") == 1  # under lru this read would save "a"
        cache.set("c", 3)
        assert (cache.get("a"), cache.get("b"), cache.get("c")) == (None, 2, 3)


def test_lru_keeps_what_was_just_read() -> None:
    with Cache("builtin://", maxsize=2) as cache:
        cache.set("a", 1)
        cache.set("b", 2)
        assert cache.get("a") == 1
        cache.set("c", 3)
        assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)


def test_ttl_policy_evicts_an_expired_entry_before_the_least_recently_used() -> None:
    backend = BuiltinMemoryBackend(maxsize=3, policy="ttl")
    backend.set("old", 1)
    backend.set("short", 2, ttl=0.01)
    backend.set("replaced", 3, ttl=0.01)
    backend.set("replaced", 4, ttl=60)  # its first expiry must not evict it
    time.sleep(0.02)
    backend.set("new", 5)
    assert backend.get("old") == 1  # lru would have dropped it
    assert backend.get("replaced") == 4
    assert backend.get("new") == 5
    assert len(backend) == 3
    backend.set("newer", 6)  # nothing expired: the least recently used goes
    assert backend.get("old") is None


def test_ttl_policy_keeps_its_expiry_heap_bounded() -> None:
    backend = BuiltinMemoryBackend(maxsize=4, policy="ttl")
    for n in range(200):
        backend.set(n % 3, n, ttl=60)
        backend.touch(n % 3, ttl=60)
    assert len(backend._expiries or []) < 50
    assert sorted(backend.keys()) == [0, 1, 2]  # type: ignore[type-var]


def test_maxbytes_bounds_the_estimated_size_of_what_is_kept() -> None:
    value = "x" * 1000
    with Cache("builtin://", maxbytes=3 * estimate_size(value) + 10) as cache:
        for n in range(10):
            cache.set(n, value)
        assert sorted(k for k in range(10) if cache.get(k) is not None) == [7, 8, 9]


def test_a_value_larger_than_maxbytes_is_declined_and_the_old_one_dropped() -> None:
    backend = BuiltinMemoryBackend(maxbytes=500)
    assert backend.set("k", "small") is True
    assert backend.set("k", "x" * 1000) is False
    assert backend.get("k") is None
    assert backend.set_many({"a": 1, "b": "y" * 1000}) is False
    assert backend.get("a") == 1
    backend.delete("a")
    assert backend._bytes == 0


def test_estimate_size_counts_one_level_of_a_container() -> None:
    items = ["x" * 100] * 3
    assert estimate_size(items) > 300
    assert estimate_size({"k": "x" * 100}) > 100
    assert estimate_size(b"") > 0


def test_maxbytes_accounting_follows_expiry_clear_and_close() -> None:
    backend = BuiltinMemoryBackend(maxbytes=10_000)
    backend.set("gone", "v", ttl=0.01)
    backend.set("kept", "v")
    time.sleep(0.02)
    assert backend.get("gone") is None
    assert backend._bytes == estimate_size("v")
    backend.clear()
    assert backend._bytes == 0
    backend.set("k", "v")
    backend.close()
    assert backend._bytes == 0


@pytest.mark.parametrize(("start", "delta"), [(2**63 - 1, 1), (-(2**63), -1), (0, 2**64)])
def test_incr_outside_64_bits_raises_overflow_and_keeps_the_value(start: int, delta: int) -> None:
    backend = BuiltinMemoryBackend()
    backend.set("n", start)
    with pytest.raises(OverflowError):
        backend.incr("n", delta)
    assert backend.get("n") == start


def test_the_builtin_engine_declares_what_it_is() -> None:
    caps = capabilities_of(BuiltinMemoryBackend())
    assert caps.stores_objects
    assert not caps.blocking
    assert not caps.shared
    assert not caps.persistent
    assert not caps.native_ttl  # the engine itself checks expiry on read


@pytest.mark.parametrize(("option", "value"), [("maxsize", 0), ("maxbytes", -1), ("maxbytes", 1.5)])
def test_the_builtin_engine_checks_its_limits(option: str, value: Any) -> None:
    with pytest.raises(ConfigurationError, match=option):
        BuiltinMemoryBackend(**{option: value})
