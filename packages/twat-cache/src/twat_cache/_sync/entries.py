# GENERATED from packages/twat-cache/src/twat_cache/_async/entries.py
# by tools/unasync.py -- do not edit; run: bash tools/unasync
"""Entries read and written in batches, tagged per call, written once.

This async module is the source; ``twat_cache/_sync/entries.py`` is generated from
it by ``bash tools/unasync``. It holds the engine-facing steps of computed tags,
batch functions, warming and the tag-aware key listing; the decisions taken at
decoration time are in :mod:`twat_cache.entries`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from twat_cache._sync.locks import locked_many
from twat_cache.entries import ABSENT, call_of, learn_tags, seen_tags
from twat_cache.exceptions import CacheValueError
from twat_cache.keys import one_shot_error
from twat_cache.locking import uses_lock
from twat_cache.pipeline import (
    DEFAULT,
    MISSING,
    SLOW,
    TAG_PREFIX,
    TTL,
    Cached,
    Tagged,
    caller,
)
from twat_cache.policies import BatchFlight, SingleFlight
from twat_cache.serializers.frame import HEAD_SIZE, ShortHeadError, head_tags

if TYPE_CHECKING:
    from twat_cache._sync.ops import SyncOps
    from twat_cache.decorators import Controller

__all__ = [
    "batch_path",
    "live_keys",
    "read_many",
    "tagged_path",
    "warm_chunk",
    "warm_ids",
    "warm_one",
    "write_all",
]

# keys listed by keys() are checked against their tags this many at a time
KEYS_CHUNK = 1000
# Cache.warm writes this many entries per set_many
WARM_CHUNK = 500


def no_tags(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, ...]:
    """The computed tags of a function without any."""
    return ()


def _live(
    cache: SyncOps, decoded: dict[Any, tuple[Any, dict[str, int] | None]], found: Mapping[Any, Any]
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


def read_many(
    cache: SyncOps,
    keys: list[Any],
    tags: Iterable[str] = (),
    *,
    count: bool = True,
    guess: bool = False,
) -> tuple[dict[Any, Any], Mapping[Any, Any]]:
    """Read ready keys and their tag counters: ``({key: live value}, everything read)``.

    The counters of ``tags`` and of the cache's own tags are read in the same
    ``get_many`` as the entries -- with ``guess``, also those of tags recently
    seen on this cache's entries; an entry written under other tags costs one
    more ``get_many`` for all the distinct counters of the batch together.
    """
    guessed = seen_tags(cache, len(keys)) if guess else []
    tag_keys = dict.fromkeys([*cache._tag_keys, *map(cache._tag_key, (*tags, *guessed))])
    backend = cache.backend
    found: Mapping[Any, Any] = cache._call({}, backend.get_many, [*keys, *tag_keys])
    decoded: dict[Any, tuple[Any, dict[str, int] | None]] = {}
    unread: dict[str, None] = {}
    learned: list[str] = []
    checked: set[int] = set()
    for key in keys:
        raw = found.get(key)
        if raw is None:
            continue
        value, stored = cache._decode(key, raw)
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
        more: Mapping[Any, Any] = cache._call({}, backend.get_many, list(unread))
        found = {**found, **more}
    live = _live(cache, decoded, found)
    if count:
        cache.stats.hits += len(live)
        cache.stats.misses += len(keys) - len(live)
    return live, found


def write_many(
    cache: SyncOps, items: Mapping[Any, Any], tags_of: Mapping[Any, tuple[str, ...]],
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
        created = cache._current_versions(every, create=True)
        versions = created
    encoded: dict[Any, Any] = {}
    for key, value in items.items():
        own = cache._writable({t: versions[t] for t in (*own_tags, *tags_of.get(key, ()))})
        if own is not MISSING:
            encoded[key] = cache._encode(value, own)
    if not encoded:
        return not items
    written = cache._call(False, cache.backend.set_many, encoded, cache._ttl(ttl))
    return cache._wrote(written, len(encoded)) and len(encoded) == len(items)


def tagged_path(ctl: Controller) -> Cached:
    """The call path of a function whose tags are computed from its arguments.

    A hit is one ``get_many`` of the entry and its tag counters; a miss runs the
    function once (single flight) and writes it under the versions just read.
    """
    cache = ctl.cache
    tags_of = ctl.entry.tags_of or no_tags
    func = caller(ctl.func)
    flight = SingleFlight()

    def run_and_store(
        key: Any, tags: tuple[str, ...], found: Mapping[Any, Any],
        args: tuple[Any, ...], kwargs: dict[str, Any],
    ) -> Any:  # fmt: skip
        result = func(*args, **kwargs)
        try:
            refused = one_shot_error(result)  # a generator would reach the next caller spent
            if refused is not None:
                raise refused
            write_many(cache, {key: result}, {key: tags}, found)
        except CacheValueError as exc:
            ctl.not_stored(exc)
        return result

    own = cache._tag_keys
    stats = cache.stats
    size, tagged_head = cache._plain_size, cache._tagged_head

    def cached(*args: Any, **kwargs: Any) -> Any:
        key = ctl.key(args, kwargs)
        tags = tags_of(args, kwargs)
        asked = [*own, *[TAG_PREFIX + tag for tag in tags]]
        # one read: the entry and its tag counters (like a static-tags hit)
        found = cache._read_with(key, asked)
        raw = found.get(key)
        if raw is not None:
            if size and type(raw) is bytes and raw[:size] == tagged_head:
                value = cache._tagged_read(raw, found, asked)  # inline, as a static-tags hit
            else:
                value = SLOW
            if value is SLOW:
                value, stored = cache._decode(key, raw)
                if value is not MISSING and stored:
                    current = cache._current_in(stored, found, asked)
                    if current is None:  # an entry written under other tags (Cache.set(tags=...))
                        versions = cache._current_versions(stored, create=False)
                        value = cache._fresh(value, stored, versions)
                    elif not current:
                        value = MISSING
            if value is not MISSING:
                stats.hits += 1
                return value
        stats.misses += 1
        return flight.run(key, lambda: run_and_store(key, tags, found, args, kwargs))

    return cached


def batch_path(ctl: Controller) -> Cached:
    """The call path of ``batch=True``: ``f(ids, *rest)`` caches each id on its own.

    The key of an id is the key of the call with the iterable replaced by that id
    (``f.cache_key(id, *rest)``). One ``get_many`` reads every id; the function runs
    once, with the missing ids only; one ``set_many`` stores its results. Concurrent
    calls share their work per id (single flight): a call computes only the ids no
    other call of this process is computing and takes the others' results; with
    ``lock=True``, the ids' locks make that true in the whole fleet.
    """
    cache = ctl.cache
    entry = ctl.entry
    func = caller(ctl.func)
    flight = BatchFlight()
    fleet = uses_lock(cache)

    def cached(ids: Iterable[Any], *rest: Any, **kwargs: Any) -> dict[Any, Any]:
        keys = {ctl.key((one, *rest), kwargs): one for one in ids}
        tags: dict[Any, tuple[str, ...]] = {}
        if entry.tags_of is not None:
            tags = {key: entry.tags_of((one, *rest), kwargs) for key, one in keys.items()}
        every = dict.fromkeys(t for own in tags.values() for t in own)
        live, found = read_many(cache, list(keys), every)
        missing = [key for key in keys if key not in live]
        if not missing:
            return {one: live[key] for key, one in keys.items() if live[key] is not ABSENT}

        def run_and_store(wanted: list[Any]) -> dict[Any, Any]:
            # an outcome per key: its value, or ABSENT when the function left its id out
            computed = func([keys[key] for key in wanted], *rest, **kwargs)
            outcomes: dict[Any, Any] = {}
            store: dict[Any, Any] = {}
            for key in wanted:
                one = keys[key]
                if one in computed:
                    store[key] = outcomes[key] = computed[one]
                else:
                    outcomes[key] = ABSENT
                    if entry.cache_absent:
                        store[key] = ABSENT
            try:
                write_many(cache, store, tags, found)
            except CacheValueError as exc:
                ctl.not_stored(exc)
            return outcomes

        def read(wanted: list[Any]) -> Mapping[Any, Any]:
            now, _ = read_many(cache, wanted, every, count=False)
            return now

        def run(wanted: list[Any]) -> Mapping[Any, Any]:
            if fleet:  # lock=True: each id computed once in the fleet
                return locked_many(cache, wanted, run_and_store, read)
            return run_and_store(wanted)

        live.update(flight.run(missing, run))
        return {one: live[key] for key, one in keys.items() if live[key] is not ABSENT}

    return cached


def warm_one(ctl: Controller, call: Cached, item: Any) -> bool:
    """Run one item of ``f.warm``: False when already cached, True when the call ran.

    Raises:
        Exception: whatever the call raised.
    """
    args, kwargs = call_of(item)
    keys = [ctl.key(args, kwargs)]
    tags = ctl.entry.tags_of(args, kwargs) if ctl.entry.tags_of else ()
    live, _ = read_many(cache=ctl.cache, keys=keys, tags=tags, count=False)
    if len(live) == len(keys):
        return False
    call(*args, **kwargs)
    return True


def warm_ids(ctl: Controller, call: Cached, items: list[Any]) -> list[tuple[Any, Any]]:
    """Warm items of a batch function that share their other arguments: one read, one call.

    Each item is one id (or ``(id, *rest)``, the same ``rest`` for all). Returns
    ``(item, outcome)`` per item: ``"cached"``, ``"warmed"``, ``"absent"`` (the
    function left the id out of its result) or the exception its call raised.
    """
    args, kwargs = call_of(items[0])
    if not args:
        refused = TypeError(f"warm item {items[0]!r}: a batch function warms id or (id, *rest)")
        return [(items[0], refused)]
    rest = args[1:]
    ids = [call_of(item)[0][0] for item in items]
    keys = [ctl.key((one, *rest), kwargs) for one in ids]
    tags_of = ctl.entry.tags_of
    every = (
        () if tags_of is None else {t: None for one in ids for t in tags_of((one, *rest), kwargs)}
    )
    live, _ = read_many(cache=ctl.cache, keys=keys, tags=every, count=False)
    wanted = list(dict.fromkeys(one for one, key in zip(ids, keys, strict=True) if key not in live))
    found: Mapping[Any, Any] = {}
    failure: Exception | None = None
    if wanted:
        try:
            found = call(wanted, *rest, **kwargs)
        except Exception as exc:  # every id of the call failed with it
            failure = exc
    outcomes: list[tuple[Any, Any]] = []
    for item, one, key in zip(items, ids, keys, strict=True):
        if key in live:
            outcomes.append((item, "cached"))
        elif failure is not None:
            outcomes.append((item, failure))
        else:
            outcomes.append((item, "warmed" if one in found else "absent"))
    return outcomes


def warm_chunk(ctl: Controller, call: Cached, items: list[Any]) -> list[tuple[Any, Any]]:
    """Warm a chunk of ``f.warm``'s items: ``(item, outcome or exception)`` per item.

    A batch function's chunk is warmed with one call (:func:`awarm_ids`); any
    other function's chunk is one item.
    """
    if ctl.entry.batch:
        try:
            return warm_ids(ctl, call, items)
        except Exception as exc:  # the ids could not be keyed or read: each of them failed
            return [(item, exc) for item in items]
    outcomes: list[tuple[Any, Any]] = []
    for item in items:
        try:
            outcomes.append((item, "warmed" if warm_one(ctl, call, item) else "cached"))
        except Exception as exc:  # recorded in the report, never raised
            outcomes.append((item, exc))
    return outcomes


def write_all(
    cache: SyncOps,
    items: Mapping[Any, Any] | Iterable[tuple[Any, Any]],
    ttl: TTL = DEFAULT,
    batch_size: int = WARM_CHUNK,
) -> int:
    """Write ``items`` in ``set_many`` batches of ``batch_size``; return how many were written."""
    pairs = items.items() if isinstance(items, Mapping) else items
    written = 0
    chunk: dict[Any, Any] = {}
    for key, value in pairs:
        chunk[key] = value
        if len(chunk) >= batch_size:
            written += len(chunk) if cache.set_many(chunk, ttl) else 0
            chunk = {}
    if chunk:
        written += len(chunk) if cache.set_many(chunk, ttl) else 0
    return written


def _entry_tags(cache: SyncOps, raw: Any) -> dict[str, int] | None:
    """The tag versions an entry was written under, from its header (None: untagged)."""
    if cache._serializer is None:  # an in-process engine stores the entry itself
        return raw.versions if type(raw) is Tagged else None
    return head_tags(raw)


def _alive(cache: SyncOps, keys: list[Any], current: dict[str, int | None]) -> list[Any]:
    """The keys among ``keys`` whose entries are live, read by their headers.

    ``current`` holds the tag counters read so far in this listing; each is read
    once for the whole listing. An entry this cache cannot decode (another
    serializer or secret) counts as live unless its tags say otherwise.
    """
    backend = cache.backend
    heads = getattr(backend, "get_heads", None)  # an engine's metadata read: first bytes only
    if heads is None or cache._serializer is None:
        found: Mapping[Any, Any] = cache._call({}, backend.get_many, keys)
    else:
        found = cache._call({}, heads, keys, HEAD_SIZE)
    tags: dict[Any, dict[str, int] | None] = {}
    longer: list[Any] = []  # a tag block longer than the head read: read the whole entry
    for key, raw in found.items():
        try:
            tags[key] = _entry_tags(cache, raw)
        except ShortHeadError:
            longer.append(key)
    if longer:
        more: Mapping[Any, Any] = cache._call({}, backend.get_many, longer)
        tags.update({key: _entry_tags(cache, raw) for key, raw in more.items()})
    unread = dict.fromkeys(t for own in tags.values() if own for t in own if t not in current)
    if unread:
        counters: Mapping[Any, Any] = cache._call(
            {}, backend.get_many, [cache._tag_key(t) for t in unread]
        )
        current.update(cache._versions_from(unread, counters))
    live: list[Any] = []
    for key in keys:
        if key in tags:
            stored = tags[key]
            if not stored or cache._fresh(True, stored, current) is True:
                live.append(key)
    return live


def live_keys(cache: SyncOps, keys: Iterator[Any]) -> Iterator[Any]:
    """The keys whose entries are live: unexpired, not invalidated by a tag.

    The keys are read in chunks of :data:`KEYS_CHUNK` (bounded memory), each with
    one engine read of the entries' first bytes where the engine can (``get_heads``)
    -- the tags are in the header -- and their values never deserialized.
    """
    current: dict[str, int | None] = {}
    chunk: list[Any] = []
    for key in keys:
        chunk.append(key)
        if len(chunk) >= KEYS_CHUNK:
            for one in _alive(cache, chunk, current):
                yield one
            chunk = []
    if chunk:
        for one in _alive(cache, chunk, current):
            yield one
