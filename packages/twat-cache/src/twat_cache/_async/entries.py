"""Entries read and written in batches, tagged per call, written once.

This async module is the source; ``twat_cache/_sync/entries.py`` is generated from
it by ``bash tools/unasync``. It holds the engine-facing steps of computed tags,
batch functions, warming and the tag-aware key listing; the decisions taken at
decoration time are in :mod:`twat_cache.entries`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from twat_cache.entries import ABSENT, call_of, learn_tags, seen_tags
from twat_cache.exceptions import CacheValueError
from twat_cache.keys import one_shot_error
from twat_cache.pipeline import DEFAULT, MISSING, TTL, AsyncCached, acaller
from twat_cache.policies import AsyncSingleFlight

if TYPE_CHECKING:
    from twat_cache._async.ops import AsyncOps
    from twat_cache.decorators import Controller

__all__ = ["abatch_path", "alive_keys", "aread_many", "atagged_path", "awarm_one", "awrite_all"]

# keys listed by keys() are checked against their tags this many at a time
KEYS_CHUNK = 100
# Cache.warm writes this many entries per set_many
WARM_CHUNK = 500


def no_tags(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, ...]:
    """The computed tags of a function without any."""
    return ()


def _listed(cache: AsyncOps, raw: Any) -> tuple[Any, dict[str, int] | None]:
    """Decode an entry for ``keys()``: one this cache cannot read is listed as it is."""
    serializer = cache._serializer
    if serializer is None:
        return cache._decode(None, raw)
    try:
        return serializer.loads(raw)
    except Exception:  # written with another serializer or secret: it exists all the same
        return raw, None


def _live(
    cache: AsyncOps, decoded: dict[Any, tuple[Any, dict[str, int] | None]], found: Mapping[Any, Any]
) -> dict[Any, Any]:
    """The decoded entries whose tag versions are current."""
    live: dict[Any, Any] = {}
    current: dict[str, int | None] = {}  # each counter decoded once for the batch
    fresh: dict[int, bool] = {}  # entries written together share their versions' dict
    for key, (value, stored) in decoded.items():
        if stored:
            known = fresh.get(id(stored))
            if known is None:
                for tag in stored:
                    if tag not in current:
                        current.update(cache._versions_from((tag,), found))
                known = fresh[id(stored)] = cache._fresh(True, stored, current) is True
            if not known:
                continue
        live[key] = value
    return live


async def aread_many(
    cache: AsyncOps,
    keys: list[Any],
    tags: Iterable[str] = (),
    *,
    count: bool = True,
    guess: bool = False,
    listing: bool = False,
) -> tuple[dict[Any, Any], Mapping[Any, Any]]:
    """Read ready keys and their tag counters: ``({key: live value}, everything read)``.

    The counters of ``tags`` and of the cache's own tags are read in the same
    ``get_many`` as the entries -- with ``guess``, also those of tags recently
    seen on this cache's entries; an entry written under other tags costs one
    more ``get_many`` for all the distinct counters of the batch together.
    ``listing`` (for ``keys()``): an entry this cache cannot decode (another
    serializer or secret) counts as live, quietly.
    """
    guessed = seen_tags(cache, len(keys)) if guess else []
    tag_keys = dict.fromkeys([*cache._tag_keys, *map(cache._tag_key, (*tags, *guessed))])
    backend = cache.async_backend
    found: Mapping[Any, Any] = await cache._acall({}, backend.get_many, [*keys, *tag_keys])
    decoded: dict[Any, tuple[Any, dict[str, int] | None]] = {}
    unread: dict[str, None] = {}
    learned: list[str] = []
    checked: set[int] = set()
    for key in keys:
        raw = found.get(key)
        if raw is None:
            continue
        value, stored = _listed(cache, raw) if listing else cache._decode(key, raw)
        if value is MISSING:
            continue
        decoded[key] = (value, stored)
        if not stored or id(stored) in checked:  # entries written together share one dict
            continue
        checked.add(id(stored))
        for tag in stored:
            tag_key = cache._tag_key(tag)
            if tag_key not in tag_keys:
                unread[tag_key] = None
                learned.append(tag)
    if unread:
        learn_tags(cache, learned)
        more: Mapping[Any, Any] = await cache._acall({}, backend.get_many, list(unread))
        found = {**found, **more}
    live = _live(cache, decoded, found)
    if count:
        cache.stats.hits += len(live)
        cache.stats.misses += len(keys) - len(live)
    return live, found


async def awrite_many(
    cache: AsyncOps, items: Mapping[Any, Any], tags_of: Mapping[Any, tuple[str, ...]],
    found: Mapping[Any, Any], ttl: TTL = DEFAULT,
) -> bool:  # fmt: skip
    """Write ready keys, each under its own tags (and the cache's), with one ``set_many``.

    The tag versions come from ``found`` (read with the entries); a counter not
    there yet is created first. An entry whose counter cannot be had is not written.
    """
    own_tags = cache.config.tags  # the cache's own tags go on every entry too
    every = dict.fromkeys([*own_tags, *(t for tags in tags_of.values() for t in tags)])
    versions = cache._versions_from(every, found)
    if any(v is None for v in versions.values()):
        created = await cache._acurrent_versions(every, create=True)
        versions = created
    encoded: dict[Any, Any] = {}
    for key, value in items.items():
        own = cache._writable({t: versions[t] for t in (*own_tags, *tags_of.get(key, ()))})
        if own is not MISSING:
            encoded[key] = cache._encode(value, own)
    if not encoded:
        return not items
    written = await cache._acall(False, cache.async_backend.set_many, encoded, cache._ttl(ttl))
    return cache._wrote(written, len(encoded)) and len(encoded) == len(items)


def atagged_path(ctl: Controller) -> AsyncCached:
    """The call path of a function whose tags are computed from its arguments.

    A hit is one ``get_many`` of the entry and its tag counters; a miss runs the
    function once (single flight) and writes it under the versions just read.
    """
    cache = ctl.cache
    tags_of = ctl.entry.tags_of or no_tags
    afunc = acaller(ctl.func)
    flight = AsyncSingleFlight()

    async def arun_and_store(
        key: Any, tags: tuple[str, ...], found: Mapping[Any, Any],
        args: tuple[Any, ...], kwargs: dict[str, Any],
    ) -> Any:  # fmt: skip
        result = await afunc(*args, **kwargs)
        try:
            refused = one_shot_error(result)  # a generator would reach the next caller spent
            if refused is not None:
                raise refused
            await awrite_many(cache, {key: result}, {key: tags}, found)
        except CacheValueError as exc:
            ctl.not_stored(exc)
        return result

    async def cached(*args: Any, **kwargs: Any) -> Any:
        key = ctl.key(args, kwargs)
        tags = tags_of(args, kwargs)
        live, found = await aread_many(cache, [key], tags)
        if key in live:
            return live[key]
        return await flight.run(key, lambda: arun_and_store(key, tags, found, args, kwargs))

    return cached


def abatch_path(ctl: Controller) -> AsyncCached:
    """The call path of ``batch=True``: ``f(ids, *rest)`` caches each id on its own.

    The key of an id is the key of the call with the iterable replaced by that id
    (``f.cache_key(id, *rest)``). One ``get_many`` reads every id; the function runs
    once, with the missing ids only; one ``set_many`` stores its results.
    """
    cache = ctl.cache
    entry = ctl.entry
    afunc = acaller(ctl.func)

    async def cached(ids: Iterable[Any], *rest: Any, **kwargs: Any) -> dict[Any, Any]:
        keys = {ctl.key((one, *rest), kwargs): one for one in ids}
        tags: dict[Any, tuple[str, ...]] = {}
        if entry.tags_of is not None:
            tags = {key: entry.tags_of((one, *rest), kwargs) for key, one in keys.items()}
        every = dict.fromkeys(t for own in tags.values() for t in own)
        live, found = await aread_many(cache, list(keys), every)
        result: dict[Any, Any] = {}
        missing: dict[Any, Any] = {}
        for key, one in keys.items():
            if key not in live:
                missing[one] = key
            elif live[key] is not ABSENT:
                result[one] = live[key]
        if not missing:
            return result
        computed = await afunc(list(missing), *rest, **kwargs)
        store: dict[Any, Any] = {}
        for one, key in missing.items():
            if one in computed:
                store[key] = result[one] = computed[one]
            elif entry.cache_absent:
                store[key] = ABSENT
        try:
            await awrite_many(cache, store, tags, found)
        except CacheValueError as exc:
            ctl.not_stored(exc)
        return result

    return cached


async def awarm_one(ctl: Controller, call: AsyncCached, item: Any) -> bool:
    """Run one item of ``f.warm``: False when already cached, True when the call ran.

    For a batch function an item is one id (or ``(id, *rest)``), called as ``f([id], *rest)``.

    Raises:
        Exception: whatever the call raised.
    """
    args, kwargs = call_of(item)
    keyed = args
    if ctl.entry.batch and args:  # an item is one id, warmed as f([id], *rest)
        args = ([args[0]], *args[1:])
    keys = [ctl.key(keyed, kwargs)]
    tags = ctl.entry.tags_of(keyed, kwargs) if ctl.entry.tags_of else ()
    live, _ = await aread_many(cache=ctl.cache, keys=keys, tags=tags, count=False)
    if len(live) == len(keys):
        return False
    await call(*args, **kwargs)
    return True


async def awrite_all(
    cache: AsyncOps, items: Mapping[Any, Any] | Iterable[tuple[Any, Any]], ttl: TTL = DEFAULT
) -> int:
    """Write ``items`` in ``set_many`` batches; return how many were written."""
    pairs = items.items() if isinstance(items, Mapping) else items
    written = 0
    chunk: dict[Any, Any] = {}
    for key, value in pairs:
        chunk[key] = value
        if len(chunk) >= WARM_CHUNK:
            written += len(chunk) if await cache.aset_many(chunk, ttl) else 0
            chunk = {}
    if chunk:
        written += len(chunk) if await cache.aset_many(chunk, ttl) else 0
    return written


async def alive_keys(cache: AsyncOps, keys: AsyncIterator[Any]) -> AsyncIterator[Any]:
    """The keys whose entries are live: unexpired, readable, not invalidated by a tag."""
    chunk: list[Any] = []
    async for key in keys:
        chunk.append(key)
        if len(chunk) >= KEYS_CHUNK:
            live, _ = await aread_many(cache, chunk, count=False, listing=True)
            for one in chunk:
                if one in live:
                    yield one
            chunk = []
    if chunk:
        live, _ = await aread_many(cache, chunk, count=False, listing=True)
        for one in chunk:
            if one in live:
                yield one
