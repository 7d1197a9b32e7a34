"""Copies for in-process engines, so that a value read back is never the object stored.

twat-cache's in-process engines (``builtin://``, ``memory://``) keep objects as they
are. A framework cache must not: a cached response that later middleware mutates
(a session cookie, a Vary header) would carry that change to every later reader.
So, as Django's LocMemCache and Flask-Caching's SimpleCache do, such values are kept
pickled; immutable scalars stay as they are (and integers stay raw for ``incr``).
Byte engines serialize in core already and never see a :class:`Pickled`.
"""

from __future__ import annotations

# only this process's own values are pickled and read back, never bytes from outside
import pickle  # nosec B403
from typing import Any

from twat_cache.exceptions import SerializationError

__all__ = ["Pickled", "freeze", "thaw"]

_IMMUTABLE = frozenset({int, float, complex, str, bytes, bool, type(None)})


class Pickled:
    """A value held by an in-process engine as a pickle."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


def freeze(value: Any) -> Any:
    """Return what an in-process engine should keep for ``value``.

    Raises:
        SerializationError: when the value cannot be pickled (nothing is stored).
    """
    if type(value) in _IMMUTABLE:
        return value
    try:
        return Pickled(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
    except Exception as exc:  # pickling raises PicklingError, TypeError, AttributeError...
        raise SerializationError(f"cannot pickle {type(value).__name__}: {exc}") from exc


def thaw(value: Any) -> Any:
    """Return a fresh copy of a value kept by :func:`freeze` (anything else as it is)."""
    if type(value) is Pickled:  # pickled by freeze() in this process
        return pickle.loads(value.data)  # nosec B301
    return value
