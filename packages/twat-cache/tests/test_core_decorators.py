"""The decorators on functions, coroutines, methods, classmethods and staticmethods."""

from __future__ import annotations

import asyncio
import inspect
import logging
import sys
import threading
import time
from typing import Any

import pytest
from twat_cache import (
    AsyncCachedFunction,
    Cache,
    CachedFunction,
    CacheInfo,
    ConfigurationError,
    SerializationError,
    acache,
    mcache,
    ucache,
)
from twat_cache.constants import DEFAULT_MAXSIZE
from twat_cache.serializers import Codec

LOCAL_AND_SHARED = ["memory://", "builtin://", "coretest-bytes://", "coretest-abytes://"]


class Counter:
    """Counts calls per argument."""

    def __init__(self) -> None:
        self.calls: list[Any] = []

    def __call__(self, *args: Any) -> None:
        self.calls.append(args[0] if len(args) == 1 else args)


@pytest.mark.parametrize("url", LOCAL_AND_SHARED)
def test_sync_function_is_called_once_per_distinct_call(url: str, namespace: str) -> None:
    seen = Counter()

    @ucache(url, namespace=namespace)
    def square(x: int) -> int:
        seen(x)
        return x * x

    assert [square(3), square(3), square(4), square(3)] == [9, 9, 16, 9]
    assert seen.calls == [3, 4]
    info = square.cache_info()
    assert isinstance(info, CacheInfo)
    assert (info.hits, info.misses) == (2, 2)


@pytest.mark.parametrize("url", LOCAL_AND_SHARED)
async def test_async_function_is_awaited_once_per_distinct_call(url: str, namespace: str) -> None:
    seen = Counter()

    @ucache(url, namespace=namespace)
    async def fetch(x: int) -> str:
        seen(x)
        await asyncio.sleep(0)
        return f"v{x}"

    assert isinstance(fetch, AsyncCachedFunction)
    assert [await fetch(1), await fetch(1), await fetch(x=1), await fetch(2)] == ["v1"] * 3 + ["v2"]
    assert seen.calls == [1, 2]
    assert fetch.cache_info().hits == 2


def test_bare_and_called_forms() -> None:
    @ucache
    def bare(x: int) -> int:
        return x + 1

    @ucache()
    def called(x: int) -> int:
        return x + 2

    @mcache(maxsize=10)
    def memory(x: int) -> int:
        return x + 3

    assert isinstance(bare, CachedFunction)
    assert isinstance(called, CachedFunction)
    assert (bare(1), called(1), memory(1)) == (2, 3, 4)
    assert memory.cache_info().maxsize == 10


def test_wrapper_looks_like_the_function() -> None:
    def documented(x: int) -> int:
        """Docs."""
        return x

    cached = ucache(documented)
    assert cached.__name__ == "documented"
    assert cached.__doc__ == "Docs."
    assert cached.__wrapped__ is documented
    assert "documented" in repr(cached)
    assert inspect.signature(cached) == inspect.signature(documented)


async def test_async_wrapper_is_a_coroutine_function_where_python_can_tell() -> None:
    async def g() -> int:
        return 1

    cached = ucache(g)
    assert inspect.isawaitable(coro := cached())
    assert await coro == 1
    if sys.version_info >= (3, 12):  # inspect.markcoroutinefunction exists from 3.12 on
        assert inspect.iscoroutinefunction(cached)


async def test_acache_makes_a_blocking_function_awaitable_and_cached(namespace: str) -> None:
    seen = Counter()
    threads: list[str] = []

    @acache(ttl=10)
    def blocking(x: int) -> int:
        seen(x)
        threads.append(threading.current_thread().name)
        return x * 10

    assert isinstance(blocking, AsyncCachedFunction)
    assert await blocking(2) == 20
    assert await blocking(2) == 20
    assert seen.calls == [2]
    assert threads != [threading.current_thread().name]  # it ran in a worker thread

    @acache("coretest-bytes://", namespace=namespace)
    async def native(x: int) -> int:
        return x + 1

    assert await native(1) == 2
    assert await native(1) == 2
    assert native.cache_info().hits == 1


