"""The stored form of a value: a format header, then the (compressed, encrypted) payload.

A value is stored either as

* a plain ``int`` as its ASCII decimal digits (``b"-42"``), so that the server's
  atomic increment works on it (as Django's Redis backend stores integers), or
* a frame::

      0xFD | flags | n | serializer name (n bytes) | [HMAC-SHA256, 32 bytes]
           | [tag block: 4-byte length + JSON] | payload

  ``flags`` holds the compression codec (bits 0-1: none, zlib, zstd) and whether
  the frame is signed (0x20), tagged (0x40) and encrypted (0x80). An encrypted
  payload is a 12-byte nonce and the AES-GCM ciphertext of the (compressed)
  serialized value, authenticated together with the header and tag block.

A frame never starts with a digit or ``-``, so the two forms cannot be confused.
An entry whose header does not match this cache -- another serializer, signed
when no secret is set or unsigned when one is, encrypted or not as this cache
is not -- is a miss, never a misread value; a tampered entry or one written
under another secret or key fails its check *before* anything is deserialized.
Plain integers are neither signed nor encrypted (the server must be able to
increment them): a writer without the secret can at most make an entry read
back as an integer.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import json
import os

# pickle is the default serializer; frames reach it only after their checks (docs/security.md)
import pickle  # nosec B403
import struct
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from twat_cache.constants import COMPRESS_THRESHOLD
from twat_cache.exceptions import ConfigurationError, SerializationError
from twat_cache.serializers.formats import PickleSerializer, Serializer, get_serializer

__all__ = [
    "CODECS",
    "HEAD_SIZE",
    "Codec",
    "CorruptEntryError",
    "ShortHeadError",
    "decode_int",
    "encode_int",
    "head_tags",
    "tag_block",
]

_MAGIC = 0xFD
CODECS: tuple[str, ...] = ("none", "zlib", "zstd")
_CODEC_BITS = 0x03
_SIGNED = 0x20
_TAGGED = 0x40
_ENCRYPTED = 0x80
_MAC_SIZE = 32
_NONCE_SIZE = 12
_DIGITS = frozenset(b"-0123456789")
# a tag block's length, before its JSON
_LENGTH = struct.Struct(">I").unpack_from


# parsed tag blocks: entries written together share one (read-only; see tag_block)
_TAG_BLOCKS: dict[bytes, dict[str, int]] = {}
_TAG_BLOCKS_KEPT = 1024


def tag_block(block: bytes) -> dict[str, int]:
    """Parse a frame's tag block, once for all the entries sharing it (issue 13).

    The dict returned is shared between those entries: callers only read it.

    Raises:
        ValueError: when the block is not a JSON object.
    """
    tags = _TAG_BLOCKS.get(block)
    if tags is None:
        tags = json.loads(block)
        if not isinstance(tags, dict):
            raise ValueError("the tag block is not an object")
        if len(_TAG_BLOCKS) >= _TAG_BLOCKS_KEPT:
            _TAG_BLOCKS.clear()
        _TAG_BLOCKS[block] = tags
    return tags


HEAD_SIZE = 512
"""Bytes of an entry holding its header and tag block in the common case (:func:`head_tags`)."""


class ShortHeadError(Exception):
    """The first bytes of an entry end inside its tag block: read the whole entry."""


def head_tags(head: bytes | memoryview) -> dict[str, int] | None:
    """The tag versions in an entry's header, read from its first bytes alone.

    Nothing is checked, decrypted or deserialized: ``keys()`` lists an entry by
    its tags without reading its value. The tag block sits before the payload,
    in the clear (an encrypted frame authenticates it, never hides it).

    Returns:
        The tag versions, or None for an untagged entry, a plain integer, or
        bytes that are not a frame (or whose tag block is malformed).

    Raises:
        ShortHeadError: when ``head`` ends before the tag block does.
    """
    if len(head) < 3 or head[0] != _MAGIC or not head[1] & _TAGGED:
        return None
    start = 3 + head[2] + (_MAC_SIZE if head[1] & _SIGNED else 0)
    end = start + 4 + int.from_bytes(head[start : start + 4], "big")
    if len(head) < end or len(head) < start + 4:
        raise ShortHeadError
    try:
        return tag_block(bytes(head[start + 4 : end]))
    except ValueError:  # also a JSON error; the entry is then listed as it is
        return None


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


def _import_extra(module: str, option: str, value: str, extra: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigurationError(
            option, value, f'{module} is not installed: pip install "twat-cache[{extra}]"'
        ) from None


def encryption_keys(keys: Sequence[bytes]) -> list[Any]:
    """Return an AES-256-GCM cipher per key material (32 bytes derived with SHA-256).

    Raises:
        ConfigurationError: when ``cryptography`` (the ``crypto`` extra) is missing.
    """
    aead = _import_extra(
        "cryptography.hazmat.primitives.ciphers.aead", "encrypt_key", "<hidden>", "crypto"
    )
    # any length of key material works; a random 32-byte key is what docs/security.md asks for
    return [aead.AESGCM(hashlib.sha256(b"twat-cache aes-gcm\0" + k).digest()) for k in keys]


def _open(cipher: Any, nonce: bytes, ciphertext: bytes, associated: bytes) -> bytes | None:
    """Decrypt and authenticate, or ``None`` when this key does not open the frame."""
    try:
        return bytes(cipher.decrypt(nonce, ciphertext, associated))
    except Exception:  # InvalidTag, or a frame too short to hold a tag
        return None


class _Compressor:
    __slots__ = ("compress", "decompress")

    def __init__(self, codec: str) -> None:
        if codec == "zstd":
            zstd = _import_extra("zstandard", "compress", "zstd", "zstd")
            self.compress = zstd.ZstdCompressor(level=3).compress
            self.decompress = zstd.ZstdDecompressor().decompress
        else:
            self.compress = lambda data: zlib.compress(data, 6)
            self.decompress = zlib.decompress


class Codec:
    """Encodes values for byte-storing engines: serializer, compression, encryption, signature.

    Args:
        serializer: A serializer name (``pickle``, ``json``, ``msgpack``, ``typed`` or
            an installed one) or a :class:`~twat_cache.serializers.Serializer`.
        compress: ``True`` (zlib), ``"zlib"``, ``"zstd"``, or ``False``.
        secret: HMAC key; when set, every frame is signed and checked on read.
        compress_threshold: Payloads up to this many bytes are stored uncompressed.
        encrypt_keys: AES-GCM key material; writes use the first, reads try each.

    Example:
        >>> c = Codec("pickle", secret=b"k")
        >>> c.loads(c.dumps({"a": 1}))
        ({'a': 1}, None)
    """

    __slots__ = (
        "_ciphers", "_compressors", "_fast", "_load", "_plain_head", "_tagged_head", "_typed",
        "_typed_load",
        "codec", "compress", "compress_threshold", "name", "secret", "serializer",
    )  # fmt: skip

    def __init__(
        self,
        serializer: str | Serializer = "pickle",
        *,
        compress: bool | str = False,
        secret: bytes | None = None,
        compress_threshold: int = COMPRESS_THRESHOLD,
        encrypt_keys: Sequence[bytes] = (),
    ) -> None:
        self.serializer = get_serializer(serializer)
        self.name = self.serializer.name
        self._typed = bool(getattr(self.serializer, "typed", False))
        # pickle's own C function: one Python call less on every hit of the default serializer
        self._load = (
            pickle.loads if type(self.serializer) is PickleSerializer else self.serializer.loads
        )
        # a typed serializer's loads takes the type to rebuild as its second argument
        self._typed_load: Any = self.serializer.loads
        codec = "zlib" if compress is True else (compress or "none")
        if codec not in CODECS:
            raise ConfigurationError("compress", compress, "True, False, 'zlib' or 'zstd'")
        self.codec = CODECS.index(codec)
        self.compress = self.codec != 0
        self._compressors: dict[int, _Compressor] = {}
        if self.compress:
            self._compressors[self.codec] = _Compressor(codec)
        self.secret = secret
        self.compress_threshold = compress_threshold
        self._ciphers = encryption_keys(encrypt_keys) if encrypt_keys else []
        self._plain_head = self._header(0)
        self._tagged_head = self._header(_TAGGED)
        # the header length when plain frames can be read at once (0: check every frame)
        self._fast = (
            0 if secret is not None or self._ciphers or self._typed else len(self._plain_head)
        )

    @property
    def encrypted(self) -> bool:
        """Whether values are encrypted at rest."""
        return bool(self._ciphers)

    @property
    def typed(self) -> bool:
        """Whether the serializer needs the type to rebuild (``serializer="typed"``)."""
        return self._typed

    def plain_reader(self) -> tuple[bytes, Callable[[bytes], Any]] | None:
        """``(header, load)`` when plain frames can be read without checks, else ``None``.

        A plain frame (no signature, encryption, compression or tags) is
        ``header + payload``, and ``load(payload)`` is its value; a cache's hit path
        reads those inline. ``None`` when every frame must be checked (a secret or
        encryption key is set) or the serializer needs a type (``typed``).
        """
        if not self._fast:
            return None
        return self._plain_head, self._load

    def tagged_reader(self) -> tuple[bytes, Callable[[bytes], tuple[bytes, int]]] | None:
        """``(header, split)`` when tagged frames can be read without checks, else ``None``.

        A tagged frame with nothing else (no signature, encryption or compression)
        is ``header + length + tag block + payload``; ``split(frame)`` returns its
        tag block (see :func:`tag_block`) and where its payload starts, which the
        loads of :meth:`plain_reader` reads. The conditions are those of
        :meth:`plain_reader`.
        """
        if not self._fast:
            return None
        return self._tagged_head, self._tagged_parts

    def _tagged_parts(self, data: bytes) -> tuple[bytes, int]:
        """A tagged frame's tag block and the offset of its payload."""
        start = self._fast + 4
        end = start + _LENGTH(data, self._fast)[0]
        return data[start:end], end

    def __repr__(self) -> str:  # keys and secrets are never shown
        return (
            f"Codec(serializer={self.name!r}, compress={CODECS[self.codec]!r}, "
            f"signed={self.secret is not None}, encrypted={self.encrypted})"
        )

    def _header(self, flags: int) -> bytes:
        name = self.name.encode("ascii")
        return bytes((_MAGIC, flags, len(name))) + name

    def dumps(self, value: Any, tags: Mapping[str, int] | None = None) -> bytes:
        """Encode ``value`` (with the tag versions it was computed under).

        Raises:
            SerializationError: when the value cannot be encoded, naming its type
                and the serializer.
        """
        if type(value) is int and not tags:
            return encode_int(value)
        try:
            payload = self.serializer.dumps(value)
        except Exception as exc:
            raise SerializationError(
                f"cannot serialize a {type(value).__qualname__} with the "
                f"{self.name} serializer: {exc}",
                serializer=self.name,
            ) from exc
        flags = 0
        if self.compress and len(payload) > self.compress_threshold:
            payload = self._compressors[self.codec].compress(payload)
            flags |= self.codec
        if not tags and self.secret is None and not self._ciphers and not flags:
            return self._plain_head + payload
        block = b""
        if tags:
            text = json.dumps(dict(tags), separators=(",", ":")).encode()
            block = len(text).to_bytes(4, "big") + text
            flags |= _TAGGED
        if self._ciphers:
            flags |= _ENCRYPTED
        if self.secret is not None:
            flags |= _SIGNED
        header = self._header(flags)
        if self._ciphers:
            nonce = os.urandom(_NONCE_SIZE)
            payload = nonce + self._ciphers[0].encrypt(nonce, payload, header + block)
        body = block + payload
        if self.secret is None:
            return header + body
        return header + hmac.new(self.secret, header + body, hashlib.sha256).digest() + body

    def loads(self, data: bytes, type: Any = None) -> tuple[Any, dict[str, int] | None]:
        """Decode a stored entry into ``(value, tag_versions_or_None)``.

        Args:
            data: The stored bytes.
            type: The type to rebuild (``serializer="typed"`` only).

        Raises:
            CorruptEntryError: when the entry is corrupt, tampered with, or its
                header does not match this cache. Nothing is deserialized before
                the checks.
        """
        size = self._fast
        if size and data[:size] == self._plain_head:
            # the common frame: plain serializer, no signature, tags, compression or encryption
            try:
                return self._load(data[size:]), None
            except Exception as exc:
                raise CorruptEntryError(f"entry cannot be decoded by {self.name}: {exc}") from exc
        if size and data[:size] == self._tagged_head:
            # a tagged entry, as common as a plain one where tags are used: no memoryview
            try:
                block, end = self._tagged_parts(data)
                return self._load(data[end:]), tag_block(block)
            except Exception as exc:
                raise CorruptEntryError(f"entry cannot be decoded by {self.name}: {exc}") from exc
        if not data:
            raise CorruptEntryError("empty entry")
        if data[0] in _DIGITS:
            try:
                return int(data), None
            except ValueError:
                raise CorruptEntryError("entry is neither an integer nor a frame") from None
        return self._frame(memoryview(data), type)

    def loads_many(
        self,
        found: Mapping[Any, Any],
        keys: Iterable[Any],
        current: Callable[[dict[str, int]], bool | None],
        type_of: Callable[[Any], Any] | None = None,
    ) -> tuple[dict[Any, Any], dict[Any, tuple[Any, dict[str, int]]], dict[Any, CorruptEntryError]]:
        """Decode the entries of a batch read: ``(live values, undecided, corrupt)``.

        ``current(tags)`` tells whether an entry written under the tag versions
        ``tags`` is live: ``True``; ``False``, the entry is left out (a plain
        tagged frame without being deserialized); or ``None`` when it cannot tell
        yet, the entry is then ``undecided``: ``(value, tags)``. A plain tagged
        frame's block is parsed and judged once per batch: entries written
        together share it. Nothing is raised: a corrupt entry is in ``corrupt``.

        Args:
            found: The stored bytes by key (the keys absent from it are left out).
            keys: The keys to decode, in order.
            current: The verdict on an entry's tag versions.
            type_of: The type to rebuild per key (``serializer="typed"`` only).
        """
        live: dict[Any, Any] = {}
        undecided: dict[Any, tuple[Any, dict[str, int]]] = {}
        corrupt: dict[Any, CorruptEntryError] = {}
        # per tag block: its versions and their verdict, once per batch (entries written together)
        blocks: dict[bytes, tuple[dict[str, int], bool | None]] = {}
        stored: dict[str, int] | None
        size = self._fast  # 0: every frame goes through all its checks
        start = size + 4
        plain, tagged, load, get = self._plain_head, self._tagged_head, self._load, found.get
        for key in keys:
            data = get(key)
            if data is None:
                continue
            try:
                head = data[:size]
                if head == plain:  # the common frames are read inline
                    live[key] = load(data[size:])
                    continue
                if head == tagged:
                    end = start + _LENGTH(data, size)[0]
                    block = data[start:end]
                    known = blocks.get(block)
                    if known is None:
                        tags = tag_block(block)
                        known = blocks[block] = (tags, current(tags))
                    stored, verdict = known
                    if verdict is False:  # invalidated: never deserialized
                        continue
                    value = load(data[end:])
                else:  # any other frame goes through all its checks
                    value, stored = self.loads(data, None if type_of is None else type_of(key))
                    verdict = current(stored) if stored else True
            except CorruptEntryError as exc:
                corrupt[key] = exc
                continue
            except Exception as exc:
                corrupt[key] = CorruptEntryError(f"entry cannot be decoded by {self.name}: {exc}")
                continue
            if verdict:
                live[key] = value
            elif verdict is None and stored:
                undecided[key] = (value, stored)
        return live, undecided, corrupt

    def _frame(self, data: memoryview, type_: Any) -> tuple[Any, dict[str, int] | None]:
        if len(data) < 3 or data[0] != _MAGIC:
            raise CorruptEntryError("entry is not a twat-cache frame (or of an older format)")
        flags, size = data[1], data[2]
        end = 3 + size
        name = bytes(data[3:end]).decode("ascii", "replace")
        if name != self.name:
            raise CorruptEntryError(f"entry was written with {name}; this cache reads {self.name}")
        header, body = bytes(data[:end]), data[end:]
        body = self._verified(flags, header, body)
        if bool(flags & _ENCRYPTED) != bool(self._ciphers):
            state = "encrypted" if flags & _ENCRYPTED else "not encrypted"
            raise CorruptEntryError(f"entry is {state}, unlike this cache's entries")
        tags: dict[str, int] | None = None
        block = b""
        if flags & _TAGGED:
            try:
                length = int.from_bytes(body[:4], "big")
                block = bytes(body[: 4 + length])
                tags = tag_block(block[4:])
            except Exception as exc:
                raise CorruptEntryError(f"entry has a malformed tag block: {exc}") from exc
            if len(block) != 4 + length:
                raise CorruptEntryError("entry has a malformed tag block")
            body = body[len(block) :]
        payload: bytes | memoryview = body
        if flags & _ENCRYPTED:
            payload = self._decrypted(bytes(body), header + block)
        codec = flags & _CODEC_BITS
        if codec:
            payload = self._decompressed(codec, payload)
        return self._payload(payload, type_), tags

    def _payload(self, payload: bytes | memoryview, type_: Any) -> Any:
        try:
            if self._typed and type_ is not None:
                return self._typed_load(bytes(payload), type_)
            return self._load(bytes(payload))
        except Exception as exc:
            raise CorruptEntryError(f"entry cannot be decoded by {self.name}: {exc}") from exc

    def _verified(self, flags: int, header: bytes, body: memoryview) -> memoryview:
        """Check the frame's signature against this cache's secret; return what follows it."""
        if self.secret is None:
            if flags & _SIGNED:
                raise CorruptEntryError("entry is signed, but this cache has no secret")
            return body
        if not flags & _SIGNED or len(body) < _MAC_SIZE:
            raise CorruptEntryError("entry is not signed, but a secret is set")
        mac, rest = bytes(body[:_MAC_SIZE]), body[_MAC_SIZE:]
        expected = hmac.new(self.secret, header + bytes(rest), hashlib.sha256).digest()
        if not hmac.compare_digest(mac, expected):
            raise CorruptEntryError("entry signature does not match (tampered or another secret)")
        return rest

    def _decrypted(self, body: bytes, associated: bytes) -> bytes:
        nonce, ciphertext = body[:_NONCE_SIZE], body[_NONCE_SIZE:]
        for cipher in self._ciphers:
            plain = _open(cipher, nonce, ciphertext, associated)
            if plain is not None:
                return plain
        raise CorruptEntryError("entry cannot be decrypted with any key (tampered or another key)")

    def _decompressed(self, codec: int, payload: bytes | memoryview) -> bytes:
        if codec >= len(CODECS):
            raise CorruptEntryError(f"entry has an unknown compression codec {codec}")
        compressor = self._compressors.get(codec)
        try:
            if compressor is None:
                compressor = self._compressors[codec] = _Compressor(CODECS[codec])
            return bytes(compressor.decompress(bytes(payload)))
        except ConfigurationError as exc:
            raise CorruptEntryError(f"entry is compressed with {CODECS[codec]}: {exc}") from exc
        except Exception as exc:
            raise CorruptEntryError(f"entry cannot be decompressed: {exc}") from exc

    def sign(self, value: bytes) -> bytes:
        """Return ``value`` signed the way frames are (for callers storing raw tokens)."""
        if self.secret is None:
            return value
        return hmac.new(self.secret, value, hashlib.sha256).digest() + value
