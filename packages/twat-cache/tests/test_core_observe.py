"""Observing caches: figures (latency, bytes, time saved), log records, debug switch, publishing."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from twat_cache import (
    BackendError,
    Cache,
    ConfigurationError,
    acache,
    debug,
    get_stats,
    observe,
    ucache,
)
from twat_cache.config import CacheConfig, resolve_config
from twat_cache.observe import JsonFormatter, debug_from_environment, key_digest
from twat_cache.stats import STATS_PREFIX, CacheStats, Latency, Publisher, read_published


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """DEBUG on for the twat_cache logger (caches made inside ask once, when made)."""
    caplog.set_level(logging.DEBUG, logger="twat_cache")
    observe.refresh()
    yield caplog
    logging.getLogger("twat_cache").setLevel(logging.NOTSET)
    observe.refresh()


def _records(caplog: pytest.LogCaptureFixture, operation: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "operation", None) == operation]


# -- figures -------------------------------------------------------------------------------
def test_latency_window_percentiles_and_merge() -> None:
    latency = Latency(size=4)
    assert latency.percentile(0.5) is None
    assert latency.mean == 0.0
    for seconds in (0.001, 0.002, 0.003, 0.004, 0.010):  # the fifth overwrites the first
        latency.record(seconds)
    assert latency.count == 5
    assert sorted(latency.samples) == [0.002, 0.003, 0.004, 0.010]
    assert latency.percentile(0.5) == 0.004
    assert latency.percentile(0.99) == 0.010
    assert latency.mean == pytest.approx(0.004)
    figures = latency.figures("read")
    assert figures["read_p99_ms"] == pytest.approx(10.0)
    assert figures["read_count"] == 5
    other = Latency(size=4)
    other.merge(latency)
    assert other.count == 5
    assert len(other.samples) == 4
    latency.reset()
    assert latency.count == 0
    assert latency.percentile(0.5) is None


def test_engine_reads_writes_and_bytes_are_counted(namespace: str) -> None:
    with Cache("coretest-bytes://", namespace=namespace) as cache:
        assert cache.set("k", "value")
        written = cache.stats.bytes_written
        assert written == len(cache.backend.get("k") or b"")
        assert cache.get("k") == "value"
        assert cache.get("absent") is None
        assert cache.set_many({"a": 1, "b": 2})
        assert cache.delete("a")
        stats = cache.stats
        assert stats.bytes_read == written
        assert stats.bytes_written > written
        assert stats.reads.count == 2  # the two lookups
        assert stats.writes.count == 3  # set, set_many, delete
        figures = stats.as_dict()
        assert figures["read_p50_ms"] is not None
        assert figures["read_p50_ms"] >= 0
        assert figures["write_p99_ms"] is not None
        assert figures["hit_ratio"] == 0.5


def test_in_process_hits_are_not_timed_while_debug_is_off() -> None:
    with Cache("memory://") as cache:
        cache.set("k", 1)
        assert cache.get("k") == 1
        assert cache.stats.hits == 1
        assert cache.stats.reads.count == 0
        assert cache.stats.bytes_read == 0


def test_time_saved_is_hits_times_the_mean_miss_time(namespace: str) -> None:
    @ucache("coretest-bytes://", namespace=namespace)
    def slow(x: int) -> int:
        time.sleep(0.01)
        return x * 2

    for x in (1, 2, 1, 1, 2):
        slow(x)
    stats = slow.cache.stats
    assert (stats.hits, stats.misses) == (3, 2)
    assert stats.computes.count == 2
    assert stats.computes.mean >= 0.01
    assert stats.time_saved == pytest.approx(3 * stats.computes.mean)
    info = slow.cache_info()
    hits, misses, _, _ = info  # still functools' four-tuple
    assert (hits, misses) == (3, 2)
    assert info.stats["time_saved_s"] == pytest.approx(stats.time_saved)
    assert info.stats["compute_p50_ms"] >= 10.0


def test_a_failing_function_records_no_miss_time() -> None:
    @ucache
    def broken(x: int) -> int:
        raise RuntimeError(x)

    with pytest.raises(RuntimeError):
        broken(1)
    assert broken.cache.stats.computes.count == 0


def test_async_functions_record_the_same_figures(namespace: str) -> None:
    @acache("coretest-abytes://", namespace=namespace)
    async def slow(x: int) -> int:
        await asyncio.sleep(0.01)
        return x

    async def run() -> None:
        for x in (1, 1, 1):
            await slow(x)

    asyncio.run(run())
    stats = slow.cache.stats
    assert (stats.hits, stats.misses, stats.computes.count) == (2, 1, 1)
    assert stats.reads.count == 3
    assert stats.writes.count == 1
    assert stats.bytes_read > 0
    assert stats.bytes_written > 0
    assert stats.time_saved == pytest.approx(2 * stats.computes.mean)


def test_get_stats_sums_every_figure(namespace: str) -> None:
    first = Cache("coretest-bytes://", namespace=namespace, name=f"{namespace}-1")
    second = Cache("coretest-bytes://", namespace=namespace, name=f"{namespace}-2")
    first.set("a", 1)
    second.get("a")
    second.get("b")
    stats = get_stats()
    assert stats[f"{namespace}-2"]["read_count"] == 2
    assert stats[f"{namespace}-2"]["hit_ratio"] == 0.5
    assert stats["total"]["bytes_written"] >= stats[f"{namespace}-1"]["bytes_written"] > 0
    assert get_stats(f"{namespace}-2")["bytes_read"] == stats[f"{namespace}-1"]["bytes_written"]
    combined = CacheStats.combined([first.stats, second.stats])
    assert combined.reads.count == 2
    assert combined.writes.count == 1
    first.close()
    second.close()


# -- logging -------------------------------------------------------------------------------
def test_every_operation_logs_its_fields_at_debug(
    debug_logs: pytest.LogCaptureFixture, namespace: str
) -> None:
    with Cache("coretest-bytes://", namespace=namespace) as cache:
        cache.set("secret-key", "secret-value")
        cache.get("secret-key")
        cache.get("other")
        cache.delete("secret-key")
        cache.set("n", 1)
        assert cache.incr("n", 2) == 3
    (write, _) = _records(debug_logs, "set")
    (counted,) = _records(debug_logs, "incr")
    assert counted.key_digest == key_digest("n")  # type: ignore[attr-defined]
    hit, miss = _records(debug_logs, "get")
    (deleted,) = _records(debug_logs, "delete")
    assert write.cache == cache.name  # type: ignore[attr-defined]
    assert write.key_digest == key_digest("secret-key")  # type: ignore[attr-defined]
    assert (hit.hit, miss.hit) == (True, False)  # type: ignore[attr-defined]
    assert hit.duration_ms >= 0  # type: ignore[attr-defined]
    assert deleted.levelno == logging.DEBUG
    for record in debug_logs.records:
        assert "secret-key" not in record.getMessage()
        assert "secret-value" not in record.getMessage()


def test_in_process_hits_are_logged_when_debug_was_on(
    debug_logs: pytest.LogCaptureFixture,
) -> None:
    @ucache
    def double(x: int) -> int:
        return 2 * x

    double(3)
    double(3)
    assert [r.hit for r in _records(debug_logs, "get")] == [False, True]  # type: ignore[attr-defined]
    (compute,) = _records(debug_logs, "compute")
    assert compute.duration_ms >= 0  # type: ignore[attr-defined]
    assert double.cache.stats.reads.count == 2


def test_debug_is_decided_once_and_refreshed(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="twat_cache")
    with Cache("memory://") as cache:
        cache.get("k")
        assert not _records(caplog, "get")
        caplog.set_level(logging.DEBUG, logger="twat_cache")
        cache.get("k")
        assert not _records(caplog, "get")  # not asked per call
        observe.refresh()
        cache.get("k")
        assert len(_records(caplog, "get")) == 1
    logging.getLogger("twat_cache").setLevel(logging.NOTSET)
    observe.refresh()


def test_creation_is_logged_once_at_info_with_secrets_masked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="twat_cache")
    with Cache("memory://", secret="hunter2", name="made") as cache:
        cache.get("k")
    created = [r for r in caplog.records if r.levelno == logging.INFO and "created" in r.message]
    assert len(created) == 1
    assert created[0].cache == "made"  # type: ignore[attr-defined]
    assert "hunter2" not in created[0].getMessage()
    assert "CacheConfig(" in created[0].getMessage()


def test_a_fallback_episode_warns_once_and_strict_logs_an_error(
    caplog: pytest.LogCaptureFixture, namespace: str
) -> None:
    caplog.set_level(logging.INFO, logger="twat_cache")
    with Cache("coretest-failing://", namespace=namespace, retry_after=60) as cache:
        for _ in range(3):
            assert cache.get("k") is None
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].cache == cache.name  # type: ignore[attr-defined]
    with Cache("coretest-failing://", namespace=namespace, strict=True) as cache:
        with pytest.raises(BackendError):
            cache.set("k", 1)
    (error,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert error.cache == cache.name  # type: ignore[attr-defined]
    assert "server down" in error.error  # type: ignore[attr-defined]


def test_debug_adds_a_readable_or_json_handler(namespace: str) -> None:
    log = logging.getLogger("twat_cache")
    before = list(log.handlers)
    try:
        debug()
        (handler,) = [h for h in log.handlers if h not in before]
        assert log.level == logging.DEBUG
        stream = io.StringIO()
        handler.setStream(stream)  # type: ignore[attr-defined]
        with Cache("coretest-bytes://", namespace=namespace) as cache:
            cache.get("k")
        assert "get" in stream.getvalue()
        assert " miss " in stream.getvalue()
        debug(json_format=True)
        (handler,) = [h for h in log.handlers if h not in before]
        assert isinstance(handler.formatter, JsonFormatter)
        stream = io.StringIO()
        handler.setStream(stream)  # type: ignore[attr-defined]
        with Cache("coretest-bytes://", namespace=namespace) as cache:
            cache.get("k")
        lines = [json.loads(line) for line in stream.getvalue().splitlines()]
        (lookup,) = [line for line in lines if line.get("operation") == "get"]
        assert lookup["hit"] is False
        assert lookup["key_digest"] == key_digest("k")
        assert lookup["level"] == "DEBUG"
        assert lookup["cache"] == cache.name
    finally:
        debug(False)
    assert log.handlers == before
    assert log.level == logging.NOTSET


def test_the_json_formatter_keeps_exceptions() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("twat_cache", logging.ERROR, __file__, 1, "x", (), None)
        import sys

        record.exc_info = sys.exc_info()
    assert "ValueError: boom" in json.loads(JsonFormatter().format(record))["exc_info"]


@pytest.mark.parametrize(
    ("env", "on", "json_format"),
    [
        ({}, False, False),
        ({"TWAT_CACHE_DEBUG": "1"}, True, False),
        ({"TWAT_CACHE_DEBUG": "yes", "TWAT_CACHE_LOG_FORMAT": "json"}, True, True),
    ],
)
def test_debug_from_the_environment(env: dict[str, str], on: bool, json_format: bool) -> None:
    log = logging.getLogger("twat_cache")
    before = list(log.handlers)
    try:
        assert debug_from_environment(env) is on
        added = [h for h in log.handlers if h not in before]
        assert len(added) == int(on)
        assert any(isinstance(h.formatter, JsonFormatter) for h in added) is json_format
    finally:
        debug(False)


def test_debug_variables_are_not_taken_for_misspelt_options() -> None:
    env = {"TWAT_CACHE_DEBUG": "1", "TWAT_CACHE_LOG_FORMAT": "json", "TWAT_CACHE_OTEL": "1"}
    assert resolve_config(None, environ=env).otel is True
    assert resolve_config(None, environ={"TWAT_CACHE_PUBLISH_STATS": "5"}).publish_stats == 5.0


@pytest.mark.parametrize("bad", [0, -1, "5", float("inf"), True])
def test_publish_stats_must_be_positive_seconds(bad: Any) -> None:
    with pytest.raises(ConfigurationError, match="publish_stats"):
        CacheConfig(publish_stats=bad)


# -- publishing ----------------------------------------------------------------------------
def test_published_figures_are_read_back_and_summed(namespace: str) -> None:
    with (
        Cache("coretest-bytes://", namespace=namespace, publish_stats=60) as cache,
        Cache("coretest-bytes://", namespace=namespace) as reader,
    ):
        assert cache._publisher is not None
        cache.set("k", 1)
        cache.get("k")
        assert cache._publisher.publish()
        published = read_published(reader)
        (process,) = [name for name in published if name != "total"]
        assert published[process]["hits"] == 1
        assert published[process]["sets"] == 1
        assert published["total"]["hits"] == 1
        assert published["total"]["hit_ratio"] == 1.0
        assert list(cache.keys()) == ["k"]  # the figures are not an entry of the namespace
        assert cache.stats.sets == 1  # and publishing is not counted
    assert not cache._publisher.publish()  # closed: nothing more is written


def test_the_publisher_thread_writes_every_period(namespace: str) -> None:
    with (
        Cache("coretest-bytes://", namespace=namespace, publish_stats=0.05) as cache,
        Cache("coretest-bytes://", namespace=namespace) as reader,
    ):
        cache.get("k")
        deadline = time.monotonic() + 10
        while len(read_published(reader)) < 2:
            assert time.monotonic() < deadline, "nothing was published"
            time.sleep(0.02)
        assert read_published(reader)["total"]["misses"] == 1


def test_the_publisher_thread_ends_with_its_cache(namespace: str) -> None:
    cache = Cache("coretest-bytes://", namespace=namespace)
    publisher = Publisher(cache, 0.01)
    cache.close()
    publisher._thread.join(timeout=10)
    assert not publisher._thread.is_alive()


def test_a_failing_publish_is_not_an_error(namespace: str) -> None:
    with Cache("coretest-failing://", namespace=namespace) as cache:
        publisher = Publisher(cache, 60)
        assert not publisher.publish()
        publisher.stop()


def test_read_published_needs_an_engine_that_lists_keys(
    monkeypatch: pytest.MonkeyPatch, namespace: str
) -> None:
    from dataclasses import replace

    from twat_cache import CacheOperationError

    with Cache("coretest-bytes://", namespace=namespace) as cache:
        cache.backend.set(STATS_PREFIX + "junk", cache._encode([1, 2], None))
        assert read_published(cache) == {"total": read_published(cache)["total"]}
        monkeypatch.setattr(cache, "capabilities", replace(cache.capabilities, lists_keys=False))
        with pytest.raises(CacheOperationError):
            read_published(cache)
