"""The integers every engine's ``incr`` agrees on: signed 64-bit, stored as ASCII decimal.

``incr`` on a missing key raises ``ValueError``, on a value that is not an
integer ``TypeError``, and for a result outside the signed 64-bit range
``OverflowError`` -- leaving the stored value unchanged -- on every engine.
"""

from __future__ import annotations

from twat_cache.engines.base import INT64_MAX, INT64_MIN

__all__ = ["INT64_MAX", "INT64_MIN", "checked_sum", "not_an_integer", "overflow_error", "parse_int"]


def overflow_error(key: str, delta: int) -> OverflowError:
    """Return the error of an ``incr`` whose result leaves the signed 64-bit range."""
    return OverflowError(
        f"incrementing {key!r} by {delta} leaves the signed 64-bit range; the value is unchanged"
    )


def not_an_integer(key: str) -> TypeError:
    """Return the error of an ``incr`` on a value that is not an integer."""
    return TypeError(f"the value under {key!r} is not a 64-bit integer")


def parse_int(key: str, raw: bytes) -> int:
    """Return the integer stored as ``raw`` (ASCII decimal, optional sign).

    Raises:
        TypeError: when ``raw`` is not a signed 64-bit decimal integer.
    """
    text = raw.strip()
    body = text[1:] if text[:1] in (b"-", b"+") else text
    if not body.isdigit() or len(body) > 19:
        raise not_an_integer(key)
    value = int(text)
    if not INT64_MIN <= value <= INT64_MAX:
        raise not_an_integer(key)
    return value


def checked_sum(key: str, value: int, delta: int) -> int:
    """Return ``value + delta``.

    Raises:
        OverflowError: when the sum leaves the signed 64-bit range.
    """
    result = value + delta
    if not INT64_MIN <= result <= INT64_MAX:
        raise overflow_error(key, delta)
    return result
