# GENERATED from packages/twat-cache/src/twat_cache/_async/calls.py
# by tools/unasync.py -- do not edit; run: bash tools/unasync
"""The call path of a decorated function, written once.

This async module is the source; ``twat_cache/_sync/calls.py`` is generated from
it by ``bash tools/unasync``. The lookup itself is the cache's strategy
(:meth:`~twat_cache.Cache.hit_path`); this module adds what happens on a miss:
single flight, running the function, storing its result.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from twat_cache._sync.fresh import fresh_path
from twat_cache._sync.locks import locking
from twat_cache.exceptions import CacheValueError
from twat_cache.freshness import entry
from twat_cache.keys import one_shot_error
from twat_cache.pipeline import Cached, caller
from twat_cache.policies import SingleFlight

if TYPE_CHECKING:
    from twat_cache.decorators import Controller

__all__ = ["call_path"]


def call_path(ctl: Controller) -> Cached:
    """Return the cached call of ``ctl.func``: a hit is one engine read, a miss runs it once."""
    cache = ctl.cache
    func = caller(ctl.func)
    flight = SingleFlight()
    computing = cache._obs.computing  # times the function on a miss (stats.computes)

    def run_and_store(key: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        started = time.perf_counter()
        with computing(key):
            result = func(*args, **kwargs)
        try:
            refused = one_shot_error(result)  # a generator would reach the next caller spent
            if refused is not None:
                raise refused
            cache.store(key, *entry(cache.config, result, time.perf_counter() - started))
        except CacheValueError as exc:
            ctl.not_stored(exc)
        return result

    run = locking(cache, run_and_store)  # with lock=True: once in the fleet

    def miss(key: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        # concurrent misses of one key run the function once (stampede protection)
        return flight.run(key, lambda: run(key, args, kwargs))

    # stale_ttl=, early_refresh=: hits are frames (else the cache's plain hit path)
    return fresh_path(cache, ctl.key, ctl.nargs if ctl.bare else -1, miss, run_and_store)