@pytest.mark.parametrize("url", LOCAL_AND_SHARED)
def test_exceptions_are_never_cached_none_is(url: str, namespace: str) -> None:
    seen = Counter()
    outcomes: list[Any] = [ValueError("boom"), None, "unused"]

    @ucache(url, namespace=namespace)
    def flaky(x: int) -> Any:
        seen(x)
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    with pytest.raises(ValueError, match="boom"):
        flaky(1)
    assert flaky(1) is None  # ran again: the exception was not cached
    assert flaky(1) is None  # and None was cached
    assert seen.calls == [1, 1]
    assert outcomes == ["unused"]


@pytest.mark.parametrize("url", LOCAL_AND_SHARED)
async def test_async_exceptions_are_never_cached_none_is(url: str, namespace: str) -> None:
    outcomes: list[Any] = [KeyError("k"), None, "unused"]

    @ucache(url, namespace=namespace)
    async def flaky(x: int) -> Any:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    with pytest.raises(KeyError):
        await flaky(1)
    assert await flaky(1) is None
    assert await flaky(1) is None
    assert outcomes == ["unused"]


class Service:
    instances_built = 0

    def __init__(self, factor: int) -> None:
        self.factor = factor
        self.calls = 0

    def __cache_key__(self) -> int:
        # what a method's result depends on: without it, the changing call count would be keyed
        return self.factor

    @ucache
    def scaled(self, x: int) -> int:
        self.calls += 1
        return x * self.factor

    @ucache(ttl=30)
    async def ascaled(self, x: int) -> int:
        self.calls += 1
        return x * self.factor

    @classmethod
    @ucache
    def build(cls, name: str) -> str:
        cls.instances_built += 1
        return f"{cls.__name__}:{name}"

    @ucache()
    @classmethod
    def build_reversed(cls, name: str) -> str:
        cls.instances_built += 1
        return f"{cls.__name__}/{name}"

    @staticmethod
    @ucache
    def static(x: int) -> int:
        Service.instances_built += 100
        return -x

    @ucache
    @staticmethod
    def static_reversed(x: int) -> int:
        Service.instances_built += 1000
        return x * 1000


def test_methods_key_on_the_instance() -> None:
    two, three = Service(2), Service(3)
    assert two.scaled(5) == 10
    assert three.scaled(5) == 15  # not two's result
    assert two.scaled(5) == 10
    assert (two.calls, three.calls) == (1, 1)
    assert two.scaled.cache_info().hits == 1
    assert two.scaled.invalidate(5) is True
    assert two.scaled.invalidate(5) is False
    assert two.scaled(5) == 10
    assert two.calls == 2
    assert two.scaled.cache_key(5) == Service.scaled.cache_key(two, 5)
    assert Service.scaled.__get__(None, Service) is Service.scaled


async def test_async_methods_key_on_the_instance() -> None:
    two, three = Service(2), Service(3)
    assert await two.ascaled(5) == 10
    assert await three.ascaled(5) == 15
    assert await two.ascaled(5) == 10
    assert (two.calls, three.calls) == (1, 1)
    assert Service.ascaled.__get__(None, Service) is Service.ascaled


def test_classmethods_and_staticmethods_in_either_order() -> None:
    Service.instances_built = 0
    assert Service.build("a") == Service.build("a") == Service(1).build("a") == "Service:a"
    assert Service.build_reversed("b") == Service.build_reversed("b") == "Service/b"
    assert Service.instances_built == 2
    assert Service.static(3) == Service(1).static(3) == -3
    assert Service.static_reversed(2) == Service(1).static_reversed(2) == 2000
    assert Service.instances_built == 2 + 100 + 1000


def test_cache_clear_invalidate_cache_key_and_cache() -> None:
    seen = Counter()

    @ucache(maxsize=100)
    def f(x: int, y: int = 0) -> int:
        seen(x)
        return x + y

    f(1)
    f(2)
    assert isinstance(f.cache, Cache)
    assert f.cache_key(1) == f.cache_key(x=1, y=0)
    assert f.cache_key(1) != f.cache_key(2)
    assert f.invalidate(1) is True
    f(1)
    f(2)
    assert seen.calls == [1, 2, 1]
    f.cache_clear()
    assert f.cache_info() == CacheInfo(0, 0, 100, 0)
    f(1)
    f(2)
    assert seen.calls == [1, 2, 1, 1, 2]


