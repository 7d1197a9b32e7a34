"""Serializers: round trips, raw integers, compression, HMAC signing, corrupt entries."""

from __future__ import annotations

import dataclasses
import logging
import pickle
import sys
import threading
import zlib
from typing import Any

import pytest
from twat_cache import Cache, ConfigurationError, SerializationError
from twat_cache.serializers import Codec, CorruptEntryError, decode_int, encode_int
from twat_cache.serializers.frame import HEAD_SIZE, ShortHeadError, head_tags

UNPICKLED: list[str] = []


def record_unpickling(marker: str) -> str:
    """What the hostile payload below calls -- if it is ever unpickled."""
    UNPICKLED.append(marker)
    return marker


class Hostile:
    """Unpickling this calls ``record_unpickling``: stands for arbitrary code."""

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return record_unpickling, ("code ran",)


@pytest.fixture(autouse=True)
def _no_unpickling_yet() -> None:
    UNPICKLED.clear()


@dataclasses.dataclass
class Order:
    id: int
    items: list[str]


@pytest.mark.parametrize(
    "value",
    [
        None,
        "text ✓",
        b"\x00\xff",
        3.5,
        True,
        [1, "a"],
        {"k": {"n": [1, 2]}},
        Order(1, ["x"]),
        {1, 2},
    ],
)
def test_pickle_round_trips_any_object(value: object) -> None:
    s = Codec("pickle")
    assert s.loads(s.dumps(value)) == (value, None)


@pytest.mark.parametrize("value", [None, "text ✓", 3.5, False, [1, "a"], {"k": {"n": [1, None]}}])
def test_json_round_trips_json_data(value: object) -> None:
    s = Codec("json")
    assert s.loads(s.dumps(value)) == (value, None)


@pytest.mark.parametrize(
    "value", [None, "text ✓", b"\x00\xff", 3.5, [1, "a"], {"k": {"n": [1, None]}}, {1: "int key"}]
)
def test_msgpack_round_trips_its_data(value: object) -> None:
    s = Codec("msgpack")
    assert s.loads(s.dumps(value)) == (value, None)


@pytest.mark.parametrize("name", ["pickle", "json", "msgpack"])
def test_values_that_cannot_be_encoded_raise_serialization_error(name: str) -> None:
    s = Codec(name)
    with pytest.raises(SerializationError, match=name):
        s.dumps(threading.Lock())


@pytest.mark.parametrize("name", ["pickle", "json", "msgpack"])
def test_plain_integers_are_stored_raw(name: str) -> None:
    s = Codec(name, secret=b"k", compress=True)
    for n in (0, 42, -7, 10**40):
        assert s.dumps(n) == str(n).encode()
        assert s.loads(str(n).encode()) == (n, None)
    assert s.dumps(True) != b"1"  # a bool is not an int here
    assert s.loads(s.dumps(True)) == (True, None)
    assert s.dumps(42, tags={"t": 1}) != b"42"  # a tagged int needs its frame
    assert s.loads(s.dumps(42, tags={"t": 1})) == (42, {"t": 1})
    assert encode_int(-3) == b"-3"
    assert decode_int(b"-3") == -3
    with pytest.raises(TypeError):
        decode_int(b"abc")


def test_compression_applies_above_the_threshold() -> None:
    plain = Codec("pickle")
    packed = Codec("pickle", compress=True, compress_threshold=100)
    big = "a" * 10_000
    assert len(packed.dumps(big)) < len(plain.dumps(big)) // 10
    assert packed.loads(packed.dumps(big)) == (big, None)
    assert plain.loads(packed.dumps(big)) == (big, None)  # readers need no setting
    small = "a" * 10
    assert packed.dumps(small) == plain.dumps(small)


def test_signed_frames_round_trip_with_the_same_secret() -> None:
    s = Codec("pickle", secret=b"secret", compress=True, compress_threshold=0)
    data = s.dumps({"a": 1}, tags={"users": 5})
    assert s.loads(data) == ({"a": 1}, {"users": 5})
    # a reader without the secret cannot check it: a miss, as a change of signing is
    with pytest.raises(CorruptEntryError, match="signed"):
        Codec("pickle").loads(data)


def _hostile_frame(secret: bytes | None) -> bytes:
    return Codec("pickle", secret=secret).dumps(Hostile())


def test_hostile_payload_really_runs_when_nothing_checks_it() -> None:
    # the control experiment: without a secret, the payload below does run
    Codec("pickle").loads(_hostile_frame(None))
    assert UNPICKLED == ["code ran"]


@pytest.mark.parametrize(
    ("case", "frame"),
    [
        ("unsigned", lambda: _hostile_frame(None)),
        ("other secret", lambda: _hostile_frame(b"attacker")),
        ("tampered", lambda: _tamper(_hostile_frame(b"secret"))),
    ],
)
def test_a_secret_rejects_frames_before_unpickling(case: str, frame: Any) -> None:
    with pytest.raises(CorruptEntryError):
        Codec("pickle", secret=b"secret").loads(frame())
    assert UNPICKLED == []


def _tamper(data: bytes, index: int = -1) -> bytes:
    changed = bytearray(data)
    changed[index] ^= 0x01
    return bytes(changed)


