"""twat-cache-cli: every command, in-process through ``main([...])``, plus the console script.

In-process engines keep their entries per ``Cache``, so most tests use test engines
registered with ``twat_cache.registry.register_engine`` whose storage is a module-level
dict: separate ``main()`` calls then see the same entries, as separate processes see one
server. One test runs against a real redis-server from the harness (tools/twat_cache_harness).
"""

from __future__ import annotations

import logging
import os
import re
import runpy
import subprocess
import sys
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
import twat_cache_cli
from twat_cache import Cache, ucache
from twat_cache.config import CacheConfig
from twat_cache.engines.base import BaseBackend
from twat_cache.exceptions import (
    BackendError,
    CacheOperationError,
    ConfigurationError,
    EngineNotAvailableError,
)
from twat_cache.registry import available_engines, known_engines, register_engine
from twat_cache.registry import engine_class as registry_engine_class
from twat_cache.urls import EngineURL, redact_text
from twat_cache_cli import ExitCode, main
from twat_cache_cli import engines as engines_module
from twat_cache_cli import values as values_module
from twat_cache_cli.values import format_key, format_value, parse_value

# the harness lives in tools/ (on pytest's pythonpath and mypy's mypy_path)
from twat_cache_harness import free_port  # type: ignore[import-not-found,unused-ignore]

PASSWORD = "Pa55-w0rd-never-shown"
SECRET = "hmac-secret-never-shown"

# -- test engines ------------------------------------------------------------------------

SHARED: dict[tuple[str, str], bytes] = {}  # (namespace, key) -> stored bytes
TTLS: dict[tuple[str, str], float | None] = {}  # the ttl each entry was last written with


