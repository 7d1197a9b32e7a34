"""``f.warm(items)``: fill a decorated function's cache ahead of its callers.

Each item is checked (one engine read) and called only when not already cached;
one failing item is recorded and never stops the others. A ``batch=True``
function is warmed a chunk of ids at a time: one read and one call per chunk.
Sync functions warm in a bounded pool of threads, async ones in a bounded set
of tasks. The per-chunk step is written once in :mod:`twat_cache._async.entries`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Literal

from twat_cache._async.entries import awarm_chunk
from twat_cache._sync.entries import warm_chunk
from twat_cache.entries import WarmReport, call_of, check_batch_size
from twat_cache.exceptions import ConfigurationError

if TYPE_CHECKING:
    from twat_cache.decorators import Controller

__all__ = ["BATCH_SIZE", "Outcome", "Progress", "async_warmer", "warmer"]

logger = logging.getLogger("twat_cache")

Outcome = Literal["warmed", "cached", "absent", "failed"]
Progress = Callable[[Any, Outcome], object]
"""Called after each item with the item and what happened to it."""

BATCH_SIZE = 100
"""How many ids of a ``batch=True`` function one call of ``f.warm`` passes at most."""


def _check(concurrency: object) -> int:
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ConfigurationError("concurrency", concurrency, "a positive integer")
    return concurrency


def _chunks(ctl: Controller, items: Iterable[Any], batch_size: int | None) -> Iterator[list[Any]]:
    """The items of ``f.warm`` in the chunks warmed together, read lazily.

    A batch function's consecutive items sharing their other arguments form
    chunks of up to ``batch_size`` ids (one call each); any other function's
    items are warmed one by one.

    Raises:
        ConfigurationError: for a ``batch_size`` that is not a positive integer, or
            one given for a function without ``batch=True``.
    """
    if not ctl.entry.batch:
        if batch_size is not None:
            raise ConfigurationError("batch_size", batch_size, "used with batch=True only")
        return ([item] for item in items)
    size = BATCH_SIZE if batch_size is None else check_batch_size(batch_size)
    return _grouped(items, size)


def _grouped(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    shared: Any = None  # the other arguments of the chunk's items
    for item in items:
        args, kwargs = call_of(item)
        others = (args[1:], kwargs) if args else item
        if chunk and (len(chunk) >= size or others != shared):
            yield chunk
            chunk = []
        shared = others
        chunk.append(item)
    if chunk:
        yield chunk


def _record(
    report: WarmReport, item: Any, outcome: Outcome | BaseException, progress: Progress | None
) -> None:
    if isinstance(outcome, BaseException):
        report.failed.append((item, outcome))
        outcome = "failed"
    elif outcome == "warmed":
        report.warmed += 1
    elif outcome == "absent":
        report.absent += 1
    else:
        report.cached += 1
    if progress is not None:
        try:
            progress(item, outcome)
        except Exception:  # a broken progress bar must not stop the warming
            logger.warning("warm: the progress callback failed", exc_info=True)


def warmer(ctl: Controller, call: Callable[..., Any]) -> Callable[..., WarmReport]:
    """Return ``f.warm`` of a sync cached function."""

    def warm(
        items: Iterable[Any],
        concurrency: int = 8,
        progress: Progress | None = None,
        *,
        batch_size: int | None = None,
    ) -> WarmReport:
        """Call the function for each item not already cached; return what happened.

        Args:
            items: Argument sets: a tuple is the positional arguments, a dict the
                keyword arguments, anything else the one argument. For a
                ``batch=True`` function: an id, or ``(id, *rest)``.
            concurrency: How many calls run at once (threads).
            progress: Called as ``progress(item, "warmed" | "cached" | "absent" |
                "failed")``, from the worker threads.
            batch_size: ``batch=True`` functions only: ids per call (default 100).

        Raises:
            ConfigurationError: for a ``concurrency`` or ``batch_size`` not allowed.
        """
        slots = threading.BoundedSemaphore(_check(concurrency))
        report = WarmReport()
        lock = threading.Lock()
        chunks = _chunks(ctl, items, batch_size)

        def one(chunk: list[Any]) -> None:
            try:
                outcomes = warm_chunk(ctl, call, chunk)
            finally:
                slots.release()
            with lock:
                for item, outcome in outcomes:
                    _record(report, item, outcome, progress)

        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="twat-warm") as pool:
            for chunk in chunks:
                slots.acquire()  # bounded: the items are read as the pool frees up
                pool.submit(one, chunk)
        return report

    return warm


def async_warmer(ctl: Controller, call: Callable[..., Any]) -> Callable[..., Any]:
    """Return ``f.warm`` of an async cached function (a coroutine function)."""

    async def warm(
        items: Iterable[Any],
        concurrency: int = 8,
        progress: Progress | None = None,
        *,
        batch_size: int | None = None,
    ) -> WarmReport:
        """Await the function for each item not already cached; return what happened.

        Args:
            items: Argument sets (see the sync ``warm``).
            concurrency: How many calls run at once (tasks).
            progress: Called as ``progress(item, "warmed" | "cached" | "absent" | "failed")``.
            batch_size: ``batch=True`` functions only: ids per call (default 100).

        Raises:
            ConfigurationError: for a ``concurrency`` or ``batch_size`` not allowed.
        """
        slots = asyncio.Semaphore(_check(concurrency))
        report = WarmReport()
        running: set[asyncio.Task[None]] = set()

        async def one(chunk: list[Any]) -> None:
            try:
                outcomes = await awarm_chunk(ctl, call, chunk)
            finally:
                slots.release()
            for item, outcome in outcomes:
                _record(report, item, outcome, progress)

        for chunk in _chunks(ctl, items, batch_size):
            await slots.acquire()
            task = asyncio.create_task(one(chunk))
            running.add(task)
            task.add_done_callback(running.discard)
        if running:
            await asyncio.gather(*running)
        return report

    return warm
