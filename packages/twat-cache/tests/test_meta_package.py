"""The meta package's extras pull every engine in, each found by its URL scheme."""

import runpy
from importlib.metadata import entry_points

import pytest
from twat_cache import CacheConfig
from twat_cache.constants import ENTRY_POINT_GROUP
from twat_cache.engines.catalog import CATALOG
from twat_cache.installed import installed_engines
from twat_cache.registry import create_backend, engine_class, known_engines


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


def test_the_registry_names_each_engines_distribution_and_extra() -> None:
    records = {record.scheme: record for record in known_engines()}
    expected = {
        "redis": ("twat-cache-redis", "redis"),
        "redis+cluster": ("twat-cache-redis", "redis"),
        "postgresql": ("twat-cache-postgres", "postgres"),
        "aiocache+memcached": ("twat-cache-aio", "aio"),
        "disk": ("twat-cache-disk", "disk"),
        "memory": ("twat-cache-memory", "memory"),
    }
    for scheme, (distribution, extra) in expected.items():
        record = records[scheme]
        assert record.installed, scheme
        assert (record.distribution, record.extra) == (distribution, extra)
        assert record.version == "0.1.0"
    assert all(record.installed for record in records.values())  # every extra is installed here


def test_the_generated_catalog_matches_the_installed_entry_points() -> None:
    """The catalog core ships (for engines not installed) is what the packages declare."""
    installed = {
        (ep.name, ep.value, ep.dist.name if ep.dist else None)
        for ep in entry_points(group=ENTRY_POINT_GROUP)
        if ep.dist is not None and ep.dist.name.startswith("twat-cache")
    }
    assert installed == {(scheme, target, dist) for scheme, target, dist, _ in CATALOG}
    extras = {record.scheme: record.extra for record in known_engines()}  # from the metadata
    assert {scheme: extra for scheme, _, _, extra in CATALOG} == {
        scheme: extras[scheme] for scheme, _, _, _ in CATALOG
    }


def test_the_2x_twat_plugin_entry_point_is_kept() -> None:
    import twat_cache

    (plugin,) = [ep for ep in entry_points(group="twat.plugins") if ep.name == "cache"]
    assert plugin.value == "twat_cache"
    assert plugin.load() is twat_cache
    assert plugin.dist is not None
    assert plugin.dist.name == "twat-cache"
