"""What memcached's text protocol accepts: key names, expiry times and item sizes."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from twat_cache.engines.generations import Generations
from twat_cache.exceptions import ConfigurationError

if TYPE_CHECKING:
    from twat_cache.urls import EngineURL

__all__ = [
    "DEFAULT_ITEM_SIZE_LIMIT",
    "DEFAULT_PORT",
    "MAX_KEY_LENGTH",
    "META_END",
    "meta_delete_reply",
    "meta_delete_request",
    "meta_ttl_reply",
    "meta_ttl_request",
    "parse_size",
    "physical_key",
    "to_exptime",
]

DEFAULT_PORT = 11211
DEFAULT_ITEM_SIZE_LIMIT = 1024 * 1024  # memcached's default -I
MAX_KEY_LENGTH = 250  # memcached's limit, in bytes
_RELATIVE_EXPTIME_LIMIT = 30 * 24 * 3600  # memcached reads a larger exptime as a Unix time
_SIZE = re.compile(r"(\d+)([kKmM]?)")


def physical_key(namespace: str, generation: int, key: str) -> str:
    """Return the memcached key of ``key``: ``{namespace}:{generation}:{key}``.

    Keys longer than 250 bytes in all, or with spaces, control or non-ASCII
    characters, become ``#{readable prefix}~{blake2b hex}`` after the prefix
    (core's :func:`twat_cache.keys.fit_key`).

    Example:
        >>> physical_key("app", 7, "user:1")
        'app:7:user:1'
    """
    return Generations(namespace, max_key_length=MAX_KEY_LENGTH).key(generation, key)


META_END = b"MN\r\n"
"""The reply to ``mn``, the meta no-op that closes a pipeline of quiet meta commands."""


def meta_delete_request(name: str, cas: bytes) -> bytes:
    r"""The meta delete that removes ``name`` only while its CAS value is still ``cas``.

    Example:
        >>> meta_delete_request("app:1:lock", b"42")
        b'md app:1:lock C42'
    """
    if not cas.isdigit():
        raise ValueError(f"a CAS value is a number, not {cas!r}")
    return b"md " + name.encode() + b" C" + cas


def meta_delete_reply(reply: bytes) -> bool:
    """Whether the meta delete removed the key (``HD``); ``EX``: replaced since, ``NF``: gone.

    Raises:
        ValueError: for a reply that is not a meta reply (a server before 1.6 answers ``ERROR``).

    Example:
        >>> meta_delete_reply(b"HD"), meta_delete_reply(b"EX")
        (True, False)
    """
    status = reply.strip()
    if status not in (b"HD", b"EX", b"NF"):
        raise ValueError(f"not a meta delete reply: {reply[:60]!r}")
    return status == b"HD"


def meta_ttl_request(names: Sequence[str]) -> bytes:
    r"""The meta gets asking the seconds left of each key (``t``), tagged with its index (``O``).

    Quiet (``q``): a miss sends nothing, and the closing ``mn`` marks the end of
    the replies, so the whole batch is one round trip. The keys are memcached keys
    as :func:`physical_key` makes them (ASCII, no spaces).

    Example:
        >>> meta_ttl_request(["app:1:a"])
        b'mg app:1:a t q O0\r\nmn'
    """
    lines = [f"mg {name} t q O{index}".encode() for index, name in enumerate(names)]
    return b"\r\n".join([*lines, b"mn"])


def meta_ttl_reply(reply: bytes, count: int) -> dict[int, int]:
    r"""Parse the replies to :func:`meta_ttl_request`: key index -> seconds left (-1: no expiry).

    Raises:
        ValueError: for a reply that is not a meta reply (a server before 1.6 answers ``ERROR``).

    Example:
        >>> meta_ttl_reply(b"HD t59 O0\r\nHD t-1 O2\r\n", 3)
        {0: 59, 2: -1}
    """
    left: dict[int, int] = {}
    for line in reply.split(b"\r\n"):
        if not line:
            continue
        status, *flags = line.decode("ascii", "replace").split()
        values = {flag[0]: flag[1:] for flag in flags}
        if status not in ("HD", "VA") or "t" not in values or "O" not in values:
            raise ValueError(f"unexpected reply {line[:80]!r}")
        index = int(values["O"])
        if not 0 <= index < count:
            raise ValueError(f"reply for an unknown request {line[:80]!r}")
        left[index] = int(values["t"])
    return left


def to_exptime(ttl: float | None) -> int:
    """Return memcached's ``exptime`` for a ``ttl`` in seconds.

    memcached counts whole seconds on a clock that ticks once a second, so an
    ``exptime`` of 1 may end after a fraction of a second: the ttl is rounded up
    and one second added, so an entry lives at least ``ttl`` and at most about
    ``ttl + 2`` seconds. Longer than 30 days becomes a Unix time, as memcached
    requires. ``None`` is 0 (no expiry); a ttl <= 0 is already expired.
    """
    if ttl is None:
        return 0
    if ttl <= 0:
        return -1
    seconds = math.ceil(ttl) + 1
    if seconds > _RELATIVE_EXPTIME_LIMIT:
        return int(time.time()) + seconds
    return seconds


def parse_size(url: EngineURL, name: str, default: int) -> int:
    """Read a size option in bytes, or with a ``k``/``m`` suffix as memcached's ``-I`` takes it.

    Raises:
        ConfigurationError: naming the option, the value and the accepted forms.
    """
    raw = url.option_str(name, None)
    if raw is None:
        return default
    match = _SIZE.fullmatch(raw.strip())
    if match is None or int(match.group(1)) < 1:
        raise ConfigurationError(
            f"memcached option {name!r}", raw, "a size in bytes, e.g. 1048576, 1024k or 1m"
        )
    factor = {"": 1, "k": 1024, "m": 1024 * 1024}[match.group(2).lower()]
    return int(match.group(1)) * factor
