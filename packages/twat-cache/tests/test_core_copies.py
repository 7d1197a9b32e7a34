"""Kept copies: a framework cache on an in-process engine never hands out the stored object."""

from __future__ import annotations

import threading

import pytest
from twat_cache import SerializationError
from twat_cache.copies import Pickled, freeze, thaw


def test_mutable_values_come_back_as_fresh_copies() -> None:
    original = {"headers": ["a"]}
    kept = freeze(original)
    assert isinstance(kept, Pickled)
    first = thaw(kept)
    first["headers"].append("changed")
    assert thaw(kept) == {"headers": ["a"]}, "a reader's change never reaches the next reader"
    assert original == {"headers": ["a"]}


@pytest.mark.parametrize("value", [1, 1.5, "s", b"b", True, None, 2j])
def test_immutable_scalars_are_kept_as_they_are(value: object) -> None:
    assert freeze(value) is value
    assert thaw(value) is value


def test_an_unpicklable_value_raises_serialization_error() -> None:
    with pytest.raises(SerializationError):
        freeze(threading.Lock())
