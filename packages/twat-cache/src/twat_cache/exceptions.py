"""The exceptions twat-cache raises.

Every exception derives from :class:`TwatCacheError`. The names of the original
twat-cache are kept. Failures of a storage server are :class:`BackendError`
subclasses that keep the client's exception as ``__cause__``.
"""

from __future__ import annotations

import difflib
import pickle  # nosec B403 - only for PickleError, nothing is unpickled here
from collections.abc import Iterable
from typing import Any

__all__ = [
    "BackendError",
    "BackendUnavailableError",
    "CacheKeyError",
    "CacheOperationError",
    "CacheValueError",
    "ConcurrencyError",
    "ConfigurationError",
    "EngineError",
    "EngineNotAvailableError",
    "NodeError",
    "PathError",
    "ResourceError",
    "SerializationError",
    "TwatCacheError",
]


class TwatCacheError(Exception):
    """Base class of every error raised by twat-cache.

    Args:
        message: What went wrong, in the user's words.
        *args: More values for ``self.args`` (as 2.x took them).
        **context: Structured details (kept on ``self.context`` for logging).
    """

    def __init__(self, message: str, *args: Any, **context: Any) -> None:
        super().__init__(message, *args)
        self.message = message
        self.context = context


# ConfigurationError's value when it is given a plain message (the 2.x form)
_MESSAGE_ONLY: Any = object()


class ConfigurationError(TwatCacheError, ValueError):
    """A configuration value is invalid.

    The message names the field, the value given and what is allowed.

    Args:
        field: The name of the option (``ttl``, ``url``, ``maxsize`` ...); or, given
            alone, the whole message (``ConfigurationError("message")``, as in 2.x).
        value: The value that was given.
        allowed: What would have been accepted.
        source: Where the value came from when not from the caller's code, e.g.
            ``environment variable TWAT_CACHE_STRICT`` (named in the message).
    """

    def __init__(
        self,
        field: str,
        value: Any = _MESSAGE_ONLY,
        allowed: str = "",
        *,
        source: str | None = None,
    ) -> None:
        if value is _MESSAGE_ONLY:
            super().__init__(field)
            self.field, self.value, self.allowed = "", None, ""
            self.source = None
            return
        origin = f" (from {source})" if source else ""
        super().__init__(
            f"invalid {field}={value!r}{origin}: {allowed}",
            field=field,
            value=value,
            allowed=allowed,
            source=source,
        )
        self.field = field
        self.value = value
        self.allowed = allowed
        self.source = source

    @classmethod
    def unknown(
        cls,
        field: str,
        name: str,
        known: Iterable[str],
        *,
        source: str | None = None,
        also: Iterable[str] = (),
    ) -> ConfigurationError:
        """The error for an unknown option ``name``: a "did you mean" and the known names.

        Args:
            field: What kind of name it is (``option``, ``redis URL option 'x'``...).
            name: The unknown name.
            known: The names accepted here, all listed in the message.
            source: Where ``name`` came from (see the class).
            also: Names accepted elsewhere that ``name`` may be a misspelling of.

        Example:
            >>> ConfigurationError.unknown("option", "ttll", ["ttl", "tags"]).allowed
            "did you mean 'ttl'? known options are: tags, ttl"
        """
        names = sorted(set(known))
        close = difflib.get_close_matches(name, sorted({*names, *also}), n=3, cutoff=0.6)
        hint = "did you mean " + " or ".join(repr(c) for c in close) + "? " if close else ""
        listed = ", ".join(names) or "none"
        return cls(field, name, f"{hint}known options are: {listed}", source=source)


class EngineError(TwatCacheError):
    """A storage engine failed or was misused."""


class EngineNotAvailableError(EngineError, ImportError):
    """The engine asked for is not installed; the message says what to install.

    Args:
        message: What is missing and what to install.
        reason: Why it is missing, appended as ``message: reason`` (as in 2.x).
        **context: Structured details.
    """

    def __init__(self, message: str, reason: str | None = None, **context: Any) -> None:
        super().__init__(f"{message}: {reason}" if reason else message, **context)
        self.reason = reason


class BackendError(EngineError):
    """A storage server or file failed; the client's exception is ``__cause__``."""


class NodeError(BackendError):
    """One server of several failed; the others still answer (a memcached ring node, say).

    Core fails open for that call but keeps the backend in use: the engine routes
    around the node, so pausing the whole backend would cost every other key.
    """


class BackendUnavailableError(BackendError):
    """The backend is known to be down (its circuit breaker is open)."""


class CacheOperationError(TwatCacheError):
    """A cache operation cannot be carried out (for example on a closed cache)."""


# 2.x parents kept: key, value and serialization errors are CacheOperationErrors;
# path and concurrency errors are ResourceErrors.
class CacheKeyError(CacheOperationError, KeyError):
    """A cache key cannot be built from the given arguments."""

    def __str__(self) -> str:  # KeyError would print the repr of the message
        return self.message


class CacheValueError(CacheOperationError, ValueError):
    """A value cannot be stored (for example it is larger than the server allows)."""


class SerializationError(CacheValueError, pickle.PickleError):
    """A value cannot be serialized, or a stored entry cannot be read back.

    It is also a :class:`pickle.PickleError`, as Django's cache contract expects
    from ``set``/``add`` of an unpicklable value.
    """


class ResourceError(TwatCacheError):
    """A resource (file handle, connection, memory) could not be obtained or released."""


class ConcurrencyError(ResourceError):
    """A lock could not be obtained in time."""


class LockTimeoutError(ConcurrencyError, TimeoutError):
    """Another process held a key's computation lock past ``lock_timeout``.

    Raised only with ``on_lock_timeout="raise"``; by default the waiter computes
    the value itself.
    """


class PathError(ConfigurationError, ResourceError):
    """A cache folder cannot be created or used."""
