"""Hypothesis strategies for cache keys, function arguments and values.

Property tests of code that caches draw what a user may pass and store::

    from hypothesis import given
    from twat_cache.testing import strategies as cs

    @given(cs.arguments(), cs.picklable_values())
    def test_cached_report(args, value): ...

Every value drawn equals itself (no NaN), so "stored, then read back equal" and
"called twice with equal arguments, computed once" are properties that hold.
Requires hypothesis (``pip install "twat-cache[testing]"``).
"""

from __future__ import annotations

from typing import Any

try:
    from hypothesis import strategies as st
except ImportError as exc:  # pragma: no cover - the testing extra brings hypothesis
    raise ImportError(
        'twat_cache.testing.strategies needs hypothesis: pip install "twat-cache[testing]"'
    ) from exc

__all__ = ["arguments", "cache_keys", "json_values", "key_values", "picklable_values"]

_INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
_FLOATS = st.floats(allow_nan=False, allow_infinity=False)


def cache_keys(*, max_size: int = 400) -> st.SearchStrategy[str]:
    """Keys for :class:`~twat_cache.Cache` methods (``get``, ``set``, ``delete`` ...).

    Any Unicode text, the empty string included, up to ``max_size`` characters:
    longer than the 250 bytes a key may take on some engines, so that the hashed
    form of long keys is exercised too.

    Args:
        max_size: The longest key drawn, in characters.

    Returns:
        A strategy of ``str``.
    """
    return st.text(max_size=max_size)


def key_values(*, max_leaves: int = 10) -> st.SearchStrategy[Any]:
    """Single arguments of a cached function: plain values and containers of them.

    ``None``, booleans, integers, finite floats, text, bytes, dates and times,
    UUIDs and finite Decimals, nested in tuples, lists, dicts (text keys) and
    frozensets -- what docs/keys.md keys by value on every engine.

    Args:
        max_leaves: The most plain values in one drawn argument.

    Returns:
        A strategy of argument values.
    """
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        _FLOATS,
        st.text(max_size=20),
        st.binary(max_size=20),
        st.datetimes(),
        st.dates(),
        st.uuids(),
        st.decimals(allow_nan=False, allow_infinity=False),
    )
    hashable = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10))
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4).map(tuple),
            st.lists(inner, max_size=4),
            st.dictionaries(st.text(max_size=10), inner, max_size=4),
            st.frozensets(hashable, max_size=4),
        ),
        max_leaves=max_leaves,
    )


def arguments(
    *, max_args: int = 3, max_kwargs: int = 3
) -> st.SearchStrategy[tuple[tuple[Any, ...], dict[str, Any]]]:
    """Positional and keyword arguments of one call: ``(args, kwargs)``.

    Call a function that takes ``*args, **kwargs`` with them; equal draws make
    the same cache key.

    Args:
        max_args: The most positional arguments.
        max_kwargs: The most keyword arguments (identifier names).

    Returns:
        A strategy of ``(tuple, dict)`` pairs.
    """
    names = st.from_regex(r"[a-z][a-z0-9_]{0,9}", fullmatch=True)
    return st.tuples(
        st.lists(key_values(), max_size=max_args).map(tuple),
        st.dictionaries(names, key_values(), max_size=max_kwargs),
    )


def json_values(*, max_leaves: int = 20) -> st.SearchStrategy[Any]:
    """Plain JSON data that every serializer stores and reads back equal.

    ``None``, booleans, 64-bit integers, finite floats and text, nested in lists
    and dicts with text keys: round-trips through ``pickle``, ``json`` and
    ``msgpack`` alike.

    Args:
        max_leaves: The most plain values in one drawn value.

    Returns:
        A strategy of JSON-able values.
    """
    return st.recursive(
        st.one_of(st.none(), st.booleans(), _INT64, _FLOATS, st.text(max_size=30)),
        lambda inner: st.one_of(
            st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=10), inner, max_size=5)
        ),
        max_leaves=max_leaves,
    )


def picklable_values(*, max_leaves: int = 20) -> st.SearchStrategy[Any]:
    """Values the default (pickle) and the ``json`` serializer store and read back equal.

    :func:`json_values` plus integers of any size, bytes, tuples, sets and
    frozensets, dicts with non-text keys, dates, times, datetimes, UUIDs and
    finite Decimals.

    Args:
        max_leaves: The most plain values in one drawn value.

    Returns:
        A strategy of values.
    """
    hashable = st.one_of(st.integers(), st.text(max_size=10), st.binary(max_size=10))
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        _FLOATS,
        st.text(max_size=30),
        st.binary(max_size=30),
        st.datetimes(),
        st.dates(),
        st.times(),
        st.uuids(),
        st.decimals(allow_nan=False, allow_infinity=False),
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=5),
            st.lists(inner, max_size=5).map(tuple),
            st.dictionaries(st.text(max_size=10), inner, max_size=5),
            st.dictionaries(hashable, inner, max_size=5),
            st.sets(hashable, max_size=5),
            st.frozensets(hashable, max_size=5),
        ),
        max_leaves=max_leaves,
    )
