"""Configuration: validation at decoration time, source order, URLs and their options."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import pytest
from twat_cache import Cache, CacheConfig, ConfigurationError, PathError, ucache
from twat_cache.config import ensure_folder, resolve_config
from twat_cache.urls import EngineURL, parse_url, redact


def _function(x: int) -> int:
    return x


BAD_OPTIONS: list[tuple[str, Any, str]] = [
    ("ttl", -1, "positive, finite number of seconds"),
    ("ttl", 0, "positive, finite number of seconds"),
    ("ttl", math.nan, "positive, finite number of seconds"),
    ("ttl", math.inf, "positive, finite number of seconds"),
    ("ttl", "60", "positive, finite number of seconds"),
    ("ttl", True, "positive, finite number of seconds"),
    ("maxsize", 0, "a positive integer"),
    ("maxsize", -5, "a positive integer"),
    ("maxsize", True, "a positive integer"),
    ("maxsize", 1.5, "a positive integer"),
    ("maxbytes", 0, "a positive integer"),
    ("policy", "mru", "one of lru, lfu, fifo, rr, ttl"),
    ("serializer", "yaml", "one of pickle, json, msgpack"),
    ("on_serialization_error", "ignore", "one of raise, warn"),
    ("namespace", "has space", "1-64 characters"),
    ("namespace", "", "1-64 characters"),
    ("compress", 1, "True, False, 'zlib' or 'zstd'"),
    ("strict", "yes", "True or False"),
    ("jitter", 1.0, "from 0 up to (not including) 1"),
    ("jitter", -0.1, "from 0 up to (not including) 1"),
    ("jitter", math.nan, "from 0 up to (not including) 1"),
    ("retry_after", -1, "finite number of seconds >= 0"),
    ("retry_after", math.inf, "finite number of seconds >= 0"),
    ("retry_after", False, "finite number of seconds >= 0"),
    ("tags", ["has space"], "without spaces"),
    ("tags", [1], "without spaces"),
    ("tags", 5, "a list of strings"),
    ("folder", 5, "a path"),
    ("options", ["not", "a", "mapping"], "a mapping"),
    ("url", "no-scheme-here", "a URL such as memory://"),
]


@pytest.mark.parametrize(("field", "value", "allowed"), BAD_OPTIONS)
def test_a_bad_option_fails_at_decoration_naming_field_value_and_allowed(
    field: str, value: Any, allowed: str
) -> None:
    with pytest.raises(ConfigurationError) as info:
        ucache(**{field: value})
    error = info.value
    assert error.field == field
    assert error.allowed.startswith(allowed) or allowed in error.allowed
    assert field in str(error)
    assert allowed in str(error)
    if field == "tags" and isinstance(value, list):
        assert error.value == value[0]  # the offending tag
    elif not (isinstance(value, float) and math.isnan(value)):
        assert error.value == value
    assert isinstance(error, ValueError)  # also catchable as the builtin it is


def test_the_secret_is_never_shown_in_errors_or_repr() -> None:
    with pytest.raises(ConfigurationError) as info:
        CacheConfig(secret="")
    assert info.value.field == "secret"
    config = CacheConfig(secret="hunter2", url="redis://user:pw123@h:6379/0")
    assert "hunter2" not in repr(config)
    assert "pw123" not in repr(config)
    assert "redis://user:***@h:6379/0" in repr(config)
    assert config.secret_bytes == b"hunter2"
    assert CacheConfig(secret=b"raw").secret_bytes == b"raw"
    assert CacheConfig().secret_bytes is None


def test_unknown_option_keyword_lists_the_known_ones() -> None:
    with pytest.raises(ConfigurationError) as info:
        ucache(tll=5)  # type: ignore[call-overload]
    assert info.value.field == "option"
    assert info.value.value == "tll"
    assert "ttl" in info.value.allowed


def test_unknown_engine_fails_at_decoration_listing_the_engines() -> None:
    with pytest.raises(ConfigurationError) as info:
        ucache("nosuch://")
    assert "nosuch" in str(info.value)
    assert "builtin" in info.value.allowed
    assert "memory" in info.value.allowed


def test_an_unknown_engine_url_option_fails_when_the_cache_is_made() -> None:
    with pytest.raises(ConfigurationError, match="maxsiz") as info:
        ucache("builtin://?maxsiz=3")(_function)
    assert "maxsize" in info.value.allowed  # what the engine would have accepted
    with pytest.raises(ConfigurationError, match="maxsize"):
        ucache("builtin://?maxsize=0")(_function)


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("memory:/missing-slashes", "url"),
        ("://no-scheme", "url scheme"),
        ("1redis://h", "url scheme"),
        ("redis://host:notaport", "url port"),
        ("redis://host:0", "url port"),
        ("redis://host:65536", "url port"),
        ("redis://:6379", "url"),
        ("redis://[::1", "url"),
        ("memory://?novalue", "url query"),
        ("memory://?a=1&&b=2", "url query"),
    ],
)
def test_malformed_urls(url: str, field: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        parse_url(url)
    assert info.value.field == field


def test_non_string_url_is_refused() -> None:
    with pytest.raises(ConfigurationError):
        parse_url(5)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        resolve_config(5)  # type: ignore[arg-type]


def test_url_parts() -> None:
    url = parse_url("Redis+Cluster://us%40er:p%3Ass@a:7000,[::1]:7001,b/0%2F1?ssl=true&x=")
    assert url.scheme == "redis+cluster"
    assert url.hosts == [("a", 7000), ("::1", 7001), ("b", None)]
    assert (url.host, url.port) == ("a", 7000)
    assert url.username == "us@er"
    assert url.password == "p:ss"
    assert url.path == "/0/1"
    assert url.options == {"ssl": "true", "x": ""}
    assert url.require_host(6379) == [("a", 7000), ("::1", 7001), ("b", 6379)]
    empty = parse_url("memory://")
    assert (empty.hosts, empty.host, empty.port, empty.path) == ([], None, None, "")
    assert parse_url("disk:///var/cache/app").path == "/var/cache/app"
    with pytest.raises(ConfigurationError, match="a host is required"):
        empty.require_host(6379)


def test_keyword_options_override_the_query_string() -> None:
    url = parse_url("redis://h?ssl=false&db=1", {"ssl": True, "db": 2, "name": "x"})
    assert url.options == {"ssl": "true", "db": "2", "name": "x"}


def test_engine_url_option_helpers() -> None:
    url = parse_url("x://h?s=b&i=5&f=0.5&t=YES&n=off&bad=zz")
    assert url.option_str("s", "a", choices=("a", "b")) == "b"
    assert url.option_str("absent", None) is None
    assert url.option_int("i", 0, minimum=1) == 5
    assert url.option_int("absent", 7) == 7
    assert url.option_float("f", 1.0) == 0.5
    assert url.option_float("absent", 2.5) == 2.5
    assert url.option_bool("t", False) is True
    assert url.option_bool("n", True) is False
    assert url.option_bool("absent", True) is True
    with pytest.raises(ConfigurationError, match="known options are: absent, f, i, n, s, t"):
        url.finish()  # "bad" was never read
    url.option_str("bad", "")
    url.finish()  # everything read: no error


@pytest.mark.parametrize(
    ("call", "allowed"),
    [
        (lambda u: u.option_str("v", "", choices=("a", "b")), "one of a, b"),
        (lambda u: u.option_int("v", 0), "an integer"),
        (lambda u: u.option_int("n", 0, minimum=10), "an integer >= 10"),
        (lambda u: u.option_float("v", 0.0), "a number"),
        (lambda u: u.option_float("inf", 0.0), "a finite number >= 0.0"),
        (lambda u: u.option_float("neg", 0.0), "a finite number >= 0.0"),
        (lambda u: u.option_bool("v", False), "true or false"),
    ],
)
def test_engine_url_option_errors_name_engine_option_value(call: Any, allowed: str) -> None:
    url = parse_url("myengine://h?v=zz&n=5&inf=inf&neg=-1")
    with pytest.raises(ConfigurationError) as info:
        call(url)
    assert info.value.field.startswith("myengine option")
    assert info.value.allowed == allowed


def test_passwords_are_redacted_everywhere() -> None:
    raw = "redis://user:p@ss:w0rd@h1:1,h2:2/0?password=qwerty&aws_secret_access_key=AKIA&db=1"
    url = parse_url(raw)
    assert url.password == "p@ss:w0rd"
    shown = url.redacted
    for secret in ("p@ss", "w0rd", "qwerty", "AKIA"):
        assert secret not in shown
    assert shown == "redis://user:***@h1:1,h2:2/0?password=***&aws_secret_access_key=***&db=1"
    assert redact("memory://") == "memory://"
    assert redact("not a url") == "not a url"
    assert redact("redis://justuser@h") == "redis://justuser@h"
    # error messages about a URL never show the password either
    with pytest.raises(ConfigurationError) as info:
        parse_url("redis://u:topsecret@:6379")
    assert "topsecret" not in str(info.value)
    with pytest.raises(ConfigurationError) as info:
        parse_url("redis://u:topsecret@[::1")
    assert "topsecret" not in str(info.value)
    misspelt = parse_url("redis://h?pasword=topsecret")
    with pytest.raises(ConfigurationError) as info:
        misspelt.finish()
    assert "topsecret" not in str(info.value)
    with pytest.raises(ConfigurationError) as info:
        parse_url("redis://h?token=topsecret").option_int("token", 0)
    assert "topsecret" not in str(info.value)


def test_source_order_defaults_env_url_kwargs() -> None:
    env = {"TWAT_CACHE_TTL": "10", "TWAT_CACHE_MAXSIZE": "100", "TWAT_CACHE_NAMESPACE": "envns"}
    assert resolve_config(environ={}).ttl is None  # the default
    assert resolve_config(environ=env).ttl == 10.0
    from_url = resolve_config("memory://?ttl=5", environ=env)
    assert (from_url.ttl, from_url.maxsize, from_url.namespace) == (5.0, 100, "envns")
    from_kwargs = resolve_config("memory://?ttl=5", environ=env, ttl=1, namespace="kw")
    assert (from_kwargs.ttl, from_kwargs.maxsize, from_kwargs.namespace) == (1.0, 100, "kw")


def test_env_variables_are_read_at_decoration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWAT_CACHE_TTL", "7")
    monkeypatch.setenv("TWAT_CACHE_URL", "builtin://?maxsize=3")
    monkeypatch.setenv("TWAT_CACHE_TAGS", "a,b,")
    monkeypatch.setenv("TWAT_CACHE_STRICT", "on")
    f = ucache()(_function)
    config = f.cache.config
    assert (config.ttl, config.engine, config.tags, config.strict) == (
        7.0,
        "builtin",
        ("a", "b"),
        True,
    )
    engine: Any = f.cache.backend
    assert engine.maxsize == 3
    assert ucache(ttl=2)(_function).cache.config.ttl == 2.0  # kwargs still win


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("TWAT_CACHE_TTL", "none", ("ttl", None)),
        ("TWAT_CACHE_TTL", "", ("ttl", None)),
        ("TWAT_CACHE_MAXSIZE", "None", ("maxsize", None)),
        ("TWAT_CACHE_COMPRESS", "1", ("compress", True)),
        ("TWAT_CACHE_COMPRESS", "off", ("compress", False)),
        ("TWAT_CACHE_JITTER", "0.25", ("jitter", 0.25)),
        ("TWAT_CACHE_RETRY_AFTER", "0", ("retry_after", 0.0)),
        ("TWAT_CACHE_POLICY", "lfu", ("policy", "lfu")),
        ("TWAT_CACHE_FOLDER", "/tmp/x", ("folder", "/tmp/x")),
    ],
)
def test_env_text_conversions(name: str, text: str, expected: tuple[str, object]) -> None:
    config = resolve_config(environ={name: text})
    assert getattr(config, expected[0]) == expected[1]


@pytest.mark.parametrize(
    ("name", "text", "field"),
    [
        ("TWAT_CACHE_TTL", "0", "ttl"),  # not "no expiry": refused like ttl=0
        ("TWAT_CACHE_TTL", "soon", "ttl"),
        ("TWAT_CACHE_TTL", "-3", "ttl"),
        ("TWAT_CACHE_MAXSIZE", "lots", "maxsize"),
        ("TWAT_CACHE_STRICT", "maybe", "strict"),
        ("TWAT_CACHE_URL", "nowhere", "url"),
        ("TWAT_CACHE_POLICY", "mru", "policy"),
    ],
)
def test_bad_env_values_are_configuration_errors(name: str, text: str, field: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        resolve_config(environ={name: text})
    assert info.value.field == field


def test_core_options_in_the_url_are_taken_out_of_it() -> None:
    config = resolve_config("builtin://?ttl=5&engine_opt=3&namespace=ns&t%74l2=x", environ={})
    assert (config.ttl, config.namespace) == (5.0, "ns")
    assert config.url == "builtin://?engine_opt=3&t%74l2=x"  # left for the engine
    encoded = resolve_config("builtin://?t%74l=5&maxsize=3", environ={})
    assert (encoded.ttl, encoded.maxsize, encoded.url) == (5.0, 3, "builtin://")
    only_core = resolve_config("builtin://?ttl=5", environ={})
    assert only_core.url == "builtin://"
    assert parse_url("builtin://?ttl=5").options == {"ttl": "5"}


def test_a_base_config_is_complete_the_environment_is_not_read_over_it() -> None:
    base = CacheConfig(url="builtin://", ttl=10, namespace="base")
    env = {"TWAT_CACHE_TTL": "99", "TWAT_CACHE_NAMESPACE": "env"}
    changed = resolve_config(base=base, environ=env, maxsize=5)
    assert (changed.ttl, changed.namespace, changed.maxsize, changed.url) == (
        10.0,
        "base",
        5,
        "builtin://",
    )
    other_url = resolve_config("memory://?ttl=3", base=base)
    assert (other_url.url, other_url.ttl, other_url.namespace) == ("memory://", 3.0, "base")


def test_cache_with_a_config_and_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWAT_CACHE_TTL", "99")
    base = CacheConfig(ttl=10)
    with Cache(config=base) as plain, Cache(config=base, namespace="other") as changed:
        assert plain.config is base
        assert (changed.config.ttl, changed.config.namespace) == (10.0, "other")


def test_config_helpers() -> None:
    config = CacheConfig(ttl=60, maxsize=1000, tags="solo")  # type: ignore[arg-type]
    assert config.engine == "memory"
    assert config.tags == ("solo",)
    assert config.engine_url().scheme == "memory"
    assert CacheConfig(url="Redis://h").engine == "redis"
    assert config.evolve(ttl=5).ttl == 5.0
    with pytest.raises(ConfigurationError):
        config.evolve(ttl=-5)
    assert CacheConfig(options={"maxsize": 3}, url="builtin://").engine_url().options == {
        "maxsize": "3"
    }


def test_ensure_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made = ensure_folder(tmp_path / "a" / "b")
    assert made.is_dir()
    assert ensure_folder(made) == made  # already there: fine
    regular = tmp_path / "file"
    regular.write_text("x")
    with pytest.raises(PathError) as info:
        ensure_folder(regular / "sub")
    assert info.value.field == "folder"
    assert info.value.value == str(regular / "sub")
    assert "a folder that can be created" in info.value.allowed
    with pytest.raises(PathError):
        ensure_folder(regular)
    monkeypatch.setattr(os, "access", lambda *args: False)
    with pytest.raises(PathError, match="writable"):
        ensure_folder(tmp_path)
    assert isinstance(info.value, ConfigurationError)


def test_engine_url_is_a_plain_record() -> None:
    url = EngineURL("x", [], "", None, None, {}, "x://")
    assert url.redacted == "x://"
    url.finish()


def test_config_made_directly_is_validated_too() -> None:
    with pytest.raises(ConfigurationError) as info:
        CacheConfig(url="no scheme")
    assert info.value.field == "url"
    assert repr(CacheConfig()).startswith("CacheConfig(url=None, namespace='default'")
