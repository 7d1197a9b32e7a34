"""Cache keys built from a function's arguments (the rules are tabled in docs/keys.md).

Two forms (see DESIGN.md), one meaning:

* **local** keys, for in-process engines: a tuple of the bound arguments (the
  arguments themselves when they are all plain values given positionally), so a
  hit costs little more than a dict lookup; an argument that is not a plain
  value stands in as its canonical encoding (:class:`Frozen`);
* **shared** keys, for every other engine: ``{identity}:{digest}``, where the
  digest is a BLAKE2b hash of a canonical encoding of the bound arguments -- the
  same in every process and Python run (``hash()`` and ``id()`` are never used).

Both forms follow Python equality, as :func:`functools.lru_cache` does: ``f(1)``,
``f(True)`` and ``f(1.0)`` are one call (``typed=True`` tells them apart), and an
object is keyed by its state (or its ``__cache_key__()``), never by its identity.
``f(1)``, ``f(x=1)`` and ``f()`` with ``x=1`` as default all give the same key.

A function's identity (:func:`function_identity`) is its ``module.qualname``, plus
the defining file for ``__main__``, file and line for lambdas and nested functions,
and a fingerprint of its code (or the ``version=`` given instead).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import decimal
import enum
import fractions
import hashlib
import inspect
import math
import os
import pathlib
import re
import types
import uuid
from collections.abc import AsyncIterator, Callable, Hashable, Iterator
from typing import Any

from twat_cache.constants import MAX_KEY_LENGTH
from twat_cache.exceptions import CacheKeyError, SerializationError

__all__ = [
    "MAX_KEY_LENGTH",
    "Frozen",
    "KeyPlan",
    "canonical_bytes",
    "code_fingerprint",
    "digest",
    "fit_key",
    "fit_long_key",
    "function_identity",
    "local_form",
    "one_shot_error",
]


_MAX_DEPTH = 32
# immutable types whose equality matches the encoding: their digests are memoised.
# Typed keys leave bool and float out: True == 1 == 1.0 would share a memo slot
_MEMO_TYPES = frozenset({int, str, bytes, type(None), bool, float})
_MEMO_TYPES_TYPED = frozenset({int, str, bytes, type(None)})
_MEMO_SIZE = 1024
_MAX_PREFIX = 160
_EMPTY = inspect.Parameter.empty
# values a local key keeps as they are: hashing and == agree with the canonical encoding
_SCALARS = frozenset({int, str, bytes, type(None), bool, float})


def _len(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big")


def _text(value: str) -> bytes:
    data = value.encode("utf-8", "surrogatepass")
    return len(data).to_bytes(4, "big") + data


def _qualified(obj: Any) -> str:
    qualname = getattr(obj, "__qualname__", None) or type(obj).__qualname__
    return f"{getattr(obj, '__module__', '?')}.{qualname}"


def _number(value: Any) -> int | float | None:  # noqa: PLR0911 - one answer per kind of number
    """The plain ``int`` or ``float`` equal to a number of another type, if there is one."""
    if isinstance(value, int):  # bool, IntEnum, int subclasses
        return int.__int__(value)
    if isinstance(value, float):
        plain = float.__float__(value)
    elif isinstance(value, complex):
        if value.imag:
            return None
        plain = value.real
    elif isinstance(value, (decimal.Decimal, fractions.Fraction)):
        if isinstance(value, decimal.Decimal) and not value.is_finite():
            return None
        if value == int(value):
            return int(value)
        plain = float(value)
        if plain != value:
            return None
    else:
        return None
    if plain.is_integer():  # False for inf and NaN
        return int(plain)
    return plain


def _equal_form(value: Any) -> Any:
    """Untyped keys: the plain value Python calls equal to ``value`` (or ``value`` itself)."""
    if isinstance(value, enum.Enum) and not isinstance(value, (int, str, float)):
        return value  # a plain Enum member equals nothing but itself
    number = _number(value)
    if number is not None:
        return number
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    return value


# How a value of a class that is not a plain type is encoded, decided once per class.
_ROUTINE, _KEYED, _ENUM, _SUBCLASS, _DATACLASS, _DATE, _TEXT, _STATE, _REFUSED = range(9)
_TEXT_TYPES = (
    decimal.Decimal, fractions.Fraction, uuid.UUID, pathlib.PurePath, complex, _dt.timedelta
)  # fmt: skip
_KINDS: dict[type[Any], tuple[int, tuple[str, ...], bytes]] = {}
_PLAIN_BASES = (int, str, float, bytes, bytearray, tuple, list, dict, set, frozenset)


def _kind(cls: type[Any]) -> tuple[int, tuple[str, ...], bytes]:
    """The encoding of ``cls``'s instances, the names of its slots, and its encoded name."""
    found = _KINDS.get(cls)
    if found is not None:
        return found
    slots: tuple[str, ...] = ()
    if (
        issubclass(cls, type)
        or cls in _ROUTINE_TYPES
        # a method descriptor (as inspect.isroutine sees it): a cached method, say
        or (hasattr(cls, "__get__") and not hasattr(cls, "__set__"))
    ):
        # before __cache_key__: a class defining it is an argument, not a keyed instance
        kind = _ROUTINE
    elif hasattr(cls, "__cache_key__"):
        kind = _KEYED
    elif issubclass(cls, enum.Enum):
        kind = _ENUM
    elif issubclass(cls, _PLAIN_BASES):
        kind = _SUBCLASS
    elif dataclasses.is_dataclass(cls):
        kind = _DATACLASS
    elif issubclass(cls, (_dt.datetime, _dt.date, _dt.time)):
        kind = _DATE
    elif issubclass(cls, _TEXT_TYPES):
        kind = _TEXT
    elif issubclass(cls, (Iterator, AsyncIterator, types.ModuleType)):
        kind = _REFUSED
    else:
        slots = tuple(
            name
            for klass in cls.__mro__
            for name in getattr(klass, "__slots__", ())
            if isinstance(name, str) and name not in ("__weakref__", "__dict__")
        )
        kind = _STATE if slots or cls.__dictoffset__ else _REFUSED
    if len(_KINDS) > 4096:  # classes made in a loop: start over rather than grow
        _KINDS.clear()
    found = _KINDS[cls] = (kind, slots, _text(_qualified(cls)))
    return found


