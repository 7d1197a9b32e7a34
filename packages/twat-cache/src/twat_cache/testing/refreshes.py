"""Waiting for background refreshes, so that a test of ``stale_ttl=`` is deterministic.

A stale hit returns the old value at once and refreshes it in the background: a
thread for a sync function, a task on the running loop for a coroutine. A test
that then checks the refreshed value waits for that work with
:func:`wait_for_refreshes` (sync) or :func:`await_refreshes` (async) instead of
sleeping.
"""

from __future__ import annotations

import asyncio
import threading
import time

from twat_cache import freshness

__all__ = ["await_refreshes", "wait_for_refreshes"]


def wait_for_refreshes(timeout: float = 30.0) -> None:
    """Block until every background refresh thread has finished, its result stored.

    Refreshes started while waiting (a refresh that triggers another) are waited
    for too.

    Args:
        timeout: The most seconds to wait in all.

    Raises:
        TimeoutError: when refreshes are still running after ``timeout`` seconds.

    Example:
        >>> wait_for_refreshes()  # returns at once when nothing is refreshing
    """
    deadline = time.monotonic() + timeout
    current = threading.current_thread()
    while pending := [thread for thread in list(freshness._threads) if thread is not current]:
        for thread in pending:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                raise TimeoutError(f"background refreshes still running after {timeout} s")


async def await_refreshes(timeout: float = 30.0) -> None:
    """Wait until every background refresh of this event loop has finished, its result stored.

    Covers coroutine functions' refresh tasks on the running loop, and sync
    functions' refresh threads (joined without blocking the loop). Refreshes
    started while waiting are waited for too.

    Args:
        timeout: The most seconds to wait in all.

    Raises:
        TimeoutError: when refreshes are still running after ``timeout`` seconds.
    """
    loop = asyncio.get_running_loop()
    current = asyncio.current_task()

    async def drain() -> None:
        while True:
            tasks = [t for t in list(freshness._tasks) if t.get_loop() is loop and t is not current]
            if tasks:
                await asyncio.wait(tasks)  # unlike gather, a timeout leaves them running
            elif freshness._threads:
                await asyncio.to_thread(wait_for_refreshes, timeout)
            else:
                return

    try:
        await asyncio.wait_for(drain(), timeout)
    except asyncio.TimeoutError:  # not yet the builtin TimeoutError on Python 3.10
        raise TimeoutError(f"background refreshes still running after {timeout} s") from None
