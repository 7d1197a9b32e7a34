"""The commands: each opens the cache named by a URL, does one thing, and says how it went.

Every cache is opened with ``strict=True``: the library is fail-open (a dead
server looks like an empty cache), which would make an operator's ``get`` print
"not found" for a server that is down. Here a failure is an error with exit code 1.
"""

from __future__ import annotations

import argparse
import enum
import os
import secrets
import sys
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from typing import Any

from twat_cache import Cache, CacheOptions
from twat_cache.exceptions import CacheOperationError
from twat_cache.registry import engine_class
from twat_cache.urls import redact

from twat_cache_cli.engines import engine_rows
from twat_cache_cli.values import format_key, format_value, parse_value

__all__ = ["COMMANDS", "ExitCode", "UsageError", "cache_url", "secret_from_env"]

URL_VARIABLE = "TWAT_CACHE_URL"
PING_TTL = 30.0  # the ping entry expires by itself if its delete never arrives


class ExitCode(enum.IntEnum):
    """The exit status of ``twat-cache``."""

    OK = 0
    """The command did what it was asked."""
    FAILED = 1
    """The backend failed or refused the operation (down, timeout, not an integer, cannot list)."""
    USAGE = 2
    """A bad command line, URL or option (ConfigurationError)."""
    ENGINE_MISSING = 3
    """The URL's engine is not installed (EngineNotAvailableError): the message says what to add."""
    NOT_FOUND = 4
    """``get``, ``delete`` or ``incr``: the key is absent."""
    INTERRUPTED = 130
    """Interrupted by Ctrl-C (128 + SIGINT, as shells report it)."""


class UsageError(Exception):
    """The command line is incomplete in a way argparse cannot see (exit code 2)."""


def cache_url(args: argparse.Namespace) -> str:
    """Return the URL given on the command line, else ``$TWAT_CACHE_URL``.

    Raises:
        UsageError: when there is neither.
    """
    url: str | None = args.url or os.environ.get(URL_VARIABLE) or None
    if url is None:
        raise UsageError(f"no cache URL: give one (e.g. redis://host:6379/0) or set {URL_VARIABLE}")
    return url


def secret_from_env(args: argparse.Namespace) -> str | None:
    """Return the HMAC secret from the variable ``--secret-env`` names (never from argv).

    Raises:
        UsageError: when the variable is unset or empty.
    """
    variable: str | None = getattr(args, "secret_env", None)
    if variable is None:
        return None
    value = os.environ.get(variable)
    if not value:
        raise UsageError(f"--secret-env {variable}: the environment variable is not set or empty")
    return value


@contextmanager
def open_cache(args: argparse.Namespace) -> Iterator[Cache]:
    """Open the cache the command line names (strict: failures raise), and close it after."""
    options: CacheOptions = {"strict": True}
    if getattr(args, "namespace", None) is not None:
        options["namespace"] = args.namespace
    if getattr(args, "serializer", None) is not None:
        options["serializer"] = args.serializer
    secret = secret_from_env(args)
    if secret is not None:
        options["secret"] = secret
    cache = Cache(cache_url(args), **options)
    try:
        yield cache
    finally:
        cache.close()


def _out(text: str) -> None:
    print(text, file=sys.stdout)


def _err(text: str) -> None:
    print(f"twat-cache: {text}", file=sys.stderr)


def _where(cache: Cache) -> str:
    return f"{redact(cache.config.url or '')} (namespace {cache.config.namespace!r})"


_ABSENT = object()  # get's default: a stored None is a value, printed as null


def _listed_keys(cache: Cache) -> Generator[Any, None, None]:
    """The namespace's keys; an engine without a key listing raises CacheOperationError."""
    try:
        yield from cache.keys()
    except NotImplementedError:  # an engine that leaves BaseBackend.keys as it is
        raise CacheOperationError(
            f"the {cache.config.engine} engine cannot list its keys"
        ) from None


def cmd_engines(args: argparse.Namespace) -> int:
    """Print which engine serves each URL scheme, from which package, and what to install."""
    table = [("SCHEME", "PACKAGE", "ENGINE")] + [
        (row.scheme, row.package, row.engine if row.ok else f"BROKEN: {row.engine}")
        for row in engine_rows(installed_only=args.installed)
    ]
    widths = [max(len(line[column]) for line in table) for column in (0, 1)]
    for scheme, package, engine in table:
        _out(f"{scheme:<{widths[0]}}  {package:<{widths[1]}}  {engine}")
    return ExitCode.OK


def cmd_ping(args: argparse.Namespace) -> int:
    """Write, read back and delete a private key; print each step's latency."""
    with open_cache(args) as cache:
        key = f"twat-cache-cli:ping:{secrets.token_hex(8)}"
        token = secrets.token_hex(8)
        started = time.perf_counter()
        cache.set(key, token, ttl=PING_TTL)
        written = time.perf_counter()
        found = cache.get(key)
        read = time.perf_counter()
        cache.delete(key)
        deleted = time.perf_counter()
        if found != token:
            _err(f"error: {_where(cache)}: wrote a ping entry but read back {found!r}")
            return ExitCode.FAILED
        _out(
            f"ok {_where(cache)}: set {(written - started) * 1000:.2f} ms, "
            f"get {(read - written) * 1000:.2f} ms, delete {(deleted - read) * 1000:.2f} ms"
        )
    return ExitCode.OK


