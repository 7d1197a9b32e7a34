"""The exceptions twat-cache raises.

Every exception derives from :class:`TwatCacheError`. The names of the original
twat-cache are kept. Failures of a storage server are :class:`BackendError`
subclasses that keep the client's exception as ``__cause__``.
"""

from __future__ import annotations

import pickle  # nosec B403 - only for PickleError, nothing is unpickled here
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
    """

    def __init__(self, field: str, value: Any = _MESSAGE_ONLY, allowed: str = "") -> None:
        if value is _MESSAGE_ONLY:
            super().__init__(field)
            self.field, self.value, self.allowed = "", None, ""
            return
        super().__init__(
            f"invalid {field}={value!r}: {allowed}", field=field, value=value, allowed=allowed
        )
        self.field = field
        self.value = value
        self.allowed = allowed


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


class PathError(ConfigurationError, ResourceError):
    """A cache folder cannot be created or used."""