_ROUTINE_TYPES = frozenset({
    types.FunctionType, types.BuiltinFunctionType, types.MethodType, types.BuiltinMethodType,
    types.WrapperDescriptorType, types.MethodWrapperType, types.MethodDescriptorType,
    types.ClassMethodDescriptorType,
})  # fmt: skip


def _encode_dict(value: dict[Any, Any], out: list[bytes], depth: int, typed: bool) -> None:
    out.append(b"d" + len(value).to_bytes(4, "big"))
    if all(type(k) is str for k in value) or (not typed and all(isinstance(k, str) for k in value)):
        # the common case (attributes, keyword arguments): sorted by the keys themselves;
        # str and int values inline, as _encode would write them (this is a method's hit path)
        for key in sorted(value):
            data = str.__str__(key).encode("utf-8", "surrogatepass")
            out.append(b"s" + len(data).to_bytes(4, "big") + data)
            item = value[key]
            if type(item) is int:
                out.append(b"i%x;" % item)
            elif type(item) is str:
                data = item.encode("utf-8", "surrogatepass")
                out.append(b"s" + len(data).to_bytes(4, "big") + data)
            else:
                _encode(item, out, depth, typed)
        return
    # mixed keys: sort on the encoded key only, the values need not be comparable
    items = sorted(
        ((canonical_bytes(k, depth, typed), v) for k, v in value.items()), key=lambda kv: kv[0]
    )
    out.append(b"*")  # keeps this order apart from the one of all-str keys
    for key_bytes, item in items:
        out.append(key_bytes)
        _encode(item, out, depth, typed)


