"""twat-cache in one minute: run with `bash tools/demo` (no server needed).

1. a slow function made fast by an in-process cache;
2. a disk cache that survives a process restart (two separate processes);
3. an async function cached the same way;
4. the Cache object, and the stats of everything above.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from twat_cache import CacheContext, acache, bcache, get_stats, ucache


@ucache(ttl=60)
def slow_square(x: int) -> int:
    time.sleep(0.5)  # stands for a slow computation or a remote call
    return x * x


def timed(label: str, func: object, *args: object) -> None:
    start = time.perf_counter()
    result = func(*args)  # type: ignore[operator]
    print(f"  {label:<28} -> {result!r:<12} {1000 * (time.perf_counter() - start):9.3f} ms")


def disk_child(folder: str) -> None:
    """Runs in a fresh process: the second run finds the first run's result on disk."""

    @bcache(folder=folder, ttl=3600)
    def heavy(n: int) -> str:
        time.sleep(0.5)
        return f"report #{n} computed in pid {os.getpid()}"

    start = time.perf_counter()
    value = heavy(42)
    elapsed = 1000 * (time.perf_counter() - start)
    source = "read from disk" if heavy.cache_info().hits == 1 else "computed"
    print(f"  pid {os.getpid()}: {value!r} ({source}, {elapsed:.1f} ms)")


@acache(ttl=10)
async def fetch(user_id: int) -> dict[str, object]:
    await asyncio.sleep(0.3)  # stands for an HTTP or database call
    return {"id": user_id, "name": f"user-{user_id}"}


async def async_part() -> None:
    start = time.perf_counter()
    await fetch(7)
    first = time.perf_counter() - start
    start = time.perf_counter()
    await fetch(7)
    print(
        f"  first await {1000 * first:.1f} ms, second {1000 * (time.perf_counter() - start):.3f} ms"
    )


def main() -> None:
    print("1. a slow function, cached in memory (@ucache(ttl=60))")
    timed("slow_square(12) first call", slow_square, 12)
    timed("slow_square(12) again", slow_square, 12)
    print(f"  cache_info: {slow_square.cache_info()}")

    print("2. a disk cache (@bcache) survives a process restart")
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(2):
            sys.stdout.flush()  # keep our lines before the child's
            subprocess.run([sys.executable, __file__, "--disk-child", folder], check=True)

        print("3. the Cache object on disk")
        with CacheContext(f"disk://{Path(folder) / 'objects'}", ttl=5) as cache:
            cache.set("config", {"feature": True})
            print(
                f"  cache.get('config') = {cache.get('config')};"
                f" 'config' in cache: {'config' in cache}"
            )
            cache.set("visits", 0)
            cache.incr("visits")
            print(f"  visits after incr: {cache.get('visits')}")

    print("4. an async function (@acache)")
    asyncio.run(async_part())

    print("5. stats of every cache in this process (get_stats())")
    for name, counters in get_stats().items():
        print(
            f"  {name:<32} hits={counters['hits']} misses={counters['misses']}"
            f" sets={counters['sets']}"
        )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--disk-child":
        disk_child(sys.argv[2])
    else:
        main()
