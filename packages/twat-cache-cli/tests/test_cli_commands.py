"""twat-cache-cli: every command, in-process through ``main([...])``, plus the console script.

In-process engines keep their entries per ``Cache``, so most tests use test engines
registered with ``twat_cache.registry.register_engine`` whose storage is a module-level
dict: separate ``main()`` calls then see the same entries, as separate processes see one
server. One test runs against a real redis-server from the harness (tools/twat_cache_harness).
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import re
import runpy
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import twat_cache_cli
from twat_cache import Cache, ucache
from twat_cache.config import SERIALIZERS, CacheConfig
from twat_cache.engines.base import BaseBackend
from twat_cache.exceptions import (
    BackendError,
    CacheOperationError,
    ConfigurationError,
    EngineNotAvailableError,
)
from twat_cache.registry import available_engines, known_engines, register_engine
from twat_cache.registry import engine_class as registry_engine_class
from twat_cache.stats import read_published
from twat_cache.urls import EngineURL, redact_text
from twat_cache_cli import ExitCode, main
from twat_cache_cli import commands as commands_module
from twat_cache_cli import engines as engines_module
from twat_cache_cli import values as values_module
from twat_cache_cli.entries import describe
from twat_cache_cli.outcome import UsageError, classify, is_unreachable
from twat_cache_cli.profile import parse_argument
from twat_cache_cli.reply import Reply
from twat_cache_cli.report import bar_chart, size_buckets
from twat_cache_cli.values import format_key, format_value, parse_value
from twat_cache_cli.warm import read_calls, warm_item

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

    def set(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        SHARED[self._slot(key)] = value
        TTLS[self._slot(key)] = ttl
        return True

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

    def set(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        self._check_open()
        return True


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
        raise BackendError(
            f"cannot reach {DownBackend.raw_url} at 10.9.8.7:6390: refused"
        ) from ConnectionRefusedError(111, "Connection refused")


FLAKY = {"batches_left": -1}  # cli-flaky: writes this many batches, then Ctrl-C (-1: never)


class FlakyBackend(SharedDictBackend):
    """Ctrl-C arrives after a number of batch writes: an interrupted migration."""

    def set_many(self, items: Any, ttl: float | None = None) -> bool:
        if FLAKY["batches_left"] == 0:
            raise KeyboardInterrupt
        FLAKY["batches_left"] -= 1
        return super().set_many(items, ttl)


class FailingVersionBackend(SharedDictBackend):
    """Stores entries, but fails when asked for its server's version."""

    def server_version(self) -> str:
        raise BackendError("the version query failed")


for _scheme, _engine in {
    "cli-failing-version": FailingVersionBackend,
    "cli-flaky": FlakyBackend,
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
    assert run(capsys, "get", URL, "greeting", "--unsafe-unpickle") == (0, "hello world\n", "")
    assert stored("greeting") == "hello world"
    assert TTLS[("default", "greeting")] is None


def test_set_json_keeps_types(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "set", "--json", URL, "doc", '{"a": [1, null], "b": "é"}')[0] == 0
    assert stored("doc") == {"a": [1, None], "b": "é"}
    assert run(capsys, "get", URL, "doc", "--unsafe-unpickle") == (
        0,
        '{"a": [1, null], "b": "é"}\n',
        "",
    )


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
def test_bad_set_is_an_error(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, *argv)
    # a bad option value is a configuration error (6); a VALUE that is not JSON, usage (2)
    assert code == (ExitCode.USAGE if "VALUE" in message else ExitCode.CONFIG)
    if "--json" in argv:  # the error as a JSON document on stdout
        assert json.loads(out)["error"]["code"] == code
    else:
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
    assert run(capsys, "get", URL, "k", "--unsafe-unpickle") == (0, printed + "\n", "")


def test_get_absent_key(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "get", URL, "nope")
    assert (code, out) == (ExitCode.NOT_FOUND, "")
    assert err == "twat-cache: error: 'nope' not found in cli-shared:// (namespace 'default')\n"


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
    assert (code, out) == (ExitCode.REFUSED, "")
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
        assert (code, out) == (ExitCode.UNREACHABLE, "")
        assert "unreachable: " in err
        assert "cannot reach cli-down://admin:***@10.9.8.7:6390/0 at 10.9.8.7:6390" in err
        assert PASSWORD not in err
    # without --debug: one line, no traceback, no library warning
    code, _, err = run(capsys, "get", url, "k")
    assert err.count("\n") == 1
    assert "Traceback" not in err
    # with --debug: the traceback, down to the client's exception
    code, _, err = run(capsys, "--debug", "get", url, "k")
    assert code == ExitCode.UNREACHABLE
    assert "Traceback (most recent call last)" in err
    assert "ConnectionRefusedError" in err
    assert PASSWORD not in err


# -- URL, options, errors ------------------------------------------------------------------


def test_url_from_the_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWAT_CACHE_URL", URL)
    monkeypatch.setenv("TWAT_CACHE_NAMESPACE", "from-env")
    assert run(capsys, "set", "k", "v") == (0, "", "")
    assert run(capsys, "get", "k", "--unsafe-unpickle") == (0, "v\n", "")
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
        ("cli-shared://?bogus=1", "invalid cli-shared URL option 'bogus'='1'"),
        (f"cli-shared://?password={PASSWORD}&bogus=1", "invalid cli-shared URL option 'bogus'"),
        ("cli-shared://?ttl=0", "invalid ttl=0.0"),
    ],
)
def test_bad_url_is_a_configuration_error(
    capsys: pytest.CaptureFixture[str], url: str, message: str
) -> None:
    code, out, err = run(capsys, "get", url, "k")
    assert (code, out) == (ExitCode.CONFIG, "")
    assert err.startswith(f"twat-cache: error: {message}")
    assert PASSWORD not in err


def test_bad_namespace_is_a_configuration_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "get", URL, "k", "-n", "has space")
    assert code == ExitCode.CONFIG
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
    assert rows["s3"][1] == 'pip install "twat-cache[s3]"'
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
    with pytest.raises(UsageError, match="not a JSON document"):
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
    assert run(capsys, "get", url, "greeting", *ns, "--unsafe-unpickle") == (0, "hi\n", "")
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
    assert run(capsys, "get", url, function_key, *ns, "--unsafe-unpickle") == (
        0,
        '{"square": 49}\n',
        "",
    )

    code, out, _ = run(capsys, "stats", url, *ns)
    assert "engine:      redis (twat_cache_redis.backend.RedisBackend)" in out
    assert "keys:        3" in out
    assert run(capsys, "clear", url, "--yes", *ns)[0] == 0
    assert run(capsys, "keys", url, *ns) == (0, "", "")
    assert run(capsys, "get", url, "greeting", *ns)[0] == ExitCode.NOT_FOUND


