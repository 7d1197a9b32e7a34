"""otel=True: metrics and spans through the OpenTelemetry API, read with in-memory exporters."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from twat_cache import BackendError, Cache, acache, otel, ucache
from twat_cache.observe import key_digest

READER = InMemoryMetricReader()
SPANS = InMemorySpanExporter()


@pytest.fixture(scope="module", autouse=True)
def _providers() -> None:
    """The SDK's providers, set once per process (the API refuses a second set)."""
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(SPANS))
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(MeterProvider(metric_readers=[READER]))


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    SPANS.clear()
    yield SPANS
    SPANS.clear()


def _points(name: str, cache: str) -> list[Any]:
    """Data points of metric ``name`` for ``cache`` (cumulative since the start)."""
    data = READER.get_metrics_data()
    found: list[Any] = []
    assert data is not None
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == name:
                    found += [
                        p
                        for p in metric.data.data_points
                        if (p.attributes or {}).get("cache.name") == cache
                    ]
    return found


def _total(name: str, cache: str, **attributes: Any) -> int:
    return sum(
        p.value
        for p in _points(name, cache)
        if all(p.attributes.get(k) == v for k, v in attributes.items())
    )


def test_lookups_writes_and_bytes_are_metrics_and_spans(
    spans: InMemorySpanExporter, namespace: str
) -> None:
    with Cache("coretest-bytes://", namespace=namespace, otel=True, name=namespace) as cache:
        cache.set("k", "v")
        cache.get("k")
        cache.get("absent")
        written, read = cache.stats.bytes_written, cache.stats.bytes_read
    assert _total("cache.hits", namespace) == 1
    assert _total("cache.misses", namespace) == 1
    assert _total("cache.io", namespace, **{"cache.direction": "write"}) == written
    assert _total("cache.io", namespace, **{"cache.direction": "read"}) == read
    durations: dict[str, int] = {}
    for point in _points("db.client.operation.duration", namespace):
        name = point.attributes["db.operation.name"]
        durations[name] = durations.get(name, 0) + point.count
    assert durations == {"set": 1, "get": 2}
    names = [s.name for s in spans.get_finished_spans()]
    assert names == [f"set {namespace}", f"get {namespace}", f"get {namespace}"]
    get = spans.get_finished_spans()[1]
    assert get.kind is trace.SpanKind.CLIENT
    assert get.attributes is not None
    assert get.attributes["db.system.name"] == "coretest-bytes"
    assert get.attributes["db.namespace"] == namespace
    assert get.attributes["cache.hit"] is True
    assert get.attributes["cache.key_digest"] == key_digest("k")
    assert get.end_time is not None
    assert get.start_time is not None
    assert get.end_time >= get.start_time


def test_in_process_hits_are_reported_too(spans: InMemorySpanExporter, namespace: str) -> None:
    @ucache(otel=True, namespace=namespace)
    def double(x: int) -> int:
        return 2 * x

    double(2)
    double(2)
    double(2)
    name = double.cache.name
    assert _total("cache.hits", name) == 2
    assert _total("cache.misses", name) == 1
    (compute,) = _points("cache.compute.duration", name)
    assert compute.count == 1


def test_the_function_on_a_miss_is_a_parent_span(
    spans: InMemorySpanExporter, namespace: str
) -> None:
    tracer = trace.get_tracer("test")

    @acache("coretest-abytes://", namespace=namespace, otel=True)
    async def fetch(x: int) -> int:
        with tracer.start_as_current_span("inside"):
            await asyncio.sleep(0)
        return x

    asyncio.run(fetch(1))
    finished = {s.name: s for s in spans.get_finished_spans()}
    compute = finished[f"cache.compute {fetch.cache.name}"]
    inside = finished["inside"]
    assert inside.parent is not None
    assert compute.context is not None
    assert inside.parent.span_id == compute.context.span_id
    assert compute.attributes is not None
    assert compute.attributes["cache.key_digest"]


def test_failures_are_counted(namespace: str) -> None:
    with Cache("coretest-failing://", namespace=namespace, otel=True, name=namespace) as cache:
        cache.get("k")
    (point,) = _points("cache.errors", namespace)
    assert point.value == 1
    assert point.attributes["error.type"] == BackendError.__qualname__


def test_off_by_default(spans: InMemorySpanExporter, namespace: str) -> None:
    with Cache("coretest-bytes://", namespace=namespace, name=namespace) as cache:
        cache.get("k")
    assert _points("cache.misses", namespace) == []
    assert spans.get_finished_spans() == ()


def test_without_the_extra_otel_is_off_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, namespace: str
) -> None:
    import builtins

    real_import = builtins.__import__

    def no_otel(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("opentelemetry"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_otel)
    assert not otel.available()
    caplog.set_level(logging.WARNING, logger="twat_cache")
    with Cache("memory://", otel=True) as cache:
        assert cache._obs.telemetry is None
    assert "twat-cache[otel]" in caplog.text
