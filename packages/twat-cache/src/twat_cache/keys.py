"""Cache keys built from a function's arguments.

Two forms (see DESIGN.md):

* **local** keys, for in-process engines: a plain tuple of the bound arguments
  (the arguments themselves when they are all given positionally), so a hit
  costs little more than a dict lookup;
* **shared** keys, for every other engine: ``{module}.{qualname}:{digest}``, where
  the digest is a BLAKE2b hash of a canonical, type-tagged encoding of the bound
  arguments -- the same in every process and Python run (``hash()`` is never used).

``f(1)``, ``f(x=1)`` and ``f()`` with ``x=1`` as default all give the same key.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import decimal
import enum
import hashlib
import inspect
import pathlib
import re
import uuid
from collections.abc import Callable, Hashable
from typing import Any

from twat_cache.exceptions import CacheKeyError

__all__ = ["KeyPlan", "canonical_bytes", "digest", "fit_key"]

_MAX_DEPTH = 32
# immutable types whose equality matches the encoding: their digests are memoised. bool and
# float are left out: True == 1 == 1.0 would share a memo slot though their encodings differ
_MEMO_TYPES = frozenset({int, str, bytes, type(None)})
_MEMO_SIZE = 1024
_MAX_PREFIX = 160
_EMPTY = inspect.Parameter.empty
_PLAIN = (int, str, float, bytes, tuple)


def _len(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big")


def _text(value: str) -> bytes:
    data = value.encode("utf-8", "surrogatepass")
    return _len(data) + data


def _qualified(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


# one flat dispatch on the value's type reads better than helpers split to please a counter
def _encode(value: Any, out: list[bytes], depth: int) -> None:  # noqa: PLR0912, PLR0915
    if depth > _MAX_DEPTH:
        raise CacheKeyError("cannot build a cache key: arguments are nested too deeply (or cyclic)")
    kind = type(value)
    if value is None:
        out.append(b"N")
    elif kind is bool:
        out.append(b"T" if value else b"F")
    elif kind is int:
        out.append(b"i" + _text(str(value)))
    elif kind is str:
        out.append(b"s" + _text(value))
    elif kind is float:
        out.append(b"f" + _text(repr(value)))
    elif kind in (bytes, bytearray, memoryview):
        data = bytes(value)
        out.append(b"b" + _len(data) + data)
    elif kind in (tuple, list):
        out.append((b"t" if kind is tuple else b"l") + len(value).to_bytes(4, "big"))
        for item in value:
            _encode(item, out, depth + 1)
    elif kind is dict:
        # sort on the encoded key only: the values need not be comparable
        items = sorted(
            ((canonical_bytes(k, depth + 1), v) for k, v in value.items()), key=lambda kv: kv[0]
        )
        out.append(b"d" + len(items).to_bytes(4, "big"))
        for key_bytes, item in items:
            out.append(key_bytes)
            _encode(item, out, depth + 1)
    elif kind in (set, frozenset):
        members = sorted(canonical_bytes(v, depth + 1) for v in value)
        out.append(b"S" + len(members).to_bytes(4, "big") + b"".join(members))
    elif isinstance(value, type) or inspect.isroutine(value):
        # before __cache_key__: a class defining it is an argument, not a keyed instance
        out.append(b"C" + _text(_qualified(value)))
    elif hasattr(value, "__cache_key__"):
        out.append(b"K" + _text(_qualified(kind)))
        _encode(value.__cache_key__(), out, depth + 1)
    elif isinstance(value, enum.Enum):
        out.append(b"E" + _text(_qualified(kind)))
        _encode(value.value, out, depth + 1)
    elif isinstance(value, _PLAIN):  # subclasses: keep the type, encode the plain value
        out.append(b"u" + _text(_qualified(kind)))
        base: type[Any] = next(b for b in _PLAIN if isinstance(value, b))
        _encode(base(value), out, depth + 1)
    elif dataclasses.is_dataclass(value):  # an instance: classes were handled above
        out.append(b"D" + _text(_qualified(kind)))
        for f in dataclasses.fields(value):
            out.append(_text(f.name))
            _encode(getattr(value, f.name), out, depth + 1)
    elif isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        out.append(b"z" + _text(_qualified(kind)) + _text(value.isoformat()))
    elif isinstance(value, (decimal.Decimal, uuid.UUID, pathlib.PurePath, complex, _dt.timedelta)):
        out.append(b"x" + _text(_qualified(kind)) + _text(str(value)))
    elif hasattr(value, "__dict__") and not inspect.ismodule(value):
        out.append(b"O" + _text(_qualified(kind)))
        _encode(vars(value), out, depth + 1)
    else:
        raise CacheKeyError(
            f"cannot build a stable cache key from a {_qualified(kind)}: give the class a "
            "__cache_key__() method returning plain data, or pass key= to the decorator"
        )


def canonical_bytes(value: Any, depth: int = 0) -> bytes:
    """Return a canonical, type-tagged encoding of ``value``.

    Equal plain-data values give equal bytes in every process and Python run;
    ``1`` and ``"1"`` and ``True`` give different bytes.

    Raises:
        CacheKeyError: for objects with no stable form (give them ``__cache_key__``).
    """
    out: list[bytes] = []
    _encode(value, out, depth)
    return b"".join(out)


def digest(value: Any) -> str:
    """Return the hex BLAKE2b digest (128 bits) of ``value``'s canonical encoding."""
    return hashlib.blake2b(canonical_bytes(value), digest_size=16).hexdigest()


