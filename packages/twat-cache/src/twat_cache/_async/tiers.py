"""The operations of a tiered cache (:class:`~twat_cache.tiers.TieredCache`), written once.

This async module is the source; ``twat_cache/_sync/tiers.py`` is generated from
it by ``bash tools/unasync``. Each tier is a whole :class:`~twat_cache.Cache`
(its own serializer, breaker and fail-open rules); this module only decides
which tiers a call reaches and in which order: reads go down until a hit and
fill the tiers above it; writes go to the lowest tier first (the truth), are
announced on the invalidation channel, then reach the tiers above.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Hashable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from twat_cache.freshness import plain
from twat_cache.pipeline import (
    DEFAULT,
    MISSING,
    NONE_VALUE,
    TTL,
    AsyncCached,
    AsyncMiss,
    KeyOf,
    Pipeline,
    Tagged,
)

if TYPE_CHECKING:
    from twat_cache.cache import Cache
    from twat_cache.freshness import Stale

__all__ = ["AsyncTiers"]

# arguments whose key is their value alone: a call with only these reuses its key
PLAIN_TYPES = frozenset({int, str, float, bytes, bool, type(None)})
# keys remembered per decorated function (the memo is emptied when full)
REMEMBERED_KEYS = 4096


class AsyncTiers(Pipeline):
    """The async operations of a tiered cache (see :class:`~twat_cache.tiers.TieredCache`)."""

    tiers: list[Cache]
    _epoch: int
    _coherent: bool
    _fill: float | None  # a fill's ttl (TieredCache works it out once)

    def _upper_ttl(self, ttl: float | None) -> float | None:
        raise NotImplementedError  # pragma: no cover - TieredCache provides it

    async def _apublish(self, kind: str, payload: str = "") -> None:
        raise NotImplementedError  # pragma: no cover - TieredCache provides it

    def _readable(self) -> list[Cache]:
        """The tiers a read may use: the upper ones only while no invalidation can be missed."""
        return self.tiers if self._coherent else self.tiers[-1:]

    async def _aread(self, tier: Cache, key: Any, type_: Any = None) -> tuple[Any, tuple[str, ...]]:
        """One tier's live value under ``key`` (or MISSING) and the tags it was written under."""
        if tier._breaker.open_until and tier._unavailable():
            return MISSING, ()
        try:
            raw = await tier.async_backend.get(key)
        except Exception as exc:
            tier._read_failed(key, exc)
            return MISSING, ()
        if tier._breaker.open_until:
            tier._breaker.success()
        if raw is None:
            return MISSING, ()
        size = tier._plain_size
        if size and type_ is None and type(raw) is bytes and raw[:size] == tier._plain_head:
            try:  # the common frame, read inline as a lookup reads it
                value = tier._plain_load(raw[size:])  # type: ignore[misc]
            except Exception:  # corrupt: the full decode below says why, and counts it
                value = MISSING
            if value is not MISSING:
                return value, ()
        value, stored = tier._decode(key, raw, type_)
        if not stored or value is MISSING:
            return value, ()
        return await tier._acheck_tags(value, stored, None), tuple(stored)

    async def _aunless_current(self, epoch: int, key: Any, tiers: list[Cache]) -> None:
        """Drop what was just written above if an invalidation arrived since ``epoch``.

        The listener counts an invalidation before it drops the near copies, so
        a copy written from a value that predates it is dropped by one or the other.
        """
        if self._epoch != epoch:
            for tier in tiers:
                await tier.adelete(key)

    async def alookup(self, key: Any, type_: Any = None, start: int = 0) -> Any:
        """Return the live value under ``key`` from the highest tier holding it, or MISSING.

        A hit in a lower tier fills the tiers above it -- unless an invalidation
        arrived meanwhile, which the value read may predate. ``type_`` is what
        ``serializer="typed"`` rebuilds; ``start``: the first tier to read (the
        ones above it were just read and missed).
        """
        epoch = self._epoch
        readable = self.tiers if self._coherent else self.tiers[-1:]  # as _readable(), inline
        for depth in range(start if len(readable) > 1 else 0, len(readable)):
            value, tags = await self._aread(readable[depth], key, type_)
            if value is MISSING:
                continue
            if depth:
                ttl = self._fill
                for upper in readable[:depth]:
                    await upper.astore(key, value, ttl, tags)
                if self._epoch != epoch:  # an invalidation arrived meanwhile
                    await self._aunless_current(epoch, key, readable[:depth])
            return self._counted(value)
        return self._counted(MISSING)

    def ahit_path(
        self, key_of: KeyOf, nargs: int, on_miss: AsyncMiss, stale: Stale | None = None
    ) -> AsyncCached:
        """Return the call path of a decorated function over the tiers (see ``Cache.hit_path``).

        When the nearest tier is in process memory, a near hit is one dictionary
        read, inline, under a key remembered for plain arguments (numbers,
        strings: their key is their value) so that it is not built again.
        """
        path = self._aplain_hit_path(key_of, on_miss)
        if stale is None:
            return path
        served = stale.served

        async def served_path(*args: Any, **kwargs: Any) -> Any:
            return served(None, await path(*args, **kwargs), args, kwargs)

        return served_path

    def _aplain_hit_path(self, key_of: KeyOf, on_miss: AsyncMiss) -> AsyncCached:
        alookup = self.alookup
        near = self.tiers[0]
        if not near.local or near.capabilities.blocking or near._tag_keys or self.config.typed:

            async def looked_up(*args: Any, **kwargs: Any) -> Any:
                key = key_of(args, kwargs)
                value = await alookup(key)
                if value is MISSING:
                    return await on_miss(key, args, kwargs)
                return value

            return looked_up
        near_get: Callable[[Any], Any] = near.backend.get
        stats, tiers = self.stats, self
        remembered: dict[tuple[Any, ...], Any] = {}

        async def cached(*args: Any, **kwargs: Any) -> Any:
            key = None
            if not kwargs:
                try:
                    key = remembered.get(args)
                except TypeError:  # unhashable arguments: keyed by value below
                    key = None
            if key is None:
                key = key_of(args, kwargs)
                if not kwargs and all(type(arg) in PLAIN_TYPES for arg in args):
                    if len(remembered) >= REMEMBERED_KEYS:
                        remembered.clear()
                    remembered[args] = key
            start = 0
            if tiers._coherent:
                try:
                    value = near_get(key)
                except Exception:  # a failing near tier: its own breaker decides, below
                    value = None
                else:
                    if value is not None and type(value) is not Tagged:
                        stats.hits += 1
                        return None if value is NONE_VALUE else value
                    start = 1 if value is None else 0
            value = await alookup(key, None, start)
            if value is MISSING:
                return await on_miss(key, args, kwargs)
            return value

        return cached

    async def astore(
        self, key: Any, value: Any, ttl: TTL = DEFAULT, tags: Iterable[str] = ()
    ) -> bool:
        """Write ``value`` under a ready key in every tier; return whether the lowest took it.

        Raises:
            SerializationError: when the value cannot be encoded (nothing is written).
        """
        tags = tuple(tags)
        lasting = self._ttl(ttl)
        epoch = self._epoch
        *upper, lowest = self.tiers
        written = await lowest.astore(key, value, lasting, tags)
        if not upper:
            return written
        await self._apublish("k", key)
        for tier in upper:
            if written:
                await tier.astore(key, value, self._upper_ttl(lasting), tags)
            else:  # the truth did not change: no tier above may claim it did
                await tier.adelete(key)
        await self._aunless_current(epoch, key, upper)
        return written

    async def aget(self, key: Hashable, default: Any = None, *, type: Any = None) -> Any:
        """Return the value under ``key``, or ``default`` when no tier holds it.

        ``type`` is the type ``serializer="typed"`` rebuilds the value into.
        """
        value = await self.alookup(self._key(key), type)
        return default if value is MISSING else plain(value)

    async def aset(
        self, key: Hashable, value: Any, ttl: TTL = DEFAULT, tags: Iterable[str] = ()
    ) -> bool:
        """Store ``value`` in every tier; return whether the lowest tier stored it.

        An upper tier's copy lives at most as long as the lowest one's (and at
        most ``l1_ttl``).

        Raises:
            SerializationError: when the value cannot be encoded.
        """
        return await self.astore(self._key(key), value, ttl, tags)

    async def aadd(self, key: Hashable, value: Any, ttl: TTL = DEFAULT) -> bool:
        """Store ``value`` only if the lowest tier lacks ``key`` (atomic there)."""
        made = self._key(key)
        lasting = self._ttl(ttl)
        epoch = self._epoch
        *upper, lowest = self.tiers
        added = await lowest.aadd(made, value, lasting)
        if added and upper:
            await self._apublish("k", made)
            for tier in upper:
                await tier.astore(made, value, self._upper_ttl(lasting))
            await self._aunless_current(epoch, made, upper)
        return added

    async def adelete(self, key: Hashable) -> bool:
        """Remove ``key`` from every tier (and every process's near copy); whether one held it."""
        made = self._key(key)
        *upper, lowest = self.tiers
        deleted = await lowest.adelete(made)
        if upper:
            await self._apublish("k", made)
            for tier in upper:
                deleted = await tier.adelete(made) or deleted
        self.stats.deletes += deleted
        return deleted

    async def aget_many(self, keys: Iterable[Hashable]) -> dict[Any, Any]:
        """Return ``{key: value}`` for the keys some tier holds."""
        found: dict[Any, Any] = {}
        for key in keys:
            value = await self.alookup(self._key(key))
            if value is not MISSING:
                found[key] = plain(value)
        return found

    async def aset_many(self, items: Mapping[Any, Any], ttl: TTL = DEFAULT) -> bool:
        """Store every item in every tier; return whether the lowest tier stored them all."""
        made = {self._key(k): v for k, v in items.items()}
        lasting = self._ttl(ttl)
        epoch = self._epoch
        *upper, lowest = self.tiers
        written = await lowest.aset_many(made, lasting)
        if upper:
            for key in made:
                await self._apublish("k", key)
            for tier in upper:
                if written:
                    await tier.aset_many(made, self._upper_ttl(lasting))
                else:
                    await tier.adelete_many(list(made))
            if self._epoch != epoch:
                for tier in upper:
                    await tier.adelete_many(list(made))
        return written

    async def atry_delete_many(self, keys: Iterable[Hashable]) -> int | None:
        """Remove ``keys`` from every tier; how many the lowest tier held (``None``: it failed)."""
        made = [self._key(k) for k in keys]
        *upper, lowest = self.tiers
        count = await lowest.atry_delete_many(made)
        if upper:
            for key in made:
                await self._apublish("k", key)
            for tier in upper:
                await tier.adelete_many(made)
        if count is not None:
            self.stats.deletes += count
        return count

    async def aincr(self, key: Hashable, delta: int = 1) -> int:
        """Increment the counter in the lowest tier; the copies above are dropped.

        Raises:
            ValueError: when ``key`` is absent.
            TypeError: when the value is not an integer.
            OverflowError: when the result leaves the signed 64-bit range.
            BackendError: when the lowest tier fails.
        """
        made = self._key(key)
        *upper, lowest = self.tiers
        result = await lowest.aincr(made, delta)
        if upper:
            await self._apublish("k", made)
            for tier in upper:
                await tier.adelete(made)
        return result

    async def adecr(self, key: Hashable, delta: int = 1) -> int:
        """Subtract ``delta`` (see :meth:`incr`)."""
        return await self.aincr(key, -delta)

    async def atouch(self, key: Hashable, ttl: TTL = DEFAULT) -> bool:
        """Give ``key`` a new ttl in every tier; return whether the lowest tier held it."""
        made = self._key(key)
        lasting = self._ttl(ttl)
        *upper, lowest = self.tiers
        touched = await lowest.atouch(made, lasting)
        for tier in upper:
            if touched:
                await tier.atouch(made, self._upper_ttl(lasting))
            else:
                await tier.adelete(made)
        return touched

    async def attl(self, key: Hashable) -> float | None:
        """Seconds the lowest tier's entry has left (see :meth:`Cache.ttl`).

        Upper copies live no longer than it (and at most ``l1_ttl``).
        """
        return await self.tiers[-1].attl(key)

    async def attl_many(self, keys: Iterable[Hashable]) -> dict[Any, float | None]:
        """Seconds left of each entry of the lowest tier (see :meth:`Cache.ttl_many`)."""
        return await self.tiers[-1].attl_many(keys)

    async def aclear(self) -> bool:
        """Empty the namespace in every tier (and every process's near tier)."""
        *upper, lowest = self.tiers
        cleared = await lowest.aclear()
        if upper:
            await self._apublish("c")
            for tier in upper:
                cleared = await tier.aclear() and cleared
        return cleared

    def akeys(self) -> AsyncIterator[Any]:
        """Iterate over the keys of the lowest tier (the truth).

        Raises:
            CacheOperationError: when the lowest tier cannot list its keys.
        """
        return self.tiers[-1].akeys()

    async def ainvalidate_tags(self, *tags: str) -> None:
        """Make every entry written under any of ``tags`` a miss in every tier and process."""
        *upper, lowest = self.tiers
        await lowest.ainvalidate_tags(*tags)
        if upper:
            for tag in tags:
                await self._apublish("t", tag)
            for tier in upper:
                await tier.ainvalidate_tags(*tags)
