"""Tiers: a near cache (say, in process memory) over a shared one, kept coherent.

``Cache(["memory://?maxsize=10000", "redis://host/0"])`` (and the same list given
to any decorator) makes a :class:`TieredCache`: one :class:`~twat_cache.Cache`
per URL, highest first. A read goes down the tiers until one holds the key and
fills the tiers above it; a write, delete, ``clear()`` or tag invalidation goes
through every tier, the lowest (the truth) first.

Coherence between processes: when the lowest tier's engine has an invalidation
channel (its capabilities say ``invalidation_channel=True``: Redis, PostgreSQL),
every change is announced on it and a background thread drops the near copies
other processes change. While that channel is down, the upper tiers are emptied
and skipped, so a process never serves a copy it could have missed an
invalidation for. Without a channel, an upper copy lives at most ``l1_ttl``.
See docs/tiers.md.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from twat_cache._async.tiers import AsyncTiers
from twat_cache._sync.tiers import SyncTiers
from twat_cache.cache import Cache
from twat_cache.config import CacheConfig, resolve_config
from twat_cache.exceptions import ConfigurationError
from twat_cache.protocols import Capabilities, InvalidationChannel, Subscription

__all__ = ["TieredCache"]

logger = logging.getLogger("twat_cache")

# a message is "<sender>|<kind>|<payload>": k = a key, t = a tag, c = clear
_SEPARATOR = "|"
# how long a receive waits before checking whether the cache was closed
_POLL = 0.2
# how long the first subscription may take before a new cache serves from the lowest tier only
_FIRST_SUBSCRIPTION = 2.0
_RETRY_MAX = 2.0


def _lowest(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return min(known) if known else None


class _Listener:
    """The background thread that applies other processes' invalidations to the upper tiers."""

    def __init__(self, cache: TieredCache, channel: InvalidationChannel) -> None:
        self.cache = cache
        self.channel = channel
        self.ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"twat-cache-tiers-{cache.name}", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        delay = 0.05
        while not self._stop.is_set():
            try:
                subscription = self.channel.subscribe()
            except Exception as exc:
                logger.debug("cache %s: subscribing failed: %s", self.cache.name, exc)
                self._stop.wait(delay)
                delay = min(delay * 2, _RETRY_MAX)
                continue
            delay = 0.05
            self.cache._resume()
            self.ready.set()
            self._listen(subscription)

    def _listen(self, subscription: Subscription) -> None:
        try:
            while not self._stop.is_set():
                for message in subscription.receive(_POLL):
                    self.cache._apply(message)
        except Exception as exc:
            if not self._stop.is_set():
                logger.warning(
                    "cache %s: invalidation channel lost, near tiers flushed: %s",
                    self.cache.name, exc, extra={"cache": self.cache.name, "error": repr(exc)},
                )  # fmt: skip
        finally:
            self.cache._suspend()
            try:
                subscription.close()
            except Exception:
                logger.debug("cache %s: closing a subscription failed", self.cache.name)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join()


