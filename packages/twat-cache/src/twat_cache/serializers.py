"""Turning values into bytes and back: pickle, json or msgpack, zlib, HMAC.

The stored form of a value is either

* a plain ``int`` as its ASCII decimal digits (``b"-42"``), so that the server's
  atomic increment works on it (as Django's Redis backend stores integers), or
* a frame: ``0xFE``, a flags byte, a 32-byte HMAC-SHA256 signature when a secret
  is set, an optional tag-version block, and the (maybe compressed) payload.

A frame never starts with a digit or ``-``, so the two forms cannot be confused.
With a secret, an entry whose signature does not match -- tampered, written
with another secret, or unsigned -- is rejected *before* it is unpickled.
Plain integers are not signed (the server must be able to increment them): a
writer without the secret can at most make an entry read back as an integer.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import json

# pickle is the default codec; with a secret, frames are verified before anything is loaded
import pickle  # nosec B403
import zlib
from collections.abc import Callable, Mapping
from typing import Any

from twat_cache.constants import COMPRESS_THRESHOLD
from twat_cache.exceptions import ConfigurationError, SerializationError

__all__ = ["CorruptEntryError", "Serializer", "decode_int", "encode_int"]

_MAGIC = 0xFE
_FORMATS = {"pickle": 0, "json": 1, "msgpack": 2}
_COMPRESSED = 0x10
_SIGNED = 0x20
_TAGGED = 0x40
_MAC_SIZE = 32
_DIGITS = frozenset(b"-0123456789")


class CorruptEntryError(SerializationError):
    """A stored entry cannot be read back: corrupt, tampered, or of another format.

    Core treats it as a miss and logs it; it never reaches the caller.
    """


def encode_int(value: int) -> bytes:
    """Return the stored form of an integer (its decimal digits)."""
    return str(value).encode("ascii")


def decode_int(data: bytes) -> int:
    """Read an integer stored with :func:`encode_int`.

    Raises:
        TypeError: when ``data`` is not an integer's stored form.
    """
    try:
        return int(data)
    except ValueError:
        raise TypeError("the stored value is not an integer") from None


# parsed tag blocks: entries written together share one (read-only; see _tag_block)
_TAG_BLOCKS: dict[bytes, dict[str, int]] = {}
_TAG_BLOCKS_KEPT = 1024


def _tag_block(block: bytes) -> dict[str, int]:
    """Parse a frame's tag block, once for every entry sharing it.

    The dict returned is shared between those entries: callers only read it.
    """
    tags = _TAG_BLOCKS.get(block)
    if tags is None:
        tags = json.loads(block)
        if not isinstance(tags, dict):
            raise CorruptEntryError("entry has a malformed tag block")
        if len(_TAG_BLOCKS) >= _TAG_BLOCKS_KEPT:
            _TAG_BLOCKS.clear()
        _TAG_BLOCKS[block] = tags
    return tags


class Serializer:
    """Encodes values for byte-storing engines.

    Args:
        name: ``pickle`` (any picklable object), ``json`` or ``msgpack``.
        compress: Compress payloads larger than ``compress_threshold`` with zlib.
        secret: HMAC key; when set, every frame is signed and checked on read.
        compress_threshold: Payloads up to this many bytes are stored as they are.

    Example:
        >>> s = Serializer("pickle", secret=b"k")
        >>> s.loads(s.dumps({"a": 1}))
        ({'a': 1}, None)
    """

    __slots__ = (
        "_dump", "_format", "_load", "_plain_head", "_tagged_head",
        "compress", "compress_threshold", "name", "secret",
    )  # fmt: skip

    def __init__(
        self,
        name: str = "pickle",
        *,
        compress: bool = False,
        secret: bytes | None = None,
        compress_threshold: int = COMPRESS_THRESHOLD,
    ) -> None:
        if name not in _FORMATS:
            raise ConfigurationError("serializer", name, "one of " + ", ".join(_FORMATS))
        self.name = name
        self._format = _FORMATS[name]
        self._plain_head = bytes((_MAGIC, self._format))
        self._tagged_head = bytes((_MAGIC, self._format | _TAGGED))
        self.compress = compress
        self.secret = secret
        self.compress_threshold = compress_threshold
        self._dump, self._load = _codec(name)

    def dumps(self, value: Any, tags: Mapping[str, int] | None = None) -> bytes:
        """Encode ``value`` (with the tag versions it was computed under).

        Raises:
            SerializationError: when the value cannot be encoded.
        """
        if type(value) is int and not tags:
            return encode_int(value)
        try:
            payload = self._dump(value)
        except Exception as exc:
            raise SerializationError(
                f"cannot serialize a {type(value).__qualname__} with {self.name}: {exc}",
                serializer=self.name,
            ) from exc
        flags = self._format
        if self.compress and len(payload) > self.compress_threshold:
            payload = zlib.compress(payload, 6)
            flags |= _COMPRESSED
        body = payload
        if tags:
            block = json.dumps(dict(tags), separators=(",", ":")).encode()
            body = len(block).to_bytes(4, "big") + block + payload
            flags |= _TAGGED
        if self.secret is None:
            return bytes((_MAGIC, flags)) + body
        flags |= _SIGNED
        mac = hmac.new(self.secret, bytes((flags,)) + body, hashlib.sha256).digest()
        return bytes((_MAGIC, flags)) + mac + body

    def loads(self, data: bytes) -> tuple[Any, dict[str, int] | None]:  # noqa: PLR0912
        """Decode a stored entry into ``(value, tag_versions_or_None)``.

        A frame written with another serializer is read with that one, except
        that only a ``pickle`` serializer ever unpickles: a cache configured for
        ``json`` or ``msgpack`` rejects pickle frames.

        Raises:
            CorruptEntryError: when the entry is corrupt, tampered with or unsigned
                while a secret is set. Nothing is unpickled before the check.
        """
        if self.secret is None and data[:2] == self._plain_head:
            # the common frame: this serializer, no signature, tags or compression
            try:
                return self._load(data[2:]), None
            except Exception as exc:
                raise CorruptEntryError(f"entry cannot be decoded: {exc}") from exc
        if self.secret is None and data[:2] == self._tagged_head:
            # the frame of a tagged entry: as common as a plain one where tags are used
            try:
                end = 6 + int.from_bytes(data[2:6], "big")
                return self._load(data[end:]), _tag_block(data[6:end])
            except CorruptEntryError:
                raise
            except Exception as exc:
                raise CorruptEntryError(f"entry cannot be decoded: {exc}") from exc
        if not data:
            raise CorruptEntryError("empty entry")
        if data[0] in _DIGITS:
            try:
                return int(data), None
            except ValueError:
                raise CorruptEntryError("entry is neither an integer nor a frame") from None
        if data[0] != _MAGIC or len(data) < 2:
            raise CorruptEntryError("entry is not a twat-cache frame")
        flags = data[1]
        body = self._verified(flags, memoryview(data)[2:])
        fmt = flags & 0x0F
        load = self._load
        if fmt != self._format:
            name = _name_of(fmt)
            if name == "pickle":
                raise CorruptEntryError(
                    f"entry was written with pickle; this cache reads {self.name}"
                )
            load = _codec(name)[1]
        tags: dict[str, int] | None = None
        try:
            if flags & _TAGGED:
                size = int.from_bytes(body[:4], "big")
                tags = _tag_block(bytes(body[4 : 4 + size]))
                body = body[4 + size :]
            payload = bytes(body)
            if flags & _COMPRESSED:
                payload = zlib.decompress(payload)
            return load(payload), tags
        except CorruptEntryError:
            raise
        except Exception as exc:
            raise CorruptEntryError(f"entry cannot be decoded: {exc}") from exc

    def _verified(self, flags: int, body: memoryview) -> memoryview:
        """Check the frame's signature (when a secret is set) and return what follows it."""
        if self.secret is not None:
            if not flags & _SIGNED or len(body) < _MAC_SIZE:
                raise CorruptEntryError("entry is not signed, but a secret is set")
            mac, body = bytes(body[:_MAC_SIZE]), body[_MAC_SIZE:]
            expected = hmac.new(self.secret, bytes((flags,)) + body, hashlib.sha256).digest()
            if not hmac.compare_digest(mac, expected):
                raise CorruptEntryError("entry signature does not match")
        elif flags & _SIGNED:
            body = body[_MAC_SIZE:]  # signed by a writer with a secret; readable without one
        return body

    def sign(self, value: bytes) -> bytes:
        """Return ``value`` signed the way frames are (for callers storing raw tokens)."""
        if self.secret is None:
            return value
        return hmac.new(self.secret, value, hashlib.sha256).digest() + value


def _name_of(fmt: int) -> str:
    for name, number in _FORMATS.items():
        if number == fmt:
            return name
    raise CorruptEntryError(f"unknown serializer id {fmt}")


def _json_dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _pickle_dumps(value: Any) -> bytes:
    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def _codec(name: str) -> tuple[Callable[[Any], bytes], Callable[[bytes], Any]]:
    if name == "pickle":
        return _pickle_dumps, pickle.loads
    if name == "json":
        return _json_dumps, json.loads
    try:
        msgpack = importlib.import_module("msgpack")  # optional; untyped
    except ImportError:
        raise ConfigurationError(
            "serializer",
            "msgpack",
            'msgpack is not installed: pip install "twat-cache[msgpack]"',
        ) from None

    def packb(value: Any) -> bytes:
        return bytes(msgpack.packb(value, use_bin_type=True))

    def unpackb(data: bytes) -> Any:
        # strict_map_key=False: a dict with int keys must read back, not fail forever
        return msgpack.unpackb(data, raw=False, strict_map_key=False)

    return packb, unpackb
