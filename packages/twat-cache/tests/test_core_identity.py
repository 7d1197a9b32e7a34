"""A function's identity in its keys, keys that follow Python equality, and long keys."""

from __future__ import annotations

import collections
import decimal
import enum
import fractions
import logging
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from twat_cache import (
    Cache,
    CacheConfig,
    CacheKeyError,
    ConfigurationError,
    SerializationError,
    ucache,
)
from twat_cache.keys import (
    MAX_KEY_LENGTH,
    Frozen,
    KeyPlan,
    canonical_bytes,
    code_fingerprint,
    digest,
    fit_long_key,
    function_identity,
    key_limit,
    local_form,
    normal_key,
    one_shot_error,
)
from twat_cache.protocols import Capabilities

# -- identity across processes -----------------------------------------------------------

SCRIPT = """
from twat_cache.keys import KeyPlan

def load(x, options={{"a", "b", "c"}}):
    if x in {{"p", "q", "r"}}:  # a frozenset constant: iterates in hash-seed order
        return None
    return {body}

print(KeyPlan(load{version}).shared_key((1,), {{}}))
"""


def _key_of(path: Path, seed: str, body: str = "x", version: str = "") -> str:
    path.write_text(SCRIPT.format(body=body, version=version))
    env = {**os.environ, "PYTHONHASHSEED": seed}
    out = subprocess.run(
        [sys.executable, str(path)], env=env, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def test_main_functions_of_two_scripts_have_different_keys(tmp_path: Path) -> None:
    first = _key_of(tmp_path / "first.py", "1")
    second = _key_of(tmp_path / "second.py", "1")
    assert first.startswith("__main__.load@")
    assert first != second, "two scripts' __main__.load are two functions"


def test_identity_is_stable_across_processes_and_hash_seeds(tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    assert {_key_of(script, seed) for seed in ("0", "1", "4242", "random")} == {
        _key_of(script, "7")
    }


def test_a_changed_body_never_reads_the_old_entries(tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    before = _key_of(script, "1", body="x")
    assert _key_of(script, "2", body="x + 1") != before
    assert _key_of(script, "2", body="x") == before, "the same code again: the same key"


def test_version_replaces_the_fingerprint(tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    one = _key_of(script, "1", body="x", version=", version='2'")
    assert _key_of(script, "5", body="x * 2", version=", version='2'") == one
    assert _key_of(script, "5", body="x", version=", version='3'") != one


# -- identity within a process -----------------------------------------------------------


def test_lambdas_and_nested_functions_are_told_apart(namespace: str) -> None:
    shared = Cache("coretest-bytes://", namespace=namespace)
    double = ucache(cache=shared)(lambda x: x * 2)
    triple = ucache(cache=shared)(lambda x: x * 3)
    assert (double(2), triple(2)) == (4, 6)
    assert double.cache_key(2) != triple.cache_key(2)

    def make(factor: int) -> Callable[[int], int]:
        def scale(x: int) -> int:
            return x * factor

        return scale

    by_two, by_five = ucache(cache=shared)(make(2)), ucache(cache=shared)(make(5))
    assert (by_two(3), by_five(3)) == (6, 15), "same code, another closed-over value"
    assert ucache(cache=shared)(make(2)).cache_key(3) == by_two.cache_key(3)
    shared.close()


def test_fingerprint_covers_constants_and_nested_code() -> None:
    def a() -> Callable[[], int]:
        return lambda: 1

    def b() -> Callable[[], int]:
        return lambda: 2

    def c() -> Callable[[], bool]:
        return lambda: True

    prints = {code_fingerprint(f) for f in (a, b, c)}
    assert len(prints) == 3
    assert code_fingerprint(a) == code_fingerprint(a)
    assert code_fingerprint(len) == ""  # no Python code: module.qualname alone


def test_callable_objects_and_long_names() -> None:
    class Scale:
        def __call__(self, x: int) -> int:
            return x

    assert code_fingerprint(Scale()) != ""
    long_a, long_b = (lambda: None), (lambda: None)
    long_a.__qualname__ = "Outer." * 60 + "a"
    long_b.__qualname__ = "Outer." * 60 + "b"
    assert len(function_identity(long_a)) <= 160
    assert function_identity(long_a) != function_identity(long_b)


def test_recursive_nested_function_can_be_cached() -> None:
    def outer() -> Callable[[int], int]:
        @ucache
        def fib(n: int) -> int:
            return n if n < 2 else fib(n - 1) + fib(n - 2)

        return fib

    assert outer()(20) == 6765


def test_version_and_typed_are_validated() -> None:
    assert CacheConfig(version="2", typed=True).typed is True
    for bad in ({"version": ""}, {"version": 2}, {"typed": "yes"}):
        with pytest.raises(ConfigurationError):
            CacheConfig(**bad)
    assert Cache("builtin://?typed=true").config.typed is True


# -- equality ------------------------------------------------------------------------------


class Level(enum.IntEnum):
    ONE = 1


class Colour(enum.Enum):
    RED = 1


class Name(str):
    pass


Pair = collections.namedtuple("Pair", "a b")


def test_untyped_keys_follow_python_equality() -> None:
    ones: list[object] = [
        1, True, 1.0, Level.ONE, decimal.Decimal(1), fractions.Fraction(1), complex(1, 0),
    ]  # fmt: skip
    assert {canonical_bytes(v) for v in ones} == {canonical_bytes(1)}
    assert canonical_bytes(0.5) == canonical_bytes(fractions.Fraction(1, 2))
    assert canonical_bytes(decimal.Decimal("0.1")) != canonical_bytes(0.1)  # not equal either
    assert canonical_bytes(Name("a")) == canonical_bytes("a")
    assert canonical_bytes(Pair(1, 2)) == canonical_bytes((1, 2))
    assert canonical_bytes([True, {1.0: 2}]) == canonical_bytes([1, {1: 2}])
    assert canonical_bytes(collections.OrderedDict(a=1)) == canonical_bytes({"a": 1})
    assert canonical_bytes(Colour.RED) != canonical_bytes(1)  # a plain Enum equals no int
    assert canonical_bytes(1.5) != canonical_bytes(1)
    assert canonical_bytes(10**5000) != canonical_bytes(10**5000 + 1)  # no str() digit limit
    typed = {canonical_bytes(v, typed=True) for v in ones}
    assert len(typed) == len(ones)


class Slotted:
    __slots__ = ("x",)

    def __init__(self, x: int) -> None:
        self.x = x


def test_local_form_is_plain_or_frozen_by_state() -> None:
    assert local_form(1) == 1
    assert local_form("a") == "a"
    assert local_form((1, "a")) == (1, "a")
    assert type(local_form(Level.ONE)) is int
    assert local_form(Slotted(1)) == local_form(Slotted(1)) != local_form(Slotted(2))
    frozen = local_form([1])
    assert isinstance(frozen, Frozen)
    assert frozen != canonical_bytes([1]), "a frozen key never equals a bytes argument"
    assert frozen == local_form([True])
    assert hash(frozen) == hash(local_form([True]))
    assert local_form(float("nan")) == local_form(float("nan"))
    assert isinstance(local_form((1, [2])), Frozen)
    assert local_form(1, typed=True) == 1
    assert local_form((1,), typed=True) != local_form((True,), typed=True)
    assert repr(frozen).startswith("Frozen(")


def test_typed_local_keys_hold_the_types() -> None:
    def f(x: object) -> object:
        return x

    plan = KeyPlan(f, typed=True)
    assert plan.arity == -1
    assert plan.local_key((1,), {}) != plan.local_key((True,), {})
    assert KeyPlan(f).arity == 1
    assert KeyPlan(f).local_key((1,), {}) == KeyPlan(f).local_key((True,), {})


def test_one_shot_results() -> None:
    def gen() -> Iterator[int]:
        yield 1

    async def agen() -> Any:
        yield 1

    async def coro() -> int:
        return 1

    waiting = coro()
    for value in (gen(), agen(), iter([1]), map(str, [1]), waiting):
        assert isinstance(one_shot_error(value), SerializationError)
    waiting.close()
    for value in ([1], (1,), {"a": 1}, "text", b"bytes", None):
        assert one_shot_error(value) is None


# -- long keys -------------------------------------------------------------------------------


def test_long_keys_are_hashed_with_a_readable_prefix() -> None:
    assert fit_long_key("k" * MAX_KEY_LENGTH) == "k" * MAX_KEY_LENGTH
    long = "user:" + "x" * 10_000_000
    fitted = fit_long_key(long)
    assert len(fitted.encode()) <= MAX_KEY_LENGTH
    assert fitted.startswith("user:xxx")
    assert fit_long_key(long + "y") != fitted
    wide = "ключ" * 60  # 240 characters, 480 bytes
    assert len(fit_long_key(wide).encode()) <= MAX_KEY_LENGTH
    assert fit_long_key("é" * 60) == "é" * 60  # 120 bytes: as it is
    assert len(fit_long_key(long, 64).encode()) <= 64


def test_engine_key_limits() -> None:
    assert key_limit(None) == MAX_KEY_LENGTH
    assert key_limit(1000) == MAX_KEY_LENGTH
    assert key_limit(100) == 100
    assert normal_key("a" * 500, local=True).startswith("a" * 100)
    assert normal_key((1, 2), local=True) == (1, 2)
    assert normal_key((True, 2), local=False) == digest((1, 2))


def test_decorator_keys_fit_a_small_engine_limit() -> None:
    def f(x: str) -> str:
        return x

    small = KeyPlan(f, limit=64)
    assert len(small.shared_key(("a",), {})) <= 64
    custom = KeyPlan(f, key=lambda x: "k:" + x, limit=64)
    assert len(custom.shared_key(("z" * 1000,), {})) <= 64
    assert len(str(custom.local_key(("z" * 1000,), {}))) <= 64
    assert custom.shared_key(("z",), {}) == "k:z"
    hashed = KeyPlan(f, key=lambda x: (x,), limit=64)
    assert len(hashed.shared_key(("z",), {})) <= 64
    assert hashed.local_key(("z",), {}) == ("z",)


def test_cache_honours_the_engines_max_key_length(namespace: str) -> None:
    from twat_cache.engines import BuiltinMemoryBackend

    class NarrowEngine(BuiltinMemoryBackend):
        capabilities = Capabilities(stores_objects=True, blocking=False, shared=False,
                                    max_key_length=50)  # fmt: skip

    cache = Cache(backend=NarrowEngine(namespace=namespace))
    cache.set("k" * 80, 1)
    assert cache.get("k" * 80) == 1
    assert all(len(k) <= 50 for k in cache.keys())
    cache.close()


def test_one_shot_results_refused_or_warned(caplog: pytest.LogCaptureFixture) -> None:
    @ucache
    def numbers(n: int) -> Iterator[int]:
        yield from range(n)

    with pytest.raises(SerializationError):
        numbers(3)

    @ucache(on_serialization_error="warn")
    def lenient(n: int) -> Iterator[int]:
        yield from range(n)

    with caplog.at_level(logging.WARNING, logger="twat_cache"):
        assert list(lenient(3)) == [0, 1, 2]
        assert list(lenient(3)) == [0, 1, 2], "a fresh generator, not the exhausted one"
    assert "consumed only once" in caplog.text


class Both:
    __slots__ = ("__dict__", "s")

    def __init__(self) -> None:
        self.s = 1
        self.d = 2


class Row(list[int]):
    pass


def test_encoding_of_less_common_kinds() -> None:
    import types as pytypes

    assert canonical_bytes(memoryview(b"ab")) == canonical_bytes(b"ab")
    assert canonical_bytes(Level.ONE, typed=True) != canonical_bytes(1, typed=True)
    assert canonical_bytes(Row([1]), typed=True) != canonical_bytes([1], typed=True)
    assert canonical_bytes(Row([1])) == canonical_bytes([1])
    assert canonical_bytes({Name("a"): 1}) == canonical_bytes({"a": 1})
    assert canonical_bytes({Name("a"): 1}, typed=True) != canonical_bytes({"a": 1}, typed=True)
    assert canonical_bytes({1: "a", "b": 2}) == canonical_bytes({"b": 2, 1: "a"})
    both = canonical_bytes(Both())
    other = Both()
    other.s = 3
    assert both != canonical_bytes(other), "slots count with the __dict__"
    assert canonical_bytes(decimal.Decimal("NaN")) == canonical_bytes(decimal.Decimal("NaN"))
    assert canonical_bytes(complex(1, 2)) != canonical_bytes(complex(1, 3))
    with pytest.raises(CacheKeyError):
        canonical_bytes(pytypes)  # a module has no stable value


def test_cached_functions_and_methods_as_arguments_are_keyed_by_name() -> None:
    @ucache
    def helper(x: int) -> int:
        return x

    class Holder:
        @ucache
        def method(self) -> int:
            return 1

    assert canonical_bytes(helper) == canonical_bytes(helper)
    assert canonical_bytes(Holder.method).startswith(b"C")
    assert canonical_bytes(len).startswith(b"C")


def test_notebook_cells_keep_their_identity_across_kernels(tmp_path: Path) -> None:
    from twat_cache.keys import _defining_file

    one = _defining_file(str(tmp_path / "ipykernel_123" / "4567.py"))
    assert one == _defining_file(str(tmp_path / "ipykernel_999" / "4567.py"))
    assert one != _defining_file(str(tmp_path / "ipykernel_999" / "8910.py"))
    assert _defining_file("<stdin>") == "<stdin>"
    assert _defining_file("a.py") == os.path.abspath("a.py")
