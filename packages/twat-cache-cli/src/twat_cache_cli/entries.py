"""Stored entries as bytes: what their format header says, read without decoding them.

Every value a byte-storing engine holds starts with a two-byte header (the
``0xFE`` magic, then flags: the format in the low nibble, compressed, signed,
tagged), or is a raw integer (ASCII digits, so that the server can increment it).
The CLI reads the header to describe entries and to refuse to unpickle an
unsigned entry from shared storage, before anything is decoded.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Frame", "describe"]

_MAGIC = 0xFE
_FORMATS = {0: "pickle", 1: "json", 2: "msgpack"}
_COMPRESSED = 0x10
_SIGNED = 0x20
_TAGGED = 0x40


@dataclass(frozen=True)
class Frame:
    """What a stored entry's header says.

    Attributes:
        format: ``pickle``, ``json``, ``msgpack``, ``integer`` or ``unknown``.
        compressed: The payload is zlib-compressed.
        signed: The entry carries an HMAC-SHA256 signature.
        tagged: The entry carries the tag versions it was written under.
        size: The entry's size in bytes.
    """

    format: str
    compressed: bool = False
    signed: bool = False
    tagged: bool = False
    size: int = 0

    @property
    def label(self) -> str:
        """The format with its flags, as ``info`` prints it (``pickle+zlib+signed``)."""
        flags = [("zlib", self.compressed), ("signed", self.signed), ("tagged", self.tagged)]
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
