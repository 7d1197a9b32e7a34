"""Finding engines: entry points, run-time registration, the built-in fallback, what to install."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

import pytest
from twat_cache import (
    Cache,
    ConfigurationError,
    EngineNotAvailableError,
    bcache,
    fcache,
    registry,
    ucache,
)
from twat_cache.config import CacheConfig
from twat_cache.engines import BuiltinMemoryBackend


def _double(x: int) -> int:
    return 2 * x


@pytest.fixture
def no_engine_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Core alone, whatever else is installed: no ``twat_cache.engines`` entry point."""
    monkeypatch.setattr(registry, "_entry_points", dict)


@pytest.fixture
def fake_entry_points(monkeypatch: pytest.MonkeyPatch) -> dict[str, EntryPoint]:
    points: dict[str, EntryPoint] = {}
    monkeypatch.setattr(registry, "_entry_points", lambda: points)
    return points


def test_unknown_scheme_lists_the_available_engines(no_engine_packages: None) -> None:
    with pytest.raises(ConfigurationError) as info:
        registry.engine_class("nosuch")
    assert info.value.field == "url scheme"
    assert info.value.value == "nosuch"
    assert "builtin" in info.value.allowed
    assert "memory" in info.value.allowed


@pytest.mark.parametrize(
    ("scheme", "extra"),
    [
        ("redis", "redis"),
        ("rediss", "redis"),
        ("redis+cluster", "redis"),
        ("memcached", "memcached"),
        ("postgresql", "postgres"),
        ("s3", "s3"),
        ("disk", "disk"),
        ("sqlite", "sqlite"),
        ("aiocache+redis", "aio"),
    ],
)
def test_known_but_missing_engine_says_what_to_install(
    no_engine_packages: None, scheme: str, extra: str
) -> None:
    with pytest.raises(EngineNotAvailableError) as info:
        ucache(f"{scheme}://localhost/0")
    message = str(info.value)
    assert f'pip install "twat-cache[{extra}]"' in message
    assert f"twat-cache-{extra}" in message
    assert isinstance(info.value, ImportError)


def test_bcache_and_fcache_need_the_disk_engine(no_engine_packages: None) -> None:
    for decorator in (bcache, fcache):
        with pytest.raises(EngineNotAvailableError, match=r'pip install "twat-cache\[disk\]"'):
            decorator(ttl=5)(_double)


def test_memory_falls_back_to_the_builtin_engine(no_engine_packages: None) -> None:
    assert registry.engine_class("memory") is BuiltinMemoryBackend
    assert registry.engine_class("MEMORY") is BuiltinMemoryBackend
    assert registry.engine_class("builtin") is BuiltinMemoryBackend
    f = ucache(_double)
    assert isinstance(f.cache.backend, BuiltinMemoryBackend)
    assert f(2) == 4
    assert "memory" in registry.available_engines()


def test_register_engine(no_engine_packages: None) -> None:
    class Mine(BuiltinMemoryBackend):
        pass

    try:
        registry.register_engine("Mine", Mine)
        assert registry.engine_class("mine") is Mine
        assert "mine" in registry.available_engines()
        cache = Cache("mine://", ttl=5)
        assert type(cache.backend) is Mine
        cache.set("k", 1)
        assert cache.get("k") == 1
        cache.close()
    finally:
        registry._registered.pop("mine")
    with pytest.raises(ConfigurationError):
        registry.engine_class("mine")


def test_engines_are_found_through_entry_points(fake_entry_points: dict[str, EntryPoint]) -> None:
    fake_entry_points["fake"] = EntryPoint(
        name="fake",
        value="twat_cache.engines.builtin:BuiltinMemoryBackend",
        group=registry.ENTRY_POINT_GROUP,
    )
    assert registry.engine_class("fake") is BuiltinMemoryBackend
    assert "fake" in registry.available_engines()


