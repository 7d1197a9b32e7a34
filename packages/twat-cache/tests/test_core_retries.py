"""retries=: an engine call is tried again after a transient error, never after a logic error."""

from __future__ import annotations

import errno
from collections.abc import Hashable
from typing import Any

import pytest
from twat_cache import BackendError, Cache, ConfigurationError
from twat_cache.engines.builtin import BuiltinMemoryBackend
from twat_cache.retries import FIRST_PAUSE, LAST_PAUSE, pauses, transient


class FlakyEngine(BuiltinMemoryBackend):
    """An in-process engine whose next ``failures`` calls raise ``error``."""

    def __init__(self, error: Exception, failures: int) -> None:
        super().__init__("flaky")
        self.error = error
        self.failures = failures
        self.calls = 0

    def _maybe_fail(self) -> None:
        self.calls += 1
        if self.failures > 0:
            self.failures -= 1
            raise self.error

    def get(self, key: Hashable) -> Any:
        self._maybe_fail()
        return super().get(key)

    def set(self, key: Hashable, value: Any, ttl: float | None = None) -> bool:
        self._maybe_fail()
        return super().set(key, value, ttl)


def _reset() -> Exception:
    return ConnectionResetError(errno.ECONNRESET, "reset by peer")


def test_a_transient_read_failure_is_retried() -> None:
    engine = FlakyEngine(_reset(), failures=0)
    cache = Cache(backend=engine, retries=2)
    assert cache.set("k", "v")
    engine.failures = 1
    assert cache.get("k") == "v"
    assert cache.stats.errors == 0


def test_writes_retry_until_the_tries_run_out() -> None:
    engine = FlakyEngine(_reset(), failures=2)
    cache = Cache(backend=engine, retries=2)
    assert cache.set("k", "v")
    assert engine.calls == 3
    engine.failures, engine.calls = 3, 0
    assert not cache.set("k", "w")  # fail-open after the last try
    assert engine.calls == 3
    assert cache.stats.errors == 1


def test_a_logic_error_is_never_retried() -> None:
    engine = FlakyEngine(RuntimeError("a bug in the client"), failures=5)
    cache = Cache(backend=engine, retries=3, retry_after=0)  # the breaker lets the read through
    assert not cache.set("k", "v")
    assert engine.calls == 1
    assert cache.get("k") is None
    assert engine.calls == 2


def test_without_retries_one_try() -> None:
    engine = FlakyEngine(_reset(), failures=1)
    cache = Cache(backend=engine)
    assert not cache.set("k", "v")
    assert engine.calls == 1


async def test_async_reads_and_writes_retry() -> None:
    engine = FlakyEngine(_reset(), failures=1)
    cache = Cache(backend=engine, retries=1, tags=("t",))
    assert await cache.aset("k", "v")
    engine.failures = 1
    assert await cache.aget("k") == "v"
    assert cache.stats.errors == 0
    await cache.aclose()


class BusyLoadingError(Exception):
    """Named as redis-py's: Redis is loading its dataset."""


class ClientError(Exception):
    """Shaped as botocore's: the HTTP answer in ``response``."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.response = {"ResponseMetadata": {"HTTPStatusCode": status}}


def _wrapped(cause: BaseException) -> BackendError:
    try:
        raise BackendError("engine failed") from cause
    except BackendError as exc:
        return exc


def test_what_counts_as_transient() -> None:
    assert transient(_reset())
    assert transient(TimeoutError())
    assert transient(OSError(errno.ECONNREFUSED, "refused"))
    assert transient(_wrapped(ConnectionRefusedError()))
    assert transient(BusyLoadingError())
    assert transient(_wrapped(ClientError(503)))
    assert not transient(ClientError(404))
    assert not transient(OSError(errno.ENOSPC, "disk full"))
    assert not transient(_wrapped(KeyError("x")))
    assert not transient(ValueError())


def test_pauses_grow_with_full_jitter() -> None:
    assert list(pauses(0)) == []
    waits = list(pauses(8))
    assert len(waits) == 8
    ceilings = [min(FIRST_PAUSE * 2**n, LAST_PAUSE) for n in range(8)]
    assert all(0 <= w <= c for w, c in zip(waits, ceilings, strict=True))


def test_retries_option_is_checked() -> None:
    for bad in (-1, 11, True, 1.5):
        with pytest.raises(ConfigurationError, match="retries"):
            Cache("memory://", retries=bad)  # type: ignore[arg-type]
    assert Cache("memory://?retries=3").config.retries == 3
