"""Cache keys: stable across processes, argument-form independent, length-safe, collision-free."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import decimal
import enum
import io
import json
import os
import pathlib
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from typing import Any, NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twat_cache import Cache, CacheKeyError, ucache
from twat_cache.keys import KeyPlan, canonical_bytes, digest, function_prefix

# Values whose encoding depends on nothing process-specific -- except that sets and
# dict keys of strings iterate in an order that changes with PYTHONHASHSEED.
STABLE_SCRIPT = """
import datetime, decimal, json, pathlib, sys, uuid
from twat_cache.keys import KeyPlan, digest
values = [
    None, True, 0, -(10**30), 1.5, "ключ", b"\\x00\\xff",
    {"b": 2, "a": [1, (2, 3)]},
    {"set", "of", "strings", "in", "hash", "order"},
    frozenset({"x", "y", "z", "w"}),
    {frozenset({"p", "q"}): {"r", "s", "t"}},
    datetime.datetime(2024, 5, 6, 7, 8, 9), decimal.Decimal("1.10"),
    uuid.UUID(int=7), pathlib.PurePosixPath("/a/b"), 2 + 3j, datetime.timedelta(seconds=5),
]
keys = [digest(v) for v in values]
keys.append(KeyPlan(json.dumps).shared_key(({"k": {"a", "b", "c"}},), {"indent": 2}))
print(json.dumps(keys))
"""


def _keys_in_subprocess(hash_seed: str) -> list[str]:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    out = subprocess.run(
        [sys.executable, "-c", STABLE_SCRIPT], env=env, capture_output=True, text=True, check=True
    )
    keys: list[str] = json.loads(out.stdout)
    return keys


def test_keys_are_identical_across_processes_and_hash_seeds() -> None:
    first = _keys_in_subprocess("1")
    second = _keys_in_subprocess("4242")
    assert first == second
    here = io.StringIO()
    with contextlib.redirect_stdout(here):
        exec(STABLE_SCRIPT, {})  # this process, with its own random hash seed
    assert json.loads(here.getvalue()) == first
    assert len(set(first)) == len(first)  # and the values do not collide
    # the last one is a shared function key: module.qualname:digest
    assert first[-1].startswith("json.dumps:")
    assert len(first[-1].split(":")[1]) == 32


def f_default(x: int = 1) -> int:
    return x


def test_positional_keyword_and_default_forms_give_one_key() -> None:
    plan = KeyPlan(f_default)
    assert plan.shared_key((1,), {}) == plan.shared_key((), {"x": 1}) == plan.shared_key((), {})
    assert plan.local_key((1,), {}) == plan.local_key((), {"x": 1}) == plan.local_key((), {})
    assert plan.shared_key((2,), {}) != plan.shared_key((1,), {})


@pytest.mark.parametrize("url", ["memory://", "coretest-bytes://"])
def test_decorated_function_runs_once_for_every_form_of_the_same_call(
    url: str, namespace: str
) -> None:
    calls: list[int] = []

    @ucache(url, namespace=namespace)
    def f(x: int, y: int = 10) -> int:
        calls.append(x)
        return x + y

    assert f(1) == f(x=1) == f(1, 10) == f(1, y=10) == f(y=10, x=1) == 11
    assert calls == [1]
    assert f(1, 2) == 3
    assert calls == [1, 1]


def test_signature_shapes_keyword_only_varargs_and_kwargs() -> None:
    def g(a: int, *args: int, b: int = 2, **kwargs: int) -> None: ...

    plan = KeyPlan(g)
    assert plan.shared_key((1,), {"b": 2}) == plan.shared_key((1,), {})
    assert plan.shared_key((1, 5), {"z": 1, "y": 2}) == plan.shared_key((1, 5), {"y": 2, "z": 1})
    assert plan.shared_key((1, 5), {}) != plan.shared_key((1,), {"b": 5})
    with pytest.raises(TypeError):  # arguments that do not fit, as the call itself would
        plan.shared_key((), {})


def test_a_callable_without_signature_is_still_keyed_by_its_arguments() -> None:
    def h(*args: Any, **kwargs: Any) -> None: ...

    h.__signature__ = "not a signature"  # type: ignore[attr-defined]
    plan = KeyPlan(h)
    assert plan.shared_key((1,), {"k": 2}) == plan.shared_key((1,), {"k": 2})
    assert plan.shared_key((1,), {"k": 2}) != plan.shared_key((1,), {"k": 3})


class A:
    @staticmethod
    def method(x: int) -> str:
        return f"A{x}"

    def instance_method(self, x: int) -> str:
        return f"A.i{x}"


class B:
    @staticmethod
    def method(x: int) -> str:
        return f"B{x}"

    def instance_method(self, x: int) -> str:
        return f"B.i{x}"


@pytest.mark.parametrize("url", ["memory://", "coretest-bytes://"])
def test_same_named_methods_of_different_classes_never_share_keys(url: str, namespace: str) -> None:
    shared = Cache(url, namespace=namespace)
    a = ucache(cache=shared)(A.method)
    b = ucache(cache=shared)(B.method)
    assert a(1) == "A1"
    assert b(1) == "B1"  # not A's cached value
    assert a(1) == "A1"
    assert a.cache_key(1) != b.cache_key(1)
    assert function_prefix(A.method).endswith("A.method")
    # the very same arguments (one self object for both): only module.qualname differs
    a_method = ucache(cache=shared)(A.instance_method)
    b_method = ucache(cache=shared)(B.instance_method)
    same_self: Any = A()  # both methods ignore self: one object can serve both
    assert a_method(same_self, 1) == "A.i1"
    assert b_method(same_self, 1) == "B.i1"
    assert a_method(same_self, 1) == "A.i1"
    shared.close()


@dataclasses.dataclass
class Point:
    x: int
    y: list[int]


@pytest.mark.parametrize("url", ["memory://", "coretest-bytes://"])
def test_unhashable_arguments_are_keyed_by_value(url: str, namespace: str) -> None:
    calls: list[object] = []

    @ucache(url, namespace=namespace)
    def f(arg: object) -> str:
        calls.append(arg)
        return repr(arg)

    values: list[object] = [[1, 2], {"a": 1, "b": [2]}, {3, 1, 2}, Point(1, [2])]
    for value in values:
        assert f(value) == repr(value)
    assert len(calls) == 4
    # equal values, built differently: hits
    assert f([1, 2]) == "[1, 2]"
    assert f({"b": [2], "a": 1}) == repr({"a": 1, "b": [2]})
    assert f({2, 3, 1}) == repr({1, 2, 3})
    assert f(Point(1, [2])) == repr(Point(1, [2]))
    assert len(calls) == 4
    # different values: misses
    f([2, 1])
    f(Point(1, [3]))
    assert len(calls) == 6


def test_keys_stay_short_whatever_the_arguments_or_names() -> None:
    def f(x: str) -> None: ...

    plan = KeyPlan(f)
    assert len(plan.shared_key(("x" * 1_000_000,), {})) < 250
    long_a, long_b = (lambda: None), (lambda: None)
    long_a.__qualname__ = "Outer." * 60 + "a"
    long_b.__qualname__ = "Outer." * 60 + "b"
    prefix_a, prefix_b = function_prefix(long_a), function_prefix(long_b)
    assert len(prefix_a) <= 160
    assert prefix_a != prefix_b  # the shortened prefixes keep a hash of the full name
    assert len(KeyPlan(long_a).shared_key((), {})) <= 160 + 1 + 32


def test_key_override() -> None:
    def f(user_id: int, verbose: bool = False) -> None: ...

    verbatim = KeyPlan(f, key=lambda user_id, verbose=False: f"user:{user_id}")
    assert verbatim.shared_key((7,), {"verbose": True}) == "user:7"
    assert verbatim.local_key((7,), {}) == "user:7"
    hashed = KeyPlan(f, key=lambda user_id, verbose=False: (user_id,))
    assert hashed.shared_key((7,), {}) == f"{hashed.prefix}:{digest((7,))}"
    assert hashed.shared_key((7,), {"verbose": True}) == hashed.shared_key((7,), {})


def test_key_override_through_the_decorator(namespace: str) -> None:
    calls: list[int] = []

    @ucache("coretest-bytes://", namespace=namespace, key=lambda n, noise=0: f"n={n}")
    def f(n: int, noise: int = 0) -> int:
        calls.append(n)
        return n * 2

    assert f(3, noise=1) == 6
    assert f(3, noise=2) == 6  # noise is not part of the key
    assert calls == [3]
    assert f.cache_key(3) == "n=3"
    assert "n=3" in f.cache


class Account:
    def __init__(self, number: str, session: threading.Lock) -> None:
        self.number = number
        self.session = session  # no stable form: the key must come from __cache_key__

    def __cache_key__(self) -> str:
        return self.number


class KeyedClass:
    def __cache_key__(self) -> str:  # defined, but a class passed as an argument is a class
        return "instance"


def test_objects_with_cache_key_are_keyed_by_it() -> None:
    a1 = Account("42", threading.Lock())
    a2 = Account("42", threading.Lock())
    a3 = Account("43", threading.Lock())
    assert canonical_bytes(a1) == canonical_bytes(a2)
    assert canonical_bytes(a1) != canonical_bytes(a3)
    assert canonical_bytes(a1) != canonical_bytes("42")  # the type stays in the key
    assert canonical_bytes(KeyedClass) != canonical_bytes(KeyedClass())
    assert canonical_bytes(KeyedClass) == canonical_bytes(KeyedClass)


def test_an_object_without_a_stable_form_raises_cache_key_error(namespace: str) -> None:
    with pytest.raises(CacheKeyError, match="__cache_key__"):
        canonical_bytes(threading.Lock())
    with pytest.raises(CacheKeyError, match="__cache_key__"):
        canonical_bytes(object())
    cyclic: list[object] = []
    cyclic.append(cyclic)
    with pytest.raises(CacheKeyError, match="nested too deeply"):
        canonical_bytes(cyclic)
    calls: list[object] = []

    @ucache("coretest-bytes://", namespace=namespace)
    def f(arg: object) -> int:
        calls.append(arg)
        return 1

    with pytest.raises(CacheKeyError):
        f(threading.Lock())
    assert calls == []  # raised before the call, not after
    assert str(CacheKeyError("plain message")) == "plain message"


class Colour(enum.Enum):
    RED = 1


class Size(enum.IntEnum):
    ONE = 1


class MyInt(int):
    pass


class Mixin:
    pass


class MyStr(str, Mixin):  # a str subclass with a mixin after str in its MRO
    pass


class Pair(NamedTuple):
    a: int
    b: int


class Plain:
    def __init__(self, value: object) -> None:
        self.value = value


def _encodings(values: list[object]) -> list[bytes]:
    return [canonical_bytes(v) for v in values]


def test_type_tags_keep_equal_looking_values_apart() -> None:
    values: list[object] = [
        1, "1", True, 1.0, b"1", [1], (1,), {1}, {1: 1},
        Colour.RED, Size.ONE, MyInt(1), MyStr("1"), Pair(1, 1), (1, 1),
        dt.date(2024, 1, 1), dt.datetime(2024, 1, 1), decimal.Decimal(1), complex(1),
        dt.timedelta(1), uuid.UUID(int=1), pathlib.PurePosixPath("1"), Plain(1), Plain,
        f_default, None, 0, False, -0.0, 0.0,
    ]  # fmt: skip
    encoded = _encodings(values)
    assert len(set(encoded)) == len(values)


def test_containers_with_values_that_do_not_compare() -> None:
    # two keys that encode alike must not make sorting compare their (str vs int) values
    assert canonical_bytes({Plain(1): "a", Plain(1): 2}) == canonical_bytes(
        {Plain(1): "a", Plain(1): 2}
    )
    # kinds that Python itself calls equal encode alike
    assert canonical_bytes(bytearray(b"ab")) == canonical_bytes(b"ab")
    assert canonical_bytes({1, 2}) == canonical_bytes(frozenset({2, 1}))


# -- properties -------------------------------------------------------------------------
scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text() | st.binary()
)
plain_data = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.tuples(children, children)
        | st.dictionaries(st.text(max_size=5) | st.integers(), children, max_size=4)
        | st.frozensets(st.integers() | st.text(max_size=5), max_size=4)
    ),
    max_leaves=20,
)


def rebuilt(value: Any) -> Any:
    """An equal value made of new objects, dicts filled in the opposite order."""
    if isinstance(value, dict):
        return {k: rebuilt(v) for k, v in reversed(list(value.items()))}
    if isinstance(value, list):
        return [rebuilt(v) for v in value]
    if isinstance(value, tuple):
        return tuple(rebuilt(v) for v in value)
    if isinstance(value, frozenset):
        return frozenset(reversed(list(value)))
    if isinstance(value, str):
        return "".join(list(value))
    if isinstance(value, bytes):
        return bytes(bytearray(value))
    return value


@settings(deadline=None)  # no per-example time limit: a slow CI machine is not a failure
@given(plain_data)
def test_equal_values_give_equal_bytes(value: Any) -> None:
    assert canonical_bytes(value) == canonical_bytes(rebuilt(value))
    assert digest(value) == digest(rebuilt(value))


@settings(deadline=None)
@given(plain_data, plain_data)
def test_equal_bytes_only_for_equal_values(a: Any, b: Any) -> None:
    if canonical_bytes(a) == canonical_bytes(b):
        assert a == b
        assert type(a) is type(b)


@settings(deadline=None)
@given(st.integers(min_value=-(2**53), max_value=2**53))
def test_int_str_bool_and_float_forms_never_collide(n: int) -> None:
    forms: list[object] = [n, str(n), float(n), [n], (n,), str([n])]
    if n in (0, 1):
        forms.append(bool(n))
    encoded = _encodings(forms)
    assert len(set(encoded)) == len(forms)


def test_custom_object_state_is_part_of_the_key() -> None:
    assert canonical_bytes(Plain(1)) == canonical_bytes(Plain(1))
    assert canonical_bytes(Plain(1)) != canonical_bytes(Plain(2))


def test_local_keys_of_positional_calls_are_the_arguments() -> None:
    def f(x: int, y: int) -> None: ...

    plan = KeyPlan(f)
    assert plan.local_key((1, 2), {}) == (1, 2)
    assert plan.arguments((1,), {"y": 2}) == (1, 2)


@pytest.mark.parametrize(
    "make",
    [threading.Lock, lambda: iter([1]), lambda: (x for x in [1])],
)
def test_runtime_objects_are_refused(make: Callable[[], object]) -> None:
    with pytest.raises(CacheKeyError):
        canonical_bytes(make())


def test_arguments_that_do_not_fit_raise_type_error_as_the_call_would() -> None:
    def f(x: int, y: int) -> None: ...

    plan = KeyPlan(f)
    with pytest.raises(TypeError):
        plan.shared_key((1,), {})  # y is missing
    with pytest.raises(TypeError):
        plan.shared_key((1, 2, 3), {})


def test_decorating_a_callable_without_signature(namespace: str) -> None:
    calls: list[tuple[Any, ...]] = []

    def h(*args: Any) -> int:
        calls.append(args)
        return len(args)

    h.__signature__ = "not a signature"  # type: ignore[attr-defined]
    cached = ucache(h)
    assert cached(1, 2) == cached(1, 2) == 2
    assert calls == [(1, 2)]


def test_memoised_digests_keep_types_apart() -> None:
    from twat_cache.keys import KeyPlan

    def f(x: object) -> object:
        return x

    plan = KeyPlan(f)
    one = plan.shared_key((1,), {})
    assert plan.shared_key((1,), {}) == one, "a repeated call gets the same key"
    assert plan.shared_key((1.0,), {}) != one
    assert plan.shared_key((True,), {}) != one
    assert plan.shared_key(("1",), {}) != one
    assert plan.shared_key((1.0,), {}) == plan.shared_key((1.0,), {})
    for i in range(1500):  # past the memo's size: it starts over, keys stay right
        assert plan.shared_key((i,), {}) == plan.shared_key((i,), {})
    assert plan.shared_key((1,), {}) == one


def test_fit_key_keeps_safe_keys_and_replaces_unsafe_ones() -> None:
    from twat_cache.keys import fit_key

    assert fit_key("ns:1:", "user:42", 250) == "ns:1:user:42"
    keys = ("a b", "a_b", "tab\there", "ключ", "#user:42", "x" * 300)
    unsafe = [fit_key("ns:1:", k, 250) for k in keys]
    assert unsafe[1] == "ns:1:a_b"
    for stand_in in unsafe[:1] + unsafe[2:]:
        assert stand_in.startswith("ns:1:#")
        assert len(stand_in) <= 250
        assert " " not in stand_in
        assert "\t" not in stand_in
        assert stand_in.isascii()
    assert unsafe[0] != fit_key("ns:1:", "a_b", 250), "a b and a_b never collide"
    assert len(set(unsafe)) == len(unsafe)
    assert fit_key("ns:1:", "a b", 250) == unsafe[0], "stable"
    assert fit_key("h" * 240 + ":", "k" * 20, 250).startswith("h" * 240 + ":#")
