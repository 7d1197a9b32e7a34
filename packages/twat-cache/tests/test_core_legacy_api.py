"""The twat-cache 2.x API keeps working in 3.x: same meaning, or one DeprecationWarning, or an
error that says what to write instead (twat_cache.legacy)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest
import twat_cache
import twat_cache.cache
import twat_cache.config
import twat_cache.engines.base
from twat_cache import (
    CacheConfig,
    CacheContext,
    CacheKeyError,
    CacheOperationError,
    CacheValueError,
    ConcurrencyError,
    ConfigurationError,
    EngineError,
    EngineNotAvailableError,
    PathError,
    ResourceError,
    SerializationError,
    TwatCacheError,
    acache,
    bcache,
    fcache,
    get_stats,
    mcache,
    ucache,
)
from twat_cache import legacy as legacy_module
from twat_cache.legacy import ENGINE_ALIASES, default_cache_root, translate_options

# The 2.x forms are left out of the 3.x signatures on purpose (type checkers steer new code
# to the 3.x form); old, untyped code calls them like this.
old_ucache: Any = ucache
old_mcache: Any = mcache
old_bcache: Any = bcache
old_fcache: Any = fcache
old_acache: Any = acache
OldCacheContext: Any = CacheContext
OldCacheConfig: Any = CacheConfig


@pytest.fixture(autouse=True)
def cache_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """folder_name= folders and bare @bcache land under a per-test cache root."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "twat-cache"


# --- exceptions -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cls",
    [
        TwatCacheError, ConfigurationError, EngineError, EngineNotAvailableError,
        CacheOperationError, CacheKeyError, CacheValueError, SerializationError,
        ResourceError, ConcurrencyError, PathError,
    ],
)  # fmt: skip
def test_every_exception_takes_a_plain_message(cls: type[TwatCacheError]) -> None:
    exc = cls("something broke")
    assert str(exc) == "something broke"
    assert exc.message == "something broke"
    with pytest.raises(TwatCacheError, match="something broke"):
        raise exc


def test_configuration_error_keeps_its_three_part_form() -> None:
    exc = ConfigurationError("ttl", -1, "a positive number")
    assert str(exc) == "invalid ttl=-1: a positive number"
    assert (exc.field, exc.value, exc.allowed) == ("ttl", -1, "a positive number")
    plain = ConfigurationError("bad config")
    assert (plain.field, plain.value, plain.allowed) == ("", None, "")


def test_engine_not_available_error_appends_the_reason() -> None:
    exc = EngineNotAvailableError("redis engine missing", "pip install twat-cache[redis]")
    assert str(exc) == "redis engine missing: pip install twat-cache[redis]"
    assert exc.reason == "pip install twat-cache[redis]"
    assert isinstance(exc, ImportError)


def test_the_2x_parents_stay_parents() -> None:
    for cls in (CacheKeyError, CacheValueError, SerializationError):
        assert issubclass(cls, CacheOperationError)
    for resource_cls in (PathError, ConcurrencyError):
        assert issubclass(resource_cls, ResourceError)
    # and the 3.x parents stay too
    assert issubclass(CacheKeyError, KeyError)
    assert issubclass(SerializationError, CacheValueError)
    assert issubclass(PathError, ConfigurationError)
    with pytest.raises(CacheOperationError):
        raise SerializationError("cannot pickle")


# --- decorators ---------------------------------------------------------------------------


def test_bare_decorators_work_without_a_warning(cache_root: Path) -> None:
    calls: list[str] = []

    @mcache
    def m(x: int) -> int:
        calls.append("m")
        return x

    @bcache
    def b(x: int) -> int:
        calls.append("b")
        return x

    @fcache
    def f(x: int) -> int:
        calls.append("f")
        return x

    assert [m(1), m(1), b(2), b(2), f(3), f(3)] == [1, 1, 2, 2, 3, 3]
    assert calls == ["m", "b", "f"]
    assert m.cache.config.engine == "memory"
    assert b.cache.config.engine == "disk"
    assert f.cache.config.options["min_file_size"] == 0
    for func in (b, f):
        func.cache.close()


async def test_bare_acache_and_2x_positionals() -> None:
    calls: list[int] = []

    @acache
    async def fetch(x: int) -> int:
        calls.append(x)
        return x * 2

    assert [await fetch(2), await fetch(2)] == [4, 4]
    assert calls == [2]
    with pytest.warns(DeprecationWarning, match=r"write acache\(maxsize=10, ttl=60\)"):
        decorate = old_acache(10, 60)
    limited = decorate(fetch.__wrapped__)
    assert limited.cache.config.maxsize == 10
    assert limited.cache.config.ttl == 60


