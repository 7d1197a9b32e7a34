"""How values cross the command line: read from argv, printed, and kept out of messages."""

from __future__ import annotations

import json
from collections.abc import Iterable

from twat_cache.exceptions import ConfigurationError
from twat_cache.urls import parse_url, redact

__all__ = ["format_key", "format_value", "parse_value", "scrub"]


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
        ConfigurationError: when ``as_json`` is set and ``text`` is not JSON.

    Example:
        >>> parse_value("42", as_json=True), parse_value("42", as_json=False)
        (42, '42')
    """
    if not as_json:
        return text
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ConfigurationError("VALUE", text, f"a JSON document with --json ({exc})") from None


def scrub(message: str, url: str | None, secrets: Iterable[str] = ()) -> str:
    """Return ``message`` with the URL's password and every secret replaced by ``***``.

    Engines already keep passwords out of their messages; this is the CLI's own
    guarantee for whatever reaches the terminal.

    Args:
        message: An error message.
        url: The cache URL the message may quote, with its password.
        secrets: Other values that must not be shown (the HMAC secret).

    Example:
        >>> scrub("cannot reach redis://:pw@h:6379", "redis://:pw@h:6379")
        'cannot reach redis://:***@h:6379'
    """
    hidden = [s for s in secrets if s]
    if url:
        message = message.replace(url, redact(url))
        try:
            password = parse_url(url).password
        except ConfigurationError:  # a malformed URL: its raw form was replaced above
            password = None
        if password:
            hidden.append(password)
    for secret in sorted(hidden, key=len, reverse=True):
        message = message.replace(secret, "***")
    return message