class SharedDictBackend(BaseBackend):
    """Bytes in a module-level dict: every ``main()`` call sees the same entries."""

    stores_objects = False
    blocking = False

    def _slot(self, key: str) -> tuple[str, str]:
        self._check_open()
        return (self.namespace, key)

    def get(self, key: str) -> bytes | None:
        return SHARED.get(self._slot(key))

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        SHARED[self._slot(key)] = value
        TTLS[self._slot(key)] = ttl

    def add(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        if self._slot(key) in SHARED:
            return False
        self.set(key, value, ttl)
        return True

    def delete(self, key: str) -> bool:
        return SHARED.pop(self._slot(key), None) is not None

    def touch(self, key: str, ttl: float | None = None) -> bool:
        return self._slot(key) in SHARED

    def incr(self, key: str, delta: int = 1) -> int:
        raw = SHARED.get(self._slot(key))
        if raw is None:
            raise ValueError(f"key {key!r} not found")
        try:
            value = int(raw) + delta
        except ValueError:
            raise TypeError(f"the value under {key!r} is not an integer") from None
        if value >= 2**63:  # as Redis does
            raise ValueError(f"incrementing {key!r} by {delta} overflows 64 bits")
        SHARED[self._slot(key)] = str(value).encode()
        return value

    def clear(self) -> None:
        for slot in [s for s in SHARED if s[0] == self.namespace]:
            del SHARED[slot]

    def keys(self) -> Iterator[str]:
        self._check_open()
        return iter([key for namespace, key in list(SHARED) if namespace == self.namespace])


class UnlistableBackend(SharedDictBackend):
    """Like memcached: entries, but no key listing."""

    def keys(self) -> Iterator[str]:
        raise CacheOperationError("this engine cannot enumerate keys")


class NoKeysBackend(SharedDictBackend):
    """A third-party engine that leaves ``BaseBackend.keys`` unimplemented."""

    keys = BaseBackend.keys


class BlackholeBackend(SharedDictBackend):
    """Accepts writes and forgets them."""

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        self._check_open()


class InterruptedBackend(SharedDictBackend):
    """Ctrl-C arrives while the command waits for the server."""

    def get(self, key: str) -> bytes | None:
        raise KeyboardInterrupt


class DownBackend(SharedDictBackend):
    """A server that is down, and whose client quotes the whole URL, password and all."""

    raw_url: ClassVar[str] = ""

    @classmethod
    def from_config(cls, config: CacheConfig, url: EngineURL) -> DownBackend:
        url.finish()
        DownBackend.raw_url = url.raw
        return cls(namespace=config.namespace)

    def _check_open(self) -> None:  # every operation of the engine starts here
        raise BackendError(f"cannot reach {DownBackend.raw_url} at 10.9.8.7:6390: refused")


for _scheme, _engine in {
    "cli-shared": SharedDictBackend,
    "cli-unlistable": UnlistableBackend,
    "cli-nokeys": NoKeysBackend,
    "cli-blackhole": BlackholeBackend,
    "cli-interrupted": InterruptedBackend,
    "cli-down": DownBackend,
}.items():
    register_engine(_scheme, _engine)

URL = "cli-shared://"


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("TWAT_CACHE_"):
            monkeypatch.delenv(name)
    SHARED.clear()
    TTLS.clear()
    yield
    SHARED.clear()
    TTLS.clear()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def stored(key: str, url: str = URL, **options: Any) -> Any:
    with Cache(url, **options) as cache:
        return cache.get(key, "<absent>")


# -- get / set / delete ------------------------------------------------------------------


def test_set_then_get_a_string(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "set", URL, "greeting", "hello world") == (0, "", "")
    assert run(capsys, "get", URL, "greeting") == (0, "hello world\n", "")
    assert stored("greeting") == "hello world"
    assert TTLS[("default", "greeting")] is None


def test_set_json_keeps_types(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "set", "--json", URL, "doc", '{"a": [1, null], "b": "é"}')[0] == 0
    assert stored("doc") == {"a": [1, None], "b": "é"}
    assert run(capsys, "get", URL, "doc") == (0, '{"a": [1, null], "b": "é"}\n', "")


def test_set_with_ttl(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "set", URL, "k", "v", "--ttl", "2.5")[0] == 0
    assert TTLS[("default", "k")] == 2.5


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["set", URL, "k", "v", "--ttl", "-1"], "invalid ttl=-1.0"),
        (["set", URL, "k", "v", "--ttl", "inf"], "invalid ttl=inf"),
        (["set", "--json", URL, "k", "{not json"], "invalid VALUE='{not json'"),
    ],
)
def test_bad_set_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == ExitCode.USAGE
    assert int(code) == 2
    assert out == ""
    assert err.startswith(f"twat-cache: error: {message}")
    assert SHARED == {}


@pytest.mark.parametrize(
    ("value", "printed"),
    [
        (b"\x00raw", "b'\\x00raw'"),
        (None, "null"),
        (42, "42"),
        (True, "true"),
        ([1.5, "x"], '[1.5, "x"]'),
        ({1, 2}, "{1, 2}"),
        (float("nan"), "nan"),
    ],
)
def test_get_prints_values_by_type(
    capsys: pytest.CaptureFixture[str], value: object, printed: str
) -> None:
    with Cache(URL) as cache:
        cache.set("k", value)
    assert run(capsys, "get", URL, "k") == (0, printed + "\n", "")


def test_get_absent_key(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "get", URL, "nope")
    assert (code, out) == (ExitCode.NOT_FOUND, "")
    assert err == "twat-cache: 'nope' not found in cli-shared:// (namespace 'default')\n"


def test_delete(capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "set", URL, "k", "v")
    assert run(capsys, "delete", URL, "k") == (0, "", "")
    assert stored("k") == "<absent>"
    code, _, err = run(capsys, "delete", URL, "k")
    assert code == ExitCode.NOT_FOUND
    assert "'k' not found" in err


# -- incr ---------------------------------------------------------------------------------


