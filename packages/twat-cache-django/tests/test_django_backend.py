"""twat-cache-django: Django's cache contract on builtin://, a real Redis and disk://.

Redis is the harness' redis-server on a loopback port (tools/twat_cache_harness).
"""

from __future__ import annotations

import itertools
import pickle
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import caches
from django.core.cache.backends.base import CacheKeyWarning
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory, override_settings
from django.views.decorators.cache import cache_page
from twat_cache import BackendError, ConfigurationError, SerializationError
from twat_cache.testing import wait_until
from twat_cache_django import DEFAULT_NAMESPACE, TwatCache, close_shared_caches

# the harness lives in tools/ (on pytest's pythonpath); mypy is not pointed there
from twat_cache_harness import free_port  # type: ignore[import-not-found,unused-ignore]

_names = itertools.count()


def _namespace() -> str:
    return f"dj{next(_names)}-{time.monotonic_ns() % 10**9}"


@pytest.fixture(params=["builtin", "redis", "disk"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "redis":
        url: str = request.getfixturevalue("redis_server").url
        return url
    if request.param == "disk":
        return f"disk://{tmp_path / 'django-cache'}"
    return "builtin://"


@pytest.fixture
def make(location: str) -> Iterator[Callable[..., TwatCache]]:
    made: list[TwatCache] = []

    def build(**params: Any) -> TwatCache:
        params.setdefault("OPTIONS", {}).setdefault("namespace", _namespace())
        backend = TwatCache(params.pop("LOCATION", location), params)
        made.append(backend)
        return backend

    yield build
    for backend in made:
        backend.clear()


@pytest.fixture
def cache(make: Callable[..., TwatCache]) -> TwatCache:
    return make(TIMEOUT=300)


def test_get_set_delete(cache: TwatCache) -> None:
    assert cache.get("k") is None
    assert cache.get("k", "fallback") == "fallback"
    cache.set("k", {"a": [1, 2]})
    assert cache.get("k") == {"a": [1, 2]}
    assert cache.has_key("k")
    assert "k" in cache
    assert cache.delete("k") is True
    assert cache.delete("k") is False
    assert not cache.has_key("k")
    cache.set("none", None)
    assert cache.get("none", "fallback") is None
    assert cache.has_key("none")
    cache.set("ключ", "значение")
    assert cache.get("ключ") == "значение"


def test_add_and_get_or_set(cache: TwatCache) -> None:
    assert cache.add("k", 1) is True
    assert cache.add("k", 2) is False
    assert cache.get("k") == 1
    assert cache.get_or_set("g", lambda: "made") == "made"
    assert cache.get_or_set("g", "other") == "made"


def test_many(cache: TwatCache) -> None:
    assert cache.set_many({}) == []
    assert cache.set_many({"a": 1, "b": "two", "c": None}) == []
    assert cache.get_many(iter(["a", "b", "c", "missing"])) == {"a": 1, "b": "two", "c": None}
    cache.delete_many(["a", "b"])
    cache.delete_many([])
    assert cache.get_many(["a", "b", "c"]) == {"c": None}


def test_incr_decr(cache: TwatCache) -> None:
    cache.set("n", 10)
    assert cache.incr("n") == 11
    assert cache.incr("n", 5) == 16
    assert cache.decr("n", 20) == -4
    assert cache.get("n") == -4
    with pytest.raises(ValueError, match="not found"):
        cache.incr("missing")
    with pytest.raises(ValueError, match="not found"):
        cache.decr("missing")
    cache.set("text", "abc")
    with pytest.raises(TypeError):
        cache.incr("text")
    cache.set("v", 1, version=2)
    assert cache.incr("v", version=2) == 2
    assert cache.incr_version("v", version=2) == 3
    assert cache.get("v", version=3) == 2


def test_zero_and_negative_timeouts_store_nothing(cache: TwatCache) -> None:
    for timeout in (0, -1):
        cache.set("k", "old")
        cache.set("k", "new", timeout)
        assert cache.get("k") is None  # a set that expires at once also drops the old value
        assert cache.add("free", "v", timeout) is True  # the key was free...
        assert cache.get("free") is None  # ...but nothing is kept
        cache.set("taken", "v")
        assert cache.add("taken", "other", timeout) is False
        assert cache.get("taken") == "v"
        cache.set_many({"a": 1, "b": 2})
        assert cache.set_many({"a": 1, "b": 2}, timeout) == []
        assert cache.get_many(["a", "b"]) == {}
        assert cache.touch("taken", timeout) is True
        assert cache.get("taken") is None
        assert cache.touch("taken", timeout) is False


def test_expiry_default_none_and_touch(make: Callable[..., TwatCache]) -> None:
    short = make(TIMEOUT=1)
    forever = make(TIMEOUT=None, OPTIONS={"namespace": short.twat_cache.config.namespace})
    short.set("default", "x")  # TIMEOUT=1
    forever.set("never", "x")  # TIMEOUT=None
    short.set("pinned", "x", 0.3)
    assert short.touch("pinned", None) is True
    short.set("explicit-none", "x", None)
    short.set("touched", "x", None)
    assert short.touch("touched", 0.3) is True
    assert short.touch("missing", 5) is False
    assert wait_until(lambda: not short.has_key("default") and not short.has_key("touched"))
    assert short.get_many(["never", "pinned", "explicit-none"]) == {
        "never": "x",
        "pinned": "x",
        "explicit-none": "x",
    }
    short.set("float", "x", 100.2)
    assert short.get("float") == "x"


def test_key_prefix_version_and_key_function(make: Callable[..., TwatCache]) -> None:
    first = make(KEY_PREFIX="one")
    options = {"namespace": first.twat_cache.config.namespace}
    second = make(KEY_PREFIX="two", OPTIONS=options)
    versioned = make(KEY_PREFIX="one", VERSION=7, OPTIONS=options)
    custom = make(KEY_FUNCTION=lambda key, prefix, version: f"custom/{key}", OPTIONS=options)
    assert first.twat_cache is second.twat_cache  # one engine for identical LOCATION + OPTIONS
    first.set("k", 1)
    assert second.get("k") is None
    assert versioned.get("k") is None
    assert versioned.get("k", version=1) == 1
    assert first.make_key("k") in list(first.twat_cache.keys())
    custom.set("k", "c")
    assert first.twat_cache.get("custom/k") == "c"


def test_keys_not_portable_to_memcached_warn(cache: TwatCache) -> None:
    with pytest.warns(CacheKeyWarning):
        cache.set("has space", 1)
    with pytest.warns(CacheKeyWarning):
        assert cache.get("has space") == 1


def test_clear_removes_only_its_namespace(make: Callable[..., TwatCache]) -> None:
    mine, theirs = make(), make()
    mine.set("k", 1)
    theirs.set("k", 2)
    mine.clear()
    assert mine.get("k") is None
    assert theirs.get("k") == 2


async def test_async_api(cache: TwatCache) -> None:
    assert await cache.aget("k", "fallback") == "fallback"
    await cache.aset("k", "v")
    assert await cache.aget("k") == "v"
    assert await cache.ahas_key("k")
    assert await cache.aadd("k", "other") is False
    assert await cache.aadd("new", "v") is True
    assert await cache.aset_many({}) == []
    assert await cache.aset_many({"a": 1, "b": 2}) == []
    assert await cache.aget_many(["a", "b", "zz"]) == {"a": 1, "b": 2}
    assert await cache.aincr("a", 10) == 11
    assert await cache.adecr("a") == 10
    with pytest.raises(ValueError, match="not found"):
        await cache.aincr("missing")
    assert await cache.atouch("a", 300) is True
    assert await cache.atouch("zz", 300) is False
    assert await cache.aget_or_set("g", lambda: 5) == 5
    await cache.adelete_many(["a", "b"])
    await cache.adelete_many([])
    assert await cache.aget_many(["a", "b"]) == {}
    assert await cache.adelete("k") is True
    assert not await cache.ahas_key("k")
    for timeout in (0, -5):
        await cache.aset("z", "old")
        await cache.aset("z", "new", timeout)
        assert await cache.aget("z") is None
        assert await cache.aadd("z", "v", timeout) is True
        assert await cache.aget("z") is None
        await cache.aset("z", "v")
        assert await cache.aadd("z", "w", timeout) is False
        assert await cache.aset_many({"z": 1}, timeout) == []
        assert await cache.aget("z") is None
        await cache.aset("z", "v")
        assert await cache.atouch("z", timeout) is True
        assert not await cache.ahas_key("z")
    await cache.aclear()
    assert await cache.aget("new") is None
    await cache.aclose()
    cache.close()
    assert cache.get("g") is None  # close() keeps the shared engine usable


def test_options_map_onto_twat_cache(make: Callable[..., TwatCache]) -> None:
    backend = make(OPTIONS={"MAX_ENTRIES": 2, "CULL_FREQUENCY": 3, "serializer": "json"})
    assert backend.twat_cache.config.maxsize == 2
    assert backend.twat_cache.config.serializer == "json"
    assert not backend.twat_cache.config.strict  # fail-open; writes say whether they happened
    assert TwatCache("builtin://", {}).twat_cache.config.namespace == DEFAULT_NAMESPACE
    with pytest.raises(ConfigurationError, match="TIMEOUT"):
        TwatCache("builtin://", {"OPTIONS": {"ttl": 5}})
    with pytest.raises(ConfigurationError, match="option"):
        TwatCache("builtin://", {"OPTIONS": {"no_such_option": 1}})
    with pytest.raises(ConfigurationError, match="url"):
        TwatCache("no-scheme", {})


def test_settings_backend_and_cache_page(redis_server: Any) -> None:
    namespace = _namespace()
    caches_setting = {
        "default": {
            "BACKEND": "twat_cache_django.TwatCache",
            "LOCATION": redis_server.url,
            "TIMEOUT": 60,
            "KEY_PREFIX": "site",
            "VERSION": 3,
            "OPTIONS": {"namespace": namespace, "secret": "signing-key"},
        }
    }
    calls = []

    @cache_page(60)
    def view(request: HttpRequest) -> HttpResponse:
        calls.append(request.path)
        return HttpResponse(f"call {len(calls)}")

    with override_settings(CACHES=caches_setting):
        cache = caches["default"]
        assert isinstance(cache, TwatCache)
        assert cache.default_timeout == 60
        assert cache.make_key("k") == "site:3:k"
        first = view(RequestFactory().get("/page"))
        second = view(RequestFactory().get("/page"))
        assert first.content == second.content == b"call 1"
        assert calls == ["/page"]
        assert any(
            str(k).startswith("site:3:views.decorators.cache") for k in cache.twat_cache.keys()
        )
        cache.clear()
    restored = caches["default"]
    assert isinstance(restored, TwatCache)
    assert restored.twat_cache.config.namespace == "settings-default"


def test_one_engine_for_every_thread() -> None:
    made = TwatCache("builtin://", {"OPTIONS": {"namespace": _namespace()}})
    made.set("k", "from main")
    seen: list[Any] = []
    options = made._options  # the same settings, as Django builds one backend per thread
    worker = threading.Thread(
        target=lambda: seen.append(TwatCache("builtin://", {"OPTIONS": options}).get("k"))
    )
    worker.start()
    worker.join(10)
    assert seen == ["from main"]


def test_close_shared_caches_reopens(tmp_path: Path) -> None:
    persistent = TwatCache(f"disk://{tmp_path / 'c'}", {"OPTIONS": {"namespace": "keep"}})
    in_process = TwatCache("builtin://", {"OPTIONS": {"namespace": _namespace()}})
    persistent.set("k", "on disk")
    in_process.set("k", "in memory")
    old = persistent.twat_cache
    close_shared_caches()
    assert old.closed
    assert persistent.get("k") == "on disk"  # reopened; the folder kept the entry
    assert persistent.twat_cache is not old
    assert in_process.get("k") is None  # a fresh in-process store


def test_readers_get_copies(cache: TwatCache) -> None:
    """A cached response mutated by later middleware must not change what others read."""
    cache.set("k", {"headers": ["a"]})
    cache.set_many({"m": [1]})
    for read in (cache.get("k"), cache.get_many(["k"])["k"]):
        read["headers"].append("Set-Cookie: leaked")
    cache.get_many(["m"])["m"].append(2)
    assert cache.get("k") == {"headers": ["a"]}
    assert cache.get("m") == [1]
    response = HttpResponse("body")
    cache.set("response", response)
    cache.get("response")["Set-Cookie"] = "sessionid=of-another-user"
    assert "Set-Cookie" not in cache.get("response")


async def test_async_readers_get_copies(cache: TwatCache) -> None:
    await cache.aset("k", [1])
    (await cache.aget("k")).append(2)
    (await cache.aget_many(["k"]))["k"].append(3)
    assert await cache.aget("k") == [1]


def test_unpicklable_values_raise(cache: TwatCache) -> None:
    cache.set("k", "old")
    with pytest.raises(SerializationError):
        cache.set("k", threading.Lock())
    with pytest.raises(SerializationError):
        cache.set_many({"k": threading.Lock()})
    with pytest.raises(SerializationError):
        cache.add("new", threading.Lock())
    assert cache.get("k") == "old"


def test_unpicklable_values_raise_pickle_error_as_django_expects(cache: TwatCache) -> None:
    """Django's own cache tests (test_set_fail_on_pickleerror) expect pickle.PickleError."""
    cache.set("k", "old")
    with pytest.raises(pickle.PickleError):
        cache.set("k", threading.Lock())
    with pytest.raises(pickle.PickleError):
        cache.add("unpicklable", threading.Lock())
    assert cache.get("k") == "old"
    assert not cache.has_key("unpicklable")


@pytest.fixture
def dead_url() -> str:
    return f"redis://127.0.0.1:{free_port()}/0?socket_connect_timeout=1"


async def test_a_dead_server_answers_like_a_miss(dead_url: str) -> None:
    backend = TwatCache(dead_url, {"OPTIONS": {"namespace": _namespace(), "retry_after": 0}})
    assert backend.get("k", "fallback") == "fallback"
    backend.set("k", 1)
    assert backend.add("k", 1) is False
    assert backend.add("k", 1, 0) is False
    assert backend.set_many({"a": 1, "b": 2}) == ["a", "b"]
    assert backend.get_many(["a"]) == {}
    assert backend.has_key("a") is False
    assert backend.touch("a") is False
    assert backend.delete("a") is False
    backend.delete_many(["a"])
    backend.clear()
    with pytest.raises(BackendError):
        backend.incr("a")
    assert await backend.aget("k", "fallback") == "fallback"
    assert await backend.ahas_key("k") is False
    await backend.aset("k", 1)
    assert await backend.aset_many({"a": 1}) == ["a"]
    assert await backend.aget_many(["a"]) == {}
    await backend.adelete_many(["a"])
    await backend.aclear()
    with pytest.raises(BackendError):
        await backend.aincr("a")


async def test_strict_option_raises(dead_url: str) -> None:
    backend = TwatCache(dead_url, {"OPTIONS": {"namespace": _namespace(), "strict": True}})
    with pytest.raises(BackendError):
        backend.get("k")
    with pytest.raises(BackendError):
        await backend.aget("k")