# one flat dispatch on the value's type reads better than helpers split to please a counter
def _encode(value: Any, out: list[bytes], depth: int, typed: bool) -> None:  # noqa: PLR0912
    if depth > _MAX_DEPTH:
        raise CacheKeyError("cannot build a cache key: arguments are nested too deeply (or cyclic)")
    kind = type(value)
    if kind is str:
        data = value.encode("utf-8", "surrogatepass")
        out.append(b"s" + len(data).to_bytes(4, "big") + data)
    elif kind is int:
        out.append(b"i%x;" % value)  # hex: str() refuses very long ints
    elif value is None:
        out.append(b"N")
    elif kind is bool:
        out.append((b"T" if value else b"F") if typed else (b"i1;" if value else b"i0;"))
    elif kind is float:
        if not typed and value.is_integer():
            out.append(b"i%x;" % int(value))
        else:
            out.append(b"f" + repr(value).encode() + b";")
    elif kind is tuple or kind is list:
        out.append((b"t" if kind is tuple else b"l") + len(value).to_bytes(4, "big"))
        for item in value:
            _encode(item, out, depth + 1, typed)
    elif kind is dict:
        _encode_dict(value, out, depth + 1, typed)
    elif kind is bytes or kind is bytearray or kind is memoryview:
        data = bytes(value)  # Python calls bytes and bytearray of equal content equal
        out.append(b"b" + len(data).to_bytes(4, "big") + data)
    elif kind is set or kind is frozenset:
        members = sorted(canonical_bytes(v, depth + 1, typed) for v in value)
        out.append(b"S" + len(members).to_bytes(4, "big") + b"".join(members))
    else:
        _encode_other(value, out, depth, typed)


def _encode_other(value: Any, out: list[bytes], depth: int, typed: bool) -> None:  # noqa: PLR0912
    cls = type(value)
    kind, slots, name = _kind(cls)
    if kind == _ROUTINE:
        out.append(b"C" + _text(_qualified(value)))
    elif kind == _KEYED:
        out.append(b"K" + name)
        _encode(value.__cache_key__(), out, depth + 1, typed)
    elif not typed and (
        kind == _SUBCLASS or (kind == _ENUM and isinstance(value, (int, str, float)))
    ):  # Python calls it equal to a plain value: encode that value
        plain = _equal_form(value)
        if type(plain) is cls:  # a container: the plain container of the same items
            plain = next(b for b in _PLAIN_BASES if isinstance(value, b))(value)
        _encode(plain, out, depth, typed)
    elif kind == _ENUM:
        out.append(b"E" + name)
        _encode(value.value, out, depth + 1, typed)
    elif kind == _SUBCLASS:
        out.append(b"u" + name)
        base = next(b for b in _PLAIN_BASES if isinstance(value, b))
        _encode(base(value), out, depth + 1, typed)
    elif kind == _DATACLASS:
        out.append(b"D" + name)
        for f in dataclasses.fields(value):
            out.append(_text(f.name))
            _encode(getattr(value, f.name), out, depth + 1, typed)
    elif kind == _DATE:
        out.append(b"z" + name + _text(value.isoformat()))
    elif kind == _TEXT:
        plain = None if typed else _number(value)
        if plain is not None:
            _encode(plain, out, depth, typed)
        else:
            out.append(b"x" + name + _text(str(value)))
    elif kind == _STATE:
        state = getattr(value, "__dict__", None)
        state = {} if state is None else state
        if slots:
            state = {**state, **{n: getattr(value, n) for n in slots if hasattr(value, n)}}
        out.append(b"O" + name)
        _encode_dict(state, out, depth + 1, typed)
    else:
        raise CacheKeyError(
            f"cannot build a stable cache key from a {_qualified(cls)}: give the class a "
            "__cache_key__() method returning plain data, or pass key= to the decorator"
        )


