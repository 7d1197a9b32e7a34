"""Building configurations step by step, the shared constants, and redaction written once."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from twat_cache import Cache, CacheConfig, ConfigurationError, constants, ucache
from twat_cache.engines.builtin import BuiltinMemoryBackend
from twat_cache.urls import redact_text

# -- the fluent builder ---------------------------------------------------------------------


def test_from_url_reads_fields_from_the_query_and_keywords_win() -> None:
    config = CacheConfig.from_url("builtin://?namespace=shop&ttl=60&maxsize=5", ttl=300)
    assert (config.engine, config.namespace, config.ttl) == ("builtin", "shop", 300.0)
    assert config.maxsize == 5
    assert config.url == "builtin://"  # core's fields are taken out of the URL


def test_from_url_ignores_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWAT_CACHE_TTL", "7")
    monkeypatch.setenv("TWAT_CACHE_NAMESPACE", "from-env")
    config = CacheConfig.from_url("builtin://")
    assert (config.ttl, config.namespace) == (None, "default")
    assert CacheConfig.from_env().ttl == 7.0
    assert CacheConfig.from_env({"TWAT_CACHE_TTL": "3"}, namespace="kw").ttl == 3.0


def test_evolve_chains_and_never_changes_the_original() -> None:
    base = CacheConfig.from_url("builtin://", ttl=60, tags=["users"])
    derived = (
        base.evolve(ttl=5, namespace="short")
        .with_options(maxsize=3)
        .with_tags("orders", "users")
        .evolve(strict=True)
    )
    assert (derived.ttl, derived.namespace, derived.strict) == (5.0, "short", True)
    assert derived.options == {"maxsize": 3}
    assert derived.tags == ("users", "orders")
    assert (base.ttl, base.namespace, base.options, base.tags) == (60.0, "default", {}, ("users",))
    with pytest.raises(dataclasses.FrozenInstanceError):
        base.ttl = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"ttl": -5}, "ttl"),
        ({"ttl": "60"}, "ttl"),
        ({"maxsize": 0}, "maxsize"),
        ({"namespace": "has space"}, "namespace"),
        ({"policy": "mru"}, "policy"),
        ({"tll": 5}, "option"),  # a misspelt field is a ConfigurationError, not a TypeError
        ({"url": "not-a-url"}, "url"),
    ],
)
def test_evolve_validates_like_keywords(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        CacheConfig().evolve(**changes)
    assert info.value.field == field
    if field == "option":
        assert info.value.value == "tll"


def test_evolve_with_a_url_reads_its_query_and_none_goes_back_to_memory() -> None:
    config = CacheConfig(ttl=60).evolve(url="builtin://?namespace=q")
    assert (config.engine, config.namespace, config.ttl) == ("builtin", "q", 60.0)
    assert config.evolve(url=None).engine == "memory"


def test_with_tags_checks_each_tag() -> None:
    with pytest.raises(ConfigurationError) as info:
        CacheConfig().with_tags("ok", "not ok")
    assert (info.value.field, info.value.value) == ("tags", "not ok")


def test_a_built_config_drives_cache_and_decorators() -> None:
    config = CacheConfig.from_url("builtin://", namespace="built").evolve(ttl=30, maxsize=2)
    with Cache(config=config) as cache:
        assert cache.config is config
        assert isinstance(cache.backend, BuiltinMemoryBackend)
        assert cache.backend.maxsize == 2
        calls: list[int] = []

        @ucache(cache=cache)
        def double(x: int) -> int:
            calls.append(x)
            return 2 * x

        assert (double(2), double(2), calls) == (4, 4, [2])


# -- constants ------------------------------------------------------------------------------


def test_the_config_defaults_are_the_shared_constants() -> None:
    config = CacheConfig()
    assert config.namespace == constants.DEFAULT_NAMESPACE
    assert config.ttl == constants.DEFAULT_TTL
    assert config.retry_after == constants.DEFAULT_RETRY_AFTER
    assert config.engine_url().raw == constants.DEFAULT_URL
    assert BuiltinMemoryBackend().maxsize == constants.DEFAULT_MAXSIZE


@pytest.mark.parametrize("name", ["a\n", "default\n", "x" * 65, "a b", "", "é"])
def test_a_namespace_outside_the_pattern_is_refused(name: str) -> None:
    assert constants.NAMESPACE_PATTERN.fullmatch(name) is None
    with pytest.raises(ConfigurationError) as info:
        CacheConfig(namespace=name)
    assert info.value.allowed == constants.NAMESPACE_RULE


def test_a_tag_with_a_trailing_newline_is_refused() -> None:
    with pytest.raises(ConfigurationError) as info:
        CacheConfig(tags=("users\n",))
    assert info.value.allowed == constants.TAG_RULE


@pytest.mark.parametrize("name", ["a", "x" * 64, "my-app.v2_test"])
def test_a_namespace_inside_the_pattern_is_accepted(name: str) -> None:
    assert CacheConfig(namespace=name).namespace == name


# -- redaction ------------------------------------------------------------------------------


def test_redact_text_hides_the_urls_password_wherever_it_appears() -> None:
    url = "redis://user:p%40ss@host:6379/0?token=tok123&db=1"
    message = f"cannot connect to {url}: auth with p@ss (p%40ss) refused, token tok123"
    shown = redact_text(message, url=url)
    assert "p@ss" not in shown
    assert "p%40ss" not in shown
    assert "tok123" not in shown
    assert "redis://user:***@host:6379/0?token=***&db=1" in shown


def test_redact_text_hides_given_secrets_longest_first() -> None:
    assert redact_text("a hunter2 b hunter", "hunter", "hunter2", None, "") == "a *** b ***"
    assert redact_text("key=sekrit", b"sekrit") == "key=***"
    assert redact_text("nothing to hide", None) == "nothing to hide"
    assert redact_text("not a url: x", url="no-scheme") == "not a url: x"
    assert redact_text("redis://:@h", url="redis://:@h") == "redis://:***@h"