def test_ping_a_redis_that_is_down(capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    code, out, err = run(capsys, "ping", f"redis://:{PASSWORD}@127.0.0.1:{port}/0")
    assert (code, out) == (ExitCode.UNREACHABLE, "")
    assert err.startswith("twat-cache: error: unreachable: redis at ")
    assert err.count("\n") == 1
    assert f"127.0.0.1:{port}" in err
    assert PASSWORD not in err


# -- missing arguments, --json, exit codes ---------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "missing"),
    [
        (["get", URL], "KEY"),
        (["set", URL, "k"], "VALUE"),
        (["delete", URL], "KEY"),
        (["incr", URL], "KEY"),
    ],
)
def test_a_missing_argument_is_named(
    capsys: pytest.CaptureFixture[str], argv: list[str], missing: str
) -> None:
    code, out, err = run(capsys, *argv)
    assert (code, out) == (ExitCode.USAGE, "")
    assert f"{argv[0]}: the following argument is missing: {missing} (after the URL {URL})" in err
    assert "no cache URL" not in err
    code, out, _ = run(capsys, *argv, "--json")
    assert code == ExitCode.USAGE
    assert json.loads(out)["error"] == {
        "code": 2,
        "kind": "usage",
        "message": f"{argv[0]}: the following argument is missing: {missing} (after the URL {URL})",
    }


def test_json_on_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    def doc(*argv: str, code: int = 0) -> Any:
        got, out, _ = run(capsys, *argv, "--json")
        assert got == code
        return json.loads(out)

    assert doc("set", URL, "n", "41") == {"key": "n", "stored": True, "ttl": None}
    assert stored("n") == 41  # with --json, VALUE is JSON
    assert doc("set", URL, "s", '"text"', "--ttl", "9") == {"key": "s", "stored": True, "ttl": 9.0}
    assert doc("get", URL, "s", "--unsafe-unpickle") == {"key": "s", "value": "text"}
    assert doc("incr", URL, "n") == {"key": "n", "value": 42}
    with Cache(URL) as cache:
        cache.set("b", b"\x00")
    assert doc("get", URL, "b", "--unsafe-unpickle")["value"] == {"type": "bytes", "base64": "AA=="}
    code, out, _ = run(capsys, "keys", URL, "--json")
    assert code == 0
    assert sorted(json.loads(line)["key"] for line in out.splitlines()) == ["b", "n", "s"]
    stats = doc("stats", URL)
    assert (stats["keys"], stats["engine"], stats["signed"]) == (3, "cli-shared", False)
    assert doc("delete", URL, "b", "gone", code=ExitCode.NOT_FOUND)["deleted"] == ["b"]
    assert doc("get", URL, "gone", code=ExitCode.NOT_FOUND)["error"]["kind"] == "not_found"
    assert doc("clear", URL, code=ExitCode.REFUSED)["error"]["code"] == 7
    assert doc("clear", URL, "--yes") == {"cleared": True, "url": URL, "namespace": "default"}
    ping = doc("ping", URL)
    assert ping["ok"] is True
    assert set(ping) >= {"set_ms", "get_ms", "delete_ms"}
    engines = {row["scheme"]: row for row in doc("engines")["engines"]}
    assert engines["builtin"]["installed"] is True
    assert doc("frobnicate", code=ExitCode.USAGE)["error"]["kind"] == "usage"
    assert doc("get", "cli-down://h/", "k", code=ExitCode.UNREACHABLE)["error"]["kind"] == (
        "unreachable"
    )


def test_unknown_scheme_lists_the_engines(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "get", "no-such-engine://h/", "k")
    assert (code, out) == (ExitCode.ENGINE_MISSING, "")
    assert "no engine serves no-such-engine:// here" in err
    installed = [record.scheme for record in known_engines() if record.installed]
    assert f"installed engines: {', '.join(sorted(installed))}" in err
    for record in known_engines():
        if not record.installed:
            assert f"{record.scheme} ({record.install_command})" in err


def test_keys_leaves_out_entries_a_tag_made_stale(capsys: pytest.CaptureFixture[str]) -> None:
    with Cache(URL) as cache:
        cache.set("tagged", 1, tags=["users"])
        cache.set("plain", 2)
        cache.invalidate_tags("users")
    assert run(capsys, "keys", URL) == (0, "plain\n", "")


def test_failures_are_classified() -> None:
    assert is_unreachable(BackendError("x").with_traceback(None)) is False
    timeout = BackendError("slow")
    timeout.__cause__ = TimeoutError()
    assert classify(timeout) == ExitCode.UNREACHABLE
    named = type("OperationalError", (Exception,), {})
    wrapped = BackendError("pg")
    wrapped.__cause__ = named("connection failed")
    assert classify(wrapped) == ExitCode.UNREACHABLE
    assert classify(CacheOperationError("cannot list")) == ExitCode.FAILED
    assert classify(EngineNotAvailableError("missing")) == ExitCode.ENGINE_MISSING
    assert classify(ConfigurationError("ttl", -1, "a number")) == ExitCode.CONFIG