def canonical_bytes(value: Any, depth: int = 0, typed: bool = False) -> bytes:
    """Return a canonical encoding of ``value``: equal values give equal bytes.

    Equal values give equal bytes in every process and Python run, following
    Python equality: ``1``, ``True``, ``1.0`` and ``Decimal(1)`` encode alike, as
    do a tuple and a named tuple of equal items. With ``typed=True`` the type is
    part of the encoding (``1``, ``True`` and ``1.0`` differ, also inside
    containers). ``1`` and ``"1"`` always differ. An object is encoded by its
    ``__cache_key__()`` when it has one, else by its class and its state.

    Raises:
        CacheKeyError: for objects with no stable form (give them ``__cache_key__``).

    Example:
        >>> canonical_bytes(True) == canonical_bytes(1.0) == canonical_bytes(1)
        True
        >>> canonical_bytes(True, typed=True) == canonical_bytes(1, typed=True)
        False
    """
    out: list[bytes] = []
    _encode(value, out, depth, typed)
    return b"".join(out)


def digest(value: Any, typed: bool = False) -> str:
    """Return the hex BLAKE2b digest (128 bits) of ``value``'s canonical encoding."""
    return hashlib.blake2b(canonical_bytes(value, 0, typed), digest_size=16).hexdigest()


class Frozen:
    """An in-process key part standing for a value by its canonical encoding.

    Equal only to another ``Frozen`` of the same encoding, so that it never
    matches a plain argument (``b"..."`` included).
    """

    __slots__ = ("_hash", "data")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self._hash = hash(data)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return type(other) is Frozen and other.data == self.data

    def __repr__(self) -> str:
        return f"Frozen({hashlib.blake2b(self.data, digest_size=8).hexdigest()})"


def _plain(value: Any) -> bool:
    """Whether ``value`` is a plain scalar that hashes and compares as its encoding does."""
    return type(value) in _SCALARS and not (type(value) is float and math.isnan(value))


def _plain_tuple(value: tuple[Any, ...]) -> bool:
    return all(_plain(v) for v in value)


def local_form(value: Any, typed: bool = False) -> Hashable:
    """Return the in-process key part of ``value``: itself when plain, else a :class:`Frozen`.

    Plain values (``int``, ``str``, ``bytes``, ``bool``, ``float`` but NaN, ``None``
    and tuples of them) hash and compare as their canonical encodings do, so
    they stay as they are; a number or string of another type becomes the plain
    value it equals; anything else is frozen, i.e. keyed by its state.
    """
    kind = type(value)
    if kind in _SCALARS:
        if value == value:  # noqa: PLR0124  (NaN is not equal to itself)
            return value  # type: ignore[no-any-return]
    elif kind is tuple:
        if not typed and _plain_tuple(value):
            return value  # type: ignore[no-any-return]
    elif not typed and _kind(kind)[0] in (_SUBCLASS, _ENUM, _TEXT):
        plain = _equal_form(value)
        if type(plain) in _SCALARS and plain == plain:  # noqa: PLR0124
            return plain  # type: ignore[no-any-return]
    return Frozen(canonical_bytes(value, 0, typed))


def _local_key(values: tuple[Any, ...], typed: bool) -> tuple[Any, ...]:
    """The local key of bound arguments: plain ones as they are, typed keys add the types."""
    if not typed:
        for value in values:  # a loop, not all(): in-process keys are built on every call
            if type(value) not in _SCALARS or value != value:  # noqa: PLR0124 (NaN)
                return tuple(local_form(v) for v in values)
        return values
    parts = tuple(local_form(v, typed=True) for v in values)
    return parts + tuple(type(v) for v in values)


