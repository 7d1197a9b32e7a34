"""Stored entries as bytes: what their format header says, read without decoding them.

Every value a byte-storing engine holds is a raw integer (ASCII digits, so that
the server can increment it) or a frame with a format header: ``0xFE``, then flags
(the format in the low nibble, compressed, signed, tagged); or, from the named
serializers on, ``0xFD``, flags (codec bits 0-1, signed, tagged, encrypted), the
length of the serializer's name and the name. Both headers are read here.
The CLI reads the header to describe entries and to refuse to unpickle an
unsigned entry from shared storage, before anything is decoded.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Frame", "describe"]

_MAGIC = 0xFE
_NAMED_MAGIC = 0xFD
_FORMATS = {0: "pickle", 1: "json", 2: "msgpack"}
_CODECS = {1: "zlib", 2: "zstd"}
_COMPRESSED = 0x10
_SIGNED = 0x20
_TAGGED = 0x40
_ENCRYPTED = 0x80


@dataclass(frozen=True)
class Frame:
    """What a stored entry's header says.

    Attributes:
        format: ``pickle``, ``json``, ``msgpack``, ``integer`` or ``unknown``.
        compressed: The payload is zlib-compressed.
        signed: The entry carries an HMAC-SHA256 signature.
        tagged: The entry carries the tag versions it was written under.
        size: The entry's size in bytes.
        codec: The compression codec (``zlib``, ``zstd``) or ``None``.
        encrypted: The payload is encrypted.
    """

    format: str
    compressed: bool = False
    signed: bool = False
    tagged: bool = False
    size: int = 0
    codec: str | None = None
    encrypted: bool = False

    @property
    def label(self) -> str:
        """The format with its flags, as ``info`` prints it (``pickle+zlib+signed``)."""
        flags = [
            (self.codec or "zlib", self.compressed),
            ("encrypted", self.encrypted),
            ("signed", self.signed),
            ("tagged", self.tagged),
        ]
        return "+".join([self.format, *(name for name, on in flags if on)])


def describe(raw: bytes) -> Frame:
    r"""Return what the header of a stored entry says (nothing is decoded).

    Example:
        >>> describe(b"\xfe\x20" + bytes(40)).label, describe(b"42").format
        ('pickle+signed', 'integer')
    """
    size = len(raw)
    if raw[:1].isdigit() or raw[:1] == b"-":
        return Frame("integer", size=size)
    if len(raw) >= 3 and raw[0] == _NAMED_MAGIC:
        flags, length = raw[1], raw[2]
        name = raw[3 : 3 + length].decode("ascii", "replace") or "unknown"
        codec = _CODECS.get(flags & 0x03)
        return Frame(
            name,
            compressed=codec is not None,
            signed=bool(flags & _SIGNED),
            tagged=bool(flags & _TAGGED),
            size=size,
            codec=codec,
            encrypted=bool(flags & _ENCRYPTED),
        )
    if len(raw) < 2 or raw[0] != _MAGIC:
        return Frame("unknown", size=size)
    flags = raw[1]
    return Frame(
        _FORMATS.get(flags & 0x0F, "unknown"),
        compressed=bool(flags & _COMPRESSED),
        signed=bool(flags & _SIGNED),
        tagged=bool(flags & _TAGGED),
        size=size,
    )
