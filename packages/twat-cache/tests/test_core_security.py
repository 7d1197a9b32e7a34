"""Compression codecs, encryption at rest, secure=True, format headers and bad input."""

from __future__ import annotations

import dataclasses
import logging
import pickle
from typing import Any

import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st
from twat_cache import Cache, CacheConfig, ConfigurationError, ucache
from twat_cache.serializers import Codec, CorruptEntryError

KEY = b"k" * 32
OTHER = b"o" * 32


@dataclasses.dataclass
class Point:
    x: int
    y: int


def stored(cache: Cache, key: Any) -> bytes:
    """The bytes the engine holds under ``key``."""
    raw = cache.backend.get(key)
    assert isinstance(raw, bytes)
    return raw


def point(n: int) -> Point:
    return Point(n, n)


def untyped(n: int):  # type: ignore[no-untyped-def]  # noqa: ANN201
    return n


# -- compression ------------------------------------------------------------------------


def test_zstd_frames_are_plain_zstd_and_smaller_than_the_value() -> None:
    codec = Codec("json", compress="zstd", compress_threshold=0)
    value = ["repeated text"] * 200
    data = codec.dumps(value)
    assert data[:7] == b"\xfd\x02\x04json"  # codec 2 (zstd) in the header
    assert zstandard.ZstdDecompressor().decompress(data[7:]) == codec.serializer.dumps(value)
    assert len(data) < len(codec.serializer.dumps(value)) / 10
    assert codec.loads(data) == (value, None)


def test_compress_min_size_leaves_small_values_alone(namespace: str) -> None:
    cache = Cache("coretest-bytes://", namespace=namespace, compress="zstd", compress_min_size=200)
    cache.set("small", "a" * 50)
    cache.set("big", "a" * 500)
    assert stored(cache, "small")[1] == 0  # no codec
    assert stored(cache, "big")[1] == 2  # zstd
    assert cache.get("small") == "a" * 50
    assert cache.get("big") == "a" * 500
    cache.close()


def test_entries_compressed_with_another_codec_read_back(namespace: str) -> None:
    old = Cache("coretest-bytes://", namespace=namespace, compress=True, compress_min_size=0)
    old.set("k", "x" * 500)
    new = Cache("coretest-bytes://", namespace=namespace, compress="zstd", compress_min_size=0)
    assert new.get("k") == "x" * 500  # the header says zlib
    new.set("j", "y" * 500)
    plain = Cache("coretest-bytes://", namespace=namespace)
    assert plain.get("j") == "y" * 500
    for cache in (old, new, plain):
        cache.close()


def test_compress_takes_a_codec_name_from_the_environment() -> None:
    assert CacheConfig.from_env({"TWAT_CACHE_COMPRESS": "zstd"}).compress == "zstd"
    assert CacheConfig.from_env({"TWAT_CACHE_COMPRESS_MIN_SIZE": "10"}).compress_min_size == 10
    with pytest.raises(ConfigurationError, match="'zlib' or 'zstd'"):
        CacheConfig(compress="lz4")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="compress_min_size"):
        CacheConfig(compress_min_size=-1)


# -- encryption -------------------------------------------------------------------------


def test_encrypted_values_round_trip_and_hide_the_plaintext(namespace: str) -> None:
    cache = Cache("coretest-bytes://", namespace=namespace, encrypt_key=KEY, compress=True)
    secret_text = "card 4111 1111 1111 1111" * 100
    cache.set("k", secret_text, tags=["t"])
    raw = stored(cache, "k")
    assert raw[1] & 0x80  # the header says encrypted
    assert b"4111" not in raw
    assert cache.get("k") == secret_text
    cache.close()


