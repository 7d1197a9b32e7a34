"""No state bound to one event loop leaks into another, on every engine.

An application may call ``asyncio.run()`` several times (a CLI, a test suite, a
worker per job): the same cache, and the same decorated async function, must work
in each loop, with nothing of the first loop (a connection, a future, a lock) used
in the second.
"""

from __future__ import annotations

import asyncio
from typing import Any

from twat_cache import Cache, acache


async def _use(cache: Cache, double: Any, round_: int) -> list[Any]:
    await cache.aset(f"k{round_}", round_)
    found = [await cache.aget(f"k{n}") for n in range(round_ + 1)]
    found += await asyncio.gather(*(double(n) for n in range(4)))
    found.append(await cache.aget_or_set("shared", lambda: "made once"))
    return found


def test_one_cache_in_two_successive_event_loops(engine_url: str, namespace: str) -> None:
    cache = Cache(engine_url, namespace=namespace)
    calls: list[int] = []

    @acache(engine_url, namespace=namespace + "-f")
    async def double(x: int) -> int:
        calls.append(x)
        await asyncio.sleep(0)
        return 2 * x

    first = asyncio.run(_use(cache, double, 0))
    second = asyncio.run(_use(cache, double, 1))  # a new loop: the first one is closed
    assert first == [0, 0, 2, 4, 6, "made once"]
    assert second == [0, 1, 0, 2, 4, 6, "made once"]
    assert sorted(calls) == [0, 1, 2, 3], "the second loop read the first loop's entries"
    assert cache.stats.errors == 0
    assert double.cache.stats.errors == 0
    cache.close()
