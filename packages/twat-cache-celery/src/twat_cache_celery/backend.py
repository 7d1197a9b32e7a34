"""The Celery result backend: task states and results in a twat-cache, on any engine.

Celery resolves ``result_backend = "twat+redis://host:6379/0"`` through the
``celery.result_backends`` entry point ``twat`` and passes the rest of the URL
(``redis://host:6379/0``) here. The full dotted path works too:
``"twat_cache_celery.backend:TwatBackend+redis://host:6379/0"``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from celery.backends.base import KeyValueStoreBackend
from celery.exceptions import BackendStoreError
from kombu.utils.encoding import bytes_to_str
from twat_cache import Cache
from twat_cache.urls import redact

logger = logging.getLogger("twat_cache")

DEFAULT_NAMESPACE = "celery"
"""The twat-cache namespace of results, unless ``twat_cache_options`` names another."""

SCHEME = "twat"
"""The prefix of ``result_backend`` URLs served by this backend (``twat+<twat-cache URL>``)."""


class TwatBackend(KeyValueStoreBackend):  # type: ignore[misc]  # Celery ships no types
    """A Celery result backend storing through :class:`twat_cache.Cache`.

    Every key lives ``result_expires`` seconds (0 or None: never expires). Chords are
    counted with the engine's atomic ``incr``; groups are read with one ``get_many``.
    Writes that the engine refuses raise :class:`celery.exceptions.BackendStoreError`.

    Args:
        app: The Celery app.
        url: The twat-cache URL (what follows ``twat+``); None takes ``TWAT_CACHE_URL``
            from the environment, else ``memory://``.
        **kwargs: Celery's backend options (``expires``, ``serializer``...).

    Celery settings read:
        ``result_expires``, and ``twat_cache_options``: a dict of twat-cache options for
        the cache (``namespace``, ``secret``, ``compress``...; default namespace ``celery``).
    """

    implements_incr = True
    supports_native_join = True
    key_t = bytes_to_str  # text keys mean the same on every engine

    def __init__(self, app: Any = None, url: str | None = None, **kwargs: Any) -> None:
        super().__init__(app=app, url=url, **kwargs)
        self.expires = self.prepare_expires(kwargs.get("expires"), type=int)
        options: dict[str, Any] = {"namespace": DEFAULT_NAMESPACE}
        options.update(self.app.conf.get("twat_cache_options") or {})
        self.cache = Cache(url or None, **options)

    @property
    def ttl(self) -> int | None:
        """Seconds an entry lives (``result_expires``), None for never."""
        return self.expires or None

    def as_uri(self, include_password: bool = False) -> str:
        """The backend's URL, ``twat+<url>``, without its password unless asked.

        Args:
            include_password: Keep the password in the URL.

        Returns:
            The URL.
        """
        url = self.url or ""
        return f"{SCHEME}+{url if include_password else redact(url)}"

    def get(self, key: str) -> Any:
        """The encoded value at ``key``, None when missing.

        Args:
            key: The key.

        Returns:
            The value or None.
        """
        return self.cache.get(key)

    def mget(self, keys: Sequence[str]) -> list[Any]:
        """The values at ``keys`` (None for the missing ones), in one engine call.

        Args:
            keys: The keys.

        Returns:
            One value (or None) per key.
        """
        found = self.cache.get_many(keys)
        return [found.get(key) for key in keys]

    def set(self, key: str, value: Any) -> None:
        """Store ``value`` at ``key`` for ``result_expires`` seconds.

        Args:
            key: The key.
            value: The encoded value.

        Raises:
            BackendStoreError: when the engine did not store it.
        """
        if not self.cache.set(key, value, ttl=self.ttl):
            raise BackendStoreError(f"twat-cache did not store {key!r} ({self.cache!r})")

    def delete(self, key: str) -> None:
        """Remove ``key``.

        Args:
            key: The key.
        """
        self.cache.delete(key)

    def incr(self, key: str) -> int:
        """Add 1 to the counter at ``key`` (a chord's), starting it at 1; atomic on the engine.

        Args:
            key: The key.

        Returns:
            The new count.
        """
        try:
            return self.cache.incr(key)
        except ValueError:  # no counter yet: the first part to finish starts it
            if self.cache.add(key, 1, ttl=self.ttl):
                return 1
            return self.cache.incr(key)  # another part started it first

    def expire(self, key: str, value: int | None) -> None:
        """Make ``key`` live ``value`` more seconds (0 or None: never expire).

        Args:
            key: The key.
            value: Seconds.
        """
        self.cache.touch(key, ttl=value or None)

    def close(self) -> None:
        """Close the cache's engine."""
        self.cache.close()

    def __reduce__(self, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None) -> Any:
        return super().__reduce__(args, {**(kwargs or {}), "url": self.url})