def function_prefix(func: Callable[..., Any]) -> str:
    """Return ``module.qualname`` of ``func``, shortened with a hash when long."""
    prefix = _qualified(func)
    if len(prefix) > _MAX_PREFIX:
        tail = hashlib.blake2b(prefix.encode(), digest_size=8).hexdigest()
        prefix = f"{prefix[: _MAX_PREFIX - 17]}~{tail}"
    return prefix


class KeyPlan:
    """Precomputed key building for one function (made once, at decoration time).

    Args:
        func: The function whose calls are keyed.
        key: Optional user function taking the same arguments; its result is the
            key (a ``str`` is used as the shared key as it is).

    Example:
        >>> def f(x, y=2): ...
        >>> plan = KeyPlan(f)
        >>> plan.local_key((1,), {}) == plan.local_key((), {"x": 1, "y": 2})
        True
    """

    __slots__ = ("_custom", "_defaults", "_memo", "_nparams", "_prefix", "_signature", "_simple")

    def __init__(self, func: Callable[..., Any], key: Callable[..., Any] | None = None) -> None:
        self._custom = key
        self._prefix = function_prefix(func)
        self._memo: dict[tuple[Any, ...], str] = {}
        try:
            self._signature: inspect.Signature | None = inspect.signature(func)
        except (TypeError, ValueError):  # some builtins have no signature
            self._signature = None
        params = list(self._signature.parameters.values()) if self._signature else []
        self._simple = self._signature is not None and all(
            p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in params
        )
        self._nparams = len(params)
        self._defaults = tuple(p.default for p in params)

    @property
    def prefix(self) -> str:
        """``module.qualname`` of the function (shared keys start with it)."""
        return self._prefix

    def arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
        """Return the call's arguments in parameter order, defaults applied.

        Raises:
            TypeError: when the arguments do not fit the signature (as the call would).
        """
        if self._simple and not kwargs:
            given = len(args)
            if given == self._nparams:
                return args
            if given < self._nparams and self._defaults[given] is not _EMPTY:
                # every parameter after one with a default has a default too
                return args + self._defaults[given:]
        if self._signature is None:
            return (args, tuple(sorted(kwargs.items())))
        bound = self._signature.bind(*args, **kwargs)
        bound.apply_defaults()
        values: list[Any] = []
        for name, value in bound.arguments.items():
            kind = self._signature.parameters[name].kind
            if kind is inspect.Parameter.VAR_KEYWORD:
                values.append(tuple(sorted(value.items())))
            elif kind is inspect.Parameter.KEYWORD_ONLY:
                values.append((name, value))
            else:
                values.append(value)
        return tuple(values)

    def local_key(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Hashable:
        """Return the in-process key of a call (a tuple, or the custom key)."""
        if self._custom is not None:
            return self._custom(*args, **kwargs)  # type: ignore[no-any-return]
        return self.arguments(args, kwargs)

    def shared_key(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        """Return the key of a call for shared engines: ``module.qualname:digest``.

        Raises:
            CacheKeyError: when an argument has no stable encoding.
        """
        if self._custom is not None:
            custom = self._custom(*args, **kwargs)
            return custom if isinstance(custom, str) else f"{self._prefix}:{digest(custom)}"
        memo = self._memo
        if not kwargs and all(type(a) in _MEMO_TYPES for a in args):
            # plain immutable arguments: the digest of a repeated call is looked up, not recomputed
            key = memo.get(args)
            if key is None:
                key = f"{self._prefix}:{digest(self.arguments(args, kwargs))}"
                if len(memo) >= _MEMO_SIZE:
                    memo.clear()
                memo[args] = key
            return key
        return f"{self._prefix}:{digest(self.arguments(args, kwargs))}"


_PRINTABLE = re.compile(r"[\x21-\x7e]*")  # printable ASCII: no spaces, no control characters
_UNPRINTABLE = re.compile(r"[^\x21-\x7e]")


def fit_key(head: str, key: str, max_length: int, marker: str = "#") -> str:
    """Return ``head + key`` when it is printable ASCII within ``max_length``, else a safe stand-in.

    For servers with narrow key rules (memcached: 250 bytes, no spaces or control
    characters). An unsafe or too long key becomes ``head + marker + readable
    prefix + "~" + BLAKE2b digest``; a key that itself starts with ``marker`` is
    replaced too, so a stand-in can never equal a real key.

    Example:
        >>> fit_key("app:7:", "user:1", 250)
        'app:7:user:1'
        >>> fit_key("app:7:", "naïve key", 250)[:15]
        'app:7:#na_ve_ke'
    """
    if (
        _PRINTABLE.fullmatch(key)
        and not key.startswith(marker)
        and len(head) + len(key) <= max_length
    ):
        return head + key
    hashed = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
    room = max(0, min(40, max_length - len(head) - len(hashed) - 2))
    readable = _UNPRINTABLE.sub("_", key[:room])
    return f"{head}{marker}{readable}~{hashed}"


def freeze(key: Hashable) -> bytes:
    """Return a hashable stand-in for an in-process key holding unhashable parts."""
    return canonical_bytes(key)
