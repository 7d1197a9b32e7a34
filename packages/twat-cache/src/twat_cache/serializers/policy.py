"""Choosing a cache's codec from its config, ``secure=True``, and the types ``typed`` rebuilds.

``secure=True`` refuses a cache on shared storage (``capabilities.shared``) that
would unpickle data nobody signed: whoever can write to the cache server could
then run code in every reader (docs/security.md). Such a cache uses the
``typed`` serializer instead -- each decorated function is then checked for a
return annotation it can rebuild -- unless ``secret=`` or ``encrypt_key=`` is set.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from twat_cache.exceptions import ConfigurationError
from twat_cache.serializers.formats import get_serializer
from twat_cache.serializers.frame import Codec

if TYPE_CHECKING:
    from twat_cache.config import CacheConfig
    from twat_cache.protocols import Capabilities

__all__ = ["build_codec", "expect_return_type", "value_type"]


def build_codec(config: CacheConfig, capabilities: Capabilities) -> Codec:
    """Return the codec of a byte-storing cache built from ``config``.

    Raises:
        ConfigurationError: under ``secure=True``, for a serializer that is not
            safe on shared storage without ``secret=`` or ``encrypt_key=``.
    """
    serializer = config.serializer
    keys = config.encrypt_keys
    unsigned = config.secret is None and not keys
    if (
        config.secure
        and capabilities.shared
        and unsigned
        and not getattr(get_serializer(serializer), "safe", False)
    ):
        if serializer != "pickle":  # the default is replaced; a choice is refused
            raise ConfigurationError(
                "secure",
                True,
                f"a safe serializer (typed, json, msgpack) or secret= or encrypt_key= "
                f"with the {config.serializer_name} serializer on shared storage "
                f"({config.engine}://): whoever can write there could run code in readers",
            )
        serializer = "typed"
    return Codec(
        serializer,
        compress=config.compress,
        secret=config.secret_bytes,
        compress_threshold=config.compress_min_size,
        encrypt_keys=keys,
    )


def value_type(types: Mapping[str, Any], key: Any) -> Any:
    """The type ``typed`` rebuilds the entry under ``key`` into: its function's annotation.

    Returns ``None`` (plain data) for a key no decorated function registered.
    """
    if not types or type(key) is not str:
        return None
    found = types.get(key.rpartition(":")[0])
    if found is not None:
        return found
    for prefix, annotation in types.items():  # a long key, hashed, keeps its start
        if key.startswith(prefix + ":"):
            return annotation
    return None


def expect_return_type(
    codec: Codec | None,
    types: dict[str, Any],
    func: Callable[..., Any],
    prefix: str,
    *,
    secure: bool = False,
) -> None:
    """Register ``func``'s return annotation for its entries (``serializer="typed"`` only).

    Called when a function is decorated, so that a missing or unsupported
    annotation fails there, not at the first call.

    Raises:
        ConfigurationError: naming the type (or its absence) and, under
            ``secure=True``, what to set instead.
    """
    if codec is None or not codec.typed:
        return
    from twat_cache.serializers.typed import check_type

    owner = f"function {func.__module__}.{func.__qualname__}"
    try:
        try:
            annotation = typing.get_type_hints(inspect.unwrap(func)).get("return")
        except Exception as exc:  # a name only a TYPE_CHECKING block imports, say
            raise ConfigurationError(
                "serializer",
                "typed",
                f"a return annotation that can be resolved at run time; {owner}'s cannot ({exc})",
            ) from None
        types[prefix] = check_type(annotation, owner)
    except ConfigurationError as exc:
        if not secure:
            raise
        raise ConfigurationError(
            "secure",
            True,
            f"{exc.allowed}; secure=True keeps pickle only with secret= or encrypt_key=",
        ) from None
