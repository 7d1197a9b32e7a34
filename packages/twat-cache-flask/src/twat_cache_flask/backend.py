"""A Flask-Caching backend over twat-cache: ``CACHE_TYPE = "twat_cache_flask.TwatCache"``.

Flask-Caching's backend API (cachelib's) is mapped onto one :class:`twat_cache.Cache`,
so ``CACHE_TWAT_URL`` can be any twat-cache URL. Timeouts follow Flask-Caching:
``None`` is the default timeout, ``0`` never expires, a negative timeout expires at
once (nothing is stored). In-process engines keep pickled copies (see
:mod:`twat_cache.copies`), as SimpleCache does.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any, Final, Literal

from flask import Flask
from flask_caching.backends.base import BaseCache
from twat_cache import BackendError, Cache, ConfigurationError
from twat_cache.config import resolve_config
from twat_cache.constants import NAMESPACE_PATTERN
from twat_cache.copies import freeze, thaw

__all__ = ["DEFAULT_NAMESPACE", "TwatCache"]

DEFAULT_NAMESPACE = "flask"
"""The namespace used when neither ``namespace`` nor a namespace-like key prefix is given."""

Timeout = int | float | dt.timedelta | None

# an add() that expires at once writes for at most this long (if its delete is lost)
_MOMENT = 1.0


class _Expiry(enum.Enum):
    NOW = "now"


_NOW: Final = _Expiry.NOW


class TwatCache(BaseCache):
    """Flask-Caching's backend API over any twat-cache engine.

    Args:
        url: A twat-cache URL (``builtin://``, ``disk:///path``, ``redis://127.0.0.1:6379/0``...);
            ``None`` means ``TWAT_CACHE_URL`` or ``memory://``.
        default_timeout: Seconds for ``timeout=None``; ``0`` never expires.
        key_prefix: Flask-Caching's ``CACHE_KEY_PREFIX``. It becomes the twat-cache
            namespace when ``namespace`` is not given and it is a valid namespace name
            (letters, digits, ``_ . -``, 1-64 characters), so that ``clear()`` removes
            this prefix's entries only; otherwise it is prepended to every key.
        ignore_delete_many_errors: When False, ``delete_many`` raises ``RuntimeError``
            if the backend failed.
        **options: twat-cache options (``namespace``, ``serializer``, ``secret``,
            ``strict``, ``maxsize``...), from ``CACHE_OPTIONS``.

    Raises:
        ConfigurationError: for a bad URL or option.

    Example:
        In a Flask application, with a Redis server (not run as a doctest):

        >>> app.config.update(  # doctest: +SKIP
        ...     CACHE_TYPE="twat_cache_flask.TwatCache",
        ...     CACHE_TWAT_URL="redis://127.0.0.1:6379/0",
        ...     CACHE_DEFAULT_TIMEOUT=300,
        ... )
        >>> cache = flask_caching.Cache(app)  # doctest: +SKIP
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        default_timeout: int = 300,
        key_prefix: str = "",
        ignore_delete_many_errors: bool = False,
        **options: Any,
    ) -> None:
        # Flask-Caching 2.1's BaseCache takes no ignore_delete_many_errors: set it here
        super().__init__(default_timeout=default_timeout)
        self.ignore_delete_many_errors = ignore_delete_many_errors
        if "ttl" in options:
            raise ConfigurationError(
                "CACHE_OPTIONS['ttl']",
                options["ttl"],
                "no ttl in CACHE_OPTIONS: CACHE_DEFAULT_TIMEOUT is the default ttl",
            )
        self.key_prefix = key_prefix or ""
        if "namespace" not in options:
            if NAMESPACE_PATTERN.fullmatch(self.key_prefix):
                options["namespace"], self.key_prefix = self.key_prefix, ""
            else:
                options["namespace"] = DEFAULT_NAMESPACE
        # fail-open unless strict: writes say whether they happened, reads miss
        self._cache = Cache(config=resolve_config(url, **options))

    @classmethod
    def factory(
        cls, app: Flask, config: dict[str, Any], args: list[Any], kwargs: dict[str, Any]
    ) -> TwatCache:
        """Build from the app's config (Flask-Caching calls this for ``CACHE_TYPE``).

        Reads ``CACHE_TWAT_URL``, ``CACHE_KEY_PREFIX`` and ``CACHE_IGNORE_ERRORS``;
        ``kwargs`` holds ``default_timeout`` and the ``CACHE_OPTIONS``.

        Raises:
            ConfigurationError: for a bad URL or option, or when ``CACHE_ARGS`` is set.
        """
        if args:
            raise ConfigurationError(
                "CACHE_ARGS", args, "nothing: give CACHE_TWAT_URL and CACHE_OPTIONS"
            )
        # older Flask-Caching passes CACHE_IGNORE_ERRORS in config only, newer in kwargs too
        kwargs.setdefault("ignore_delete_many_errors", config.get("CACHE_IGNORE_ERRORS", False))
        return cls(
            config.get("CACHE_TWAT_URL"), key_prefix=config.get("CACHE_KEY_PREFIX") or "", **kwargs
        )

    @property
    def twat_cache(self) -> Cache:
        """The twat-cache :class:`~twat_cache.Cache` behind this backend."""
        return self._cache

    def _key(self, key: str) -> str:
        return self.key_prefix + key

    def _value(self, value: Any) -> Any:
        """What to store: in-process engines keep a pickled copy (see :mod:`.copies`)."""
        return freeze(value) if self._cache.local else value

    def _ttl(self, timeout: Timeout) -> float | Literal[_Expiry.NOW] | None:
        if timeout is None:
            timeout = self.default_timeout
        seconds = timeout.total_seconds() if isinstance(timeout, dt.timedelta) else timeout
        if seconds == 0:
            return None
        if seconds < 0:
            return _NOW
        return float(seconds)

    def _removed(self, keys: list[str]) -> bool:
        """Delete ``keys``; return False when the backend failed (an absent key is no failure)."""
        return self._cache.try_delete_many(keys) is not None

    def get(self, key: str) -> Any:
        """Return the value under ``key``, or ``None``."""
        return thaw(self._cache.get(self._key(key)))

    def has(self, key: str) -> bool:
        """Return whether ``key`` holds a live value."""
        return self._key(key) in self._cache

    def set(self, key: str, value: Any, timeout: Timeout = None) -> bool:
        """Store ``value``; return False when the backend declined it or failed.

        Raises:
            SerializationError: when the value cannot be serialized.
        """
        ttl = self._ttl(timeout)
        if ttl is _NOW:
            return self._removed([self._key(key)])
        return self._cache.set(self._key(key), self._value(value), ttl)

    def add(self, key: str, value: Any, timeout: Timeout = None) -> bool:
        """Store ``value`` only if ``key`` is absent; return whether it was stored."""
        ttl, value = self._ttl(timeout), self._value(value)
        if ttl is _NOW:  # True when the key was free, but nothing is kept
            added = self._cache.add(self._key(key), value, _MOMENT)
            if added:
                self._cache.delete(self._key(key))
            return added
        return self._cache.add(self._key(key), value, ttl)

    def delete(self, key: str) -> bool:
        """Remove ``key``; return whether it was present."""
        return self._cache.delete(self._key(key))

    def get_many(self, *keys: str) -> list[Any]:
        """Return the values of ``keys`` in order (``None`` for a miss), in one round trip."""
        made = [self._key(key) for key in keys]
        found = self._cache.get_many(made)
        return [thaw(found.get(key)) for key in made]

    def set_many(self, mapping: dict[str, Any], timeout: Timeout = None) -> list[Any]:
        """Store every item; return the keys stored (all of them, or none on a failure)."""
        ttl = self._ttl(timeout)
        if ttl is _NOW:
            written = self._removed([self._key(k) for k in mapping])
        else:
            items = {self._key(key): self._value(value) for key, value in mapping.items()}
            written = self._cache.set_many(items, ttl)
        return list(mapping) if written else []

    def delete_many(self, *keys: str) -> list[Any]:
        """Remove ``keys``; return them (an absent key counts as deleted).

        Raises:
            RuntimeError: when the backend failed and ``ignore_delete_many_errors`` is False.
        """
        if self._removed([self._key(key) for key in keys]):
            return list(keys)
        if not self.ignore_delete_many_errors:
            raise RuntimeError(f"Failed to delete keys: {list(keys)}")
        return []

    def clear(self) -> bool:
        """Remove every entry of this cache's namespace; return False when the backend failed."""
        return self._cache.clear()

    def inc(self, key: str, delta: int = 1) -> int | None:
        """Add ``delta`` to the integer under ``key`` atomically; a missing key starts at 0.

        Returns:
            The new value, or ``None`` when the backend failed.

        Raises:
            TypeError: when the value is not an integer.
        """
        try:
            return self._increment(self._key(key), delta)
        except BackendError:  # a counter has no fail-open answer in core; Flask's is None
            if self._cache.config.strict:
                raise
            return None

    def dec(self, key: str, delta: int = 1) -> int | None:
        """Subtract ``delta`` (see :meth:`inc`)."""
        return self.inc(key, -delta)

    def _increment(self, key: str, delta: int) -> int:
        try:
            result: int = self._cache.incr(key, delta)
        except ValueError:  # absent: Flask-Caching starts the counter at delta
            ttl = self._ttl(None)
            if self._cache.add(key, delta, _MOMENT if ttl is _NOW else ttl):
                return delta
            result = self._cache.incr(key, delta)  # another writer created it meanwhile
        return result

    def close(self) -> None:
        """Close the engine (sockets, files)."""
        self._cache.close()
