"""OpenTelemetry metrics and spans of a cache (extra ``otel``; on with ``otel=True``).

Through the OpenTelemetry API only: the application picks the SDK, exporters and
providers (Prometheus, OTLP...); without them the API's no-op providers make this
nearly free. Names follow the database client semantic conventions where they
fit an engine call (the ``db.client.operation.duration`` histogram, the
``db.system.name``, ``db.operation.name`` and ``db.namespace`` attributes, a
CLIENT span named ``{operation} {namespace}``); what they do not cover is under
``cache.*``:

* counters ``cache.hits``, ``cache.misses``, ``cache.errors``, ``cache.io``
  (bytes, attribute ``cache.direction`` = ``read``/``write``);
* histogram ``cache.compute.duration`` (the decorated function on a miss) and an
  INTERNAL span ``cache.compute {cache}`` around it, the parent of whatever
  spans the function makes;
* attributes ``cache.name``, ``cache.hit``, ``cache.key_digest``.

Engine-call spans are recorded after the call with its measured start and end
(the call itself is not wrapped): they carry the timing, not a context for the
client's own spans.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Final

__all__ = ["SCOPE", "Telemetry", "available"]

logger = logging.getLogger("twat_cache")

SCOPE: Final = "twat_cache"
"""The instrumentation scope (meter and tracer name)."""


def available() -> bool:
    """Whether the OpenTelemetry API is installed (the ``otel`` extra)."""
    try:
        import opentelemetry.metrics
        import opentelemetry.trace  # noqa: F401
    except ImportError:
        return False
    return True


class Telemetry:
    """The instruments and tracer of one cache.

    Args:
        name: The cache's name (``cache.name``).
        engine: The engine (``db.system.name``).
        namespace: The namespace (``db.namespace``).
    """

    def __init__(self, name: str, engine: str, namespace: str) -> None:
        from opentelemetry import metrics, trace

        from twat_cache import __version__

        meter = metrics.get_meter(SCOPE, __version__)
        self.tracer = trace.get_tracer(SCOPE, __version__)
        self._client = trace.SpanKind.CLIENT
        self.attributes: dict[str, str] = {
            "cache.name": name,
            "db.system.name": engine,
            "db.namespace": namespace,
        }
        self.hits = meter.create_counter("cache.hits", "{lookup}", "Lookups that found an entry")
        self.misses = meter.create_counter("cache.misses", "{lookup}", "Lookups that missed")
        self.errors = meter.create_counter("cache.errors", "{error}", "Backend failures")
        self.io = meter.create_counter("cache.io", "By", "Bytes of entries read and written")
        self.duration = meter.create_histogram(
            "db.client.operation.duration", "s", "Duration of engine calls"
        )
        self.compute = meter.create_histogram(
            "cache.compute.duration", "s", "Duration of the decorated function on a miss"
        )

    def operation(
        self, operation: str, seconds: float, digest: str | None, hit: bool | None, size: int
    ) -> None:
        """Record one engine call that took ``seconds`` and moved ``size`` bytes."""
        attributes: dict[str, Any] = {**self.attributes, "db.operation.name": operation}
        if hit is not None:
            attributes["cache.hit"] = hit
            (self.hits if hit else self.misses).add(1, self.attributes)
        self.duration.record(seconds, attributes)
        if size:
            direction = "read" if operation in ("get", "get_many") else "write"
            self.io.add(size, {**self.attributes, "cache.direction": direction})
        if digest is not None:
            attributes["cache.key_digest"] = digest
        end = time.time_ns()
        span = self.tracer.start_span(
            f"{operation} {self.attributes['db.namespace']}",
            kind=self._client,
            attributes=attributes,
            start_time=end - int(seconds * 1e9),
        )
        span.end(end_time=end)

    def failure(self, exc: BaseException) -> None:
        """Count a backend failure."""
        self.errors.add(1, {**self.attributes, "error.type": type(exc).__qualname__})

    def computing(self, digest: str) -> Any:
        """The span around the decorated function on a miss (a context manager)."""
        return self.tracer.start_as_current_span(
            f"cache.compute {self.attributes['cache.name']}",
            attributes={**self.attributes, "cache.key_digest": digest},
        )

    def computed(self, seconds: float) -> None:
        """Record the decorated function's time on a miss."""
        self.compute.record(seconds, self.attributes)