def test_incr_counts_from_a_json_integer(capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "set", "--json", URL, "hits", "0")
    assert run(capsys, "incr", URL, "hits") == (0, "1\n", "")
    assert run(capsys, "incr", URL, "hits", "--by", "10") == (0, "11\n", "")
    assert run(capsys, "incr", URL, "hits", "--by", "-20") == (0, "-9\n", "")
    assert stored("hits") == -9


def test_incr_absent_key_is_not_created(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "incr", URL, "hits")
    assert (code, out) == (ExitCode.NOT_FOUND, "")
    assert "incr does not create keys" in err
    assert SHARED == {}


def test_incr_refused_by_the_engine(capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "set", "--json", URL, "hits", str(2**63 - 1))
    code, out, err = run(capsys, "incr", URL, "hits")
    assert (code, out) == (ExitCode.FAILED, "")
    assert err == "twat-cache: error: incrementing 'hits' by 1 overflows 64 bits\n"
    assert stored("hits") == 2**63 - 1


def test_incr_on_a_string_says_how_to_store_counters(capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "set", URL, "hits", "5")  # without --json: the string "5"
    code, out, err = run(capsys, "incr", URL, "hits")
    assert (code, out) == (ExitCode.FAILED, "")
    assert "is not an integer" in err
    assert "set --json KEY 0" in err


# -- keys / clear / stats -------------------------------------------------------------------


def test_keys_lists_only_the_namespace(capsys: pytest.CaptureFixture[str]) -> None:
    for key in ("a", "b", "c"):
        run(capsys, "set", URL, key, "v", "--namespace", "one")
    run(capsys, "-n", "two", "set", URL, "other", "v")
    code, out, err = run(capsys, "keys", URL, "-n", "one")
    assert (code, err) == (0, "")
    assert sorted(out.split()) == ["a", "b", "c"]
    assert run(capsys, "--namespace", "two", "keys", URL) == (0, "other\n", "")
    assert run(capsys, "keys", URL) == (0, "", "")  # the default namespace is empty


def test_keys_leaves_out_entries_a_tag_invalidated(capsys: pytest.CaptureFixture[str]) -> None:
    with Cache(URL, namespace="tagged") as cache:
        cache.set("kept", 1, tags=["other"])
        cache.set("gone", 2, tags=["users"])
        cache.invalidate_tags("users")
    code, out, err = run(capsys, "keys", URL, "-n", "tagged")
    assert (code, out.split(), err) == (0, ["kept"], "")


def test_keys_limit(capsys: pytest.CaptureFixture[str]) -> None:
    for key in ("a", "b", "c"):
        run(capsys, "set", URL, key, "v")
    code, out, err = run(capsys, "keys", URL, "--limit", "2")
    assert code == 0
    assert len(out.split()) == 2
    assert err == "twat-cache: more than 2 keys; --limit 0 lists them all\n"
    assert run(capsys, "keys", URL, "--limit", "3")[1].count("\n") == 3
    assert sorted(run(capsys, "keys", URL, "--limit", "0")[1].split()) == ["a", "b", "c"]
    code, _, err = run(capsys, "keys", URL, "--limit", "-1")
    assert code == ExitCode.USAGE
    assert "--limit -1" in err


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("cli-unlistable://", "this engine cannot enumerate keys"),
        ("cli-nokeys://", "the cli-nokeys engine cannot list its keys"),
    ],
)
def test_keys_of_an_engine_that_cannot_list(
    capsys: pytest.CaptureFixture[str], url: str, message: str
) -> None:
    assert run(capsys, "keys", url) == (ExitCode.FAILED, "", f"twat-cache: error: {message}\n")
    code, out, _ = run(capsys, "stats", url)
    assert code == 0
    assert re.search(rf"^keys: +not listed: {message}$", out, re.MULTILINE)