def test_positional_values_are_2x_parameters(cache_root: Path) -> None:
    with pytest.warns(DeprecationWarning, match=r"write mcache\(maxsize=100, ttl=60\)") as seen:
        decorate = old_mcache(100, 60)
    assert seen[0].filename == __file__  # the warning points at the caller

    m = decorate(lambda x: x)
    assert (m.cache.config.maxsize, m.cache.config.ttl) == (100, 60)
    with pytest.warns(DeprecationWarning, match="bcache|folder_name") as seen:
        b = old_bcache("reports", 50)(lambda x: x)
    assert b.cache.config.folder == cache_root / "reports"
    assert b.cache.config.maxsize == 50
    assert len(seen) == 2  # the positional form, and folder_name -> folder
    b.cache.close()
    with pytest.warns(DeprecationWarning, match="fcache|folder_name"):
        f = old_fcache("arrays")(lambda x: x)
    assert f.cache.config.folder == cache_root / "arrays"
    f.cache.close()


def test_bad_positional_use_says_what_to_write() -> None:
    with pytest.raises(TypeError, match=r"at most 3 positional values \(maxsize, ttl, policy\)"):
        old_mcache(1, 2, "lru", 4)
    with pytest.raises(TypeError, match="maxsize both by position and by keyword"):
        old_mcache(1, maxsize=2)
    with pytest.raises(TypeError, match=r"mcache\(\*\*options\)\(func\)"):
        old_mcache(len, ttl=1)


def test_folder_name_is_a_folder_under_the_cache_root(cache_root: Path) -> None:
    with pytest.warns(DeprecationWarning, match="folder_name='user_data_cache'") as seen:
        report = old_ucache(folder_name="user_data_cache", ttl=3600)(lambda x: x)

    assert str(cache_root / "user_data_cache") in str(seen[0].message)
    assert report(1) == report(1) == 1
    assert report.cache.config.engine == "disk"
    assert report.cache.config.folder == cache_root / "user_data_cache"
    assert report.cache_info().hits == 1
    report.cache.close()


@pytest.mark.parametrize("name", ["a/b", "..", "", "x y"])
def test_a_folder_name_that_is_a_path_is_refused(name: str) -> None:
    with pytest.raises(ConfigurationError, match="folder='/path'"):
        translate_options(None, {"folder_name": name})


@pytest.mark.parametrize(
    ("engine", "url"),
    [
        ("diskcache", "disk://"), ("klepto", "disk://"), ("joblib", "disk://"),
        ("file", "disk://"), ("disk", "disk://"), ("cachetools", "memory://"),
        ("functools", "memory://"), ("cachebox", "memory://"), ("memory", "memory://"),
        ("lru", "memory://"), ("aiocache", "aiocache+memory://"), ("DiskCache", "disk://"),
    ],
)  # fmt: skip
def test_old_engine_names_pick_the_matching_engine(engine: str, url: str) -> None:
    with pytest.warns(DeprecationWarning, match=f"preferred_engine={engine!r}.*write the URL"):
        decorated = old_ucache(preferred_engine=engine)(lambda x: x)
    try:
        assert decorated.cache.config.url == url
        assert decorated(5) == 5
        if engine in ("joblib", "file"):  # one file per value, as fcache
            assert decorated.cache.config.options["min_file_size"] == 0
    finally:
        decorated.cache.close()
    assert set(ENGINE_ALIASES) >= {"diskcache", "cachetools", "functools", "cachebox"}


def test_redis_keywords_build_the_url() -> None:
    options = {"engine_name": "redis", "redis_host": "cache.internal", "redis_port": 6380}
    options |= {"redis_db": 2, "redis_password": "p@ss", "ttl": 5}
    with pytest.warns(DeprecationWarning, match="engine_name='redis'"):
        url, rest = translate_options(None, options, "engine_context")
    assert url == "redis://:p%40ss@cache.internal:6380/2"
    assert rest == {"ttl": 5}
    with pytest.warns(DeprecationWarning, match="preferred_engine='redis'"):
        assert translate_options(None, {"preferred_engine": "redis"})[0] == (
            "redis://localhost:6379/0"
        )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"preferred_engine": "hdf5"}, "one of aiocache, cachebox"),
        ({"redis_host": "h"}, "a redis URL"),
        ({"preferred_engine": "disk", "engine_name": "memory"}, "one engine name, given once"),
        ({"serializer": repr}, "key serializer function is now key=func"),
        ({"config": {"ttl": 1}}, "a twat_cache.CacheConfig"),
    ],
)
def test_old_values_without_a_3x_meaning_fail_with_what_to_write(
    options: dict[str, Any], message: str
) -> None:
    with warnings.catch_warnings():  # some fail after warning about the keyword itself
        warnings.simplefilter("ignore", DeprecationWarning)
        with pytest.raises(ConfigurationError, match=message):
            translate_options(None, options)


