"""The example dbm engine: found by its entry point, and passing core's conformance kit.

Run from the workspace root (see README.md):

    uv run --isolated --with-editable examples/plugin-engine \
        --with-editable packages/twat-cache-core --with-editable packages/twat-cache \
        --group dev pytest examples/plugin-engine/tests
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from twat_cache import Cache, ucache
from twat_cache.config import CacheConfig
from twat_cache.exceptions import BackendError, CacheOperationError, ConfigurationError
from twat_cache.protocols import capabilities_of
from twat_cache.registry import available_engines, create_backend, engine_class
from twat_cache.testing import AsyncBackendConformance, BackendConformance
from twat_cache_dbm import DbmBackend


class _Dbm:
    @pytest.fixture
    def make_backend(self, tmp_path: Path) -> Callable[[str], object]:
        # every namespace of a test shares one file, as real deployments do
        url = f"dbm://{tmp_path}/cache"
        return lambda namespace: create_backend(CacheConfig(url=url, namespace=namespace))


class TestDbmConformance(_Dbm, BackendConformance):
    pass


class TestDbmAsyncConformance(_Dbm, AsyncBackendConformance):
    pass


def test_entry_point_picks_the_engine_by_url_scheme() -> None:
    assert "dbm" in available_engines()
    assert engine_class("dbm") is DbmBackend
    backend = create_backend(CacheConfig(url="dbm:///tmp/x"))
    try:
        assert isinstance(backend, DbmBackend)
        assert backend.path == "/tmp/x"
        assert backend.mode == 0o600
    finally:
        backend.close()


def test_nothing_is_opened_until_used(tmp_path: Path) -> None:
    backend = create_backend(CacheConfig(url=f"dbm://{tmp_path}/lazy?mode=640"))
    assert list(tmp_path.iterdir()) == []
    backend.set("k", b"v")
    assert stat.S_IMODE(os.stat(tmp_path / "lazy.dat").st_mode) == 0o640
    backend.close()


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("dbm://host/path", "url"),
        ("dbm://", "url"),
        ("dbm:///folder/", "url"),
        ("dbm:///tmp/x?mode=rw", "mode"),
        ("dbm:///tmp/x?mode=1000", "mode"),
        ("dbm:///tmp/x?size=3", "size"),
    ],
)
def test_bad_urls_name_the_field(url: str, field: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        create_backend(CacheConfig(url=url))
    assert field in info.value.field


def test_entries_and_ttls_survive_a_restart(tmp_path: Path) -> None:
    url = f"dbm://{tmp_path}/persist"
    first = create_backend(CacheConfig(url=url, namespace="a"))
    first.set("kept", b"v")
    first.set("gone", b"v", ttl=0.05)
    first.close()
    again = create_backend(CacheConfig(url=url, namespace="a"))
    try:
        assert again.get("kept") == b"v"
        threading.Event().wait(0.1)
        assert again.get("gone") is None
        assert list(again.keys()) == ["kept"]
    finally:
        again.close()


def test_namespaces_share_one_file_safely(tmp_path: Path) -> None:
    url = f"dbm://{tmp_path}/shared"
    one = create_backend(CacheConfig(url=url, namespace="n"))
    two = create_backend(CacheConfig(url=url, namespace="n2"))  # "n" is a prefix of "n2"
    one.set("2:x", b"one")
    two.set("x", b"two")
    assert sorted(one.keys()) == ["2:x"]
    assert sorted(two.keys()) == ["x"]
    one.close()
    assert two.get("x") == b"two"  # the file stays open for the other user
    two.close()


def test_file_errors_become_backend_errors(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    backend = DbmBackend(blocker / "cache")
    with pytest.raises(BackendError, match="not-a-folder") as info:
        backend.get("k")
    assert isinstance(info.value.__cause__, OSError)
    backend.close()
    with pytest.raises(CacheOperationError):
        backend.get("k")


def test_core_cache_and_decorator_use_the_plugin(tmp_path: Path) -> None:
    calls = []

    @ucache(f"dbm://{tmp_path}/functions", ttl=60)
    def square(x: int) -> int:
        calls.append(x)
        return x * x

    assert [square(3), square(3), square(4)] == [9, 9, 16]
    assert calls == [3, 4]
    with Cache(f"dbm://{tmp_path}/objects", namespace="objects") as cache:
        cache.set("n", 41)
        assert cache.incr("n") == 42
        cache.set("obj", {"a": [1, 2]}, tags=["t"])
        assert cache.get("obj") == {"a": [1, 2]}
        cache.invalidate_tags("t")
        assert cache.get("obj") is None


def test_capabilities_say_what_the_engine_is(tmp_path: Path) -> None:
    caps = capabilities_of(DbmBackend(tmp_path / "c"))
    assert (caps.persistent, caps.shared, caps.native_ttl) == (True, False, False)
    assert (caps.stores_objects, caps.blocking, caps.lists_keys) == (False, True, True)


def test_set_returns_true_and_incr_stays_within_64_bits(tmp_path: Path) -> None:
    with DbmBackend(tmp_path / "c") as backend:
        assert backend.set("n", str(2**63 - 1).encode()) is True
        assert backend.set_many({"a": b"1"}) is True
        with pytest.raises(OverflowError):
            backend.incr("n")
        assert backend.get("n") == str(2**63 - 1).encode()


@pytest.mark.parametrize(
    ("option", "value"), [("maxsize", 30), ("maxbytes", 10**6), ("policy", "lfu")]
)
def test_bounds_the_engine_cannot_keep_are_refused(
    tmp_path: Path, option: str, value: object
) -> None:
    config = CacheConfig(url=f"dbm://{tmp_path}/c", **{option: value})  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=option) as info:
        create_backend(config)
    assert "memory://" in info.value.allowed