class TieredCache(SyncTiers, AsyncTiers, Cache):
    """Several caches in tiers, the nearest first, kept coherent across processes.

    Args:
        urls: One URL per tier, highest (nearest) first: ``["memory://?maxsize=10000",
            "redis://127.0.0.1:6379/0"]``. Options in a URL's query apply to that tier.
        config: A ready :class:`CacheConfig` for options shared by every tier.
        name: A label for stats and logs.
        **options: Any :class:`~twat_cache.config.CacheOptions`, for every tier;
            ``l1_ttl`` caps how long a copy lives in the tiers above the lowest.

    Raises:
        ConfigurationError: for an empty list or a bad URL or option.

    Example:
        >>> near = Cache(["memory://", "memory://"], ttl=60, l1_ttl=5)
        >>> near.set("k", 1); near.get("k")
        True
        1
    """

    def __init__(
        self,
        urls: Sequence[str],
        /,
        *,
        config: CacheConfig | None = None,
        name: str | None = None,
        backend: object = None,
        **options: Any,
    ) -> None:
        if isinstance(urls, str) or not urls or not all(isinstance(u, str) for u in urls):
            raise ConfigurationError("url", urls, "a URL, or a non-empty list of URLs")
        if backend is not None:
            raise ConfigurationError("backend", backend, "None: tiers are made from their URLs")
        shared = resolve_config(None, base=config, **options)
        label = name or f"tiers:{shared.namespace}"
        self.tiers = []
        for depth, url in enumerate(urls):
            tier_config = resolve_config(url, base=replace(shared, url=None, jitter=0.0))
            if depth < len(urls) - 1:  # a copy above never outlives the lowest tier's entry
                ttl = _lowest([tier_config.ttl, shared.ttl, shared.l1_ttl])
                tier_config = replace(tier_config, ttl=ttl)
            self.tiers.append(Cache(config=tier_config, name=f"{label}[{depth}]"))
        lowest = self.tiers[-1]
        self._raw = lowest._raw
        self.backend = lowest.backend
        self._abackend = None
        self._setup(shared, self._described(), label)
        # a fill's ttl: the lowest entry's remaining life is unknown, l1_ttl bounds the overshoot
        self._fill = _lowest([shared.ttl, shared.l1_ttl])
        self._finalizer = lowest._finalizer
        self._closed = False
        self._sender = uuid.uuid4().hex
        self._epoch = 0
        self._channel: InvalidationChannel | None = None
        self._listener: _Listener | None = None
        self._coherent = True
        if len(self.tiers) > 1 and lowest.capabilities.invalidation_channel:
            self._channel = lowest._raw.invalidation_channel()  # type: ignore[union-attr]
            self._coherent = False  # until subscribed: nothing may be missed
            self._listener = _Listener(self, self._channel)
            self._listener.ready.wait(_FIRST_SUBSCRIPTION)

    def _described(self) -> Capabilities:
        """The capabilities of the whole: the lowest tier's, with every tier's key limits."""
        lowest = self.tiers[-1].capabilities
        return replace(
            lowest,
            stores_objects=all(t.local for t in self.tiers),
            max_key_length=_lowest([t.capabilities.max_key_length for t in self.tiers]),  # type: ignore[arg-type]
        )

    def __repr__(self) -> str:
        return f"<TieredCache {self.name!r} {[type(t._raw).__name__ for t in self.tiers]}>"

    def expect_return_type(self, func: Any, prefix: str) -> None:
        """Have every tier rebuild the entries under ``prefix`` as ``func`` returns them."""
        for tier in self.tiers:
            tier.expect_return_type(func, prefix)

    @property
    def coherent(self) -> bool:
        """Whether the upper tiers serve: no channel needed, or the channel is subscribed."""
        return self._coherent

    # -- ttl ------------------------------------------------------------------------------
    def _upper_ttl(self, ttl: float | None) -> float | None:
        return _lowest([ttl, self.config.l1_ttl])

    # -- the channel ------------------------------------------------------------------------
    def _publish(self, kind: str, payload: str = "") -> None:
        channel = self._channel
        if channel is None:
            return
        try:
            channel.publish(_SEPARATOR.join((self._sender, kind, payload)))
        except Exception as exc:  # the listener notices a dead channel and suspends the tiers
            logger.warning(
                "cache %s: publishing an invalidation failed: %s", self.name, exc,
                extra={"cache": self.name, "error": repr(exc)},
            )  # fmt: skip

    async def _apublish(self, kind: str, payload: str = "") -> None:
        if self._channel is not None:
            await asyncio.to_thread(self._publish, kind, payload)

    def _apply(self, message: str) -> None:
        """Apply another process's invalidation to the upper tiers."""
        sender, _, rest = message.partition(_SEPARATOR)
        if sender == self._sender:
            return
        kind, _, payload = rest.partition(_SEPARATOR)
        self._epoch += 1  # before dropping: a fill in flight then drops its own copy
        for tier in self.tiers[:-1]:
            if kind == "k":
                tier.delete(payload)
            elif kind == "t":
                tier.invalidate_tags(payload)
            else:
                tier.clear()

    def _suspend(self) -> None:
        """The channel is down: stop serving the upper tiers and empty them."""
        self._coherent = False
        self._flush()

    def _resume(self) -> None:
        """Subscribed (again): start from empty upper tiers, then serve them."""
        self._flush()
        self._coherent = True

    def _flush(self) -> None:
        self._epoch += 1
        for tier in self.tiers[:-1]:
            tier.clear()

    # -- closing ------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop listening and close every tier (idempotent)."""
        if not self._closed:
            self._closed = True
            if self._listener is not None:
                self._listener.stop()
            if self._channel is not None:
                self._channel.close()
            for tier in self.tiers:
                tier.close()

    async def aclose(self) -> None:
        """Stop listening and close every tier (idempotent)."""
        if not self._closed:
            self._closed = True
            if self._listener is not None:
                await asyncio.to_thread(self._listener.stop)
            if self._channel is not None:
                await asyncio.to_thread(self._channel.close)
            for tier in self.tiers:
                await tier.aclose()