def test_real_subprocess_against_a_real_redis(redis_server: Any) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWAT_CACHE_")}

    def command(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "twat_cache_cli", *argv, "-n", "cli-subprocess", "--json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )

    assert command("set", redis_server.url, "k", "[1, 2]").returncode == 0
    got = command("get", redis_server.url, "k", "--unsafe-unpickle")
    assert (got.returncode, json.loads(got.stdout)) == (0, {"key": "k", "value": [1, 2]})
    missing = command("get", redis_server.url)
    assert missing.returncode == ExitCode.USAGE
    assert "missing: KEY" in json.loads(missing.stdout)["error"]["message"]
    down = command("get", f"redis://127.0.0.1:{free_port()}/0", "k")
    assert down.returncode == ExitCode.UNREACHABLE
    assert json.loads(down.stdout)["error"]["kind"] == "unreachable"
    assert down.stderr.count("\n") == 1
    assert command("clear", redis_server.url, "--yes").returncode == 0


# -- rich output, completion ------------------------------------------------------------------


def test_tables_on_a_terminal_plain_text_in_a_pipe(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "engines", "--installed", "--color", "always")
    assert code == 0
    assert "\x1b[" in out  # colour
    assert "┏━" in out  # a rich table
    assert "SCHEME" in out
    assert "builtin" in out
    code, out, _ = run(capsys, "stats", URL, "--color", "always")
    assert code == 0
    assert "\x1b[" in out
    assert "engine" in out
    assert "SharedDictBackend" in out
    # in a pipe (capsys is not a terminal) or with --color never: plain aligned text
    for argv in (["engines", "--installed"], ["engines", "--installed", "--color", "never"]):
        code, out, _ = run(capsys, *argv)
        assert "\x1b[" not in out
        assert out.startswith("SCHEME")


def test_progress_bar_only_on_a_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stderr = Terminal()
    reply = Reply(json_mode=False, stdout=io.StringIO(), stderr=stderr)
    with reply.progress("copying", 4) as advance:
        advance(4)
    assert "copying" in stderr.getvalue()
    assert "4/4" in stderr.getvalue()
    quiet = io.StringIO()
    with Reply(json_mode=False, stderr=quiet).progress("copying", 4) as advance:
        advance(4)
    assert quiet.getvalue() == ""
    assert Reply(json_mode=True, stdout=Terminal()).rich is False


def test_bash_completion_completes_commands_options_and_schemes(
    capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    code, script, _ = run(capsys, "completion", "bash")
    assert code == 0
    (tmp_path / "twat-cache.bash").write_text(script)

    def complete(*words: str) -> list[str]:
        line = " ".join(shlex.quote(word) for word in ("twat-cache", *words))
        program = (
            f"source {tmp_path / 'twat-cache.bash'}\n"
            f"COMP_WORDS=({line}); COMP_CWORD={len(words)}\n"
            'COMPREPLY=(); _twat_cache; printf "%s\\n" "${COMPREPLY[@]}"\n'
        )
        result = subprocess.run(
            ["bash", "--norc", "-c", program],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.split()

    assert {"get", "gone"} - set(complete("g")) == {"gone"}
    assert "--ttl" in complete("set", "--t")
    assert sorted(complete("get", "--serializer", "")) == sorted(SERIALIZERS)
    assert "redis://" in complete("get", "re")
    assert {"bash", "zsh"} <= set(complete("completion", ""))
    assert "redis://" not in complete("completion", "")
    code, zsh, _ = run(capsys, "completion", "zsh")
    assert "bashcompinit" in zsh
    assert "complete -F _twat_cache twat-cache" in zsh


# -- get --raw, unsafe unpickle, keys --pattern, invalidate-tag -------------------------------


def test_get_refuses_unsigned_pickle_from_shared_storage(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run(capsys, "set", URL, "k", "v")  # pickle, unsigned: what an attacker could write
    code, out, err = run(capsys, "get", URL, "k")
    assert (code, out) == (ExitCode.REFUSED, "")
    assert "unsigned" not in err or "pickle from shared storage" in err
    assert "--unsafe-unpickle" in err
    assert "--secret-env" in err
    # a signed entry read with the secret is checked before it is unpickled
    monkeypatch.setenv("CLI_SECRET", SECRET)
    run(capsys, "set", URL, "signed", "v", "--secret-env", "CLI_SECRET")
    assert run(capsys, "get", URL, "signed", "--secret-env", "CLI_SECRET") == (0, "v\n", "")
    # signed, but no secret here to check it: still refused
    assert run(capsys, "get", URL, "signed")[0] == ExitCode.REFUSED
    # json and integers never unpickle
    run(capsys, "set", URL, "j", "text", "--serializer", "json")
    assert run(capsys, "get", URL, "j", "--serializer", "json") == (0, "text\n", "")
    run(capsys, "set", URL, "n", "5", "--json")
    assert run(capsys, "get", URL, "n") == (0, "5\n", "")
    # in-process engines keep objects: nothing is unpickled
    assert run(capsys, "get", "builtin://", "k")[0] == ExitCode.NOT_FOUND


# the stored form of "text" in a json cache: the format header names the serializer
JSON_TEXT_FRAME = b'\xfd\x00\x04json"text"'


def test_get_raw_bytes(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    assert main(["set", URL, "j", "text", "--serializer", "json"]) == 0
    assert main(["get", URL, "j", "--raw"]) == 0
    assert capsysbinary.readouterr().out == JSON_TEXT_FRAME


def test_get_raw(capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "set", URL, "j", "text", "--serializer", "json")
    text_only = io.StringIO()  # a stream without a binary buffer: the bytes' repr
    commands_module._write_raw(Reply(json_mode=False, stdout=text_only), "j", b"\xfe")
    assert text_only.getvalue() == "b'\\xfe'\n"
    doc = json.loads(run(capsys, "get", URL, "j", "--raw", "--json")[1])
    encoded = base64.b64encode(JSON_TEXT_FRAME).decode()
    assert doc == {"key": "j", "raw": {"type": "bytes", "base64": encoded}, "frame": "json"}
    assert run(capsys, "get", URL, "nope", "--raw")[0] == ExitCode.NOT_FOUND
    code, _, err = run(capsys, "get", "builtin://", "k", "--raw")
    assert code == ExitCode.USAGE
    assert "keeps objects" in err


def test_get_raw_writes_bytes_to_a_real_stdout(redis_server: Any) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWAT_CACHE_")}
    url = redis_server.url
    with Cache(url, namespace="cli-raw", serializer="json") as cache:
        cache.set("k", {"a": 1})
    result = subprocess.run(
        [sys.executable, "-m", "twat_cache_cli", "get", url, "k", "--raw", "-n", "cli-raw"],
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stdout) == (0, b'\xfd\x00\x04json{"a":1}')
    with Cache(url, namespace="cli-raw") as cache:
        cache.clear()


def test_keys_pattern(capsys: pytest.CaptureFixture[str]) -> None:
    for key in ("user:1", "user:2", "order:1"):
        run(capsys, "set", URL, key, "v")
    code, out, _ = run(capsys, "keys", URL, "--pattern", "user:*")
    assert (code, sorted(out.split())) == (0, ["user:1", "user:2"])
    assert run(capsys, "keys", URL, "--pattern", "order:?") == (0, "order:1\n", "")
    assert run(capsys, "keys", URL, "--pattern", "nothing*") == (0, "", "")


def test_invalidate_tag(capsys: pytest.CaptureFixture[str]) -> None:
    with Cache(URL) as cache:
        cache.set("a", 1, tags=["users"])
        cache.set("b", 2, tags=["orders"])
        cache.set("c", 3, tags=["other"])
    code, out, _ = run(capsys, "invalidate-tag", URL, "users", "orders")
    assert code == 0
    assert "invalidated 'users', 'orders'" in out
    assert stored("a") == "<absent>"
    assert stored("b") == "<absent>"
    assert stored("c") == 3
    assert json.loads(run(capsys, "invalidate-tag", URL, "x", "--json")[1]) == {
        "invalidated": ["x"]
    }


def test_frames_are_described_without_decoding() -> None:
    assert describe(b"-3").format == "integer"
    assert describe(b"junk").label == "unknown"
    assert describe(b"\xfe\x72" + bytes(8)).label == "msgpack+zlib+signed+tagged"
    assert describe(b"\xfe\x0f").format == "unknown"
    # the named-serializer header: 0xFD, flags, the name's length, the name
    assert describe(b"\xfd\x02\x04json{}").label == "json+zstd"
    assert describe(b"\xfd\xe0\x06pickle" + bytes(40)).label == "pickle+encrypted+signed+tagged"


# -- info, doctor, bench ---------------------------------------------------------------------


def test_info(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    with Cache(URL) as cache:
        cache.set("app.users:1", "x" * 5000)
        cache.set("app.users:2", "small")
        cache.set("app.orders:1", {"a": 1}, tags=["orders"])
        cache.set("hits", 7)  # an integer: stored raw, so that the server can increment it
    with Cache(URL, serializer="json", compress=True) as cache:
        cache.set("doc", "y" * 5000)
    data = json.loads(run(capsys, "info", URL, "--json")[1])
    assert (data["engine"], data["entries"], data["sampled"]) == ("cli-shared", 5, False)
    assert data["formats"] == {"pickle": 2, "pickle+tagged": 1, "integer": 1, "json+zlib": 1}
    assert data["largest"][0]["key"] == "app.users:1"
    entries = {"app.users:1", "app.users:2", "app.orders:1", "hits", "doc"}  # no tag counter
    assert data["total_bytes"] == sum(len(SHARED[("default", key)]) for key in entries)
    assert data["groups"]["app.users"] == 2
    assert data["capabilities"]["lists_keys"] is True
    code, out, _ = run(capsys, "info", URL)
    assert code == 0
    assert re.search(r"^entries: +5$", out, re.MULTILINE)
    assert "app.users:1 (4.9 KiB)" in out
    # sampled: totals scaled from a random sample
    data = json.loads(run(capsys, "info", URL, "--json", "--sample", "2")[1])
    assert (data["entries"], data["sampled"], sum(data["formats"].values())) == (5, True, 2)
    assert run(capsys, "info", URL, "--sample", "0")[0] == ExitCode.USAGE
    data = json.loads(run(capsys, "info", "cli-unlistable://", "--json")[1])
    assert data["entries"] is None
    code, out, _ = run(capsys, "info", URL)
    assert "ttl distribution: not available (cli-shared does not report expiry times)" in out
    assert re.search(r"^server version: +unknown$", out, re.M)


def test_info_names_the_server_version(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Any,
    redis_server: Any,
    postgres_server: Any,
) -> None:
    # memcached, sqlite, S3 and aiocache (not installed with the CLI): their packages'
    # conformance runs check server_version
    expected = {
        redis_server.url: r"^Redis \d+\.\d+",
        postgres_server.url: r"^PostgreSQL \d+",
        f"disk://{tmp_path}": r"^diskcache \d+\.\d+\.\d+ \(SQLite 3\.",
    }
    for url, pattern in expected.items():
        data = json.loads(run(capsys, "info", url, "-n", "cli-version", "--json")[1])
        assert re.search(pattern, data["server_version"] or ""), (url, data["server_version"])
    assert re.search(r"^server version: +Redis \d", run(capsys, "info", redis_server.url)[1], re.M)
    data = json.loads(run(capsys, "info", "cli-failing-version://", "--json")[1])
    assert data["server_version"] is None  # an engine failing to tell: info still answers


def test_info_shows_remaining_ttls(capsys: pytest.CaptureFixture[str], tmp_path: Any) -> None:
    url = f"disk://{tmp_path}"
    with Cache(url) as cache:
        for n in range(5):
            cache.set(f"soon:{n}", n, ttl=30 + n)
        cache.set("day", 1, ttl=20 * 3600)
        cache.set("week", 1, ttl=30 * 86400)
        cache.set("forever", 1, ttl=None)
    data = json.loads(run(capsys, "info", url, "--json")[1])
    assert data["ttl_distribution"] == {"< 1 min": 5, "1-24 h": 1, "> 7 d": 1, "no expiry": 1}
    assert [entry["key"] for entry in data["expiring_first"]] == ["soon:0", "soon:1", "soon:2"]
    assert [entry["key"] for entry in data["expiring_last"]] == ["week", "day", "soon:4"]
    assert 0 < data["expiring_first"][0]["ttl"] <= 30
    code, out, _ = run(capsys, "info", url)
    assert code == 0
    assert re.search(r"^ttl distribution: +< 1 min 5, 1-24 h 1, > 7 d 1, no expiry 1$", out, re.M)
    assert re.search(r"^expiring last: +week \(in 30\.0 d\), day \(in 20\.0 h\)", out, re.M)
    assert "the first to expire is the oldest" in out  # what "oldest/newest" shows, and why
    page = tmp_path / "r.html"
    assert run(capsys, "report", url, "--html", str(page))[0] == 0
    text = page.read_text()
    assert re.search(r"soon:0 \(in \d+ s\)", text)
    assert "the first to expire is the oldest" in text


def test_doctor(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = run(capsys, "doctor")
    assert code == 0
    assert re.search(r"^ok +engine builtin +twat-cache 3\.0\.0", out, re.MULTILINE)
    data = json.loads(run(capsys, "doctor", URL, "--json")[1])
    checks = {check["check"]: check for check in data["checks"]}
    assert checks["connection"]["status"] == "ok"
    assert checks["unsigned pickle"]["status"] == "warn"
    assert checks["no default ttl"]["status"] == "warn"
    monkeypatch.setenv("CLI_SECRET", SECRET)
    monkeypatch.setenv("TWAT_CACHE_URL", URL)
    data = json.loads(run(capsys, "doctor", "--secret-env", "CLI_SECRET", "--json")[1])
    checks = {check["check"]: check for check in data["checks"]}
    assert "unsigned pickle" not in checks
    assert checks["connection"]["status"] == "ok"
    data = json.loads(run(capsys, "doctor", "builtin://", "--json")[1])
    assert any(check["check"] == "in-process engine" for check in data["checks"])
    code, out, _ = run(capsys, "doctor", "cli-down://h/", "--json")
    assert code == ExitCode.UNREACHABLE
    assert json.loads(out)["ok"] is False


def test_doctor_against_a_real_redis(capsys: pytest.CaptureFixture[str], redis_server: Any) -> None:
    code, out, _ = run(capsys, "doctor", redis_server.url)
    assert code == 0
    assert re.search(r"^ok +connection", out, re.MULTILINE)
    assert re.search(r"^ok +engine redis +twat-cache-redis", out, re.MULTILINE)
    code, out, _ = run(capsys, "doctor", f"redis://127.0.0.1:{free_port()}/0")
    assert code == ExitCode.UNREACHABLE
    assert re.search(r"^fail +connection", out, re.MULTILINE)


def test_bench(capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "set", URL, "mine", "v")
    data = json.loads(run(capsys, "bench", URL, "--ops", "20", "--batch", "7", "--json")[1])
    assert (data["ops"], data["batch"]) == (20, 7)
    for name in ("set", "get", "get_many"):
        assert data[name]["p50_ms"] <= data[name]["p99_ms"] <= data[name]["max_ms"]
        assert data[name]["ops_per_s"] > 0
    assert set(SHARED) == {("default", "mine")}  # its own keys are gone, the others kept
    code, out, _ = run(capsys, "bench", URL, "--ops", "1")
    assert code == 0
    assert re.search(r"^get_many \(100 keys\)", out, re.MULTILINE)
    assert run(capsys, "bench", URL, "--ops", "0")[0] == ExitCode.USAGE


def test_bench_against_a_real_redis(redis_server: Any) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWAT_CACHE_")}
    result = subprocess.run(
        [sys.executable, "-m", "twat_cache_cli", "bench", redis_server.url, "--ops", "200"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "OPERATION" in result.stdout
    with Cache(redis_server.url) as cache:
        assert not [key for key in cache.keys() if key.startswith("twat-cache-cli:bench:")]


# -- migrate ---------------------------------------------------------------------------------


def _fill(url: str, count: int, namespace: str = "default") -> dict[str, Any]:
    values: dict[str, Any] = {f"k{n:05d}": {"n": n, "text": "x" * (n % 50)} for n in range(count)}
    with Cache(url, namespace=namespace) as cache:
        assert cache.set_many(values)
        cache.set("tagged", "by tag", tags=["users"])
    return values


def test_migrate_keeps_bytes_tags_and_sets_the_ttl(
    capsys: pytest.CaptureFixture[str], tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    source = f"disk://{tmp_path / 'src'}"
    values = _fill(source, 50)
    code, out, _ = run(capsys, "migrate", source, "cli-flaky://", "--ttl", "3600", "--json")
    data = json.loads(out)
    assert code == 0
    assert (data["entries"], data["copied"], data["already_copied"]) == (52, 52, 0)
    assert data["verification"] == {"source": 52, "present": 52, "compared": 52, "different": 0}
    with Cache("cli-flaky://") as target:
        assert target.get_many(list(values)) == values
        assert target.get("tagged") == "by tag"  # the tag counter came along
        target.invalidate_tags("users")
        assert target.get("tagged") is None
    assert TTLS[("default", "k00001")] == 3600
    assert TTLS[("default", "__tag__:users")] is None  # counters never expire
    assert not list(tmp_path.glob("*.checkpoint"))  # done and verified: no checkpoint left
    with Cache(source) as cache:
        assert cache.get("k00001") == values["k00001"]  # copied, not moved


def test_migrate_keeps_each_remaining_ttl(
    capsys: pytest.CaptureFixture[str], tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    source = f"disk://{tmp_path / 'src'}"
    with Cache(source) as cache:
        cache.set("minute", 1, ttl=60)
        cache.set("hour", 2, ttl=3600)
        cache.set("forever", 3, ttl=None)
        cache.set("gone", 4, ttl=0.05)
    written = time.monotonic()
    time.sleep(0.1)
    code, out, _ = run(capsys, "migrate", source, "cli-flaky://", "--dry-run")
    assert code == 0
    assert "(ttl: kept;" in out
    code, out, _ = run(capsys, "migrate", source, "cli-flaky://", "--json")
    assert code == 0
    assert json.loads(out)["ttl"] == "kept"
    spent = time.monotonic() - written  # the copies' lifetimes ran meanwhile
    # whole seconds, rounded up: what was left when the batch was copied
    for key, ttl in (("minute", 60), ("hour", 3600)):
        copied = TTLS[("default", key)]
        assert copied is not None
        assert float(copied).is_integer()
        assert ttl - spent - 1 <= copied <= ttl
    assert TTLS[("default", "forever")] is None
    assert ("default", "gone") not in SHARED  # expired before the copy
    code, out, _ = run(capsys, "migrate", source, "cli-flaky://", "--ttl", "5")
    assert code == 0
    assert "(ttl: 5 s)" in out
    assert TTLS[("default", "hour")] == 5  # --ttl overrides
    # a source that cannot tell: DST's default TTL, said so
    code, out, _ = run(capsys, "migrate", "cli-flaky://", f"disk://{tmp_path / 'dst'}", "--json")
    assert (code, json.loads(out)["ttl"]) == (0, None)


def test_migrate_interrupted_then_resumed(
    capsys: pytest.CaptureFixture[str], tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    source = f"disk://{tmp_path / 'src'}"
    values = _fill(source, 999)  # 1000 entries and one tag counter
    FLAKY["batches_left"] = 4  # the first batch writes twice: the tag counter, then entries
    argv = ["migrate", source, "cli-flaky://", "--batch", "100", "--checkpoint", "run.ckpt"]
    assert run(capsys, *argv)[0] == ExitCode.INTERRUPTED
    recorded = (tmp_path / "run.ckpt").read_text().splitlines()
    assert len(recorded) == 1 + 300  # the header, then the keys of three batches
    assert len(SHARED) == 300

    FLAKY["batches_left"] = -1
    code, out, _ = run(capsys, *argv, "--dry-run", "--json")
    assert code == 0
    assert json.loads(out)["to_copy"] == 701
    code, out, _ = run(capsys, *argv, "--json")
    data = json.loads(out)
    assert code == 0
    assert (data["already_copied"], data["copied"]) == (300, 701)
    assert data["verification"]["present"] == 1001
    assert not (tmp_path / "run.ckpt").exists()
    with Cache("cli-flaky://") as target:
        assert target.get_many(list(values)) == values


def test_migrate_move_deletes_only_after_verification(
    capsys: pytest.CaptureFixture[str], tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    source = f"disk://{tmp_path / 'src'}"
    _fill(source, 10)
    # a destination that loses what it is given: verification fails, the source is kept
    code, out, err = run(capsys, "migrate", source, "cli-blackhole://", "--move", "--json")
    assert code == ExitCode.FAILED
    assert "verification failed: 12 entries missing" in err  # 11 entries, 1 tag counter
    assert json.loads(out)["error"]["kind"] == "failed"
    with Cache(source) as cache:
        assert len(list(cache.keys())) == 11
    assert len(list(tmp_path.glob("*.checkpoint"))) == 1  # kept, to resume
    # a checkpoint of that migration is refused for another one
    (checkpoint,) = tmp_path.glob("*.checkpoint")
    code, _, err = run(capsys, "migrate", source, URL, "--checkpoint", str(checkpoint))
    assert code == ExitCode.USAGE
    assert "checkpoint of another migration" in err
    code, out, _ = run(capsys, "migrate", source, URL, "--move")
    assert code == 0
    assert "deleted 12 from the source" in out  # 11 entries and the tag counter
    with Cache(source) as cache:
        assert list(cache.keys()) == []


def test_migrate_bad_input(capsys: pytest.CaptureFixture[str], tmp_path: Any) -> None:
    assert run(capsys, "migrate", "builtin://", URL)[0] == ExitCode.USAGE
    assert run(capsys, "migrate", URL, URL, "--batch", "0")[0] == ExitCode.USAGE
    code, _, err = run(capsys, "migrate", URL)
    assert code == ExitCode.USAGE
    assert "DST" in err
    code, _, err = run(capsys, "migrate", "cli-down://h/", URL)
    assert code == ExitCode.UNREACHABLE


def test_migrate_disk_to_redis_to_postgres(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
    redis_server: Any,
    postgres_server: Any,
) -> None:
    monkeypatch.chdir(tmp_path)
    namespace = "cli-migrate"
    disk = f"disk://{tmp_path / 'disk'}"
    values = _fill(disk, 9_999, namespace)  # 10,000 entries, one of them tagged
    ns = ["-n", namespace]
    with Cache(disk, namespace=namespace) as cache:
        cache.set("short-lived", "s", ttl=600)
        cache.touch("k00000", 7200)
    started = time.monotonic()
    code, out, _ = run(capsys, "migrate", disk, redis_server.url, *ns, "--json")
    assert code == 0, out
    assert json.loads(out)["verification"]["present"] == 10_002  # and the tag counter
    code, out, _ = run(capsys, "migrate", redis_server.url, postgres_server.url, *ns, "--move")
    assert code == 0, out
    assert "copied 10002 entries" in out
    assert "(ttl: kept)" in out
    with Cache(postgres_server.url, namespace=namespace) as target:
        assert target.get_many(list(values)) == values
        # each remaining TTL came along, through both hops (rounded up to the second each)
        spent = time.monotonic() - started  # the copies' clocks ran meanwhile
        assert 600 - spent - 1 < (target.ttl("short-lived") or 0) <= 602
        assert 7200 - spent - 1 < (target.ttl("k00000") or 0) <= 7202
        assert target.ttl("k00001") is None
        assert target.get("tagged") == "by tag"
        target.invalidate_tags("users")
        assert target.get("tagged") is None
        target.clear()
    with Cache(redis_server.url, namespace=namespace) as moved:
        assert list(moved.keys()) == []


# -- the generated reference ------------------------------------------------------------------


def test_cli_reference_is_current() -> None:
    from twat_cache_cli.main import EXIT_CODE_MEANINGS, build_parser
    from twat_cache_cli.reference import reference

    root = Path(__file__).resolve().parents[3]
    text = reference(build_parser(), EXIT_CODE_MEANINGS)
    current = (root / "docs" / "user-guide" / "cli.md").read_text(encoding="utf-8")
    # regenerate with: uv run --package twat-cache-cli python tools/gen_cli_docs.py
    assert current == text
    for command in ("migrate", "info", "doctor", "bench", "invalidate-tag", "completion"):
        assert f"### `twat-cache {command}`" in text
    assert "| 5 | `unreachable` |" in text
    assert "`--unsafe-unpickle`" in text
    assert "`KEY...`" in text
    assert "migrate [-h]" in text
    assert set(EXIT_CODE_MEANINGS) == set(ExitCode)


# -- report --html -----------------------------------------------------------------------------


def _chromium(*argv: str) -> subprocess.CompletedProcess[str]:
    from twat_cache_harness.install import (  # type: ignore[import-not-found,unused-ignore]
        ensure_binary,
    )

    browser = ensure_binary("chromium", "chromium")  # Debian's package, installed when missing
    return subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_report_html_renders_in_a_real_browser(
    capsys: pytest.CaptureFixture[str], tmp_path: Any, redis_server: Any
) -> None:
    namespace = "cli-report"
    with Cache(redis_server.url, namespace=namespace) as cache:
        for n in range(200):
            cache.set(f"app.users:{n}", "x" * (n * 37))
        cache.set("app.orders:1", {"a": 1}, tags=["orders"])
    page = tmp_path / "report.html"
    code, out, _ = run(capsys, "report", redis_server.url, "-n", namespace, "--html", str(page))
    assert code == 0
    assert "201 entries" in out
    text = page.read_text()
    assert "<svg" in text
    assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")  # offline
    assert "app.users" in text

    artifacts = Path(os.environ.get("TEST_ARTIFACTS_DIR", tmp_path))
    artifacts.mkdir(parents=True, exist_ok=True)
    screenshot = artifacts / "twat-cache-report.png"
    shot = _chromium(
        "--enable-logging=stderr",
        "--v=0",
        f"--screenshot={screenshot}",
        "--window-size=900,1400",
        page.as_uri(),
    )
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert ":CONSOLE" not in shot.stderr  # no console message at all, errors included
    assert screenshot.stat().st_size > 10_000  # a rendered page, not a blank one
    dom = _chromium("--dump-dom", page.as_uri())
    assert dom.returncode == 0
    assert dom.stdout.count("<svg") == 4  # sizes, formats, keys per function, remaining TTLs
    assert "Remaining TTLs" in text
    assert "no expiry" in text  # redis reports expiry times: the histogram is drawn
    assert dom.stdout.count("<rect") >= 4
    with Cache(redis_server.url, namespace=namespace) as cache:
        cache.clear()


def test_report_bad_input_and_sampling(capsys: pytest.CaptureFixture[str], tmp_path: Any) -> None:
    page = tmp_path / "r.html"
    for n in range(20):
        run(capsys, "set", URL, f"k{n}", "v" * n)
    code, out, _ = run(capsys, "report", URL, "--html", str(page), "--sample", "5", "--json")
    assert (code, json.loads(out)["sampled"]) == (0, True)
    assert "a random sample of 5" in page.read_text()
    assert run(capsys, "report", URL, "--html", str(page), "--sample", "0")[0] == ExitCode.USAGE
    assert run(capsys, "report", "builtin://", "--html", str(page))[0] == ExitCode.USAGE
    code, _, err = run(capsys, "report", "cli-unlistable://", "--html", str(page))
    assert code == ExitCode.FAILED
    assert "needs a key listing" in err
    assert "no entries" in bar_chart("empty", [])
    assert size_buckets([0, 63, 64, 1024, 2**21, 2**31]) == [
        ("<64 B", 2),
        ("64-127 B", 1),
        ("1-2 KiB", 1),
        ("2-4 MiB", 1),
        ("2-4 GiB", 1),
    ]


# -- warm ----------------------------------------------------------------------------------------

WARM_MODULE = """
import asyncio
from twat_cache import ucache

CALLS = []


@ucache()  # no URL: the one warm sets in TWAT_CACHE_URL
def square(x, offset=0):
    CALLS.append(x)
    if x < 0:
        raise ValueError("negative")
    return x * x + offset


@ucache()
async def cube(x):
    await asyncio.sleep(0)
    CALLS.append(x)
    return x ** 3


BATCHES = []


@ucache(batch=True)
def doubles(ids):
    BATCHES.append(list(ids))
    return {i: 2 * i for i in ids}


def plain(x):
    return x
"""


def test_warm_fills_the_cache(
    capsys: pytest.CaptureFixture[str], tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "cli_warm_target.py").write_text(WARM_MODULE)
    monkeypatch.chdir(tmp_path)
    args = tmp_path / "args.jsonl"
    args.write_text(
        "".join(f"[{n}]\n" for n in range(20)) + '{"args": [3], "kwargs": {"offset": 1}}\n\n'
    )
    code, out, _ = run(
        capsys, "warm", URL, "cli_warm_target:square", "--args-file", str(args), "-n", "warm"
    )
    assert (code, out) == (0, "warmed cli_warm_target:square: 21 calls\n")
    assert len([key for namespace, key in SHARED if namespace == "warm"]) == 21
    import cli_warm_target  # type: ignore[import-not-found]

    cli_warm_target.CALLS.clear()
    assert cli_warm_target.square(7) == 49  # from the cache the command filled
    assert cli_warm_target.CALLS == []
    assert "TWAT_CACHE_URL" not in os.environ  # the environment is restored

    async_args = tmp_path / "async.jsonl"
    async_args.write_text("2\n3\n")
    code, out, _ = run(
        capsys, "warm", URL, "cli_warm_target:cube", "--args-file", str(async_args), "--json"
    )
    assert (code, json.loads(out)["calls"]) == (0, 2)

    args.write_text("[1]\n[-1]\n")
    code, out, err = run(
        capsys, "warm", URL, "cli_warm_target:square", "--args-file", str(args), "--json"
    )
    assert code == ExitCode.FAILED
    assert json.loads(out)["errors"] == ["ValueError: negative"]
    assert "1 of 2 calls" in err


def test_warm_uses_the_functions_warm(
    capsys: pytest.CaptureFixture[str], tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lines already cached are not called again; a batch function gets --batch-size ids a call."""
    (tmp_path / "cli_warm_batch.py").write_text(WARM_MODULE)
    monkeypatch.chdir(tmp_path)
    args = tmp_path / "args.jsonl"
    args.write_text("[1]\n[2]\n")
    target = ["--args-file", str(args), "-n", "warm-own", "--json"]
    code, out, _ = run(capsys, "warm", URL, "cli_warm_batch:square", *target)
    assert (code, json.loads(out)["warmed"]) == (0, 2)
    args.write_text("[1]\n[2]\n[3]\n")
    code, out, _ = run(capsys, "warm", URL, "cli_warm_batch:square", *target)
    assert {k: json.loads(out)[k] for k in ("calls", "warmed", "cached")} == {
        "calls": 3,
        "warmed": 1,
        "cached": 2,
    }
    import cli_warm_batch  # type: ignore[import-not-found]

    assert cli_warm_batch.CALLS == [1, 2, 3]  # 1 and 2 were not computed again

    args.write_text("".join(f"{n}\n" for n in range(5)))
    code, out, _ = run(capsys, "warm", URL, "cli_warm_batch:doubles", *target, "--batch-size", "2")
    assert (code, json.loads(out)["warmed"]) == (0, 5)
    assert cli_warm_batch.BATCHES == [[0, 1], [2, 3], [4]]

    code, _, err = run(capsys, "warm", URL, "cli_warm_batch:square", *target, "--batch-size", "2")
    assert code == ExitCode.USAGE
    assert "batch_size" in err
    code, _, err = run(capsys, "warm", URL, "cli_warm_batch:plain", *target)
    assert code == ExitCode.USAGE
    assert "not a cached function" in err
    code, _, err = run(capsys, "warm", URL, "cli_warm_batch:square", *target, "--batch-size", "0")
    assert (code, "--batch-size 0" in err) == (ExitCode.USAGE, True)


@pytest.mark.parametrize(
    ("line", "item"),
    [
        ('{"args": [3], "kwargs": {"offset": 1}}', (3, 1)),  # all fit positionally
        ('{"args": [3], "kwargs": {"scale": 2}}', {"x": 3, "scale": 2}),
        ('{"kwargs": {"x": 3}}', {"x": 3}),
        ("[3, 1]", (3, 1)),
    ],
)
def test_warm_items_key_as_the_calls_would(tmp_path: Any, line: str, item: Any) -> None:
    def square(x: int, offset: int = 0, *, scale: int = 1) -> int:
        return (x * x + offset) * scale

    (tmp_path / "a.jsonl").write_text(line + "\n")
    assert warm_item(square, read_calls(tmp_path / "a.jsonl")[0]) == item


def test_warm_items_that_cannot_be_given_by_keyword() -> None:
    def positional(x: int, /, y: int) -> int:
        return x + y

    assert warm_item(positional, ((1,), {"y": 2})) == (1, 2)  # all fit positionally
    with pytest.raises(UsageError, match="give every argument in args"):
        warm_item(lambda *xs, **kw: 0, ((1,), {"y": 2}))
    with pytest.raises(UsageError, match="missing a required argument"):
        warm_item(positional, ((1,), {"z": 2}))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["nomodule"], "give the function as module:function"),
        (["no_such_module_here:f"], "No module named"),
        (["json:nothing"], "has no attribute"),
        (["json:__doc__"], "is not a function"),
        (["json:dumps", "--concurrency", "0"], "--concurrency 0"),
        (["json:dumps", "--args-file", "missing.jsonl"], "No such file"),
        (["json:dumps", "--args-file", "bad.jsonl"], "line 1: not JSON"),
        (["json:dumps", "--args-file", "badargs.jsonl"], "args must be a list"),
    ],
)
def test_warm_bad_input(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "args.jsonl").write_text("[1]\n")
    (tmp_path / "bad.jsonl").write_text("{nope\n")
    (tmp_path / "badargs.jsonl").write_text('{"args": 1}\n')
    if "--args-file" not in argv:
        argv = [*argv, "--args-file", "args.jsonl"]
    code, _, err = run(capsys, "warm", URL, *argv)
    assert code == ExitCode.USAGE
    assert message in err


def test_warm_in_a_real_subprocess_against_redis(tmp_path: Any, redis_server: Any) -> None:
    (tmp_path / "cli_warm_sub.py").write_text(WARM_MODULE)
    (tmp_path / "args.jsonl").write_text("".join(f"[{n}]\n" for n in range(50)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWAT_CACHE_")}
    result = subprocess.run(
        [sys.executable, "-m", "twat_cache_cli", "warm", redis_server.url, "cli_warm_sub:square"]
        + ["--args-file", "args.jsonl", "--concurrency", "8", "-n", "cli-warm"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    with Cache(redis_server.url, namespace="cli-warm") as cache:
        assert len(list(cache.keys())) == 50
        cache.clear()


# -- profile -------------------------------------------------------------------------------------


def test_profile(
    capsys: pytest.CaptureFixture[str], tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "cli_profile_target.py").write_text(
        WARM_MODULE + "\n\ndef plain(x):\n    return x\n"
    )
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(
        capsys, "profile", "cli_profile_target:square", "7", "--url", URL, "--repeat", "3", "--json"
    )
    data = json.loads(out)
    assert code == 0
    assert set(data["hit"]) == {"key building", "engine read", "deserialization", "other"}
    assert "function" in data["miss"]
    assert data["hit_ms"] > 0
    assert data["miss_ms"] > 0
    assert "TWAT_CACHE_URL" not in os.environ
    code, out, _ = run(capsys, "profile", "cli_profile_target:cube", "2", "--url", URL)
    assert code == 0
    assert re.search(r"^miss +function +\d+\.\d{3}", out, re.MULTILINE)
    assert "█" in out
    code, out, _ = run(capsys, "profile", "cli_profile_target:square", "3", "--url", "builtin://")
    assert code == 0  # an in-process engine: no serialization
    code, _, err = run(capsys, "profile", "cli_profile_target:plain", "1")
    assert code == ExitCode.USAGE
    assert "is not a cached function" in err
    assert run(capsys, "profile", "cli_profile_target:square", "--repeat", "0")[0] == 2
    assert parse_argument("[1, 2]") == [1, 2]


# -- stats of every process: publish_stats, stats --watch, top ------------------------------

PUBLISHER = """
import sys
from twat_cache import Cache

url, namespace, hits = sys.argv[1], sys.argv[2], int(sys.argv[3])
cache = Cache(url, namespace=namespace, publish_stats=0.2)
cache.set("k", 1)
for _ in range(hits):
    cache.get("k")
cache.get("missing")
print("ready", flush=True)
sys.stdin.read()  # publishes until the test closes stdin
"""


@pytest.fixture
def publishers(redis_server: Any) -> Iterator[dict[str, int]]:
    """Two real processes publishing their figures every 0.2 s: ``{"host:pid": hits}``."""
    namespace = "cli-published"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWAT_CACHE_")}
    started: dict[str, int] = {}
    processes = []
    try:
        for hits in (5, 2):
            process = subprocess.Popen(  # noqa: S603 - our own interpreter and script
                [sys.executable, "-c", PUBLISHER, redis_server.url, namespace, str(hits)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env=env,
            )
            processes.append(process)
            assert process.stdout is not None
            assert process.stdout.readline() == "ready\n"
            started[f"{socket.gethostname()}:{process.pid}"] = hits
        with Cache(redis_server.url, namespace=namespace) as reader:
            # wait for the first publication after the work (each period rewrites the figures)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                seen = read_published(reader)
                if all(seen.get(name, {}).get("hits") == hits for name, hits in started.items()):
                    break
                time.sleep(0.05)
        yield started
    finally:
        for process in processes:
            assert process.stdin is not None
            process.stdin.close()
            process.wait(timeout=30)
            assert process.stdout is not None
            process.stdout.close()


def test_stats_shows_what_every_process_published(
    capsys: pytest.CaptureFixture[str], redis_server: Any, publishers: dict[str, int]
) -> None:
    url = redis_server.url
    code, out, err = run(capsys, "stats", url, "-n", "cli-published", "--json")
    assert (code, err) == (0, "")
    data = json.loads(out)
    assert data["engine"] == "redis"  # what stats showed before is still there
    shown = data["published"]
    assert set(shown) == {*publishers, "total"}
    for name, hits in publishers.items():
        assert (shown[name]["hits"], shown[name]["misses"], shown[name]["sets"]) == (hits, 1, 1)
        assert shown[name]["hit_ratio"] == pytest.approx(hits / (hits + 1))
    assert (shown["total"]["hits"], shown["total"]["misses"]) == (7, 2)

    code, out, _ = run(capsys, "stats", url, "-n", "cli-published")
    assert code == 0
    assert "engine:      redis" in out
    assert "published stats of namespace 'cli-published': 2 process(es)" in out
    table = {line.split()[0]: line.split() for line in out.splitlines() if line.strip()}
    for name, hits in publishers.items():
        assert table[name][1:5] == [str(hits), "1", f"{hits / (hits + 1):.1%}", "1"]
    assert table["total"][1:4] == ["7", "2", "77.8%"]


def test_stats_watch_and_top_refresh(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    redis_server: Any,
    publishers: dict[str, int],
) -> None:
    url = redis_server.url
    argv = ("-n", "cli-published", "--interval", "0.05", "--count", "2")
    code, out, _ = run(capsys, "stats", url, "--watch", *argv, "--json")
    assert code == 0
    documents = [json.loads(line) for line in out.splitlines()]
    assert [d["refresh"] for d in documents] == [1, 2]
    assert all(d["published"]["total"]["hits"] == 7 for d in documents)

    code, out, _ = run(capsys, "top", url, *argv)
    assert code == 0
    tables = out.split("\n\n")
    assert len(tables) == 2
    busiest = max(publishers, key=lambda name: publishers[name])
    for table in tables:
        names = [line.split()[0] for line in table.splitlines()[2:]]
        assert names == [busiest, *(n for n in publishers if n != busiest), "total"]

    monkeypatch.setenv("COLUMNS", "200")  # rich's width: one line per process
    code, out, _ = run(capsys, "top", url, *argv, "--color", "always")
    assert code == 0
    assert "refresh #2" in out
    assert "\x1b[" in out  # drawn by rich, in place
    plain = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", out)
    assert re.search(r"total\W+7\W+2\W+77\.8%", plain)


def test_published_stats_need_a_key_listing(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "stats", "cli-unlistable://", "--json")
    assert code == 0
    assert json.loads(out)["published"] is None
    code, _, err = run(capsys, "top", "cli-unlistable://", "--count", "1")
    assert code == ExitCode.FAILED
    assert "cannot list its keys" in err
    code, _, err = run(capsys, "top", URL, "--count", "0")
    assert code == ExitCode.USAGE
    assert "not a positive integer" in err


# -- the recorded sessions of docs/cli.md ---------------------------------------------------------


def _cast_output(path: Path) -> str:
    """What a cast shows, numbers masked (timings, pids, sizes, versions differ by machine)."""
    header, *events = path.read_text(encoding="utf-8").splitlines()
    assert json.loads(header)["version"] == 2  # asciinema v2
    text = "".join(json.loads(event)[2] for event in events)
    return re.sub(r"\d+", "0", text)


def _lines(text: str) -> list[str]:
    """The lines in order of their text: get_stats() lists caches in no fixed order."""
    return sorted(text.splitlines())


def test_recorded_sessions_are_current(tmp_path: Any) -> None:
    from twat_cache_cli.reference import CASTS

    root = Path(__file__).resolve().parents[3]
    result = subprocess.run(
        [sys.executable, str(root / "tools" / "casts.py"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for name in CASTS:
        recorded = _cast_output(tmp_path / f"{name}.cast")
        # regenerate with: bash tools/casts
        assert _lines(recorded) == _lines(_cast_output(root / "docs" / "casts" / f"{name}.cast"))
        assert "Traceback" not in recorded
    tour = _cast_output(tmp_path / "cli-tour.cast")
    assert '{"name": "Ada"}' in tour
    assert "server version:   diskcache" in tour
    migrated = _cast_output(tmp_path / "migrate.cast")
    assert "(ttl: kept)" in migrated
    assert "ttl distribution: 0-0 min 0, 0-0 h 0" in migrated  # the TTLs came along to Redis
    player = root / "docs" / "assets" / "asciinema-player"
    assert (player / "asciinema-player.min.js").stat().st_size > 100_000
    assert (player / "asciinema-player.css").exists()
    page = (root / "docs" / "user-guide" / "cli.md").read_text(encoding="utf-8")
    assert "://" not in page.split("## Options of every command")[0].replace("disk://", "")