def test_ttl_expiry_through_the_decorator() -> None:
    seen = Counter()

    @ucache(ttl=0.2)
    def f(x: int) -> int:
        seen(x)
        return x

    f(1)
    f(1)
    assert seen.calls == [1]
    deadline = time.monotonic() + 10
    while len(seen.calls) == 1:
        assert time.monotonic() < deadline, "the entry outlived its ttl"
        time.sleep(0.05)
        f(1)
    assert seen.calls == [1, 1]


def test_maxsize_bounds_the_builtin_engine() -> None:
    @ucache("builtin://", maxsize=3)
    def f(x: int) -> int:
        return x

    for x in range(10):
        f(x)
    assert f.cache_info().currsize == 3
    assert f.cache_info().maxsize == 3


def test_cache_info_maxsize_is_the_bound_the_engine_enforces(tmp_path: Any) -> None:
    """As functools': the most entries kept, the engine's default when none was given."""

    @mcache
    def default(x: int) -> int:
        return x

    @ucache("memory://?maxsize=7")
    def from_url(x: int) -> int:
        return x

    @ucache(f"disk://{tmp_path}")
    def unbounded(x: int) -> int:
        return x

    assert default.cache_info().maxsize == DEFAULT_MAXSIZE == 4096
    assert from_url.cache_info().maxsize == 7
    assert unbounded.cache_info().maxsize is None
    unbounded.cache.close()


@pytest.mark.parametrize("url", ["memory://", "coretest-bytes://"])
def test_functions_sharing_a_cache_clear_only_their_own_entries(url: str, namespace: str) -> None:
    shared = Cache(url, namespace=namespace)
    seen = Counter()

    @ucache(cache=shared)
    def f(x: object) -> str:
        seen(("f", x))
        return f"f{x}"

    @ucache(cache=shared)
    def g(x: object) -> str:
        seen(("g", x))
        return f"g{x}"

    for fn in (f, g):
        fn(1)
        fn([1, 2])  # unhashable: frozen keys must be found by cache_clear too
    f.cache_clear()
    f(1)
    f([1, 2])
    g(1)
    g([1, 2])
    assert seen.calls == [("f", 1), ("f", [1, 2]), ("g", 1), ("g", [1, 2]), ("f", 1), ("f", [1, 2])]
    shared.close()


def test_cache_clear_on_a_shared_engine_keeps_other_functions_entries(namespace: str) -> None:
    seen = Counter()

    @ucache("coretest-bytes://", namespace=namespace)
    def f(x: int) -> int:
        seen(("f", x))
        return x

    @ucache("coretest-bytes://", namespace=namespace)
    def g(x: int) -> int:
        seen(("g", x))
        return x

    f(1)
    g(1)
    f.cache_clear()  # f's own Cache object, but the namespace on the server is shared
    f(1)
    g(1)
    assert seen.calls == [("f", 1), ("g", 1), ("f", 1)]


