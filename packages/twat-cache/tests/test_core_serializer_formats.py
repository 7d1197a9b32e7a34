"""Pluggable serializers: json that keeps types, the registry, the typed serializer."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import pickle
import uuid
from decimal import Decimal
from typing import Any, NamedTuple, TypedDict

import attrs
import msgpack  # type: ignore[import-untyped]
import pydantic
import pytest
from twat_cache import Cache, ConfigurationError, SerializationError, ucache
from twat_cache.serializers import (
    Codec,
    CorruptEntryError,
    Serializer,
    available_serializers,
    formats,
    get_serializer,
    register_serializer,
)
from twat_cache.serializers.policy import value_type


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclasses.dataclass
class Point:
    x: int
    y: int


@dataclasses.dataclass
class Shape:
    name: str
    points: list[Point]
    colour: Colour
    made: dt.datetime


class Movie(TypedDict):
    title: str
    year: int


class Pair(NamedTuple):
    left: int
    right: str


@attrs.define
class Account:
    id: uuid.UUID
    balance: Decimal


class User(pydantic.BaseModel):
    name: str
    tags: list[str]


@pytest.mark.parametrize(
    "value",
    [
        dt.datetime(2024, 5, 1, 12, 30, 1, 5, tzinfo=dt.timezone.utc),
        dt.date(2024, 5, 1),
        dt.time(12, 30),
        uuid.UUID(int=7),
        Decimal("1.10"),
        Colour.BLUE,
        b"\x00\xff",
        {1, 2},
        frozenset({"a"}),
        (1, (2, "x")),
        Point(1, 2),
        Shape("s", [Point(0, 0)], Colour.RED, dt.datetime(2020, 1, 1)),
        {1: "int key", (1, 2): "tuple key"},
        {"$t": "a user's own key"},
        [None, True, 1.5, "text ✓", {"k": [1]}],
    ],
)
def test_json_round_trips_types_without_losing_them(value: object) -> None:
    codec = Codec("json")
    back, _ = codec.loads(codec.dumps(value))
    assert back == value
    assert type(back) is type(value)


def test_json_keeps_plain_data_readable_by_any_json_reader() -> None:
    assert formats.JsonSerializer().dumps({"a": [1, "x"]}) == b'{"a":[1,"x"]}'


def test_json_never_rebuilds_a_class_that_is_not_a_dataclass_or_enum() -> None:
    data = b'{"$t":"dataclass","c":"os:system","v":{}}'
    with pytest.raises(TypeError, match="not a class json may rebuild"):
        formats.JsonSerializer().loads(data)


class Upper:
    """A third-party serializer: text in upper case."""

    name = "upper"
    safe = True

    def dumps(self, value: Any) -> bytes:
        return str(value).upper().encode()

    def loads(self, data: bytes) -> Any:
        return data.decode()


class FakeEntryPoint:
    name = "upper-ep"

    def load(self) -> Any:
        return Upper


def test_serializers_install_through_the_entry_point_group(
    monkeypatch: pytest.MonkeyPatch, namespace: str
) -> None:
    groups: list[str] = []

    def entry_points(group: str) -> list[FakeEntryPoint]:
        groups.append(group)
        return [FakeEntryPoint()]

    monkeypatch.setattr(formats, "entry_points", entry_points)
    monkeypatch.setattr(formats, "_loaded_entry_points", False)
    monkeypatch.setattr(formats, "_FACTORIES", dict(formats._FACTORIES))
    assert "upper-ep" in available_serializers()
    assert groups == ["twat_cache.serializers"]
    cache = Cache("coretest-bytes://", namespace=namespace, serializer="upper-ep")
    cache.set("k", "hello")
    assert cache.get("k") == "HELLO"
    cache.close()


def test_serializer_takes_an_instance(namespace: str) -> None:
    cache = Cache("coretest-bytes://", namespace=namespace, serializer=Upper())
    cache.set("k", "abc")
    assert cache.get("k") == "ABC"
    assert cache.config.serializer_name == "upper"
    cache.close()


def test_register_serializer_names_a_factory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(formats, "_FACTORIES", dict(formats._FACTORIES))
    register_serializer("upper2", Upper)
    assert isinstance(get_serializer("upper2"), Upper)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("yaml", "one of pickle, json, msgpack, typed"),
        (object(), "an object with name, dumps and loads"),
    ],
)
def test_a_bad_serializer_is_a_configuration_error(spec: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Cache("coretest-bytes://", serializer=spec)


def test_a_serializer_name_must_fit_the_header() -> None:
    bad = Upper()
    bad.name = "x" * 65
    with pytest.raises(ConfigurationError, match="1-64 ASCII"):
        get_serializer(bad)


def test_protocol_is_runtime_checkable() -> None:
    assert isinstance(Upper(), Serializer)
    assert isinstance(get_serializer("pickle"), Serializer)


# -- typed ------------------------------------------------------------------------------


@pytest.fixture
def no_pickle(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any use of pickle fails the test."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("pickle was used")

    for name in ("dumps", "loads", "dump", "load"):
        monkeypatch.setattr(pickle, name, refuse)


def shapes(n: int) -> list[Shape]:
    return [Shape(f"s{n}", [Point(n, n)], Colour.BLUE, dt.datetime(2024, 1, 1))]


def movie(n: int) -> Movie:
    return {"title": f"m{n}", "year": 2000 + n}


def pair(n: int) -> Pair:
    return Pair(n, str(n))


def account(n: int) -> Account:
    return Account(uuid.UUID(int=n), Decimal("1.5"))


def user(n: int) -> User:
    return User(name=f"u{n}", tags=["a"])


def colours(n: int) -> dict[str, Colour]:
    return {"c": Colour.RED}


@pytest.mark.parametrize("func", [shapes, movie, pair, account, user, colours])
def test_typed_rebuilds_the_return_annotation_without_pickle(
    func: Any, namespace: str, no_pickle: None
) -> None:
    calls: list[int] = []

    def counted(n: int) -> Any:
        calls.append(n)
        return func(n)

    counted.__annotations__ = dict(func.__annotations__)
    counted.__qualname__ = func.__qualname__
    cached = ucache("coretest-bytes://", namespace=namespace, serializer="typed")(counted)
    first = cached(3)
    again = cached(3)
    assert calls == [3]
    assert again == first == func(3)
    assert type(again) is type(first)
    raw = cached.cache.backend.get(cached.cache_key(3))
    assert raw[3:8] == b"typed"  # the header names the serializer
    msgpack.unpackb(raw[8:])  # the payload is plain msgpack, not a pickle stream
    cached.cache.close()


def untyped(n):  # type: ignore[no-untyped-def]  # noqa: ANN001, ANN201
    return n


def returns_any(n: int) -> Any:
    return n


class Opaque:
    pass


def returns_opaque(n: int) -> list[Opaque]:
    return [Opaque()]


@pytest.mark.parametrize(
    ("func", "message"),
    [
        (untyped, "has no return annotation"),
        (returns_any, "has typing.Any"),
        (returns_opaque, "Opaque"),
    ],
)
def test_typed_refuses_a_missing_or_unsupported_annotation_at_decoration(
    func: Any, message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        ucache("coretest-bytes://", serializer="typed")(func)


def test_typed_with_cache_get_takes_the_type(namespace: str, no_pickle: None) -> None:
    cache = Cache("coretest-bytes://", namespace=namespace, serializer="typed")
    cache.set("p", Point(1, 2))
    assert cache.get("p", type=Point) == Point(1, 2)
    assert cache.get("p") == {"x": 1, "y": 2}  # no type given: plain data
    assert cache.get("p", type=Movie) is None  # not a Movie: a miss, not a misread value
    cache.close()


async def test_typed_async_get_takes_the_type(namespace: str) -> None:
    cache = Cache("coretest-abytes://", namespace=namespace, serializer="typed")
    await cache.aset("p", Point(1, 2))
    assert await cache.aget("p", type=Point) == Point(1, 2)
    await cache.aclose()


def test_a_value_the_serializer_cannot_encode_names_type_and_serializer(namespace: str) -> None:
    cache = Cache("coretest-bytes://", namespace=namespace, serializer="typed")
    cache.set("k", Point(1, 1))
    with pytest.raises(SerializationError, match="cannot serialize a Opaque with the typed"):
        cache.set("k", Opaque())
    assert cache.get("k", type=Point) == Point(1, 1)  # the old entry is intact
    json_cache = Cache("coretest-bytes://", namespace=namespace, serializer="json")
    with pytest.raises(SerializationError, match="Opaque with the json serializer"):
        json_cache.set("k", Opaque())
    cache.close()
    json_cache.close()


def test_typed_entries_of_two_functions_on_one_cache_keep_their_types(namespace: str) -> None:
    cache = Cache("coretest-bytes://", namespace=namespace, serializer="typed")
    cached_pair = ucache(cache=cache)(pair)
    cached_account = ucache(cache=cache)(account)
    assert cached_pair(1) == cached_pair(1) == Pair(1, "1")
    assert cached_account(2) == cached_account(2) == account(2)
    assert cache.stats.hits == 2
    cache.close()


def test_typed_miss_for_an_entry_of_another_shape() -> None:
    codec = Codec("typed")
    with pytest.raises(CorruptEntryError, match="typed"):
        codec.loads(codec.dumps({"x": "not an int"}), Point)


def unresolvable(n: int) -> NoSuchType:  # type: ignore[name-defined]  # noqa: F821
    return n


def test_typed_names_an_annotation_it_cannot_resolve() -> None:
    with pytest.raises(ConfigurationError, match="NoSuchType"):
        ucache("coretest-bytes://", serializer="typed")(unresolvable)


def test_typed_finds_the_function_of_a_hashed_long_key() -> None:
    types = {"mod.f": Point, "mod.g": Pair}
    assert value_type(types, "mod.f:abc") is Point
    assert value_type(types, "mod.g:" + "x" * 10 + "~" + "0" * 32) is Pair  # no ':' after
    assert value_type(types, "mod.g:part:with:colons~hash") is Pair
    assert value_type(types, "other:abc") is None
    assert value_type(types, ("tuple", "key")) is None
    assert value_type({}, "mod.f:abc") is None