def test_every_tampered_byte_is_detected() -> None:
    s = Codec("pickle", secret=b"secret")
    data = s.dumps({"a": [1, 2, 3]}, tags={"t": 1})
    for index in range(1, len(data)):  # byte 0 is the magic: changing it is "not a frame"
        with pytest.raises(CorruptEntryError):
            s.loads(_tamper(data, index))


@pytest.mark.parametrize("writer", ["unsigned", "other secret", "tampered"])
def test_through_cache_a_rejected_entry_is_a_logged_miss_never_unpickled(
    writer: str, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    reader = Cache("coretest-bytes://", namespace=namespace, secret="secret")
    raw = {
        "unsigned": _hostile_frame(None),
        "other secret": _hostile_frame(b"attacker"),
        "tampered": _tamper(_hostile_frame(b"secret")),
    }[writer]
    reader.backend.set("k", raw)  # what a writer with access to the server left there
    with caplog.at_level(logging.WARNING, logger="twat_cache"):
        assert reader.get("k", "default") == "default"
    assert UNPICKLED == []
    assert reader.stats.corrupt == 1
    assert reader.stats.misses == 1
    assert any("rejected as a miss" in r.getMessage() for r in caplog.records)
    reader.close()


def test_a_json_cache_never_unpickles(namespace: str) -> None:
    writer = Cache("coretest-bytes://", namespace=namespace)  # pickle, no secret
    reader = Cache("coretest-bytes://", namespace=namespace, serializer="json")
    writer.set("k", Hostile())
    assert UNPICKLED == []
    assert reader.get("k") is None
    assert UNPICKLED == []
    assert reader.stats.corrupt == 1
    # a change of serializer is a miss both ways, never a misread value
    reader.set("j", {"a": [1]})
    assert writer.get("j") is None
    writer.close()
    reader.close()


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"12x",
        b"\x00not a frame",
        b"\xfe",
        b"\xfe\x0f" + b"payload",  # unknown serializer id
        b"\xfe\x10" + b"not zlib",  # compressed flag, bad payload
        b"\xfe\x40" + (3).to_bytes(4, "big") + b"[1]" + pickle.dumps(1),  # tag block not a dict
        b"\xfe\x40" + (3).to_bytes(4, "big") + b"{x}",  # tag block not json
    ],
)
def test_corrupt_entries_raise_corrupt_entry_error(data: bytes) -> None:
    with pytest.raises(CorruptEntryError):
        Codec("pickle").loads(data)


def test_unknown_serializer_name_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="serializer"):
        Codec("yaml")


def test_missing_msgpack_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "msgpack", None)  # makes "import msgpack" fail
    with pytest.raises(ConfigurationError, match=r"twat-cache\[msgpack\]"):
        Codec("msgpack")
    with pytest.raises(ConfigurationError, match=r"twat-cache\[msgpack\]"):
        Cache("coretest-bytes://", serializer="msgpack")


def test_sign_prefixes_an_hmac() -> None:
    assert Codec("pickle").sign(b"token") == b"token"
    signed = Codec("pickle", secret=b"k").sign(b"token")
    assert signed.endswith(b"token")
    assert len(signed) == 32 + len(b"token")
    assert signed != Codec("pickle", secret=b"other").sign(b"token")


def test_zlib_frames_are_plain_zlib() -> None:
    s = Codec("json", compress=True, compress_threshold=0)
    data = s.dumps(["x"] * 100)
    assert data[:7] == b"\xfd\x01\x04json"  # the header names the serializer and the codec
    assert zlib.decompress(data[7:]) == b'["' + b'","'.join([b"x"] * 100) + b'"]'


def test_a_plain_frame_with_a_broken_payload_is_corrupt() -> None:
    from twat_cache.serializers import Codec, CorruptEntryError

    serializer = Codec("pickle")
    good = serializer.dumps({"a": 1})
    assert serializer.loads(good) == ({"a": 1}, None)
    with pytest.raises(CorruptEntryError):
        serializer.loads(good[:9] + b"\x00not a pickle")


def test_head_tags_reads_the_tag_block_from_the_first_bytes() -> None:
    signed = Codec("pickle", secret=b"s", compress=True, compress_threshold=0)
    frame = signed.dumps("x" * 5000, {"users": 3, "user:7": 9})
    assert head_tags(frame[:HEAD_SIZE]) == {"users": 3, "user:7": 9}
    assert head_tags(Codec("json").dumps([1], {"t": 1})) == {"t": 1}
    assert head_tags(Codec("pickle").dumps({"a": 1})) is None, "untagged"
    assert head_tags(encode_int(42)) is None, "a plain integer"
    assert head_tags(b"\x00not a frame") is None
    with pytest.raises(ShortHeadError):
        head_tags(frame[:20])  # the tag block goes on past these bytes
    with pytest.raises(ShortHeadError):
        head_tags(frame[:5])
    broken = bytearray(Codec("pickle").dumps(1.5, {"t": 1}))
    broken[broken.index(b"{")] = ord("[")  # the block no longer parses as a JSON object
    assert head_tags(bytes(broken)) is None
