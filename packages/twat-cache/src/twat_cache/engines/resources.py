"""A client (or pool) made on first use, and the event loops it belongs to.

A sync engine shares one client between threads (:class:`Resource`). An asyncio
client belongs to the event loop that made its connections, and core uses one
engine from two loops (its private loop for sync callers, the caller's loop for
async ones), so an async engine keeps one client per running loop
(:class:`AsyncResource`). Each is closed through the client's public API in the
loop that made it: when the engine is closed, or when that loop shuts down
(``asyncio.run`` and ``asyncio.Runner`` cancel pending tasks at the end; a small
task per loop waits for that cancellation). Nothing reaches into a client's
private connections or into asyncio's transports.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["AsyncResource", "Resource"]

logger = logging.getLogger("twat_cache")

_T = TypeVar("_T")
# seconds close() waits for another thread's running loop to close its client there
HANDOVER = 1.0


class Resource(Generic[_T]):
    """One client for every thread, made on first use and closed once.

    Args:
        make: Builds the client (may do I/O; it runs at most once at a time).
        close: Closes a client; errors are logged and dropped.
        name: Names the client in log messages (the async twin names its tasks with it).

    Example:
        >>> clients = Resource(lambda: object(), lambda client: None)
        >>> clients.get() is clients.get()
        True
    """

    def __init__(
        self, make: Callable[[], _T], close: Callable[[_T], None], *, name: str = "twat-cache"
    ) -> None:
        self._make = make
        self._close = close
        self._name = name
        self._value: _T | None = None
        self._lock = threading.Lock()

    def get(self) -> _T:
        """Return the client, making it on first use."""
        value = self._value
        if value is None:
            with self._lock:
                value = self._value
                if value is None:
                    value = self._value = self._make()
        return value

    def current(self) -> _T | None:
        """Return the client if one was made (the hit path's check: no lock, no call to make)."""
        return self._value

    def close(self) -> None:
        """Close the client if one was made; the next :meth:`get` makes a new one."""
        with self._lock:
            value, self._value = self._value, None
        if value is not None:
            _quietly(self._close, value, self._name)


class AsyncResource(Generic[_T]):
    """One client per running event loop, closed in its own loop.

    Args:
        make: Builds the client in the running loop (may do I/O; tasks of one
            loop wait for a single build).
        close: Closes a client in the loop that made it; errors are logged and dropped.
        name: Names the per-loop task that closes the client when its loop shuts down.
    """

    def __init__(
        self,
        make: Callable[[], Awaitable[_T]],
        close: Callable[[_T], Awaitable[None]],
        *,
        name: str = "twat-cache",
    ) -> None:
        self._make = make
        self._close = close
        self._name = name
        self._by_loop: dict[asyncio.AbstractEventLoop, _T] = {}
        self._locks: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}
        self._closers: dict[asyncio.AbstractEventLoop, asyncio.Task[None]] = {}
        self._lock = threading.Lock()

    async def get(self) -> _T:
        """Return the running loop's client, making it on first use in that loop."""
        loop = asyncio.get_running_loop()
        value = self._by_loop.get(loop)
        if value is None:  # no try/except: a failed build must not show a KeyError as its context
            return await self._create(loop)
        return value

    def current(self) -> _T | None:
        """Return the running loop's client if it was made (the hit path's check, no await)."""
        return self._by_loop.get(asyncio.get_running_loop())

    async def _create(self, loop: asyncio.AbstractEventLoop) -> _T:
        with self._lock:
            for old in [old for old in self._by_loop if old.is_closed()]:
                # closed without cancelling its tasks: nothing can close its client any more
                self._forget(old)
            lock = self._locks.setdefault(loop, asyncio.Lock())
        async with lock:
            value = self._by_loop.get(loop)
            if value is None:
                value = await self._make()
                with self._lock:
                    self._by_loop[loop] = value
                    self._closers[loop] = loop.create_task(
                        self._close_at_shutdown(loop, value), name=f"{self._name}-closer"
                    )
        return value

    def _forget(self, loop: asyncio.AbstractEventLoop) -> _T | None:
        self._locks.pop(loop, None)
        self._closers.pop(loop, None)
        return self._by_loop.pop(loop, None)

    def _take(self, loop: asyncio.AbstractEventLoop, value: _T) -> bool:
        with self._lock:
            if self._by_loop.get(loop) is not value:
                return False
            self._forget(loop)
            return True

    async def _close_at_shutdown(self, loop: asyncio.AbstractEventLoop, value: _T) -> None:
        try:
            await loop.create_future()  # never set: this task only waits to be cancelled
        except asyncio.CancelledError:  # the loop's shutdown (or aclose): close it here
            if self._take(loop, value):
                await _aquietly(self._close, value, self._name)
            raise
        except GeneratorExit:
            # the loop was closed without cancelling its tasks and this coroutine is being
            # collected: it cannot await any more, so the client is only forgotten
            self._take(loop, value)
            raise

    async def aclose(self) -> None:
        """Close every loop's client: this loop's here, another running loop's in that loop."""
        current = asyncio.get_running_loop()
        with self._lock:
            taken = [
                (loop, self._closers.get(loop), self._forget(loop)) for loop in list(self._by_loop)
            ]
        for loop, closer, value in taken:
            if value is None:
                continue
            if loop is current:
                await _aquietly(self._close, value, self._name)
                if closer is not None:
                    closer.cancel()
            elif loop.is_running():
                done = asyncio.run_coroutine_threadsafe(
                    _aquietly(self._close, value, self._name), loop
                )
                await asyncio.wait([asyncio.wrap_future(done)], timeout=HANDOVER)
                if closer is not None:
                    loop.call_soon_threadsafe(closer.cancel)
            # a loop that is not running cannot close its client; dropping it is all that is left


def _quietly(close: Callable[[_T], None], value: _T, name: str) -> None:
    try:
        close(value)
    except Exception as exc:  # closing must not fail: the server may be gone
        logger.debug("closing %s failed: %s", name, exc)


async def _aquietly(close: Callable[[_T], Awaitable[None]], value: _T, name: str) -> None:
    try:
        await close(value)
    except Exception as exc:  # closing must not fail: the server may be gone
        logger.debug("closing %s failed: %s", name, exc)
