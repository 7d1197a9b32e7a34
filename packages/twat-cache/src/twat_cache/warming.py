"""``f.warm(items)``: fill a decorated function's cache ahead of its callers.

Each item is checked (one engine read) and called only when not already cached;
one failing item is recorded and never stops the others. Sync functions warm in
a bounded pool of threads, async ones in a bounded set of tasks. The per-item
step is written once in :mod:`twat_cache._async.entries`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Literal

from twat_cache._async.entries import awarm_one
from twat_cache._sync.entries import warm_one
from twat_cache.entries import WarmReport
from twat_cache.exceptions import ConfigurationError

if TYPE_CHECKING:
    from twat_cache.decorators import Controller

__all__ = ["Outcome", "Progress", "async_warmer", "warmer"]

logger = logging.getLogger("twat_cache")

Outcome = Literal["warmed", "cached", "failed"]
Progress = Callable[[Any, Outcome], object]
"""Called after each item with the item and what happened to it."""


def _check(concurrency: object) -> int:
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ConfigurationError("concurrency", concurrency, "a positive integer")
    return concurrency


def _record(
    report: WarmReport, item: Any, outcome: Outcome | BaseException, progress: Progress | None
) -> None:
    if isinstance(outcome, BaseException):
        report.failed.append((item, outcome))
        outcome = "failed"
    elif outcome == "warmed":
        report.warmed += 1
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
        items: Iterable[Any], concurrency: int = 8, progress: Progress | None = None
    ) -> WarmReport:
        """Call the function for each item not already cached; return what happened.

        Args:
            items: Argument sets: a tuple is the positional arguments, a dict the
                keyword arguments, anything else the one argument.
            concurrency: How many calls run at once (threads).
            progress: Called as ``progress(item, "warmed" | "cached" | "failed")``,
                from the worker threads.
        """
        slots = threading.BoundedSemaphore(_check(concurrency))
        report = WarmReport()
        lock = threading.Lock()

        def one(item: Any) -> None:
            try:
                outcome: Outcome | BaseException = (
                    "warmed" if warm_one(ctl, call, item) else "cached"
                )
            except Exception as exc:  # recorded in the report, never raised
                outcome = exc
            finally:
                slots.release()
            with lock:
                _record(report, item, outcome, progress)

        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="twat-warm") as pool:
            for item in items:
                slots.acquire()  # bounded: the items are read as the pool frees up
                pool.submit(one, item)
        return report

    return warm


def async_warmer(ctl: Controller, call: Callable[..., Any]) -> Callable[..., Any]:
    """Return ``f.warm`` of an async cached function (a coroutine function)."""

    async def warm(
        items: Iterable[Any], concurrency: int = 8, progress: Progress | None = None
    ) -> WarmReport:
        """Await the function for each item not already cached; return what happened.

        Args:
            items: Argument sets (see the sync ``warm``).
            concurrency: How many calls run at once (tasks).
            progress: Called as ``progress(item, "warmed" | "cached" | "failed")``.
        """
        slots = asyncio.Semaphore(_check(concurrency))
        report = WarmReport()
        running: set[asyncio.Task[None]] = set()

        async def one(item: Any) -> None:
            try:
                warmed = await awarm_one(ctl, call, item)
                outcome: Outcome | BaseException = "warmed" if warmed else "cached"
            except Exception as exc:  # recorded in the report, never raised
                outcome = exc
            finally:
                slots.release()
            _record(report, item, outcome, progress)

        for item in items:
            await slots.acquire()
            task = asyncio.create_task(one(item))
            running.add(task)
            task.add_done_callback(running.discard)
        if running:
            await asyncio.gather(*running)
        return report

    return warm