def test_clear_needs_yes_and_keeps_other_namespaces(capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "set", URL, "a", "v", "-n", "app")
    run(capsys, "set", URL, "b", "v", "-n", "other")
    code, out, err = run(capsys, "clear", URL, "-n", "app")
    assert (code, out) == (ExitCode.USAGE, "")
    assert "without --yes" in err
    assert "this namespace's entries only" in err
    assert stored("a", namespace="app") == "v"

    code, out, err = run(capsys, "clear", URL, "-n", "app", "--yes")
    assert (code, err) == (0, "")
    assert out == (
        "cleared cli-shared:// (namespace 'app'); entries outside the namespace are untouched\n"
    )
    assert stored("a", namespace="app") == "<absent>"
    assert stored("b", namespace="other") == "v"


def test_stats(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLI_TEST_SECRET", SECRET)
    monkeypatch.setenv("TWAT_CACHE_TTL", "30")
    for key in ("a", "b"):
        run(capsys, "set", URL, key, "v", "-n", "app")
    code, out, err = run(
        capsys, "stats", URL, "-n", "app", "--serializer", "json", "--secret-env", "CLI_TEST_SECRET"
    )
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "url:         cli-shared://",
        f"engine:      cli-shared ({__name__}.SharedDictBackend)",
        "namespace:   app",
        "serializer:  json",
        "signed:      yes (HMAC-SHA256)",
        "default ttl: 30 s",
        "keys:        2",
    ]


def test_stats_of_an_in_process_engine(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "stats", "builtin://?maxsize=10&compress=true")
    assert code == 0
    assert "engine:      builtin (twat_cache.engines.builtin.BuiltinMemoryBackend)" in out
    assert "serializer:  pickle, compressed" in out
    assert "signed:      no" in out
    assert "default ttl: none" in out
    assert "keys:        0" in out


# -- ping ---------------------------------------------------------------------------------


def test_ping(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "ping", URL, "-n", "app")
    assert (code, err) == (0, "")
    pattern = (
        r"ok cli-shared:// \(namespace 'app'\): "
        r"set \d+\.\d\d ms, get \d+\.\d\d ms, delete \d+\.\d\d ms\n"
    )
    assert re.fullmatch(pattern, out)
    assert SHARED == {}  # the ping entry is gone
    assert list(TTLS.values()) == [30.0]  # and would have expired by itself


def test_ping_that_reads_nothing_back(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "ping", "cli-blackhole://")
    assert (code, out) == (ExitCode.FAILED, "")
    assert "wrote a ping entry but read back None" in err


def test_a_down_backend_is_an_error_without_the_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"cli-down://admin:{PASSWORD}@10.9.8.7:6390/0"
    for argv in (["ping", url], ["get", url, "k"], ["keys", url], ["--debug", "stats", url]):
        code, out, err = run(capsys, *argv)
        assert (code, out) == (ExitCode.FAILED, "")
        assert "cannot reach cli-down://admin:***@10.9.8.7:6390/0 at 10.9.8.7:6390" in err
        assert PASSWORD not in err
    # without --debug the library's own fail-open warning is not shown: just the error
    code, _, err = run(capsys, "get", url, "k")
    assert err.count("\n") == 1


# -- URL, options, errors ------------------------------------------------------------------


def test_url_from_the_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWAT_CACHE_URL", URL)
    monkeypatch.setenv("TWAT_CACHE_NAMESPACE", "from-env")
    assert run(capsys, "set", "k", "v") == (0, "", "")
    assert run(capsys, "get", "k") == (0, "v\n", "")
    assert stored("k", namespace="from-env") == "v"
    # two positionals: the first is the URL, also when TWAT_CACHE_URL is set
    assert run(capsys, "get", "builtin://", "k")[0] == ExitCode.NOT_FOUND
    # the command line wins over TWAT_CACHE_NAMESPACE
    assert run(capsys, "get", "-n", "default", "k")[0] == ExitCode.NOT_FOUND