def cmd_get(args: argparse.Namespace) -> int:
    """Print the value under KEY."""
    with open_cache(args) as cache:
        value = cache.get(args.key, _ABSENT)
        if value is _ABSENT:
            if cache.stats.corrupt:
                _err(
                    f"error: the entry under {args.key!r} cannot be read: corrupt, written with "
                    "another serializer, or signed with another secret (see --debug)"
                )
                return ExitCode.FAILED
            _err(f"{args.key!r} not found in {_where(cache)}")
            return ExitCode.NOT_FOUND
    _out(format_value(value))
    return ExitCode.OK


def cmd_set(args: argparse.Namespace) -> int:
    """Store VALUE under KEY (a string, or JSON with ``--json``)."""
    value = parse_value(args.value, as_json=args.json)
    with open_cache(args) as cache:
        if args.ttl is None:
            cache.set(args.key, value)
        else:
            cache.set(args.key, value, ttl=args.ttl)
    return ExitCode.OK


def cmd_delete(args: argparse.Namespace) -> int:
    """Remove KEY."""
    with open_cache(args) as cache:
        if not cache.delete(args.key):
            _err(f"{args.key!r} not found in {_where(cache)}")
            return ExitCode.NOT_FOUND
    return ExitCode.OK


def cmd_incr(args: argparse.Namespace) -> int:
    """Add ``--by`` to the integer under KEY atomically and print the result."""
    with open_cache(args) as cache:
        try:
            value = cache.incr(args.key, args.by)
        except TypeError:
            _err(
                f"error: the value under {args.key!r} is not an integer "
                "(store counters with: set --json KEY 0)"
            )
            return ExitCode.FAILED
        except ValueError as exc:  # absent (incr never creates a key), or refused by the engine
            if args.key in cache:  # e.g. Redis refusing to overflow 64 bits
                _err(f"error: {exc}")
                return ExitCode.FAILED
            _err(f"{args.key!r} not found in {_where(cache)} (incr does not create keys)")
            return ExitCode.NOT_FOUND
    _out(str(value))
    return ExitCode.OK


def cmd_keys(args: argparse.Namespace) -> int:
    """Print the namespace's keys, one a line, at most ``--limit`` of them."""
    if args.limit < 0:
        raise UsageError(f"--limit {args.limit}: give a number of keys >= 0 (0: all)")
    with open_cache(args) as cache:
        keys = _listed_keys(cache)
        try:
            for shown, key in enumerate(keys):
                if shown == args.limit > 0:  # one key past the limit: say there are more
                    _err(f"more than {args.limit} keys; --limit 0 lists them all")
                    break
                _out(format_key(key))
        finally:
            keys.close()  # ends the engine's scan before the cache closes
    return ExitCode.OK


def cmd_clear(args: argparse.Namespace) -> int:
    """Remove every entry of the namespace (only with ``--yes``)."""
    with open_cache(args) as cache:
        where = _where(cache)
        if not args.yes:
            _err(
                f"refusing to clear {where} without --yes; clear removes this namespace's "
                "entries only, nothing outside it"
            )
            return ExitCode.USAGE
        cache.clear()
    _out(f"cleared {where}; entries outside the namespace are untouched")
    return ExitCode.OK


def cmd_stats(args: argparse.Namespace) -> int:
    """Print the engine, namespace and settings, and the number of keys where it can be listed."""
    with open_cache(args) as cache:
        config = cache.config
        cls = engine_class(config.engine)
        try:
            count = str(sum(1 for _ in _listed_keys(cache)))
        except CacheOperationError as exc:  # memcached: no key listing
            count = f"not listed: {exc}"
        lines = {
            "url": redact(config.url or ""),
            "engine": f"{config.engine} ({cls.__module__}.{cls.__qualname__})",
            "namespace": config.namespace,
            "serializer": config.serializer_name + (", compressed" if config.compress else ""),
            "signed": "yes (HMAC-SHA256)" if config.secret is not None else "no",
            "default ttl": "none" if config.ttl is None else f"{config.ttl:g} s",
            "keys": count,
        }
    width = max(map(len, lines)) + 1
    for name, text in lines.items():
        _out(f"{name + ':':<{width}} {text}")
    return ExitCode.OK


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "engines": cmd_engines,
    "ping": cmd_ping,
    "get": cmd_get,
    "set": cmd_set,
    "delete": cmd_delete,
    "incr": cmd_incr,
    "keys": cmd_keys,
    "clear": cmd_clear,
    "stats": cmd_stats,
}