def test_unused_2x_switches_are_accepted_with_a_warning() -> None:
    for keyword, replacement in (
        ("use_sql", "sqlite:///"),
        ("secure", "stable"),
        ("cache_type", "URL"),
    ):
        with pytest.warns(DeprecationWarning, match=replacement):
            url, rest = translate_options(None, {keyword: True, "ttl": 3})
        assert (url, rest) == (None, {"ttl": 3})


def test_cache_dir_is_the_folder(tmp_path: Path) -> None:
    with pytest.warns(DeprecationWarning, match="cache_dir"):
        url, rest = translate_options(None, {"cache_dir": str(tmp_path)})
    assert (url, rest) == ("disk://", {"folder": str(tmp_path)})


def test_policy_of_2x_that_3x_lacks_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="policy='mru'.*lru, lfu"):
        old_mcache(maxsize=2, policy="mru")


def test_cache_delete_is_invalidate() -> None:
    calls: list[int] = []

    @ucache
    def square(x: int) -> int:
        calls.append(x)
        return x * x

    square(3)
    with pytest.warns(DeprecationWarning, match=r"write f\.invalidate"):
        assert square.cache_delete(3) is True  # type: ignore[attr-defined]
    square(3)
    assert calls == [3, 3]


# --- contexts, config, module names ------------------------------------------------------


def test_cache_context_takes_engine_name_config_and_folder_name(cache_root: Path) -> None:
    with pytest.warns(DeprecationWarning, match="CacheContext") as seen:
        context = OldCacheContext(engine_name="diskcache", folder_name="session_cache", ttl=600)
    assert len(seen) == 2
    with context as cache:
        cache.set("k", {"a": 1})
        assert cache.get("k") == {"a": 1}
        assert cache.config.folder == cache_root / "session_cache"
        assert cache.config.ttl == 600

    with pytest.warns(DeprecationWarning, match="create_cache_config"):
        config = twat_cache.config.create_cache_config(maxsize=100, ttl=5)
    with pytest.warns(DeprecationWarning, match=r"CacheContext\(config=\.\.\.\)"):
        context = OldCacheContext(config=config)
    with context as cache:
        assert (cache.config.maxsize, cache.config.ttl) == (100, 5)


def test_create_cache_config_keeps_2x_defaults_quiet(cache_root: Path) -> None:
    with pytest.warns(DeprecationWarning, match="create_cache_config") as seen:
        config = twat_cache.config.create_cache_config(
            maxsize=10, folder_name="cfg", use_sql=False, compress=False, secure=True
        )
    messages = [str(w.message) for w in seen]
    assert len(messages) == 3  # the function, folder_name, secure (False defaults are silent)
    assert config.folder == cache_root / "cfg"
    assert config.engine == "disk"


def test_ucache_config_keyword() -> None:
    with pytest.warns(DeprecationWarning, match="create_cache_config"):
        config = twat_cache.config.create_cache_config(maxsize=7)
    with pytest.warns(DeprecationWarning, match=r"config=\.\.\."):
        decorated = old_ucache(config=config)(lambda x: x)
    assert decorated.cache.config.maxsize == 7


def test_engine_context_and_get_or_create_engine() -> None:
    with pytest.warns(DeprecationWarning, match=r"engine_context\(\.\.\.\).*CacheContext") as seen:
        context = twat_cache.engine_context(maxsize=10)
    assert seen[0].filename == __file__
    with context as cache:
        cache.set("key", "value")
        assert cache.get("key") == "value"
    assert cache.closed

    with pytest.warns(DeprecationWarning, match="get_or_create_engine"):
        engine = twat_cache.get_or_create_engine(engine_name="cachetools")
    try:
        engine.set("key", 1)
        assert engine.get("key") == 1
    finally:
        engine.cleanup()
    assert engine.closed
    from twat_cache.context import engine_context, get_or_create_engine

    assert engine_context is twat_cache.engine_context
    assert get_or_create_engine is twat_cache.get_or_create_engine


def test_get_stats_by_name_and_the_old_module_paths() -> None:
    @ucache
    def counted(x: int) -> int:
        return x

    counted(1)
    counted(1)
    assert get_stats("counted")["hits"] == 1
    assert get_stats(counted.cache.name)["misses"] == 1
    assert get_stats("no-such-cache") == dict.fromkeys(
        ("corrupt", "deletes", "errors", "hits", "misses", "sets"), 0
    )
    with pytest.warns(DeprecationWarning, match=r"write twat_cache\.get_stats"):
        assert twat_cache.cache.get_stats("counted")["hits"] == 1
    with pytest.warns(DeprecationWarning, match=r"write twat_cache\.clear_cache"):
        assert twat_cache.cache.clear_cache("no-such-cache") == 0


