"""``serializer="typed"``: msgpack rebuilt from a type, without pickle (the ``typed`` extra).

Values are encoded by msgspec and decoded *into the type* a decorated function
declares as its return annotation (or ``cache.get(key, type=T)``): dataclasses,
TypedDict, NamedTuple, attrs classes, enums, pydantic models, and the standard
containers of those. Nothing is imported or called by name while reading, so a
stored value cannot make the reader run code.
"""

from __future__ import annotations

import functools
import importlib
import typing
from typing import Any

from twat_cache.exceptions import ConfigurationError

__all__ = ["TypedSerializer", "check_type"]


def _msgspec() -> Any:
    try:
        return importlib.import_module("msgspec")
    except ImportError:
        raise ConfigurationError(
            "serializer", "typed", 'msgspec is not installed: pip install "twat-cache[typed]"'
        ) from None


def _pydantic_model(cls: object) -> bool:
    return (
        isinstance(cls, type)
        and hasattr(cls, "model_validate")
        and any(base.__module__.startswith("pydantic.") for base in cls.__mro__[1:])
    )


def _enc_hook(value: Any) -> Any:
    if _pydantic_model(type(value)):
        return value.model_dump(mode="json")
    raise NotImplementedError(f"Objects of type {type(value).__qualname__} are not supported")


def _dec_hook(cls: type, obj: Any) -> Any:
    if _pydantic_model(cls):
        return cls.model_validate(obj)  # type: ignore[attr-defined]
    raise NotImplementedError(f"Objects of type {cls!r} are not supported")


@functools.lru_cache(maxsize=256)
def _decoder(annotation: Any) -> Any:
    return _msgspec().msgpack.Decoder(annotation, dec_hook=_dec_hook)


def check_type(annotation: Any, owner: str) -> Any:
    """Return ``annotation`` when the typed serializer can rebuild it.

    Args:
        annotation: A return annotation (already evaluated).
        owner: Who declared it, for the message (``function module.f``).

    Raises:
        ConfigurationError: naming the type when it is missing or not supported.
    """
    if annotation is None or annotation is typing.Any:
        shown = "no return annotation" if annotation is None else "typing.Any"
        raise ConfigurationError(
            "serializer",
            "typed",
            f"a return annotation to rebuild values from; {owner} has {shown}",
        )
    try:
        bad = _custom_type(_msgspec().inspect.type_info(annotation), set())
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(
            "serializer",
            "typed",
            f"a type msgspec can rebuild; {owner} returns {annotation!r} ({exc})",
        ) from None
    if bad is not None:
        raise ConfigurationError(
            "serializer",
            "typed",
            f"a type msgspec can rebuild; {owner} returns {annotation!r}, "
            f"and {bad!r} is not a dataclass, TypedDict, NamedTuple, attrs class, "
            "enum or pydantic model",
        )
    return annotation


def _custom_type(info: Any, seen: set[int]) -> Any:
    """The first class in msgspec's description of a type that it cannot rebuild by itself."""
    if id(info) in seen:
        return None
    seen.add(id(info))
    inspect = _msgspec().inspect
    if isinstance(info, inspect.CustomType):
        return None if _pydantic_model(info.cls) else info.cls
    if isinstance(info, (tuple, list)):
        children: Any = info
    elif isinstance(info, (inspect.Type, inspect.Field)):
        children = [getattr(info, name) for name in info.__struct_fields__]
    else:
        return None
    for child in children:
        found = _custom_type(child, seen)
        if found is not None:
            return found
    return None


class TypedSerializer:
    """msgpack through msgspec; ``loads`` rebuilds the type it is given."""

    name = "typed"
    safe = True
    typed = True

    def __init__(self) -> None:
        self._encoder = _msgspec().msgpack.Encoder(enc_hook=_enc_hook)

    def dumps(self, value: Any) -> bytes:
        """Encode ``value`` as msgpack."""
        return bytes(self._encoder.encode(value))

    def loads(self, data: bytes, type: Any = Any) -> Any:
        """Decode ``data`` into ``type`` (plain data when no type is known).

        Raises:
            Exception: msgspec's DecodeError or ValidationError for bytes that
                do not hold a ``type``.
        """
        return _decoder(type).decode(data)