def test_a_broken_engine_package_says_to_reinstall(
    fake_entry_points: dict[str, EntryPoint],
) -> None:
    fake_entry_points["broken"] = EntryPoint(
        name="broken", value="twat_cache_no_such_module:Engine", group=registry.ENTRY_POINT_GROUP
    )
    with pytest.raises(EngineNotAvailableError, match="reinstall") as info:
        registry.engine_class("broken")
    assert isinstance(info.value.__cause__, ImportError)


def test_a_registered_engine_wins_over_an_entry_point(
    fake_entry_points: dict[str, EntryPoint], monkeypatch: pytest.MonkeyPatch
) -> None:
    class Override(BuiltinMemoryBackend):
        pass

    fake_entry_points["memory"] = EntryPoint(
        name="memory", value="twat_cache_no_such_module:Engine", group=registry.ENTRY_POINT_GROUP
    )
    monkeypatch.setitem(registry._registered, "memory", Override)
    assert registry.engine_class("memory") is Override


def test_real_entry_point_lookup_is_cached() -> None:
    assert registry._entry_points() is registry._entry_points()


def test_create_backend_logs_without_the_password(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(registry._registered, "pwtest", BuiltinMemoryBackend)
    with caplog.at_level(logging.DEBUG, logger="twat_cache"):
        backend = registry.create_backend(CacheConfig(url="pwtest://u:hunter2@host"))
    assert isinstance(backend, BuiltinMemoryBackend)
    assert caplog.records
    for record in caplog.records:
        assert "hunter2" not in record.getMessage()
        assert "hunter2" not in str(record.__dict__)


# -- one registry: scheme -> engine -> distribution -> extra ---------------------------------


@pytest.fixture
def installed_distributions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A real (on sys.path) engine distribution and a meta package that installs it by extra."""
    fake = tmp_path / "twat_cache_fake-1.2.dist-info"
    fake.mkdir()
    (fake / "METADATA").write_text("Metadata-Version: 2.1\nName: twat-cache-fake\nVersion: 1.2\n")
    (fake / "entry_points.txt").write_text(
        "[twat_cache.engines]\n"
        "fake = twat_cache.engines.builtin:BuiltinMemoryBackend\n"
        "redis = twat_cache.engines.builtin:BuiltinMemoryBackend\n"
    )
    meta = tmp_path / "twat_cache-9.0.dist-info"
    meta.mkdir()
    (meta / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: twat-cache\nVersion: 9.0\n"
        "Requires-Dist: twat-cache-core<10,>=0.1\n"
        "Requires-Dist: twat-cache[fakes]; extra == 'all'\n"
        # as uv writes a self-referencing extra: expanded, before the narrower one
        "Requires-Dist: twat-cache-fake>=1; extra == 'all'\n"
        "Requires-Dist: twat-cache-other>=1; extra == 'all'\n"
        "Provides-Extra: fakes\n"
        'Requires-Dist: twat-cache-fake>=1; extra == "fakes"\n'
        "Provides-Extra: all\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry._entry_points.cache_clear()
    registry._meta_requirements.cache_clear()
    # the engine packages installed beside twat-cache register the same schemes: keep only the
    # fake distribution's entry points, found through real metadata discovery
    found = {
        ep.name: ep
        for ep in entry_points(group=registry.ENTRY_POINT_GROUP)
        if ep.dist is not None and ep.dist.name == "twat-cache-fake"
    }
    monkeypatch.setattr(registry, "_entry_points", lambda: found)
    yield
    monkeypatch.undo()  # the real, cached lookups again, before their caches are emptied
    registry._entry_points.cache_clear()
    registry._meta_requirements.cache_clear()


def _records() -> dict[str, registry.EngineRecord]:
    return {record.scheme: record for record in registry.known_engines()}


def test_known_engines_name_what_can_be_installed_with_core_alone(
    no_engine_packages: None,
) -> None:
    records = _records()
    redis = records["redis"]
    assert (redis.installed, redis.distribution, redis.extra) == (
        False,
        "twat-cache-redis",
        "redis",
    )
    assert redis.engine == "twat_cache_redis:RedisBackend"
    assert redis.install_command == 'pip install "twat-cache[redis]"'
    assert records["postgresql"].extra == "postgres"
    assert records["aiocache+redis"].distribution == "twat-cache-aio"
    builtin = records["builtin"]
    assert builtin.installed
    assert builtin.engine == "twat_cache.engines.builtin:BuiltinMemoryBackend"
    assert builtin.distribution is not None
    assert builtin.distribution.startswith("twat-cache")
    assert records["memory"].installed  # served by the built-in engine
    assert {r.scheme for r in records.values() if r.installed} == set(registry.available_engines())


def test_an_installed_engine_records_its_distribution_and_extra_from_metadata(
    installed_distributions: None,
) -> None:
    records = _records()
    fake = records["fake"]
    assert (fake.installed, fake.distribution, fake.version) == (True, "twat-cache-fake", "1.2")
    assert fake.extra == "fakes"  # from the meta package's Requires-Dist, not from a list
    assert fake.install_command == 'pip install "twat-cache[fakes]"'
    assert registry.engine_class("fake") is BuiltinMemoryBackend
    # an installed entry point replaces the catalog's row for its scheme
    assert records["redis"].installed
    assert records["redis"].distribution == "twat-cache-fake"


def test_a_registered_engine_has_no_distribution(no_engine_packages: None) -> None:
    class Mine(BuiltinMemoryBackend):
        pass

    try:
        registry.register_engine("mine-recorded", Mine)
        record = _records()["mine-recorded"]
    finally:
        registry._registered.pop("mine-recorded")
    assert (record.installed, record.distribution, record.extra) == (True, None, None)
    assert record.install_command is None
    assert record.engine.endswith(":test_a_registered_engine_has_no_distribution.<locals>.Mine")


def test_a_catalog_engine_without_an_extra_says_to_install_its_distribution(
    no_engine_packages: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    row = ("thirdparty", "twat_cache_thirdparty:Engine", "twat-cache-thirdparty", None)
    monkeypatch.setattr(registry, "CATALOG", (*registry.CATALOG, row))
    with pytest.raises(EngineNotAvailableError) as info:
        registry.engine_class("thirdparty")
    assert str(info.value) == (
        "the 'thirdparty' engine needs twat-cache-thirdparty: pip install twat-cache-thirdparty"
    )


def test_missing_redis_names_its_package_and_extra(no_engine_packages: None) -> None:
    with pytest.raises(EngineNotAvailableError) as info:
        ucache("redis://")
    assert str(info.value) == (
        "the 'redis' engine needs twat-cache-redis: pip install \"twat-cache[redis]\""
    )


def test_an_unknown_scheme_lists_installed_and_installable_engines(
    no_engine_packages: None,
) -> None:
    with pytest.raises(ConfigurationError) as info:
        ucache("nosuch://")
    allowed = info.value.allowed
    installed, _, installable = allowed.partition("; or, once installed, ")
    assert installed.startswith("one of the installed engines: builtin, ")
    assert "memory" in installed.split(": ", 1)[1].split(", ")
    assert "redis" not in installed
    redis = 'redis, redis+cluster, rediss, rediss+cluster, unix (pip install "twat-cache[redis]")'
    assert redis in installable.split("; ")
    assert 'postgres, postgresql (pip install "twat-cache[postgres]")' in installable
    assert "did you mean" not in allowed


def test_a_misspelt_scheme_gets_a_did_you_mean(no_engine_packages: None) -> None:
    with pytest.raises(ConfigurationError, match=r"did you mean 'redis'\?"):
        ucache("reddis://localhost")
    with pytest.raises(ConfigurationError, match=r"did you mean 'memcached'\?"):
        Cache("memcache://localhost")
