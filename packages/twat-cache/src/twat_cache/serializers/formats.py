"""The serializer protocol, the built-in serializers and the registry.

A serializer turns a value into bytes and back; :class:`~twat_cache.serializers.Codec`
wraps its output in a frame (header, compression, encryption, signature).
Third-party serializers register under the entry-point group
``twat_cache.serializers`` and are then named like the built-in ones.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import enum
import importlib
import json
import logging

# pickle is the default serializer; secure=True and secret= keep it away from untrusted bytes
import pickle  # nosec B403
import uuid
from collections.abc import Callable
from decimal import Decimal
from importlib.metadata import entry_points
from typing import Any, Protocol, runtime_checkable

from twat_cache.exceptions import ConfigurationError

__all__ = ["Serializer", "available_serializers", "get_serializer", "register_serializer"]

ENTRY_POINT_GROUP = "twat_cache.serializers"
logger = logging.getLogger("twat_cache")


@runtime_checkable
class Serializer(Protocol):
    """What a serializer provides: a name, ``dumps`` and ``loads``.

    Attributes:
        name: Recorded in every stored value's header (ASCII, 1-64 characters):
            an entry written by another serializer is a miss.

    An optional ``safe = True`` attribute says that ``loads`` of hostile bytes
    cannot run code (pickle cannot promise that): ``secure=True`` refuses a
    serializer without it on shared storage unless entries are signed or encrypted.
    """

    name: str

    def dumps(self, value: Any) -> bytes:
        """Encode ``value``; raise any exception for a value it cannot encode."""
        ...  # pragma: no cover - protocol

    def loads(self, data: bytes) -> Any:
        """Decode what :meth:`dumps` returned; raise any exception for bad bytes."""
        ...  # pragma: no cover - protocol


class PickleSerializer:
    """Any picklable object (the default). Unpickling runs code: sign or encrypt shared caches."""

    name = "pickle"
    safe = False

    def dumps(self, value: Any) -> bytes:
        """Pickle ``value`` with the highest protocol."""
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)

    def loads(self, data: bytes) -> Any:
        """Unpickle ``data`` (only ever called on frames that passed their checks)."""
        return pickle.loads(data)  # nosec B301 - see docs/security.md


_TAG = "$t"


def _class_path(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _resolve(path: str, kind: Callable[[type], bool]) -> type:
    """Find the class ``module:qualname``; only dataclasses and enums are ever rebuilt."""
    module, _, qualname = path.partition(":")
    found: Any = importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, part)
    if not isinstance(found, type) or not kind(found):
        raise TypeError(f"{path} is not a class json may rebuild")
    return found


def _to_json(value: Any) -> Any:  # noqa: PLR0911 - one branch per kept type
    """Return ``value`` as plain JSON data, tagging every type JSON would lose."""
    kind = type(value)
    if kind in (str, int, float, bool) or value is None:
        return value
    if kind is list:
        return [_to_json(v) for v in value]
    if kind is dict:
        if all(type(k) is str for k in value) and _TAG not in value:
            return {k: _to_json(v) for k, v in value.items()}
        return {_TAG: "dict", "v": [[_to_json(k), _to_json(v)] for k, v in value.items()]}
    if kind is tuple:
        return {_TAG: "tuple", "v": [_to_json(v) for v in value]}
    if kind in (set, frozenset):
        return {_TAG: kind.__name__, "v": [_to_json(v) for v in value]}
    if kind in (bytes, bytearray):
        return {_TAG: "bytes", "v": base64.b64encode(value).decode("ascii")}
    if isinstance(value, enum.Enum):
        return {_TAG: "enum", "c": _class_path(kind), "v": _to_json(value.value)}
    if kind in (dt.datetime, dt.date, dt.time):
        return {_TAG: kind.__name__, "v": value.isoformat()}
    if kind is uuid.UUID:
        return {_TAG: "uuid", "v": str(value)}
    if kind is Decimal:
        return {_TAG: "decimal", "v": str(value)}
    if dataclasses.is_dataclass(value):
        fields = {f.name: _to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {_TAG: "dataclass", "c": _class_path(kind), "v": fields}
    raise TypeError(f"Object of type {kind.__qualname__} is not JSON serializable")


_SIMPLE: dict[str, Callable[[Any], Any]] = {
    "tuple": tuple,
    "set": set,
    "frozenset": frozenset,
    "bytes": base64.b64decode,
    "datetime": dt.datetime.fromisoformat,
    "date": dt.date.fromisoformat,
    "time": dt.time.fromisoformat,
    "uuid": uuid.UUID,
    "decimal": Decimal,
}


def _from_json(data: Any) -> Any:  # noqa: PLR0911 - one branch per kept type
    """Rebuild what :func:`_to_json` tagged."""
    if type(data) is list:
        return [_from_json(v) for v in data]
    if type(data) is not dict:
        return data
    tag = data.get(_TAG)
    if tag is None:
        return {k: _from_json(v) for k, v in data.items()}
    inner = data["v"]
    if tag == "dict":
        return {_hashable(_from_json(k)): _from_json(v) for k, v in inner}
    if tag == "tuple":  # its items may be lists: only set members and dict keys are hashable
        return tuple(_from_json(v) for v in inner)
    if tag in ("set", "frozenset"):
        return _SIMPLE[tag](_hashable(_from_json(v)) for v in inner)
    if tag in _SIMPLE:
        return _SIMPLE[tag](inner)
    if tag == "enum":
        return _resolve(data["c"], lambda c: issubclass(c, enum.Enum))(_from_json(inner))
    if tag == "dataclass":
        cls = _resolve(data["c"], dataclasses.is_dataclass)
        return cls(**{k: _from_json(v) for k, v in inner.items()})
    raise ValueError(f"unknown json type tag {tag!r}")


def _hashable(value: Any) -> Any:
    # a list here was a tuple JSON could not keep as a key; tuples are tagged, so this is rare
    return tuple(value) if type(value) is list else value


class JsonSerializer:
    """JSON that keeps datetime, date, time, UUID, Decimal, Enum, bytes, sets, tuples, dataclasses.

    Plain JSON data is stored as it is (readable by any JSON reader); other
    types are stored as ``{"$t": type, "v": value}`` objects and rebuilt on read.
    Enums and dataclasses are found by their import path; nothing else is ever
    imported or called.
    """

    name = "json"
    safe = True

    def dumps(self, value: Any) -> bytes:
        """Encode ``value`` as compact UTF-8 JSON."""
        return json.dumps(
            _to_json(value), separators=(",", ":"), ensure_ascii=False, allow_nan=True
        ).encode()

    def loads(self, data: bytes) -> Any:
        """Decode JSON written by :meth:`dumps`."""
        return _from_json(json.loads(data))


class MsgpackSerializer:
    """msgpack (the ``msgpack`` extra): compact, portable, plain data only."""

    name = "msgpack"
    safe = True

    def __init__(self) -> None:
        try:
            self._msgpack: Any = importlib.import_module("msgpack")  # optional; untyped
        except ImportError:
            raise ConfigurationError(
                "serializer",
                "msgpack",
                'msgpack is not installed: pip install "twat-cache[msgpack]"',
            ) from None

    def dumps(self, value: Any) -> bytes:
        """Pack ``value`` (bytes stay bytes)."""
        return bytes(self._msgpack.packb(value, use_bin_type=True))

    def loads(self, data: bytes) -> Any:
        """Unpack ``data``; maps with int keys read back."""
        # strict_map_key=False: a dict with int keys must read back, not fail forever
        return self._msgpack.unpackb(data, raw=False, strict_map_key=False)


def _typed() -> Serializer:
    from twat_cache.serializers.typed import TypedSerializer

    return TypedSerializer()


_FACTORIES: dict[str, Callable[[], Serializer]] = {
    "pickle": PickleSerializer,
    "json": JsonSerializer,
    "msgpack": MsgpackSerializer,
    "typed": _typed,
}
_loaded_entry_points = False


def register_serializer(name: str, factory: Callable[[], Serializer]) -> None:
    """Make ``serializer=name`` build a serializer with ``factory()``.

    Entry points of the group ``twat_cache.serializers`` are registered this way
    the first time a name is not found.
    """
    _FACTORIES[name] = factory


def _load_entry_points() -> None:
    global _loaded_entry_points  # noqa: PLW0603 - loaded once per process
    if _loaded_entry_points:
        return
    _loaded_entry_points = True
    for point in entry_points(group=ENTRY_POINT_GROUP):
        if point.name not in _FACTORIES:
            _FACTORIES[point.name] = point.load()


def available_serializers() -> tuple[str, ...]:
    """The serializer names ``serializer=`` accepts (built-in and installed)."""
    _load_entry_points()
    return tuple(_FACTORIES)


def get_serializer(spec: str | Serializer) -> Serializer:
    """Return the serializer ``spec`` names, or ``spec`` itself when it is one.

    Raises:
        ConfigurationError: for an unknown name, an object that is not a
            :class:`Serializer`, or a bad ``name``.
    """
    if isinstance(spec, str):
        if spec not in _FACTORIES:
            _load_entry_points()
        factory = _FACTORIES.get(spec)
        if factory is None:
            raise ConfigurationError("serializer", spec, "one of " + ", ".join(_FACTORIES))
        spec = factory()
    if not isinstance(spec, Serializer):
        raise ConfigurationError(
            "serializer", spec, "a serializer name or an object with name, dumps and loads"
        )
    name = spec.name
    if not isinstance(name, str) or not 0 < len(name) <= 64 or not name.isascii():
        raise ConfigurationError("serializer", name, "a name of 1-64 ASCII characters")
    return spec
