"""The live demo of the talk "One cache API, eight storages".

Run it from a checkout with the engines installed:

    pip install "twat-cache[disk,sqlite,redis]"
    python docs/talks/one-cache-api/demo.py                  # embedded engines only
    DEMO_REDIS_URL=redis://127.0.0.1:6379/0 python docs/talks/one-cache-api/demo.py

Each step prints what it shows; the talk's slides follow the same order. Nothing here needs a
server unless DEMO_REDIS_URL is set: memory, SQLite and disk are embedded. The Redis steps use
a namespace of their own and clear only that namespace.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from twat_cache import BackendError, Cache, CachedFunction, ucache

REDIS_URL = os.environ.get("DEMO_REDIS_URL")
NAMESPACE = "talk-demo"


def step(title: str) -> None:
    """Print a step's title, as on its slide."""
    print(f"\n== {title}")


def timed(call: Callable[[], object]) -> tuple[object, float]:
    """Return what ``call()`` returns and how many milliseconds it took."""
    start = time.perf_counter()
    result = call()
    return result, (time.perf_counter() - start) * 1000


def one_decorator() -> None:
    """Step 1: a slow function, cached in process memory."""
    step("1. one decorator: @ucache(ttl=60), in process memory")

    @ucache(ttl=60)
    def exchange_rate(currency: str) -> float:
        time.sleep(0.2)  # stands for a slow HTTP call
        return {"EUR": 1.08, "GBP": 1.27}[currency]

    for attempt in ("first", "second"):
        value, ms = timed(lambda: exchange_rate("EUR"))
        print(f"{attempt} call: {value} in {ms:.3f} ms")
    print(exchange_rate.cache_info())


def cached_square(url: str, runs: list[int]) -> CachedFunction[[int], int]:
    """The same function body, cached on the engine of ``url``; ``runs`` records each run."""

    @ucache(url, ttl=60, namespace=NAMESPACE)
    def square(x: int) -> int:
        runs.append(x)
        return x * x

    return square


def storage_by_url(folder: Path) -> None:
    """Step 2: one function body on every engine; only the URL changes."""
    step("2. the storage is a URL: the same function on each engine")
    urls = ["memory://", f"sqlite:///{folder / 'demo.db'}", f"disk://{folder / 'disk'}"]
    if REDIS_URL:
        urls.append(REDIS_URL)
    for url in urls:
        runs: list[int] = []
        square = cached_square(url, runs)
        square.cache_clear()
        first, second = square(12), square(12)
        assert first == second == 144
        info = square.cache_info()
        print(f"{url.split('://')[0]:<7} 144 twice, function ran {len(runs)} time(s), {info}")
        square.cache.close()


def sync_and_async(folder: Path) -> None:
    """Step 3: the same decorator on a coroutine function."""
    step("3. sync and async: the same decorator on a coroutine function")

    @ucache(f"sqlite:///{folder / 'async.db'}", ttl=60)
    async def profile(user_id: int) -> dict[str, object]:
        await asyncio.sleep(0.1)  # stands for a database query
        return {"id": user_id, "name": f"user-{user_id}"}

    async def main() -> None:
        for attempt in ("first", "second"):
            start = time.perf_counter()
            value = await profile(7)
            print(f"{attempt} await: {value} in {(time.perf_counter() - start) * 1000:.3f} ms")
        await profile.cache.aclose()

    asyncio.run(main())


def tags(folder: Path) -> None:
    """Step 4: invalidate a group of entries by tag."""
    step("4. tags: invalidate a group of entries without knowing their keys")
    with Cache(f"sqlite:///{folder / 'tags.db'}", ttl=300) as cache:
        cache.set("user:7", {"team": 3}, tags=["users", "team:3"])
        cache.set("user:8", {"team": 4}, tags=["users"])
        cache.invalidate_tags("team:3")
        print(f"after invalidate_tags('team:3'): user:7 -> {cache.get('user:7')}")
        print(f"after invalidate_tags('team:3'): user:8 -> {cache.get('user:8')}")


def fail_open() -> None:
    """Step 5: a cache server that is down, with and without strict=True."""
    step("5. fail-open: the cache server is down, the application is not")
    # nothing listens on port 1; the warning goes to the twat_cache logger, shown here
    logging.basicConfig(format="   log: %(levelname)s %(message)s", stream=sys.stdout)
    dead = "redis://127.0.0.1:1/0"

    @ucache(dead, ttl=60)
    def lookup(x: int) -> int:
        return x * 2

    print(f"lookup(21) = {lookup(21)}, lookup(21) = {lookup(21)} (uncached, no exception)")

    @ucache(dead, ttl=60, strict=True)
    def must_be_cached(x: int) -> int:
        return x * 2

    try:
        must_be_cached(21)
    except BackendError as exc:
        print(f"strict=True raises {type(exc).__name__}")


def tiers(folder: Path) -> None:
    """Step 6: a near memory tier over a shared engine."""
    step("6. tiers: a near copy in memory over a shared engine")
    lowest = REDIS_URL or f"sqlite:///{folder / 'tiers.db'}"
    with Cache(["memory://", lowest], ttl=300, l1_ttl=30, namespace=NAMESPACE) as cache:
        cache.clear()
        cache.set("config", {"feature": True})
        value, ms = timed(lambda: cache.get("config"))
        print(f"near hit over {lowest.split('://')[0]}: {value} in {ms:.3f} ms")
        cache.delete("config")
        print(f"after delete, every tier: {cache.get('config')}")


def locks(folder: Path) -> None:
    """Step 7: eight threads miss one key at once; the value is computed once."""
    step("7. stampedes: 8 threads miss one key at once, the function runs once")
    url = REDIS_URL or f"sqlite:///{folder / 'locks.db'}"
    runs: list[int] = []
    ran = threading.Lock()

    def render() -> str:
        with ran:
            runs.append(1)
        time.sleep(0.2)  # a slow page
        return "<html>home</html>"

    with Cache(url, ttl=60, lock=True, namespace=NAMESPACE) as cache:
        cache.delete("home")
        results: list[object] = []
        threads = [
            threading.Thread(target=lambda: results.append(cache.get_or_set("home", render)))
            for _ in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert results == ["<html>home</html>"] * 8
        print(f"8 callers got the page; render() ran {len(runs)} time(s)")


def main() -> None:
    """Run every step in order, in a temporary folder."""
    print(f"twat-cache demo; Redis: {REDIS_URL or 'not set (DEMO_REDIS_URL)'}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        one_decorator()
        storage_by_url(folder)
        sync_and_async(folder)
        tags(folder)
        fail_open()
        tiers(folder)
        locks(folder)
    print("\ndone")


if __name__ == "__main__":
    main()