def test_no_url_at_all(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "get", "k")
    assert (code, out) == (ExitCode.USAGE, "")
    assert "no cache URL" in err
    assert "TWAT_CACHE_URL" in err


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not-a-url", "invalid url='not-a-url'"),
        ("no_such_engine://", "invalid url scheme='no_such_engine'"),
        ("cli-shared://?bogus=1", "invalid cli-shared URL option 'bogus'='1'"),
        (f"cli-shared://?password={PASSWORD}&bogus=1", "invalid cli-shared URL option 'bogus'"),
        ("cli-shared://?ttl=0", "invalid ttl=0.0"),
    ],
)
def test_bad_url_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], url: str, message: str
) -> None:
    code, out, err = run(capsys, "get", url, "k")
    assert (code, out) == (ExitCode.USAGE, "")
    assert err.startswith(f"twat-cache: error: {message}")
    assert PASSWORD not in err


def test_bad_namespace_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "get", URL, "k", "-n", "has space")
    assert code == ExitCode.USAGE
    assert "invalid namespace='has space'" in err


def test_missing_engine_says_what_to_install(capsys: pytest.CaptureFixture[str]) -> None:
    installed = set(available_engines())
    scheme = next(s for s in ("postgresql", "memcached", "s3", "sqlite") if s not in installed)
    code, out, err = run(capsys, "ping", f"{scheme}://{PASSWORD}:{PASSWORD}@db.internal/x")
    assert (code, out) == (ExitCode.ENGINE_MISSING, "")
    assert "pip install" in err
    assert PASSWORD not in err


def test_argparse_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys)[0] == 2  # no command
    code, _, err = run(capsys, "get", URL, "k", "--serializer", "yaml")
    assert code == 2
    assert "invalid choice: 'yaml'" in err
    assert run(capsys, "incr", URL, "k", "--by", "x")[0] == 2
    assert run(capsys, "frobnicate")[0] == 2


def test_help_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for word in ("engines", "ping", "get", "set", "delete", "incr", "keys", "clear", "stats"):
        assert word in out
    assert "exit codes:" in out
    assert "TWAT_CACHE_URL" in out
    code, out, _ = run(capsys, "--version")
    assert code == 0
    assert out == f"twat-cache-cli {twat_cache_cli.__version__} (twat-cache 3.0.0)\n"
    assert twat_cache_cli.__version__ == "0.1.0"


def test_serializer_must_match_the_writers(capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "set", "--serializer", "json", URL, "j", "text")
    assert run(capsys, "get", URL, "j", "--serializer", "json") == (0, "text\n", "")
    # the format header names the serializer: another one reads a miss, never a misread value
    assert run(capsys, "get", URL, "j")[0] == ExitCode.FAILED
    run(capsys, "set", URL, "p", "text")  # pickle, the default
    code, out, err = run(capsys, "get", URL, "p", "--serializer", "json")
    assert (code, out) == (ExitCode.FAILED, "")  # a json cache never unpickles
    assert "cannot be read" in err


def test_secret_from_the_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLI_SECRET", SECRET)
    monkeypatch.setenv("CLI_OTHER_SECRET", "another-secret")
    assert run(capsys, "--secret-env", "CLI_SECRET", "set", URL, "k", "v") == (0, "", "")
    assert stored("k", secret=SECRET) == "v"
    assert run(capsys, "get", URL, "k", "--secret-env", "CLI_SECRET") == (0, "v\n", "")

    monkeypatch.setenv("TWAT_CACHE_SECRET", "env-secret-never-shown")  # --secret-env wins
    code, out, err = run(capsys, "--debug", "get", URL, "k", "--secret-env", "CLI_OTHER_SECRET")
    assert (code, out) == (ExitCode.FAILED, "")
    assert "signed with another secret" in err
    assert "rejected as a miss" in err  # the library's log, shown by --debug
    assert SECRET not in err
    assert "env-secret-never-shown" not in err

    code, _, err = run(capsys, "get", URL, "k", "--secret-env", "CLI_UNSET_VARIABLE")
    assert code == ExitCode.USAGE
    assert "CLI_UNSET_VARIABLE" in err


