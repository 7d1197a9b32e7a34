"""The meta package's extras pull every engine in, each found by its URL scheme."""

import runpy

import pytest
from twat_cache import CacheConfig
from twat_cache.installed import installed_engines
from twat_cache.registry import create_backend, engine_class


def test_every_extra_engine_is_registered() -> None:
    engines = installed_engines()
    for scheme in (
        "memory", "disk", "sqlite", "redis", "rediss", "redis+cluster", "memcached",
        "postgresql", "s3", "aiocache+memory", "aiocache+redis", "builtin",
    ):  # fmt: skip
        assert scheme in engines, f"{scheme} missing from {engines}"
    assert engines["memory"].startswith("twat-cache-memory")
    assert engines["disk"].startswith("twat-cache-disk")


def test_memory_url_uses_the_memory_package_not_the_builtin() -> None:
    backend = create_backend(CacheConfig(url="memory://"))
    try:
        assert type(backend).__module__.startswith("twat_cache_memory")
        assert engine_class("builtin").__module__.startswith("twat_cache.")
    finally:
        backend.close()


def test_module_lists_engines(capsys: pytest.CaptureFixture[str]) -> None:
    runpy.run_module("twat_cache", run_name="__main__")
    out = capsys.readouterr().out
    assert "disk" in out
    assert "twat-cache-redis" in out


def test_the_2x_twat_plugin_entry_point_is_kept() -> None:
    from importlib.metadata import entry_points

    import twat_cache

    (plugin,) = [ep for ep in entry_points(group="twat.plugins") if ep.name == "cache"]
    assert plugin.value == "twat_cache"
    assert plugin.load() is twat_cache
    assert plugin.dist is not None
    assert plugin.dist.name == "twat-cache"
