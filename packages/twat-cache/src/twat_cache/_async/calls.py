"""The call path of a decorated function, written once.

This async module is the source; ``twat_cache/_sync/calls.py`` is generated from
it by ``bash tools/unasync``. The lookup itself is the cache's strategy
(:meth:`~twat_cache.Cache.hit_path`); this module adds what happens on a miss:
single flight, running the function, storing its result.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from twat_cache._async.fresh import afresh_path
from twat_cache._async.locks import alocking
from twat_cache.exceptions import CacheValueError
from twat_cache.freshness import entry
from twat_cache.keys import one_shot_error
from twat_cache.pipeline import AsyncCached, acaller
from twat_cache.policies import AsyncSingleFlight

if TYPE_CHECKING:
    from twat_cache.decorators import Controller

__all__ = ["acall_path"]


def acall_path(ctl: Controller) -> AsyncCached:
    """Return the cached call of ``ctl.func``: a hit is one engine read, a miss runs it once."""
    cache = ctl.cache
    afunc = acaller(ctl.func)
    flight = AsyncSingleFlight()
    computing = cache._obs.computing  # times the function on a miss (stats.computes)

    async def arun_and_store(key: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        started = time.perf_counter()
        with computing(key):
            result = await afunc(*args, **kwargs)
        try:
            refused = one_shot_error(result)  # a generator would reach the next caller spent
            if refused is not None:
                raise refused
            await cache.astore(key, *entry(cache.config, result, time.perf_counter() - started))
        except CacheValueError as exc:
            ctl.not_stored(exc)
        return result

    arun = alocking(cache, arun_and_store)  # with lock=True: once in the fleet

    async def amiss(key: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        # concurrent misses of one key run the function once (stampede protection)
        return await flight.run(key, lambda: arun(key, args, kwargs))

    # stale_ttl=, early_refresh=: hits are frames (else the cache's plain hit path)
    return afresh_path(cache, ctl.key, ctl.nargs if ctl.bare else -1, amiss, arun_and_store)
