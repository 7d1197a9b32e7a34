"""How entries map onto S3 objects: their names, their expiry metadata and their lifecycle tag.

An entry of ``key`` in namespace ``ns`` is the object ``{prefix}/{ns}/{name}``:

* ``name`` is ``key`` percent-encoded (readable, reversible, never a ``/``, so that
  each namespace is exactly one level of the bucket's folders); a key whose name
  would pass S3's 1024-byte limit becomes ``!`` and its SHA-256 instead, and the
  key itself goes in the ``x-amz-meta-key`` metadata so that it can be listed.
* ``x-amz-meta-expires-at`` holds the Unix time the entry expires at (absent: never).
* The ``twat-cache-expiry`` tag holds the smallest of 1, 7, 30 or 365 days within
  which the entry expires, for a bucket lifecycle rule per value to delete entries
  that expired and were never read again (absent: no expiry, or more than a year).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from typing import Any, Final, NamedTuple
from urllib.parse import quote, unquote

__all__ = ["EXPIRY_DAYS", "EXPIRY_TAG", "Names", "StoredObject", "expired", "write_arguments"]

EXPIRY_TAG: Final = "twat-cache-expiry"
EXPIRY_DAYS: Final = (1, 7, 30, 365)
EXPIRES_AT: Final = "expires-at"
KEY: Final = "key"
HASHED: Final = "!"  # quote() always escapes "!", so no encoded key starts with it
MAX_NAME: Final = 1024  # bytes in an S3 object key
MAX_KEY_METADATA: Final = 1536  # bytes of an encoded long key kept in metadata (S3 allows 2 KiB)
_now = time.time  # the expiry clock; tests replace it instead of sleeping


class StoredObject(NamedTuple):
    """What a read found: the body (``None`` when not fetched), the ETag and the metadata."""

    value: bytes | None
    etag: str
    metadata: dict[str, str]

    @property
    def expired(self) -> bool:
        """Whether the entry's expiry time has passed."""
        return expired(self.metadata)


def expired(metadata: Mapping[str, str]) -> bool:
    """Return whether an object with this metadata has expired."""
    expires = metadata.get(EXPIRES_AT)
    return expires is not None and float(expires) <= _now()


class Names:
    """Object names of one namespace: ``{prefix}/{namespace}/`` plus the encoded key.

    Example:
        >>> names = Names("cache", "app")
        >>> names.name("user:1 é")
        'cache/app/user%3A1%20%C3%A9'
        >>> names.key(names.name("user:1 é"), {})
        'user:1 é'
    """

    def __init__(self, prefix: str, namespace: str) -> None:
        self.base = f"{prefix}/{namespace}/" if prefix else f"{namespace}/"
        self._room = MAX_NAME - len(self.base.encode())

    def name(self, key: str) -> str:
        """Return the object name of ``key``."""
        encoded = quote(key, safe="")
        if encoded in (".", ".."):  # dot segments, which an HTTP stack might resolve away
            encoded = encoded.replace(".", "%2E")
        if len(encoded) <= self._room:
            return self.base + encoded
        return self.base + HASHED + hashlib.sha256(key.encode()).hexdigest()

    def is_hashed(self, name: str) -> bool:
        """Whether ``name`` is a long key's hash, whose key is only in the object's metadata."""
        return name[len(self.base) :].startswith(HASHED)

    def key(self, name: str, metadata: Mapping[str, str]) -> str | None:
        """Return the key of the object ``name`` (``None`` for a key too long to have been kept)."""
        if not self.is_hashed(name):
            return unquote(name[len(self.base) :])
        encoded = metadata.get(KEY)
        return None if encoded is None else unquote(encoded)


def write_arguments(names: Names, key: str, ttl: float | None) -> dict[str, Any]:
    """Return the ``Metadata`` (and ``Tagging``) of an object written for ``key`` with ``ttl``."""
    metadata: dict[str, str] = {}
    if names.is_hashed(names.name(key)):
        encoded = quote(key, safe="")
        if len(encoded) <= MAX_KEY_METADATA:
            metadata[KEY] = encoded
    if ttl is not None:
        metadata[EXPIRES_AT] = repr(_now() + ttl)
    return {"Metadata": metadata, **tagging(metadata)}


def tagging(metadata: Mapping[str, str]) -> dict[str, Any]:
    """Return the ``Tagging`` argument of a write: the days bucket of the entry's remaining life."""
    expires = metadata.get(EXPIRES_AT)
    if expires is None:
        return {}
    ttl = float(expires) - _now()
    days = next((d for d in EXPIRY_DAYS if ttl <= d * 86400), None)
    return {} if days is None else {"Tagging": f"{EXPIRY_TAG}={days}"}