def test_removed_names_say_what_to_write() -> None:
    with pytest.raises(ImportError, match=r"hybrid_cache \(twat-cache 2.x\) was removed"):
        from twat_cache import hybrid_cache  # noqa: F401
    with pytest.raises(ImportError, match=r"write fcache\(folder=\.\.\.\)"):
        twat_cache.configure_for_numpy  # noqa: B018
    with pytest.raises(ImportError, match=r"twat_cache\.protocols\.Backend"):
        from twat_cache.engines.base import BaseCacheEngine  # noqa: F401
    with pytest.raises(AttributeError, match="has no attribute 'nothing_here'"):
        twat_cache.nothing_here  # noqa: B018
    with pytest.raises(AttributeError, match="has no attribute '_private'"):
        twat_cache.config._private  # noqa: B018
    with pytest.raises(AttributeError, match="has no attribute '_private'"):
        twat_cache.engines.base._private  # noqa: B018


def test_get_cache_path_and_the_default_root(
    cache_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.warns(DeprecationWarning, match="get_cache_path"):
        path = twat_cache.get_cache_path("my_app")
    assert path == cache_root / "my_app"
    assert path.is_dir()
    assert default_cache_root() == cache_root  # the disk engine's default folder
    with pytest.warns(DeprecationWarning, match="get_cache_path"):
        assert legacy_module.get_cache_path() == cache_root / "default"


def test_cache_config_takes_2x_fields_and_model_copy(cache_root: Path) -> None:
    with pytest.warns(DeprecationWarning, match=r"CacheConfig\(folder_name='shared_cache'\)"):
        config = OldCacheConfig(maxsize=1000, ttl=3600, folder_name="shared_cache", compress=True)
    assert (config.engine, config.folder, config.maxsize) == (
        "disk",
        cache_root / "shared_cache",
        1000,
    )
    with pytest.warns(DeprecationWarning, match=r"dataclasses\.replace"):
        shorter = config.model_copy(update={"ttl": 60})
    assert (shorter.ttl, shorter.maxsize, config.ttl) == (60, 1000, 3600)
    assert CacheConfig(ttl=5).ttl == 5  # the 3.x form stays silent
    with pytest.warns(DeprecationWarning, match=r"dataclasses\.asdict"):
        data = shorter.to_dict()
    with pytest.warns(DeprecationWarning, match=r"CacheConfig\(\*\*data\)"):
        assert OldCacheConfig.from_dict(data) == shorter


def test_the_2x_engine_manager_speaks_2x_engine_names() -> None:
    from twat_cache.engines.manager import CacheEngineManager, get_engine_manager

    with pytest.warns(DeprecationWarning, match="get_engine_manager"):
        manager = get_engine_manager()
    with pytest.warns(DeprecationWarning, match="available_engines"):
        available = manager.get_available_engines()
    assert {"cachetools", "functools", "diskcache", "memory"} <= set(available)
    with pytest.warns(DeprecationWarning, match="list_engines"):
        assert CacheEngineManager.list_engines() == sorted(ENGINE_ALIASES)


def test_the_2x_loguru_module_says_what_to_write() -> None:
    with pytest.raises(ImportError, match=r'logging.getLogger\("twat_cache"\)'):
        import twat_cache.logging  # noqa: F401


def test_create_cache_config_at_the_top_level() -> None:
    with pytest.warns(DeprecationWarning, match="create_cache_config"):
        config = twat_cache.create_cache_config(maxsize=3)
    assert config.maxsize == 3


def test_a_2x_policy_on_a_disk_folder_becomes_the_disk_eviction_policy(cache_root: Path) -> None:
    with pytest.warns(DeprecationWarning, match="2.x form") as caught:
        url, options = translate_options(None, {"folder_name": "hot", "policy": "lfu"})
    assert url == "disk://"
    assert "policy" not in options
    assert options["options"] == {"eviction_policy": "least-frequently-used"}
    assert any("eviction_policy" in str(w.message) for w in caught)
    # an explicit disk option wins over the translated policy; memory keeps its policy
    with pytest.warns(DeprecationWarning, match="2.x form"):
        _, options = translate_options(
            None,
            {"folder_name": "hot", "policy": "fifo", "options": {"eviction_policy": "none"}},
        )
    assert options["options"] == {"eviction_policy": "none"}
    with pytest.warns(DeprecationWarning, match="2.x form"):
        url, options = translate_options(
            "memory://", {"engine_name": "cachetools", "policy": "lfu"}
        )
    assert options["policy"] == "lfu"