def test_debug_logs_to_stderr_and_restores_the_logger(capsys: pytest.CaptureFixture[str]) -> None:
    logger = logging.getLogger("twat_cache")
    handlers, level = list(logger.handlers), logger.level
    code, out, err = run(capsys, "--debug", "set", f"cli-shared://u:{PASSWORD}@h/", "k", "v")
    assert (code, out) == (0, "")
    assert "twat-cache: DEBUG twat_cache: created cli-shared engine" in err
    assert PASSWORD not in err
    assert (logger.handlers, logger.level) == (handlers, level)
    assert run(capsys, "set", URL, "k", "v") == (0, "", "")  # no --debug: no log


def test_interrupted(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "get", "cli-interrupted://", "k") == (
        ExitCode.INTERRUPTED,
        "",
        "twat-cache: interrupted\n",
    )


class _ClosedPipe:
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self) -> None:
        raise BrokenPipeError(32, "Broken pipe")

    def fileno(self) -> int:
        raise OSError("not a real file")


def test_closed_pipe_ends_quietly(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run(capsys, "set", URL, "k", "v")
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    assert main(["keys", URL]) == ExitCode.FAILED
    monkeypatch.undo()
    assert capsys.readouterr().err == ""


# -- engines --------------------------------------------------------------------------------


def _table(out: str) -> dict[str, list[str]]:
    lines = out.splitlines()
    starts = [lines[0].index(title) for title in ("SCHEME", "PACKAGE", "ENGINE")]
    return {
        line[: starts[1]].strip(): [line[starts[1] : starts[2]].strip(), line[starts[2] :]]
        for line in lines
    }


def test_engines(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "engines")
    assert (code, err) == (0, "")
    rows = _table(out)
    assert rows["SCHEME"] == ["PACKAGE", "ENGINE"]
    assert rows["builtin"][0] == "twat-cache 3.0.0 (built in)"
    assert rows["builtin"][1] == "twat_cache.engines.builtin.BuiltinMemoryBackend"
    assert rows["redis"] == ["twat-cache-redis 0.1.0", "twat_cache_redis.backend.RedisBackend"]
    assert rows["cli-shared"] == ["registered at run time", f"{__name__}.SharedDictBackend"]
    # the engines that are not installed here, and what installs each
    assert rows["memcached"] == [
        "twat-cache-memcached (not installed)",
        'pip install "twat-cache[memcached]"',
    ]
    assert rows["postgresql"][1] == 'pip install "twat-cache[postgres]"'
    assert set(rows) == {"SCHEME", *(record.scheme for record in known_engines())}
    schemes = list(rows)[1:]  # the installed engines first, then the installable ones
    assert schemes.index("unix") < schemes.index("aiocache+memory")


def test_engines_installed_only(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "engines", "--installed")
    assert code == 0
    assert set(_table(out)) == {"SCHEME", *available_engines()}
    assert "not installed" not in out


def test_engines_shows_a_broken_install(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def engine_class(scheme: str) -> type[Any]:
        if scheme in ("redis", "builtin"):
            raise EngineNotAvailableError(f"the {scheme!r} engine failed to import (boom)")
        return registry_engine_class(scheme)

    monkeypatch.setattr("twat_cache_cli.engines.engine_class", engine_class)
    rows = {row.scheme: row for row in engines_module.engine_rows()}
    assert not rows["redis"].ok
    assert rows["redis"].package == "twat-cache-redis 0.1.0"
    assert rows["builtin"].package == "twat-cache 3.0.0 (built in)"
    assert not rows["builtin"].ok
    assert rows["memory"].ok
    assert not rows["s3"].installed
    code, out, _ = run(capsys, "engines")
    assert code == 0
    assert "BROKEN: the 'redis' engine failed to import (boom)" in out


def test_console_script_module(tmp_path: Any) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWAT_CACHE_")}
    for argv, expected in (
        (["--version"], "twat-cache-cli 0.1.0"),
        (["engines"], "twat-cache-redis 0.1.0"),
    ):
        result = subprocess.run(
            [sys.executable, "-m", "twat_cache_cli", *argv],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert expected in result.stdout
    result = subprocess.run(
        [sys.executable, "-m", "twat_cache_cli", "get", "k"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "no cache URL" in result.stderr


def test_main_module_in_process(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", ["twat-cache", "--version"])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_module("twat_cache_cli", run_name="__main__")
    assert exit_info.value.code == 0
    assert "twat-cache-cli" in capsys.readouterr().out


# -- values ---------------------------------------------------------------------------------


def test_value_helpers() -> None:
    assert format_value(memoryview(b"ab")) == "b'ab'"
    assert format_value((1, "a")) == '[1, "a"]'
    assert format_key("k") == "k"
    assert format_key(("f", 1)) == "('f', 1)"
    assert parse_value("42", as_json=False) == "42"
    assert parse_value("42", as_json=True) == 42
    with pytest.raises(ConfigurationError, match="a JSON document"):
        parse_value("nope", as_json=True)


def test_messages_are_redacted_by_cores_one_function() -> None:
    url = f"redis://u:{PASSWORD}@h:6379/0?token=t0ken"
    message = f"failed: {url}; auth {PASSWORD} rejected; secret {SECRET}"
    shown = redact_text(message, SECRET, "", url=url)
    assert shown == "failed: redis://u:***@h:6379/0?token=***; auth *** rejected; secret ***"
    assert redact_text("at [::1", url="redis://[::1") == "at [::1"  # a URL that does not parse
    assert redact_text("plain", url=None) == "plain"
    assert not hasattr(values_module, "scrub")  # the CLI keeps no copy of its own


# -- a real Redis ---------------------------------------------------------------------------


def test_against_a_real_redis(capsys: pytest.CaptureFixture[str], redis_server: Any) -> None:
    url = redis_server.url
    namespace = "cli-redis-test"
    ns = ["--namespace", namespace]
    assert run(capsys, "ping", url, *ns)[0] == 0
    assert run(capsys, "set", url, "greeting", "hi", "--ttl", "60", *ns) == (0, "", "")
    assert run(capsys, "get", url, "greeting", *ns) == (0, "hi\n", "")
    assert run(capsys, "set", "--json", url, "hits", "41", *ns)[0] == 0
    assert run(capsys, "incr", url, "hits", *ns) == (0, "42\n", "")

    @ucache(url, namespace=namespace)
    def square(x: int) -> dict[str, int]:
        return {"square": x * x}

    assert square(7) == {"square": 49}
    code, out, _ = run(capsys, "keys", url, *ns)
    keys = out.split()
    assert code == 0
    assert {"greeting", "hits"} < set(keys)
    (function_key,) = [k for k in keys if "square" in k]
    assert run(capsys, "get", url, function_key, *ns) == (0, '{"square": 49}\n', "")

    code, out, _ = run(capsys, "stats", url, *ns)
    assert "engine:      redis (twat_cache_redis.backend.RedisBackend)" in out
    assert "keys:        3" in out
    assert run(capsys, "clear", url, "--yes", *ns)[0] == 0
    assert run(capsys, "keys", url, *ns) == (0, "", "")
    assert run(capsys, "get", url, "greeting", *ns)[0] == ExitCode.NOT_FOUND


def test_ping_a_redis_that_is_down(capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    code, out, err = run(capsys, "ping", f"redis://:{PASSWORD}@127.0.0.1:{port}/0")
    assert (code, out) == (ExitCode.FAILED, "")
    assert err.startswith("twat-cache: error: redis at ")
    assert f"127.0.0.1:{port}" in err
    assert PASSWORD not in err
