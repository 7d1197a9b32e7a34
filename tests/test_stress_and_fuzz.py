"""Bounded stress and fuzz: many threads on one memory cache; random input to the parsers.

Counts and examples are capped so that the file runs in seconds.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twat_cache import Cache, ConfigurationError, ucache
from twat_cache.config import CacheConfig
from twat_cache.keys import digest
from twat_cache.protocols import Capabilities
from twat_cache.serializers import CorruptEntryError
from twat_cache.serializers.policy import build_codec
from twat_cache.urls import parse_url

_THREADS = 64
_CALLS = 10_000


def test_threads_on_an_evicting_memory_cache_count_every_call() -> None:
    @ucache("memory://", maxsize=64)
    def square(x: int) -> int:
        return x * x

    errors: list[BaseException] = []
    start = threading.Barrier(_THREADS)

    def caller(seed: int) -> None:
        start.wait(30)
        try:
            for i in range(_CALLS):
                x = (i * 7 + seed) % 200  # more keys than room: evictions all along
                if square(x) != x * x:
                    raise AssertionError(f"square({x}) was wrong")
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=caller, args=(n,)) for n in range(_THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    info = square.cache_info()
    assert info.hits + info.misses == _THREADS * _CALLS
    assert info.misses > 0
    assert info.hits > 0


_text = st.text(max_size=60)


@settings(max_examples=300, deadline=None)
@given(_text)
def test_url_parser_raises_only_configuration_errors(url: str) -> None:
    try:
        parse_url(url)
    except ConfigurationError:
        pass


_option_values = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10)
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            ["ttl", "maxsize", "jitter", "retry_after", "lock", "lock_ttl", "lock_timeout",
             "on_lock_timeout", "stale_ttl", "early_refresh", "namespace", "policy", "tags"]
        ),
        _option_values,
        max_size=4,
    )
)  # fmt: skip
def test_config_builder_raises_only_configuration_errors(options: dict[str, Any]) -> None:
    try:
        CacheConfig.from_url("memory://", **options)
    except ConfigurationError:
        pass


_plain = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8), st.binary(max_size=8)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(st.text(max_size=4), inner, max_size=3),
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(_plain, _plain)
def test_keys_stable_and_injective(a: Any, b: Any) -> None:
    assert digest(a) == digest(a)
    if digest(a) == digest(b):
        assert a == b


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=64), st.sampled_from(["pickle", "json"]), st.booleans())
def test_random_bytes_are_never_decoded(data: bytes, name: str, signed: bool) -> None:
    config = CacheConfig(serializer=name, secret="k" if signed else None)  # type: ignore[arg-type]
    codec = build_codec(config, Capabilities())
    try:
        codec.loads(data)
    except CorruptEntryError:
        pass


def test_random_bytes_in_an_engine_are_misses(tmp_path: Path) -> None:
    import random

    rng = random.Random(11)
    with Cache(f"sqlite:///{tmp_path / 'fuzz.db'}", secret="s") as cache:
        for i in range(200):
            key = f"k{i}"
            raw = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
            cache.backend.set(cache._key(key), raw)
            assert cache.get(key, "miss") == "miss"
        assert cache.stats.errors == 0
