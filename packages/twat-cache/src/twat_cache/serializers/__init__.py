"""Turning values into bytes and back: serializers, the stored frame, compression, encryption.

* :mod:`.formats`: the :class:`Serializer` protocol, pickle, json and msgpack, and
  the registry (entry-point group ``twat_cache.serializers``);
* :mod:`.typed`: ``serializer="typed"``, values rebuilt from a type without pickle;
* :mod:`.frame`: :class:`Codec`, the format header, compression, AES-GCM and HMAC.
"""

from __future__ import annotations

from twat_cache.serializers.formats import (
    Serializer,
    available_serializers,
    get_serializer,
    register_serializer,
)
from twat_cache.serializers.frame import Codec, CorruptEntryError, decode_int, encode_int

__all__ = [
    "Codec",
    "CorruptEntryError",
    "Serializer",
    "available_serializers",
    "decode_int",
    "encode_int",
    "get_serializer",
    "register_serializer",
]
