"""Configuration errors say where a bad value came from and what was probably meant."""

from __future__ import annotations

import pytest
from twat_cache import Cache, ConfigurationError, ucache
from twat_cache.config import CacheConfig, refuse_options, resolve_config


def _function(x: int) -> int:
    return x


@pytest.mark.parametrize(
    ("variable", "text", "allowed"),
    [
        ("TWAT_CACHE_STRICT", "maybe", "true or false"),  # refused while converting the text
        ("TWAT_CACHE_POLICY", "mru", "one of lru"),  # refused by CacheConfig's checks
        ("TWAT_CACHE_TTL", "0", "positive"),
        ("TWAT_CACHE_NAMESPACE", "has space", "1-64 characters"),
        ("TWAT_CACHE_URL", "nowhere", "a URL such as"),
    ],
)
def test_an_error_from_an_environment_variable_names_the_variable(
    variable: str, text: str, allowed: str
) -> None:
    with pytest.raises(ConfigurationError) as info:
        resolve_config(environ={variable: text})
    message = str(info.value)
    assert variable in message
    assert repr(text) in message
    assert allowed in message
    assert info.value.source == f"environment variable {variable}"


def test_a_value_given_in_code_over_a_bad_variable_is_not_blamed_on_it() -> None:
    with pytest.raises(ConfigurationError) as info:
        resolve_config(environ={"TWAT_CACHE_TTL": "5"}, ttl=-1)
    assert info.value.source is None
    assert "TWAT_CACHE" not in str(info.value)
    # a kwarg or URL option replacing a bad variable's value makes the config valid
    assert resolve_config(environ={"TWAT_CACHE_POLICY": "lfu"}, policy="fifo").policy == "fifo"
    config = resolve_config("builtin://?namespace=ok", environ={"TWAT_CACHE_NAMESPACE": "n"})
    assert config.namespace == "ok"


def test_a_misspelt_environment_variable_gets_a_did_you_mean() -> None:
    with pytest.raises(ConfigurationError) as info:
        resolve_config(environ={"TWAT_CACHE_TTLL": "5", "OTHER_TTL": "x"})
    assert "TWAT_CACHE_TTLL" in str(info.value)
    assert "did you mean 'TWAT_CACHE_TTL'" in info.value.allowed
    assert "TWAT_CACHE_STRICT" in info.value.allowed
    with pytest.raises(ConfigurationError, match="did you mean 'TWAT_CACHE_MAXSIZE'"):
        resolve_config(environ={"TWAT_CACHE_MAX_SIZE": "5"})


def test_other_variables_under_the_prefix_are_ignored(caplog: pytest.LogCaptureFixture) -> None:
    """twat-cache 2.x documented TWAT_CACHE_DEBUG=1: it must not break a 3.x cache."""
    with caplog.at_level("DEBUG", logger="twat_cache"):
        config = resolve_config(environ={"TWAT_CACHE_DEBUG": "1", "TWAT_CACHE_TTL": "5"})
    assert config.ttl == 5.0
    assert "TWAT_CACHE_DEBUG" in caplog.text


def test_an_unknown_keyword_option_gets_a_did_you_mean() -> None:
    with pytest.raises(ConfigurationError) as info:
        ucache(maxsise=3)(_function)  # type: ignore[call-overload]
    assert info.value.field == "option"
    assert "did you mean 'maxsize'?" in str(info.value)
    with pytest.raises(ConfigurationError) as none_close:
        resolve_config(environ={}, zzzzz=1)
    assert "did you mean" not in str(none_close.value)
    assert "known options are: " in none_close.value.allowed


def test_an_unknown_url_option_gets_a_did_you_mean_among_engine_and_core_options() -> None:
    with pytest.raises(ConfigurationError) as engine_option:
        Cache("builtin://?maxsze=3")
    assert "did you mean 'maxsize'?" in str(engine_option.value)
    with pytest.raises(ConfigurationError) as core_option:
        Cache("builtin://?namepsace=x")
    assert "did you mean 'namespace'?" in str(core_option.value)
    assert "known options are: maxsize" in str(core_option.value)


def test_refuse_options_names_the_engines_that_keep_an_option() -> None:
    config = CacheConfig(maxsize=30, policy="lfu")
    refuse_options(config, "x", "maxbytes")  # not set: nothing to refuse
    with pytest.raises(ConfigurationError, match="maxsize") as info:
        refuse_options(config, "x", "maxbytes", "maxsize", hint="use y")
    assert info.value.value == 30
    assert "sqlite://" in info.value.allowed
    assert info.value.allowed.endswith("; use y")
    with pytest.raises(ConfigurationError, match="policy") as policy:
        refuse_options(config, "x", "policy")
    assert "lru, the default on x://" in policy.value.allowed
    refuse_options(CacheConfig(), "x", "policy")  # lru is the default: not refused