def test_a_wrong_key_or_tampered_value_is_a_miss_with_one_warning(
    namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    writer = Cache("coretest-bytes://", namespace=namespace, encrypt_key=KEY)
    reader = Cache("coretest-bytes://", namespace=namespace, encrypt_key=OTHER)
    writer.set("k", {"a": 1})
    with caplog.at_level(logging.WARNING, logger="twat_cache"):
        assert reader.get("k") is None
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "decrypted" in warnings[0].getMessage()
    assert KEY.decode() not in caplog.text
    assert OTHER.decode() not in caplog.text
    raw = bytearray(stored(writer, "k"))
    raw[-1] ^= 1
    writer.backend.set("k", bytes(raw))
    assert writer.get("k") is None
    assert writer.stats.corrupt == 1
    writer.close()
    reader.close()


def test_key_rotation_writes_with_the_first_and_reads_with_each(namespace: str) -> None:
    old = Cache("coretest-bytes://", namespace=namespace, encrypt_key=OTHER)
    old.set("k", "before rotation")
    rotated = Cache("coretest-bytes://", namespace=namespace, encrypt_key=[KEY, OTHER])
    assert rotated.get("k") == "before rotation"
    rotated.set("j", "after")
    assert Cache("coretest-bytes://", namespace=namespace, encrypt_key=KEY).get("j") == "after"
    assert old.get("j") is None  # written with the new key
    old.close()
    rotated.close()


def test_the_encryption_key_comes_from_the_environment_as_a_list() -> None:
    config = CacheConfig.from_env({"TWAT_CACHE_ENCRYPT_KEY": "new-key,old-key"})
    assert config.encrypt_keys == (b"new-key", b"old-key")


def test_keys_never_show_in_repr_or_errors() -> None:
    config = CacheConfig(encrypt_key="hunter2-key", secret="hunter2-secret")
    assert "hunter2" not in repr(config)
    assert "hunter2" not in repr(Codec("pickle", secret=b"hunter2", encrypt_keys=[b"hunter2"]))
    with pytest.raises(ConfigurationError) as info:
        CacheConfig(encrypt_key=["hunter2", ""])
    assert "hunter2" not in str(info.value)
    with pytest.raises(ConfigurationError) as info:
        CacheConfig.from_env({"TWAT_CACHE_ENCRYPT_KEY": ","})
    assert "encrypt_key" in str(info.value)


# -- secure=True ------------------------------------------------------------------------


def test_secure_picks_typed_on_shared_storage(namespace: str) -> None:
    cached = ucache("coretest-bytes://", namespace=namespace, secure=True)(point)
    assert cached(2) == cached(2) == Point(2, 2)
    raw = stored(cached.cache, cached.cache_key(2))
    assert raw[3:8] == b"typed"


def test_secure_without_a_usable_annotation_demands_a_secret_or_key(namespace: str) -> None:
    with pytest.raises(ConfigurationError, match="secret= or encrypt_key="):
        ucache("coretest-bytes://", secure=True)(untyped)
    # signed or encrypted, pickle stays: nobody without the secret can plant a pickle
    for extra in ({"secret": "s"}, {"encrypt_key": KEY}):
        cached = ucache("coretest-bytes://", namespace=namespace, secure=True, **extra)(untyped)
        cached.cache_clear()
        assert cached(5) == cached(5) == 5
        assert cached.cache.stats.hits == 1


class Unsafe:
    name = "unsafe"

    def dumps(self, value: Any) -> bytes:
        return pickle.dumps(value)

    def loads(self, data: bytes) -> Any:
        return pickle.loads(data)  # noqa: S301 - the test's point


def test_secure_refuses_an_unsafe_serializer_chosen_for_shared_storage() -> None:
    with pytest.raises(ConfigurationError, match="whoever can write there could run code"):
        Cache("coretest-bytes://", secure=True, serializer=Unsafe())
    Cache("memory://", secure=True, serializer=Unsafe()).close()  # in-process: nothing to fear


# -- format headers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ({"serializer": "pickle"}, {"serializer": "json"}),
        ({"serializer": "json"}, {"serializer": "msgpack"}),
        ({}, {"secret": "s"}),
        ({"secret": "s"}, {}),
        ({"secret": "s"}, {"secret": "t"}),
        ({}, {"encrypt_key": KEY}),
        ({"encrypt_key": KEY}, {}),
        ({"encrypt_key": KEY}, {"encrypt_key": OTHER}),
        ({"compress": "zstd", "compress_min_size": 0}, {"serializer": "json"}),
    ],
)
def test_a_change_of_format_makes_old_entries_misses(
    before: dict[str, Any], after: dict[str, Any], namespace: str
) -> None:
    old = Cache("coretest-bytes://", namespace=namespace, **before)
    old.set("k", ["value", 1])
    new = Cache("coretest-bytes://", namespace=namespace, **after)
    assert new.get("k", "missed") == "missed"
    assert new.stats.corrupt == 1
    old.close()
    new.close()


def test_frames_of_an_older_format_are_misses() -> None:
    with pytest.raises(CorruptEntryError, match="older format"):
        Codec("pickle").loads(b"\xfe\x00" + pickle.dumps(1))


# -- bad input --------------------------------------------------------------------------

CODECS = [
    Codec("pickle"),
    Codec("json", compress=True, compress_threshold=0),
    Codec("msgpack", compress="zstd", compress_threshold=0),
    Codec("typed", secret=b"s"),
    Codec("pickle", encrypt_keys=[KEY]),
]
GOOD = [codec.dumps({"a": [1, 2, 3]}, {"t": 1}) for codec in CODECS]


def _read(codec: Codec, data: bytes) -> None:
    try:
        codec.loads(data)
    except CorruptEntryError:
        pass


@settings(max_examples=300)
@given(data=st.binary(max_size=64), which=st.integers(0, len(CODECS) - 1))
def test_random_bytes_are_misses_never_exceptions(data: bytes, which: int) -> None:
    _read(CODECS[which], data)
    _read(CODECS[which], GOOD[which][:3] + data)  # a valid header, then garbage


@settings(max_examples=300)
@given(
    which=st.integers(0, len(CODECS) - 1),
    other=st.integers(0, len(CODECS) - 1),
    cut=st.integers(0, 200),
)
def test_truncated_frames_and_other_serializers_frames_are_misses(
    which: int, other: int, cut: int
) -> None:
    frame = GOOD[other]
    truncated = frame[: min(cut, len(frame) - 1)]
    with pytest.raises(CorruptEntryError):
        CODECS[which].loads(truncated)
    if other != which:
        with pytest.raises(CorruptEntryError):
            CODECS[which].loads(frame)
