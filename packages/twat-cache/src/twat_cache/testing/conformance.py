"""The conformance tests (see :mod:`twat_cache.testing`)."""

from __future__ import annotations

import asyncio
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import pytest_asyncio

from twat_cache._async import entries as async_entries
from twat_cache._async import locks as async_locks
from twat_cache._sync import entries as sync_entries
from twat_cache._sync import locks as sync_locks
from twat_cache.adapters import as_async, as_sync, aserver_version_of, server_version_of
from twat_cache.cache import Cache
from twat_cache.constants import LOCK_PREFIX
from twat_cache.exceptions import CacheOperationError
from twat_cache.locking import new_token
from twat_cache.protocols import NEVER_EXPIRES, Capabilities, capabilities_of
from twat_cache.serializers import encode_int

__all__ = ["AsyncBackendConformance", "BackendConformance"]

MakeBackend = Callable[[str], Any]
_THREADS = 8
_DEADLINE = 10.0  # seconds an expiry may take before the kit calls it a failure
SIZES = [0, 1, 1024, 1024 * 1024, 10 * 1024 * 1024]
INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)


def _namespace() -> str:
    return "kit-" + uuid.uuid4().hex[:10]


def _payload(size: int) -> bytes:
    block = bytes(range(256))
    return (block * (size // 256 + 1))[:size]


def _integer(backend: Any, value: int) -> Any:
    return value if backend.stores_objects else encode_int(value)


def _decode(backend: Any, value: Any) -> Any:
    return value if backend.stores_objects or value is None else bytes(value)


def _caps(backend: Any) -> Capabilities:
    return capabilities_of(backend)


def _key_of_length(length: int) -> str:
    """A key of exactly ``length`` UTF-8 bytes."""
    return ("k" * length)[:length]


_TTL = 60.0  # the ttl whose remaining lifetime the expiry checks read back


def _check_expiries(kit: _Kit, found: dict[Any, float], before: float, after: float) -> None:
    """What ``expiries`` answered for the keys "short" (ttl ``_TTL``), "forever" and "absent"."""
    assert set(found) == {"short", "forever"}, f"absent keys are left out: {found}"
    assert found["forever"] == NEVER_EXPIRES, "an entry without a ttl never expires"
    # a whole-second engine (memcached) may round up and keep an entry a second longer
    slack = 2.0 + kit.ttl_resolution
    assert before + _TTL - slack <= found["short"] <= after + _TTL + slack, (
        f"expiry {found['short'] - before:.3f} s after the write, expected about {_TTL:g}"
    )


_NO_EXPIRY = "cannot tell when its entries expire"  # what Cache.ttl raises without reports_expiry


def _lock_key(cache: Cache, key: Any) -> Any:
    """The engine key of the fleet-wide lock core takes for the entry ``key``."""
    return cache._key(LOCK_PREFIX + str(key))


async def _akeys(backend: Any) -> list[Any]:
    keys = backend.keys()  # an async iterator, not a dict view
    return [key async for key in keys]


class _Kit:
    max_value_size: int = 10 * 1024 * 1024
    ttl_resolution: float = 0.0

    @pytest.fixture
    def make_backend(self) -> MakeBackend:
        """Override: return ``make(namespace) -> backend``."""
        raise NotImplementedError("subclass the kit and provide a make_backend fixture")

    def short_ttl(self) -> float:
        """The ttl the kit uses for expiry tests (at least ``ttl_resolution``)."""
        return max(0.5, self.ttl_resolution)

    def sizes(self, backend: Any = None) -> list[int]:
        """The value sizes the kit stores.

        Up to the kit's ``max_value_size``, and to the ``max_value_size`` the
        engine declares in its capabilities.
        """
        limit = self.max_value_size
        declared = None if backend is None else _caps(backend).max_value_size
        if declared is not None:
            limit = min(limit, declared)
        return [s for s in SIZES if s <= limit]


class BackendConformance(_Kit):
    """Sync conformance tests; subclass with a ``make_backend`` fixture."""

    @pytest.fixture
    def backends(self, make_backend: MakeBackend) -> Iterator[Callable[[], Any]]:
        """Make fresh backends, each in a namespace of its own; close them afterwards."""
        made: list[Any] = []

        def make() -> Any:
            backend = as_sync(make_backend(_namespace()))
            made.append(backend)
            return backend

        yield make
        for backend in made:
            backend.close()

    @pytest.fixture
    def backend(self, backends: Callable[[], Any]) -> Any:
        """One fresh backend."""
        return backends()

    def test_roundtrip_binary_values(self, backend: Any) -> None:
        """Every byte value, from empty to the largest size, reads back unchanged."""
        for size in self.sizes(backend):
            value = _payload(size)
            backend.set(f"v{size}", value)
            assert _decode(backend, backend.get(f"v{size}")) == value, f"value of {size} bytes"

    def test_missing_key_is_none(self, backend: Any) -> None:
        """A key never written reads as ``None``."""
        assert backend.get("absent") is None

    def test_set_replaces(self, backend: Any) -> None:
        """``set`` replaces the value of an existing key."""
        backend.set("k", b"one")
        backend.set("k", b"two")
        assert _decode(backend, backend.get("k")) == b"two"

    @pytest.mark.parametrize(
        "key", ["ключ-ünïcødé-键-🔑", "with space and\ttab", "x" * 1000, "a:b/c?d=e&f#g"]
    )
    def test_unusual_keys(self, backend: Any, key: str) -> None:
        """Unicode, whitespace, long and URL-like keys work and do not collide."""
        backend.set(key, b"v")
        assert _decode(backend, backend.get(key)) == b"v"
        assert backend.get(key + "-other") is None
        assert backend.delete(key) is True

    def test_ttl_expires_and_none_never_expires(self, backend: Any) -> None:
        """An entry expires after its ttl; ``ttl=None`` never expires."""
        backend.set("short", b"s", ttl=self.short_ttl())
        backend.set("forever", b"f", ttl=None)
        assert _decode(backend, backend.get("short")) == b"s"
        deadline = time.monotonic() + _DEADLINE + self.short_ttl()
        while backend.get("short") is not None:
            assert time.monotonic() < deadline, "an entry outlived its ttl"
            time.sleep(0.1)
        assert _decode(backend, backend.get("forever")) == b"f"

    def test_expiries(self, backend: Any) -> None:
        """reports_expiry: ``expiries`` tells when each present key expires, a touch moves it.

        Without it, ``Cache.ttl`` and ``Cache.ttl_many`` raise CacheOperationError.
        """
        if not _caps(backend).reports_expiry:
            cache = Cache(backend=backend)
            assert cache.set("short", 1, ttl=_TTL) is True
            with pytest.raises(CacheOperationError, match=_NO_EXPIRY):
                cache.ttl("short")
            with pytest.raises(CacheOperationError, match=_NO_EXPIRY):
                cache.ttl_many(["short", "absent"])
            assert cache.get("short") == 1, "the entry itself is unharmed"
            return
        before = time.time()
        backend.set("short", b"s", ttl=_TTL)
        backend.set("forever", b"f", ttl=None)
        found = backend.expiries(["short", "forever", "absent"])
        _check_expiries(self, found, before, time.time())
        assert backend.expiries([]) == {}
        backend.touch("forever", _TTL)
        backend.touch("short", None)
        moved = backend.expiries(["short", "forever"])
        assert moved["short"] == NEVER_EXPIRES, "touch(key, None) removes the expiry"
        assert moved["forever"] < NEVER_EXPIRES, "touch(key, ttl) sets one"
        backend.set("gone", b"g", ttl=self.short_ttl())
        deadline = time.monotonic() + _DEADLINE + self.short_ttl()
        while "gone" in backend.expiries(["gone"]):
            assert time.monotonic() < deadline, "an expired entry still reports an expiry"
            time.sleep(0.1)

    def test_server_version(self, backend: Any) -> None:
        """``server_version`` names what stores the entries, with a version (None: unknown)."""
        version = server_version_of(backend)
        assert version is None or re.search(r"\d", version), version

    def test_add_only_when_absent(self, backend: Any) -> None:
        """``add`` stores only when the key is absent and says whether it did."""
        assert backend.add("k", b"first") is True
        assert backend.add("k", b"second") is False
        assert _decode(backend, backend.get("k")) == b"first"

    def test_add_is_atomic(self, backend: Any) -> None:
        """Of threads racing to ``add`` one key, exactly one wins (locks rely on it).

        Checked when the engine declares ``atomic_add`` (every engine in this workspace).
        """
        if not _caps(backend).atomic_add:
            assert backend.add("lock", b"t") in (True, False)
            return
        barrier = threading.Barrier(_THREADS)
        results: list[bool] = []

        def race(i: int) -> None:
            barrier.wait()
            results.append(backend.add("lock", f"t{i}".encode()))

        threads = [threading.Thread(target=race, args=(i,)) for i in range(_THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert sorted(results) == [False] * (_THREADS - 1) + [True]

    def test_add_after_expiry(self, backend: Any) -> None:
        """``add`` succeeds again once the entry under the key has expired."""
        backend.add("k", b"old", ttl=self.short_ttl())
        deadline = time.monotonic() + _DEADLINE + self.short_ttl()
        while not backend.add("k", b"new"):
            assert time.monotonic() < deadline, "add kept failing after the entry expired"
            time.sleep(0.1)
        assert _decode(backend, backend.get("k")) == b"new"

    def test_incr(self, backend: Any) -> None:
        """``incr`` adds to a stored integer; ValueError when absent, TypeError on a non-integer."""
        with pytest.raises(ValueError):  # noqa: PT011 - each engine words the message its way
            backend.incr("missing")
        backend.set("n", _integer(backend, 5))
        assert backend.incr("n") == 6
        assert backend.incr("n", 10) == 16
        assert backend.incr("n", -6) == 10
        backend.set("text", b"abc" if not backend.stores_objects else "abc")
        with pytest.raises(TypeError):
            backend.incr("text")

    def test_incr_is_atomic(self, backend: Any) -> None:
        """Concurrent ``incr`` calls lose no update (when the engine declares ``atomic_incr``)."""
        backend.set("n", _integer(backend, 0))
        if not _caps(backend).atomic_incr:
            assert backend.incr("n") == 1
            return
        per_thread = 25
        barrier = threading.Barrier(_THREADS)

        def bump() -> None:
            barrier.wait()
            for _ in range(per_thread):
                backend.incr("n")

        threads = [threading.Thread(target=bump) for _ in range(_THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert backend.incr("n", 0) == _THREADS * per_thread

    def test_incr_error_types(self, backend: Any) -> None:
        """``incr`` raises the same error types on every engine.

        Missing: ValueError; not an integer: TypeError; past signed 64 bits:
        OverflowError with the stored value unchanged.
        """
        with pytest.raises(ValueError):  # noqa: PT011 - each engine words the message its way
            backend.incr("missing")
        assert backend.get("missing") is None  # incr never creates the key
        backend.set("text", b"abc" if not backend.stores_objects else "abc")
        with pytest.raises(TypeError):
            backend.incr("text")
        backend.set("top", _integer(backend, INT64_MAX))
        with pytest.raises(OverflowError):
            backend.incr("top")
        assert backend.incr("top", 0) == INT64_MAX
        backend.set("bottom", _integer(backend, INT64_MIN))
        with pytest.raises(OverflowError):
            backend.incr("bottom", -1)
        assert backend.incr("bottom", 0) == INT64_MIN

    def test_writes_say_they_stored(self, backend: Any) -> None:
        """``set`` and ``set_many`` return True once the value is stored."""
        assert backend.set("k", b"v") is True
        assert backend.set_many({"a": b"1", "b": b"2"}) is True

    @pytest.fixture
    def make_bounded_backend(self) -> Callable[[str, int], Any] | None:
        """Override for an engine that reports evictions: ``make(namespace, maxsize)``."""
        return None

    def test_evictions_counted(
        self, make_bounded_backend: Callable[[str, int], Any] | None, make_backend: MakeBackend
    ) -> None:
        """reports_evictions: filling past maxsize grows ``evictions`` by the entries dropped.

        Deleting an entry is not an eviction.
        Without it, Cache's ``stats.evictions`` stays 0 as entries come and go.
        """
        probe = as_sync(make_backend(_namespace()))
        try:
            if not _caps(probe).reports_evictions:
                cache = Cache(backend=probe)
                for i in range(10):
                    assert cache.set(f"k{i}", i) is True
                assert cache.delete("k9") is True
                assert cache.stats.evictions == 0
                return
        finally:
            probe.close()
        assert make_bounded_backend is not None, (
            "an engine with reports_evictions=True needs a make_bounded_backend fixture"
        )
        raw = make_bounded_backend(_namespace(), 4)
        backend = as_sync(raw)
        try:
            before = raw.evictions
            for i in range(10):
                assert backend.set(f"k{i}", _integer(backend, i)) is True
            assert raw.evictions - before == 6
            assert backend.delete("k9") is True
            assert raw.evictions - before == 6
        finally:
            backend.close()

    def test_declares_capabilities(self, make_backend: MakeBackend) -> None:
        """The engine declares a Capabilities record that agrees with ``stores_objects``."""
        raw = make_backend(_namespace())
        try:
            # a class attribute, or one set per instance (engines whose record depends on
            # their URL); the base classes' derived fallback does not count as declared
            declared = [getattr(type(raw), "capabilities", None)]
            declared.append(getattr(raw, "__dict__", {}).get("capabilities"))
            assert any(isinstance(d, Capabilities) for d in declared), (
                f"{type(raw).__name__} declares no capabilities = Capabilities(...)"
            )
            assert capabilities_of(raw).stores_objects == bool(raw.stores_objects)
        finally:
            as_sync(raw).close()

    def test_stores_objects_as_declared(self, backend: Any) -> None:
        """Objects come back as they are (``stores_objects``), or as bytes otherwise."""
        if _caps(backend).stores_objects:
            value = {"a": [1, 2]}
            backend.set("obj", value)
            assert backend.get("obj") == value
        else:
            backend.set("obj", b"\x00\xff")
            found = backend.get("obj")
            assert isinstance(found, (bytes, bytearray, memoryview)), type(found)
            assert bytes(found) == b"\x00\xff"

    def test_max_key_length_honoured(self, backend: Any) -> None:
        """A key of exactly ``max_key_length`` bytes works (core hashes longer ones)."""
        limit = _caps(backend).max_key_length
        key = _key_of_length(limit if limit is not None else 4096)
        backend.set(key, b"v")
        assert _decode(backend, backend.get(key)) == b"v"
        assert backend.delete(key) is True

    def test_get_many_and_set_many(self, backend: Any) -> None:
        """Batch reads leave absent keys out; batch writes store every item."""
        backend.set_many({"a": b"1", "b": b"2", "c": b"3"}, ttl=None)
        found = backend.get_many(["a", "missing", "c"])
        assert {k: _decode(backend, v) for k, v in found.items()} == {"a": b"1", "c": b"3"}
        assert backend.get_many([]) == {}

    def test_get_heads(self, backend: Any) -> None:
        """``get_heads`` (where the engine has it): the first bytes of present entries only.

        Core's listing of live keys reads those heads, or whole entries without them.
        """
        if getattr(backend, "get_heads", None) is not None:
            backend.set_many({"a": b"0123456789", "b": b"xy"}, ttl=None)
            assert backend.get_heads(["a", "missing", "b"], 4) == {"a": b"0123", "b": b"xy"}
            assert backend.get_heads(["a"], 64) == {"a": b"0123456789"}
            assert backend.get_heads([], 4) == {}
        cache = Cache(backend=backend)
        cache.set("kept", 1, tags=["t"])
        cache.set("gone", 2, tags=["gone"])
        cache.set("plain", "p" * 5000)
        cache.invalidate_tags("gone")
        made = [cache._key(k) for k in ("kept", "gone", "plain", "absent")]
        assert list(sync_entries.live_keys(cache, iter(made))) == [made[0], made[2]]

    def test_set_many_ttl(self, backend: Any) -> None:
        """``set_many`` gives every item the ttl."""
        backend.set_many({"a": b"1", "b": b"2"}, ttl=self.short_ttl())
        assert len(backend.get_many(["a", "b"])) == 2
        deadline = time.monotonic() + _DEADLINE + self.short_ttl()
        while backend.get_many(["a", "b"]):
            assert time.monotonic() < deadline, "set_many entries outlived their ttl"
            time.sleep(0.1)

    def test_delete_and_delete_many(self, backend: Any) -> None:
        """Deletes say whether (how many) keys were present."""
        backend.set_many({"a": b"1", "b": b"2", "c": b"3"})
        assert backend.delete("a") is True
        assert backend.delete("a") is False
        assert backend.delete_many(["b", "c", "missing"]) == 2
        assert backend.delete_many([]) == 0
        assert backend.get_many(["a", "b", "c"]) == {}

    def test_touch(self, backend: Any) -> None:
        """``touch`` sets a new ttl on a present key; ``touch(key, None)`` makes it persist."""
        assert backend.touch("missing", 10) is False
        backend.set("k", b"v", ttl=None)
        assert backend.touch("k", self.short_ttl()) is True
        deadline = time.monotonic() + _DEADLINE + self.short_ttl()
        while backend.get("k") is not None:
            assert time.monotonic() < deadline, "touch did not set the new ttl"
            time.sleep(0.1)
        backend.set("p", b"v", ttl=self.short_ttl())
        assert backend.touch("p", None) is True
        time.sleep(self.short_ttl() + 0.6)
        assert _decode(backend, backend.get("p")) == b"v", (
            "touch(ttl=None) must make the entry persist"
        )

    def test_clear_only_this_namespace(self, backends: Callable[[], Any]) -> None:
        """``clear`` empties this namespace and leaves every other one alone."""
        mine, other = backends(), backends()
        mine.set_many({"a": b"1", "b": b"2"})
        other.set("a", b"other")
        mine.clear()
        assert mine.get_many(["a", "b"]) == {}
        assert _decode(other, other.get("a")) == b"other"
        mine.set("a", b"again")
        assert _decode(mine, mine.get("a")) == b"again"

    def test_keys_only_this_namespace(self, backends: Callable[[], Any]) -> None:
        """``keys`` lists this namespace only (or raises CacheOperationError)."""
        mine, other = backends(), backends()
        mine.set_many({"a": b"1", "b": b"2"})
        other.set("c", b"3")
        if not _caps(mine).lists_keys:
            with pytest.raises(CacheOperationError):
                list(mine.keys())
            return
        assert sorted(mine.keys()) == ["a", "b"]
        assert sorted(other.keys()) == ["c"]

    def test_compare_and_delete(self, backend: Any) -> None:
        """compare_and_delete: ``delete_if`` removes a key only while it holds the value.

        Without it, core releases its lock with a read, then a delete: the holder's
        release frees it, another holder's lock (or one past ``lock_ttl``) is left alone.
        """
        if not _caps(backend).compare_and_delete:
            cache = Cache(backend=backend)
            mine, other = new_token(), new_token()
            backend.set("lock", mine, ttl=60)
            sync_locks.release(cache, "lock", mine, time.monotonic())
            assert backend.get("lock") is None, "the holder's release frees its lock"
            backend.set("lock", other, ttl=60)
            sync_locks.release(cache, "lock", mine, time.monotonic())
            assert _decode(backend, backend.get("lock")) == other, "another's lock stays"
            sync_locks.release(cache, "lock", other, time.monotonic() - cache.config.lock_ttl)
            assert _decode(backend, backend.get("lock")) == other, "past lock_ttl: maybe not ours"
            return
        assert backend.delete_if("lock", b"t1") is False
        backend.set("lock", b"t1", ttl=60)
        assert backend.delete_if("lock", b"t2") is False
        assert _decode(backend, backend.get("lock")) == b"t1"
        assert backend.delete_if("lock", b"t1") is True
        assert backend.get("lock") is None
        assert backend.add("lock", b"t3", ttl=60) is True
        assert backend.delete_if("lock", b"t1") is False
        assert _decode(backend, backend.get("lock")) == b"t3"

    def test_compare_and_delete_is_atomic(self, backend: Any) -> None:
        """Threads racing to ``delete_if`` the same value: exactly one removes it.

        Without compare_and_delete: threads racing to release a lock they do not
        hold (core's read, then delete) leave the holder's lock alone.
        """
        if not _caps(backend).compare_and_delete:
            cache = Cache(backend=backend)
            for _ in range(5):
                holder = new_token()
                backend.set("lock", holder, ttl=60)
                start = threading.Barrier(_THREADS)

                def release(start: threading.Barrier = start) -> None:
                    token = new_token()
                    start.wait()
                    sync_locks.release(cache, "lock", token, time.monotonic())

                threads = [threading.Thread(target=release) for _ in range(_THREADS)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(60)
                assert _decode(backend, backend.get("lock")) == holder
                sync_locks.release(cache, "lock", holder, time.monotonic())
                assert backend.get("lock") is None
            return
        for round_ in range(5):
            backend.set("lock", b"t%d" % round_, ttl=60)
            start = threading.Barrier(_THREADS)
            removed: list[bool] = []

            def race(
                value: bytes = b"t%d" % round_,
                start: threading.Barrier = start,
                removed: list[bool] = removed,
            ) -> None:
                start.wait()
                removed.append(backend.delete_if("lock", value))

            threads = [threading.Thread(target=race) for _ in range(_THREADS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert sorted(removed) == [False] * (_THREADS - 1) + [True]

    def test_delete_wakeups(self, backend: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        """delete_wakeups: ``wait_deleted`` returns True once ``delete_if`` succeeded.

        On every engine, a waiter on core's lock gets the holder's value once it is
        released: woken by the release, or (without delete_wakeups) by polling.
        """
        caps = _caps(backend)
        if caps.delete_wakeups:
            assert caps.compare_and_delete, "delete_wakeups needs compare_and_delete"
            backend.set("lock", b"t1", ttl=60)
            assert backend.wait_deleted("lock", b"t1", 0.1) is False, "nobody released it"
            woke: list[bool] = []
            waiter = threading.Thread(
                target=lambda: woke.append(backend.wait_deleted("lock", b"t1", 30))
            )
            waiter.start()
            assert backend.delete_if("lock", b"t1") is True
            waiter.join(60)
            assert woke == [True], "a waiter wakes when the value is deleted (not at its timeout)"
            assert backend.wait_deleted("lock", b"t1", 5) is True, "a late waiter learns it too"
            assert backend.wait_deleted("lock", b"t2", 0.1) is False
        cache = Cache(backend=backend, lock_timeout=60)
        made, token = cache._key("k"), new_token()
        lock_key = _lock_key(cache, made)
        assert backend.add(lock_key, token, 60) is True  # another process holds the lock
        if not caps.delete_wakeups:
            assert not sync_locks.sleep_until_released(cache, lock_key, time.monotonic() + 60)
        waiting = threading.Event()
        next_turn = sync_locks.next_turn

        def waits(*args: Any) -> bool | None:
            waiting.set()
            return next_turn(*args)

        monkeypatch.setattr(sync_locks, "next_turn", waits)
        got: list[Any] = []
        waiter = threading.Thread(
            target=lambda: got.append(sync_locks.locked(cache, made, lambda: "computed"))
        )
        waiter.start()
        assert waiting.wait(60), "the waiter found the lock taken"
        assert cache.set("k", "stored") is True
        sync_locks.release(cache, lock_key, token, time.monotonic())
        waiter.join(60)
        assert got == ["stored"], "the waiter gets the holder's value, computing nothing"

    def test_close_is_idempotent_and_final(self, make_backend: MakeBackend) -> None:
        """``close`` may be called twice; operations after it raise CacheOperationError."""
        backend = as_sync(make_backend(_namespace()))
        backend.set("k", b"v")
        backend.close()
        backend.close()
        with pytest.raises(CacheOperationError):
            backend.get("k")
        with pytest.raises(CacheOperationError):
            backend.set("k", b"v")


class AsyncBackendConformance(_Kit):
    """Async conformance tests; subclass with a ``make_backend`` fixture."""

    pytestmark = pytest.mark.asyncio

    @pytest_asyncio.fixture
    async def abackends(self, make_backend: MakeBackend) -> AsyncIterator[Callable[[], Any]]:
        """Make fresh async backends, each in a namespace of its own; close them afterwards."""
        made: list[Any] = []

        def make() -> Any:
            backend = as_async(make_backend(_namespace()))
            made.append(backend)
            return backend

        yield make
        for backend in made:
            await backend.close()

    @pytest_asyncio.fixture
    async def abackend(self, abackends: Callable[[], Any]) -> Any:
        """One fresh async backend."""
        return abackends()

    async def _wait_gone(self, check: Callable[[], Any], what: str) -> None:
        deadline = time.monotonic() + _DEADLINE + self.short_ttl()
        while await check():
            assert time.monotonic() < deadline, what
            await asyncio.sleep(0.1)

    async def test_roundtrip_binary_values(self, abackend: Any) -> None:
        """Every byte value, from empty to the largest size, reads back unchanged."""
        for size in self.sizes(abackend):
            value = _payload(size)
            await abackend.set(f"v{size}", value)
            assert _decode(abackend, await abackend.get(f"v{size}")) == value, (
                f"value of {size} bytes"
            )

    async def test_missing_and_replace(self, abackend: Any) -> None:
        """An absent key reads as ``None``; ``set`` replaces a value."""
        assert await abackend.get("absent") is None
        await abackend.set("k", b"one")
        await abackend.set("k", b"two")
        assert _decode(abackend, await abackend.get("k")) == b"two"

    async def test_unusual_keys(self, abackend: Any) -> None:
        """Unicode, whitespace and long keys work."""
        for key in ["ключ-ünïcødé-键-🔑", "with space", "x" * 1000]:
            await abackend.set(key, b"v")
            assert _decode(abackend, await abackend.get(key)) == b"v"
            assert await abackend.delete(key) is True

    async def test_ttl_expires_and_none_never_expires(self, abackend: Any) -> None:
        """An entry expires after its ttl; ``ttl=None`` never expires."""
        await abackend.set("short", b"s", ttl=self.short_ttl())
        await abackend.set("forever", b"f", ttl=None)
        assert _decode(abackend, await abackend.get("short")) == b"s"

        async def present() -> bool:
            return await abackend.get("short") is not None

        await self._wait_gone(present, "an entry outlived its ttl")
        assert _decode(abackend, await abackend.get("forever")) == b"f"

    async def test_expiries(self, abackend: Any) -> None:
        """reports_expiry: ``expiries`` tells when each present key expires (async).

        Without it, ``Cache.attl`` and ``Cache.attl_many`` raise CacheOperationError.
        """
        if not _caps(abackend).reports_expiry:
            cache = Cache(backend=abackend)
            assert await cache.aset("short", 1, ttl=_TTL) is True
            with pytest.raises(CacheOperationError, match=_NO_EXPIRY):
                await cache.attl("short")
            with pytest.raises(CacheOperationError, match=_NO_EXPIRY):
                await cache.attl_many(["short", "absent"])
            assert await cache.aget("short") == 1, "the entry itself is unharmed"
            return
        before = time.time()
        await abackend.set("short", b"s", ttl=_TTL)
        await abackend.set_many({"forever": b"f"}, ttl=None)
        found = await abackend.expiries(["short", "forever", "absent"])
        _check_expiries(self, found, before, time.time())
        await abackend.delete("short")
        assert set(await abackend.expiries(["short", "forever"])) == {"forever"}

    async def test_server_version(self, abackend: Any) -> None:
        """``server_version`` names what stores the entries (async)."""
        version = await aserver_version_of(abackend)
        assert version is None or re.search(r"\d", version), version

    async def test_add_is_atomic(self, abackend: Any) -> None:
        """Of concurrent ``add`` calls on one key, exactly one wins (``atomic_add``)."""
        if not _caps(abackend).atomic_add:
            assert await abackend.add("lock", b"t") in (True, False)
            return
        results = await asyncio.gather(
            *(abackend.add("lock", f"t{i}".encode()) for i in range(_THREADS))
        )
        assert sorted(results) == [False] * (_THREADS - 1) + [True]
        assert await abackend.add("lock", b"again") is False

    async def test_incr(self, abackend: Any) -> None:
        """``incr`` is atomic under concurrency; ValueError when absent, TypeError if not an int."""
        with pytest.raises(ValueError):  # noqa: PT011 - each engine words the message its way
            await abackend.incr("missing")
        await abackend.set("n", _integer(abackend, 0))
        if _caps(abackend).atomic_incr:
            await asyncio.gather(*(abackend.incr("n") for _ in range(40)))
        else:
            await abackend.incr("n", 40)
        assert await abackend.incr("n", 2) == 42
        await abackend.set("text", b"abc" if not abackend.stores_objects else "abc")
        with pytest.raises(TypeError):
            await abackend.incr("text")

    async def test_incr_error_types(self, abackend: Any) -> None:
        """Past signed 64 bits: OverflowError, the stored value unchanged."""
        await abackend.set("top", _integer(abackend, INT64_MAX))
        with pytest.raises(OverflowError):
            await abackend.incr("top")
        assert await abackend.incr("top", 0) == INT64_MAX
        await abackend.set("bottom", _integer(abackend, INT64_MIN))
        with pytest.raises(OverflowError):
            await abackend.incr("bottom", -1)
        assert await abackend.incr("bottom", 0) == INT64_MIN

    async def test_writes_say_they_stored(self, abackend: Any) -> None:
        """``set`` and ``set_many`` return True once the value is stored."""
        assert await abackend.set("k", b"v") is True
        assert await abackend.set_many({"a": b"1", "b": b"2"}) is True

    async def test_max_key_length_honoured(self, abackend: Any) -> None:
        """A key of exactly ``max_key_length`` bytes works (core hashes longer ones)."""
        limit = _caps(abackend).max_key_length
        key = _key_of_length(limit if limit is not None else 4096)
        await abackend.set(key, b"v")
        assert _decode(abackend, await abackend.get(key)) == b"v"

    async def test_many(self, abackend: Any) -> None:
        """Batch reads, writes and deletes."""
        await abackend.set_many({"a": b"1", "b": b"2", "c": b"3"}, ttl=None)
        found = await abackend.get_many(["a", "missing", "c"])
        assert {k: _decode(abackend, v) for k, v in found.items()} == {"a": b"1", "c": b"3"}
        assert await abackend.delete_many(["a", "b", "missing"]) == 2
        assert await abackend.delete("c") is True
        assert await abackend.delete("c") is False

    async def test_get_heads(self, abackend: Any) -> None:
        """``get_heads`` (where the engine has it): the first bytes of present entries only.

        Core's listing of live keys reads those heads, or whole entries without them.
        """
        if getattr(abackend, "get_heads", None) is not None:
            await abackend.set_many({"a": b"0123456789", "b": b"xy"}, ttl=None)
            heads = await abackend.get_heads(["a", "missing", "b"], 4)
            assert heads == {"a": b"0123", "b": b"xy"}
            assert await abackend.get_heads([], 4) == {}
        cache = Cache(backend=abackend)
        await cache.aset("kept", 1, tags=["t"])
        await cache.aset("gone", 2, tags=["gone"])
        await cache.aset("plain", "p" * 5000)
        await cache.ainvalidate_tags("gone")
        made = [cache._key(k) for k in ("kept", "gone", "plain", "absent")]

        async def listed() -> AsyncIterator[Any]:
            for key in made:
                yield key

        live = [key async for key in async_entries.alive_keys(cache, listed())]
        assert live == [made[0], made[2]]

    async def test_touch(self, abackend: Any) -> None:
        """``touch`` sets a new ttl on a present key."""
        assert await abackend.touch("missing", 10) is False
        await abackend.set("k", b"v", ttl=None)
        assert await abackend.touch("k", self.short_ttl()) is True

        async def present() -> bool:
            return await abackend.get("k") is not None

        await self._wait_gone(present, "touch did not set the new ttl")

    async def test_clear_and_keys_only_this_namespace(self, abackends: Callable[[], Any]) -> None:
        """``keys`` and ``clear`` touch this namespace only."""
        mine, other = abackends(), abackends()
        await mine.set_many({"a": b"1", "b": b"2"})
        await other.set("c", b"3")
        if _caps(mine).lists_keys:
            assert sorted(await _akeys(mine)) == ["a", "b"]
            assert sorted(await _akeys(other)) == ["c"]
        else:
            with pytest.raises(CacheOperationError):
                await _akeys(mine)
        await mine.clear()
        assert await mine.get_many(["a", "b"]) == {}
        assert _decode(other, await other.get("c")) == b"3"

    async def test_compare_and_delete(self, abackend: Any) -> None:
        """compare_and_delete: ``delete_if`` removes a key only while it holds the value.

        Without it, core releases its lock with a read, then a delete: the holder's
        release frees it, releases racing with another token leave it alone.
        """
        if not _caps(abackend).compare_and_delete:
            cache = Cache(backend=abackend)
            mine, other = new_token(), new_token()
            await abackend.set("lock", mine, ttl=60)
            await async_locks.arelease(cache, "lock", mine, time.monotonic())
            assert await abackend.get("lock") is None, "the holder's release frees its lock"
            await abackend.set("lock", other, ttl=60)
            await asyncio.gather(
                *(async_locks.arelease(cache, "lock", mine, time.monotonic()) for _ in range(8))
            )
            assert _decode(abackend, await abackend.get("lock")) == other, "another's lock stays"
            return
        assert await abackend.delete_if("lock", b"t1") is False
        await abackend.set("lock", b"t1", ttl=60)
        assert await abackend.delete_if("lock", b"t2") is False
        assert _decode(abackend, await abackend.get("lock")) == b"t1"
        removed = await asyncio.gather(*(abackend.delete_if("lock", b"t1") for _ in range(8)))
        assert sorted(removed) == [False] * 7 + [True]
        assert await abackend.get("lock") is None

    async def test_delete_wakeups(self, abackend: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        """delete_wakeups: ``wait_deleted`` returns True once ``delete_if`` succeeded.

        On every engine, a waiter on core's lock gets the holder's value once it is
        released: woken by the release, or (without delete_wakeups) by polling.
        """
        caps = _caps(abackend)
        if caps.delete_wakeups:
            await abackend.set("lock", b"t1", ttl=60)
            assert await abackend.wait_deleted("lock", b"t1", 0.1) is False, "nobody released it"
            woke = asyncio.ensure_future(abackend.wait_deleted("lock", b"t1", 30))
            await asyncio.sleep(0)
            assert await abackend.delete_if("lock", b"t1") is True
            assert await asyncio.wait_for(woke, 60) is True
            assert await abackend.wait_deleted("lock", b"t1", 5) is True, "a late waiter learns it"
        cache = Cache(backend=abackend, lock_timeout=60)
        made, token = cache._key("k"), new_token()
        lock_key = _lock_key(cache, made)
        assert await abackend.add(lock_key, token, 60) is True  # another process holds the lock
        if not caps.delete_wakeups:
            deadline = time.monotonic() + 60
            assert not await async_locks.asleep_until_released(cache, lock_key, deadline)
        waiting = asyncio.Event()
        anext_turn = async_locks.anext_turn

        async def waits(*args: Any) -> bool | None:
            waiting.set()
            return await anext_turn(*args)

        async def compute() -> str:
            return "computed"

        monkeypatch.setattr(async_locks, "anext_turn", waits)
        waiter = asyncio.ensure_future(async_locks.alocked(cache, made, compute))
        await asyncio.wait_for(waiting.wait(), 60)  # the waiter found the lock taken
        assert await cache.aset("k", "stored") is True
        await async_locks.arelease(cache, lock_key, token, time.monotonic())
        got = await asyncio.wait_for(waiter, 60)
        assert got == "stored", "the waiter gets the holder's value, computing nothing"

    async def test_close_is_idempotent_and_final(self, make_backend: MakeBackend) -> None:
        """``close`` may be called twice; operations after it raise CacheOperationError."""
        backend = as_async(make_backend(_namespace()))
        await backend.set("k", b"v")
        await backend.close()
        await backend.close()
        with pytest.raises(CacheOperationError):
            await backend.get("k")