def fit_long_key(key: str, limit: int = MAX_KEY_LENGTH) -> str:
    """Return ``key``, or a readable prefix and a hash of it when it is longer than ``limit``.

    The length is counted in UTF-8 bytes. A hashed key keeps as much of the start
    of ``key`` as fits, then ``~`` and the BLAKE2b digest (128 bits) of the whole
    key, so that two long keys sharing a start stay apart.

    Example:
        >>> fit_long_key("user:1")
        'user:1'
        >>> len(fit_long_key("x" * 10_000)) <= MAX_KEY_LENGTH
        True
    """
    if len(key) * 4 <= limit:  # no UTF-8 character is longer than 4 bytes
        return key
    data = key.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return key
    hashed = hashlib.blake2b(data, digest_size=16).hexdigest()
    room = max(0, limit - len(hashed) - 1)
    readable = data[:room].decode("utf-8", "ignore")  # never half a character
    return f"{readable}~{hashed}"


def key_limit(max_key_length: int | None) -> int:
    """The longest key core lets through to an engine that accepts ``max_key_length`` bytes."""
    if max_key_length is None:
        return MAX_KEY_LENGTH
    return min(MAX_KEY_LENGTH, max_key_length)


def normal_key(key: Any, local: bool, limit: int = MAX_KEY_LENGTH) -> Any:
    """Return what :class:`~twat_cache.Cache` stores a user's key under.

    A string is kept (hashed past ``limit`` bytes, see :func:`fit_long_key`);
    another key is kept as it is in process memory (where Python equality finds
    it) and is its :func:`digest` elsewhere, which follows the same equality for
    plain data: ``(1, "a")`` and ``(True, "a")`` are one key on every engine.
    """
    if type(key) is str:
        return key if len(key) * 4 <= limit else fit_long_key(key, limit)
    if local:
        return key
    return digest(key)


# -- a function's identity ------------------------------------------------------------
def _constant(value: Any, out: list[bytes]) -> None:
    """Encode a code object's constant, type included (``True`` and ``1`` are different code)."""
    if isinstance(value, types.CodeType):
        out.append(b"c")
        _code(value, out)
    elif isinstance(value, tuple):
        out.append(b"t" + len(value).to_bytes(4, "big"))
        for item in value:
            _constant(item, out)
    elif isinstance(value, frozenset):  # iteration order follows hash(): sort the encodings
        members = []
        for item in value:
            part: list[bytes] = []
            _constant(item, part)
            members.append(b"".join(part))
        out.append(b"S" + len(members).to_bytes(4, "big") + b"".join(sorted(members)))
    else:  # None, Ellipsis, bool, int, float, complex, str, bytes: repr is exact and stable
        out.append(_text(type(value).__name__) + _text(repr(value)))


def _code(code: types.CodeType, out: list[bytes]) -> None:
    # not the file name, line numbers or position tables: moving a function keeps its entries
    out.append(_len(code.co_code) + code.co_code)
    for names in (code.co_names, code.co_varnames, code.co_freevars, code.co_cellvars):
        out.append(_text("\x00".join(names)))
    counts = (code.co_argcount, code.co_posonlyargcount, code.co_kwonlyargcount, code.co_flags)
    out.append(b"".join(n.to_bytes(4, "big") for n in counts))
    out.append(len(code.co_consts).to_bytes(4, "big"))
    for const in code.co_consts:
        _constant(const, out)


def _code_of(func: Callable[..., Any]) -> types.CodeType | None:
    func = inspect.unwrap(func)
    code = getattr(func, "__code__", None)
    if code is None:  # a callable object: the code of its __call__
        code = getattr(type(func).__call__, "__code__", None) if callable(func) else None
    return code if isinstance(code, types.CodeType) else None


def code_fingerprint(func: Callable[..., Any]) -> str:
    """Return a hash of ``func``'s code: bytecode, names, constants and nested code.

    The same in every process and run of one Python version; another body gives
    another fingerprint (a moved function keeps its own). Empty when ``func`` has
    no Python code (a builtin).
    """
    code = _code_of(func)
    if code is None:
        return ""
    out: list[bytes] = []
    _code(code, out)
    return hashlib.blake2b(b"".join(out), digest_size=16).hexdigest()