def test_cache_clear_clears_the_namespace_when_keys_cannot_be_listed(
    namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    from twat_cache.engines import BuiltinMemoryBackend
    from twat_cache.protocols import Capabilities

    class Unlisted(BuiltinMemoryBackend):
        """Declares that it cannot list keys; core must read that, never call keys()."""

        capabilities = Capabilities(lists_keys=False, stores_objects=True, blocking=False)

        def keys(self) -> Any:
            raise AssertionError("core called keys() on an engine that cannot list them")

    shared = Cache(backend=Unlisted(namespace=namespace))

    @ucache(cache=shared)
    def f(x: int) -> int:
        return x

    f(1)
    shared.set("other", 2)
    with caplog.at_level(logging.INFO, logger="twat_cache"):
        f.cache_clear()
    assert shared.get(f.cache_key(1)) is None
    assert shared.get("other") is None  # the whole namespace: nothing stale is ever served
    assert "cannot list keys" in caplog.text
    assert f.cache_info().currsize == -1  # no listing: the size is unknown, not guessed
    shared.close()


def test_cache_and_options_together_are_refused() -> None:
    with Cache() as shared, pytest.raises(ConfigurationError, match="cache"):
        ucache("memory://", cache=shared)
    with Cache() as shared, pytest.raises(ConfigurationError):
        ucache(cache=shared, ttl=5)


def test_key_function_with_an_in_process_cache() -> None:
    seen = Counter()

    @ucache(key=lambda user, request_id: user)
    def profile(user: str, request_id: int) -> str:
        seen(request_id)
        return user.upper()

    assert profile("ann", 1) == profile("ann", 2) == "ANN"
    assert seen.calls == [1]
    assert profile.cache_key("ann", 3) == profile.cache_key("ann", 4)


def _unpicklable() -> threading.Lock:
    return threading.Lock()


@pytest.mark.parametrize("url", ["coretest-bytes://", "coretest-abytes://"])
def test_unpicklable_result_raises_and_keeps_the_previous_entry(url: str, namespace: str) -> None:
    results: list[Any] = ["old", _unpicklable()]

    @ucache(url, namespace=namespace, tags=["t"])
    def f(x: int) -> Any:
        return results.pop(0)

    assert f(1) == "old"
    key = f.cache_key(1)
    before = f.cache.backend.get(key)
    f.cache.invalidate_tags("t")  # the entry is now stale: the next call runs f
    with pytest.raises(
        SerializationError, match="cannot serialize a lock with the pickle serializer"
    ):
        f(1)
    assert f.cache.backend.get(key) == before  # not overwritten, not deleted
    assert Codec().loads(before)[0] == "old"


def test_unpicklable_result_with_warn_is_returned_uncached(
    namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    seen = Counter()

    @ucache("coretest-bytes://", namespace=namespace, on_serialization_error="warn")
    def f(x: int) -> threading.Lock:
        seen(x)
        return threading.Lock()

    with caplog.at_level(logging.WARNING, logger="twat_cache"):
        lock = f(1)
        assert isinstance(lock, type(threading.Lock()))
        f(1)
    assert seen.calls == [1, 1]  # not cached
    warnings = [r for r in caplog.records if "result not cached" in r.getMessage()]
    assert len(warnings) == 2
    assert warnings[0].levelno == logging.WARNING


async def test_async_unpicklable_result(namespace: str, caplog: pytest.LogCaptureFixture) -> None:
    @ucache("coretest-abytes://", namespace=namespace)
    async def strict(x: int) -> threading.Lock:
        return threading.Lock()

    with pytest.raises(SerializationError):
        await strict(1)

    @ucache("coretest-abytes://", namespace=namespace, on_serialization_error="warn")
    async def lenient(x: int) -> threading.Lock:
        return threading.Lock()

    with caplog.at_level(logging.WARNING, logger="twat_cache"):
        assert await lenient(1) is not None
    assert "result not cached" in caplog.text


def test_in_process_caches_keep_any_object() -> None:
    @ucache
    def make() -> threading.Lock:
        return threading.Lock()

    assert make() is make()


def test_keyword_calls_and_variadic_functions_on_the_fast_path() -> None:
    seen = Counter()

    @ucache
    def f(*parts: str, sep: str = "-") -> str:
        seen(parts)
        return sep.join(parts)

    assert f("a", "b") == f("a", "b", sep="-") == "a-b"
    assert f("a", "b", sep="+") == "a+b"
    assert seen.calls == [("a", "b"), ("a", "b")]
    with pytest.raises(TypeError):
        f(nonsense=1)  # type: ignore[call-arg]


async def test_async_in_process_unhashable_arguments() -> None:
    seen = Counter()

    @ucache
    async def total(values: list[int]) -> int:
        seen(values)
        return sum(values)

    assert await total([1, 2]) == await total([1, 2]) == 3
    assert seen.calls == [[1, 2]]


def test_decorating_something_that_is_not_a_function_fails_at_once() -> None:
    with pytest.raises(TypeError, match="takes a function"):
        ucache()(42)  # type: ignore[call-overload]


async def test_cache_info_after_the_cache_was_closed() -> None:
    @ucache(maxsize=10)
    async def f(x: int) -> int:
        return x

    assert await f(1) == await f(1) == 1
    assert f.cache_info().currsize == 1
    await f.cache.aclose()
    assert f.cache_info() == CacheInfo(1, 1, 10, 0)
