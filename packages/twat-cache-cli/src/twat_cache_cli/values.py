"""How values cross the command line: read from argv and printed."""

from __future__ import annotations

import json

from twat_cache_cli.outcome import UsageError

__all__ = ["format_key", "format_value", "parse_value"]


def format_value(value: object) -> str:
    """Return ``value`` as ``get`` prints it.

    A ``str`` is printed as it is, ``bytes`` as their ``repr`` (so that they are
    told apart from text), anything else as JSON when it can be written as JSON,
    and as its ``repr`` otherwise.

    Example:
        >>> format_value("text"), format_value(b"raw"), format_value({"a": [1, None]})
        ('text', "b'raw'", '{"a": [1, null]}')
    """
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return repr(bytes(value))
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):  # not JSON (a set, an object), a NaN, a cycle
        return repr(value)


def format_key(key: object) -> str:
    """Return a key as ``keys`` prints it: a ``str`` as it is, anything else as its ``repr``.

    In-process engines may hold tuple keys written by decorated functions; they
    cannot be given back on the command line, so their ``repr`` only informs.
    """
    return key if isinstance(key, str) else repr(key)


def parse_value(text: str, *, as_json: bool) -> object:
    """Return the value ``set`` stores: ``text`` itself, or ``text`` parsed as JSON.

    Args:
        text: The VALUE argument.
        as_json: Parse ``text`` as JSON (``42`` is then an integer that ``incr`` can
            increment, ``{"a": 1}`` a dict).

    Raises:
        UsageError: when ``as_json`` is set and ``text`` is not JSON.

    Example:
        >>> parse_value("42", as_json=True), parse_value("42", as_json=False)
        (42, '42')
    """
    if not as_json:
        return text
    try:
        return json.loads(text)
    except ValueError as exc:
        raise UsageError(f"invalid VALUE={text!r}: not a JSON document ({exc})") from None