def _closure(func: Callable[..., Any]) -> bytes:
    """The values a nested function closes over: plain ones by value, others by type.

    A factory's ``make(n)`` thus gives one identity per ``n``; a closed-over
    object (a client, a big table) is not walked, only named.
    """
    out: list[bytes] = []
    for cell in getattr(inspect.unwrap(func), "__closure__", None) or ():
        try:
            content = cell.cell_contents
        except ValueError:  # an empty cell: the function itself, not bound yet
            out.append(b"?")
            continue
        if type(content) in _SCALARS or (type(content) is tuple and _plain_tuple(content)):
            out.append(canonical_bytes(content, 0, True))
        elif isinstance(content, type) or inspect.isroutine(content):
            out.append(_text(_qualified(content)))
        else:
            out.append(_text(_qualified(type(content))))
    return b"".join(out)


_NOTEBOOK_FOLDER = re.compile(r"ipykernel_\d+")


def _defining_file(filename: str) -> str:
    """The file that tells a function apart: its absolute path, or a notebook cell's name.

    Jupyter writes each cell to ``<tmp>/ipykernel_<pid>/<hash of the cell>.py``: the
    folder changes with every kernel, the name only with the cell's content.
    """
    if filename.startswith("<"):  # "<stdin>", "<string>": nothing better is known
        return filename
    path = os.path.abspath(filename)
    folder, name = os.path.split(path)
    if _NOTEBOOK_FOLDER.fullmatch(os.path.basename(folder)):
        return "ipykernel:" + name
    return path


def function_identity(func: Callable[..., Any], version: str | None = None) -> str:
    """Return the key prefix of ``func``: ``module.qualname@`` and a hash of what tells it apart.

    The hash covers the defining file for functions of ``__main__`` (two scripts'
    ``load`` differ), file, line and closed-over values for lambdas and nested
    functions (``<locals>``), and the :func:`code_fingerprint` -- or ``version``
    instead of it, for entries that should survive edits of the code.

    Example:
        >>> def load(x): return x
        >>> function_identity(load).split("@")[0].endswith("load")
        True
    """
    module = getattr(func, "__module__", None) or "?"
    qualname = getattr(func, "__qualname__", None) or type(func).__qualname__
    parts = [module, qualname]
    code = _code_of(func)
    local = "<lambda>" in qualname or "<locals>" in qualname
    if code is not None and (module == "__main__" or local):
        parts.append(_defining_file(code.co_filename))
        if local:
            parts.append(str(code.co_firstlineno))
    parts.append("v=" + version if version is not None else "c=" + code_fingerprint(func))
    data = "\x00".join(parts).encode("utf-8", "surrogatepass")
    if local:
        data += _closure(func)
    tag = hashlib.blake2b(data, digest_size=8).hexdigest()
    name = f"{module}.{qualname}"
    room = _MAX_PREFIX - len(tag) - 1
    if len(name) > room:  # very long names: keep the start, the tag tells them apart
        name = name[:room]
    return f"{name}@{tag}"


def function_prefix(func: Callable[..., Any]) -> str:
    """Return the key prefix of ``func`` (see :func:`function_identity`)."""
    return function_identity(func)


def one_shot_error(value: Any) -> SerializationError | None:
    """The error for a result that can be consumed only once, or ``None`` for others.

    A generator, async generator, coroutine or other iterator returned by a
    cached function would reach the second caller exhausted (in memory) or fail
    to serialize (elsewhere): it is refused alike on every engine.
    """
    if isinstance(value, (Iterator, AsyncIterator)) or inspect.isawaitable(value):
        return SerializationError(
            f"cannot cache a {type(value).__name__}: it can be consumed only once; "
            "return a list (or the awaited value) instead"
        )
    return None


