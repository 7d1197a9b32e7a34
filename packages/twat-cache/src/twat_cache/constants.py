"""Defaults and limits that core and the engine packages share, each defined once.

A number that two modules (or two packages) must agree on lives here, so that
changing it cannot leave one copy behind. Engines import what they use::

    from twat_cache.constants import NAMESPACE_PATTERN, NAMESPACE_RULE

    if not NAMESPACE_PATTERN.fullmatch(namespace):
        raise ConfigurationError("namespace", namespace, NAMESPACE_RULE)

Every value is documented in ``docs/configuration.md`` ("Defaults and limits").
"""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "COMPRESS_THRESHOLD",
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_LOCK_TIMEOUT",
    "DEFAULT_LOCK_TTL",
    "DEFAULT_MAXSIZE",
    "DEFAULT_NAMESPACE",
    "DEFAULT_RETRY_AFTER",
    "DEFAULT_TIMEOUT",
    "DEFAULT_TTL",
    "DEFAULT_URL",
    "ENTRY_POINT_GROUP",
    "LOCK_PREFIX",
    "MAX_KEY_LENGTH",
    "MAX_NAMESPACE_LENGTH",
    "MAX_TAG_LENGTH",
    "META_PACKAGE",
    "NAMESPACE_PATTERN",
    "NAMESPACE_RULE",
    "REDACTED",
    "TAG_PATTERN",
    "TAG_PREFIX",
    "TAG_RULE",
]

# -- where entries live -------------------------------------------------------------------
DEFAULT_URL: Final = "memory://"
"""The engine used when no URL is given: the in-process one."""

DEFAULT_NAMESPACE: Final = "default"
"""The namespace of a cache that names none."""

MAX_NAMESPACE_LENGTH: Final = 64
# Letters, digits and "_.-" only: a namespace becomes part of Redis keys, SQL values, S3 object
# names and memcached keys, and none of these may then need quoting or escaping.
NAMESPACE_PATTERN: Final = re.compile(rf"[A-Za-z0-9_.\-]{{1,{MAX_NAMESPACE_LENGTH}}}")
"""What a namespace may be; use ``NAMESPACE_PATTERN.fullmatch(name)`` (``match`` would let a
trailing newline through ``$``)."""
NAMESPACE_RULE: Final = f"1-{MAX_NAMESPACE_LENGTH} characters among letters, digits, '_', '.', '-'"
"""The rule a :class:`~twat_cache.exceptions.ConfigurationError` states for a bad namespace."""

# -- entries ------------------------------------------------------------------------------
DEFAULT_TTL: Final[float | None] = None
"""Entries never expire unless a ``ttl`` is configured."""

DEFAULT_MAXSIZE: Final = 4096
"""The most entries an in-process engine keeps when ``maxsize`` is not set."""

MAX_KEY_LENGTH: Final = 250
"""Keys longer than this (in UTF-8 bytes) are hashed, keeping a readable prefix; 250 is
memcached's limit, the smallest of the engines, so a key means the same on every engine."""

COMPRESS_THRESHOLD: Final = 1024
"""With ``compress=True``, serialized values up to this many bytes are stored uncompressed
(zlib's header and the CPU time would outweigh the saving)."""

# -- tags ---------------------------------------------------------------------------------
MAX_TAG_LENGTH: Final = 128
TAG_PATTERN: Final = re.compile(rf"\S{{1,{MAX_TAG_LENGTH}}}")
"""What a tag may be; use ``TAG_PATTERN.fullmatch(tag)``."""
TAG_RULE: Final = f"strings of 1-{MAX_TAG_LENGTH} characters without spaces"
TAG_PREFIX: Final = "__tag__:"
"""The prefix of a tag's version counter in the cache's own namespace; ``keys()`` hides it."""

# -- failures and waiting -----------------------------------------------------------------
DEFAULT_RETRY_AFTER: Final = 5.0
DEFAULT_LOCK_TTL: Final = 30.0
"""Seconds a computation lock lives: a crashed holder's lock is gone after this."""
DEFAULT_LOCK_TIMEOUT: Final = 30.0
"""Seconds a waiter polls for the lock holder's result before it acts on its own."""
LOCK_PREFIX: Final = "__lock__:"
"""Engine keys of computation locks (``lock=True``) start with this."""
"""Seconds a failed backend is left alone (circuit breaker open) before it is tried again."""

DEFAULT_TIMEOUT: Final = 5.0
"""Seconds an engine waits for a reply, a lock or a pooled connection unless told otherwise."""

DEFAULT_CONNECT_TIMEOUT: Final = 1.0
"""Seconds a network engine waits for a new connection: short, so that a dead server costs
one short wait before the circuit breaker opens."""

# -- packaging and messages ---------------------------------------------------------------
ENTRY_POINT_GROUP: Final = "twat_cache.engines"
"""The entry-point group engines register in (URL scheme -> engine class)."""

META_PACKAGE: Final = "twat-cache"
"""The distribution whose extras install engines: ``pip install "twat-cache[redis]"``."""

REDACTED: Final = "***"
"""What a password or secret is replaced with in messages, logs and ``repr``."""
