"""Finding engines: entry points, run-time registration, the built-in fallback, what to install."""

from __future__ import annotations

import logging
from importlib.metadata import EntryPoint

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