class KeyPlan:
    """Precomputed key building for one function (made once, at decoration time).

    Args:
        func: The function whose calls are keyed.
        key: Optional user function taking the same arguments; its result is the
            key (a ``str`` is used as the shared key as it is, hashed past ``limit``).
        version: Stands for the function's code in its identity: entries then
            survive edits of the body (see :func:`function_identity`).
        typed: Make each argument's type part of the key (``f(1)``, ``f(True)``
            and ``f(1.0)`` are then three calls).
        limit: The longest string key in UTF-8 bytes (see :func:`key_limit`).

    Example:
        >>> def f(x, y=2): ...
        >>> plan = KeyPlan(f)
        >>> plan.local_key((1,), {}) == plan.local_key((), {"x": 1, "y": 2})
        True
    """

    __slots__ = (
        "_custom", "_defaults", "_fit", "_limit", "_memo", "_memo_types", "_nparams", "_prefix",
        "_signature", "_simple", "_typed",
    )  # fmt: skip

    def __init__(
        self,
        func: Callable[..., Any],
        key: Callable[..., Any] | None = None,
        *,
        version: str | None = None,
        typed: bool = False,
        limit: int = MAX_KEY_LENGTH,
    ) -> None:
        self._custom = key
        self._typed = typed
        self._limit = limit
        self._prefix = function_identity(func, version)
        # decorator keys are at most _MAX_PREFIX + 33 long: fitted only for engines wanting less
        self._fit = limit < _MAX_PREFIX + 33
        self._memo: dict[tuple[Any, ...], str] = {}
        self._memo_types = _MEMO_TYPES_TYPED if typed else _MEMO_TYPES
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
        """The function's identity (shared keys start with it, see :func:`function_identity`)."""
        return self._prefix

    @property
    def arity(self) -> int:
        """How many positional arguments are the local key as they are; -1: never.

        A decorator's fast path looks the raw arguments up when a call passes
        exactly this many, all positionally; typed and custom keys have no such form.
        """
        if self._typed or self._custom is not None or not self._simple:
            return -1
        return self._nparams

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
        """Return the in-process key of a call: a tuple of :func:`local_form` parts.

        Raises:
            CacheKeyError: when an argument that is not plain data has no stable encoding.
        """
        if self._custom is not None:
            custom = self._custom(*args, **kwargs)
            if type(custom) is str:
                return fit_long_key(custom, self._limit)
            return local_form(custom, self._typed)
        return _local_key(self.arguments(args, kwargs), self._typed)

    def shared_key(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        """Return the key of a call for shared engines: ``identity:digest``.

        Raises:
            CacheKeyError: when an argument has no stable encoding.
        """
        if self._custom is not None:
            custom = self._custom(*args, **kwargs)
            if isinstance(custom, str):
                return fit_long_key(custom, self._limit)
            return self._fitted(f"{self._prefix}:{digest(custom, self._typed)}")
        if not kwargs:
            memo_types = self._memo_types
            for arg in args:  # a loop, not all(): this is every shared engine's hit path
                if type(arg) not in memo_types:
                    break
            else:
                # plain immutable arguments: a repeated call's key is looked up, not recomputed
                memo = self._memo
                key = memo.get(args)
                if key is None:
                    key = self._fitted(
                        f"{self._prefix}:{digest(self.arguments(args, kwargs), self._typed)}"
                    )
                    if len(memo) >= _MEMO_SIZE:
                        memo.clear()
                    memo[args] = key
                return key
        return self._fitted(f"{self._prefix}:{digest(self.arguments(args, kwargs), self._typed)}")

    def _fitted(self, key: str) -> str:
        return fit_long_key(key, self._limit) if self._fit else key


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


def freeze(key: Hashable) -> Frozen:
    """Return a hashable stand-in for an in-process key holding unhashable parts."""
    return Frozen(canonical_bytes(key))
