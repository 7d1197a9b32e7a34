"""The commands: each opens the cache named by a URL, does one thing, and says how it went.

Every cache is opened with ``strict=True``: the library is fail-open (a dead
server looks like an empty cache), which would make an operator's ``get`` print
"not found" for a server that is down. Here a failure is an error with its own exit code.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import secrets
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from typing import Any

from twat_cache import Cache, CacheOptions
from twat_cache.config import CacheConfig
from twat_cache.exceptions import BackendError, CacheOperationError, TwatCacheError
from twat_cache.registry import engine_class, known_engines
from twat_cache.urls import redact

from twat_cache_cli.engines import engine_rows
from twat_cache_cli.entries import describe
from twat_cache_cli.outcome import CommandError, ExitCode, UsageError
from twat_cache_cli.reply import Reply
from twat_cache_cli.values import format_key, format_value, parse_value

__all__ = [
    "COMMANDS",
    "cache_url",
    "open_cache",
    "resolve_url",
    "secret_from_env",
    "serializer_name",
    "stats_fields",
]

URL_VARIABLE = "TWAT_CACHE_URL"
PING_TTL = 30.0  # the ping entry expires by itself if its delete never arrives
LISTING_BATCH = 500  # keys read back per get_many when keys leaves out stale entries

Command = Callable[[argparse.Namespace, Reply], int]


def _looks_like_url(text: object) -> bool:
    return isinstance(text, str) and "://" in text


def resolve_url(args: argparse.Namespace) -> None:
    """Decide which positional is the URL, and name a missing argument.

    ``get URL`` parses as ``get KEY`` with the URL left out; when there is no
    ``$TWAT_CACHE_URL`` and the first positional is a URL, the user gave the URL
    and left out the last argument, which the error then names.

    Raises:
        UsageError: naming the missing argument, or saying that no URL was given.
    """
    if not hasattr(args, "url") or args.url or os.environ.get(URL_VARIABLE):
        return
    if getattr(args, "optional_url", False):  # doctor: the URL is optional
        return
    names: tuple[tuple[str, str], ...] = getattr(args, "positionals", ())
    if names and _looks_like_url(_first(getattr(args, names[0][0]))):
        raise UsageError(
            f"{args.command}: the following argument is missing: {names[-1][1].rstrip('.')} "
            f"(after the URL {redact(_first(getattr(args, names[0][0])))})"
        )
    raise UsageError(
        f"{args.command}: no cache URL: give one (e.g. redis://host:6379/0) or set {URL_VARIABLE}"
    )


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else value


def cache_url(args: argparse.Namespace) -> str:
    """Return the URL given on the command line, else ``$TWAT_CACHE_URL``.

    Raises:
        UsageError: when there is neither.
    """
    resolve_url(args)
    url: str = args.url or os.environ[URL_VARIABLE]
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


def check_scheme(url: str) -> None:
    """Refuse a URL whose scheme no engine serves, listing what is installed and what can be.

    Raises:
        CommandError: with :attr:`ExitCode.ENGINE_MISSING` for an unknown scheme.
    """
    scheme = url.partition("://")[0].lower()
    records = known_engines()
    if "://" not in url or any(record.scheme == scheme for record in records):
        return  # not a URL (core says why), an installed engine, or one core names the package of
    installed = ", ".join(sorted(r.scheme for r in records if r.installed))
    others = "; ".join(
        f"{r.scheme} ({r.install_command})"
        for r in sorted(records, key=lambda r: r.scheme)
        if not r.installed
    )
    message = f"no engine serves {scheme}:// here; installed engines: {installed}"
    if others:
        message += f"; installable: {others}"
    raise CommandError(message, ExitCode.ENGINE_MISSING)


@contextmanager
def open_cache(args: argparse.Namespace, url: str | None = None) -> Iterator[Cache]:
    """Open the cache the command line names (strict: failures raise), and close it after."""
    url = url or cache_url(args)
    check_scheme(url)
    options: CacheOptions = {"strict": True}
    if getattr(args, "namespace", None) is not None:
        options["namespace"] = args.namespace
    if getattr(args, "serializer", None) is not None:
        options["serializer"] = args.serializer
    secret = secret_from_env(args)
    if secret is not None:
        options["secret"] = secret
    cache = Cache(url, **options)
    try:
        yield cache
    finally:
        cache.close()


def serializer_name(config: CacheConfig) -> str:
    """The configured serializer's name (``pickle``, ``json``...), also of an instance."""
    return config.serializer_name


def where(cache: Cache) -> str:
    """The cache's URL (password masked) and namespace, as messages name it."""
    return f"{redact(cache.config.url or '')} (namespace {cache.config.namespace!r})"


def _place(cache: Cache) -> dict[str, Any]:
    return {"url": redact(cache.config.url or ""), "namespace": cache.config.namespace}


_ABSENT = object()  # the default of `get`: a stored None is a value, printed as null


def listed_keys(cache: Cache) -> Generator[Any, None, None]:
    """The namespace's keys; an engine without a key listing raises CacheOperationError."""
    try:
        yield from cache.keys()
    except TwatCacheError as exc:  # strict mode wraps what the engine raised
        if isinstance(exc.__cause__, NotImplementedError):
            raise CacheOperationError(
                f"the {cache.config.engine} engine cannot list its keys"
            ) from None
        raise


def live_keys(cache: Cache) -> Generator[Any, None, None]:
    """The keys whose entries a ``get`` would return: expired and tag-invalidated ones left out.

    The listing is read back in batches with ``get_many``, which applies the
    same checks (TTL, tag versions, format header) as any read.
    """
    batch: list[Any] = []
    keys = listed_keys(cache)
    try:
        for key in keys:
            batch.append(key)
            if len(batch) >= LISTING_BATCH:
                yield from _present(cache, batch)
                batch = []
        yield from _present(cache, batch)
    finally:
        keys.close()  # ends the engine's scan before the cache closes


def _present(cache: Cache, batch: list[Any]) -> Iterator[Any]:
    if not batch:
        return
    found = cache.get_many(batch)
    yield from (key for key in batch if key in found)


def cmd_engines(args: argparse.Namespace, reply: Reply) -> int:
    """Print which engine serves each URL scheme, from which package, and what to install."""
    rows = engine_rows(installed_only=args.installed)
    data = {
        "engines": [
            {
                "scheme": row.scheme,
                "package": row.package,
                "engine": row.engine,
                "installed": row.installed,
                "ok": row.ok,
            }
            for row in rows
        ]
    }
    reply.table(
        data,
        ("SCHEME", "PACKAGE", "ENGINE"),
        [
            (row.scheme, row.package, row.engine if row.ok else f"BROKEN: {row.engine}")
            for row in rows
        ],
    )
    return ExitCode.OK


def cmd_ping(args: argparse.Namespace, reply: Reply) -> int:
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
            raise CommandError(f"{where(cache)}: wrote a ping entry but read back {found!r}")
        steps = {
            "set_ms": (written - started) * 1000,
            "get_ms": (read - written) * 1000,
            "delete_ms": (deleted - read) * 1000,
        }
        reply.document(
            {"ok": True, **_place(cache), **steps},
            f"ok {where(cache)}: set {steps['set_ms']:.2f} ms, "
            f"get {steps['get_ms']:.2f} ms, delete {steps['delete_ms']:.2f} ms",
        )
    return ExitCode.OK


def raw_entries(cache: Cache, keys: list[Any]) -> dict[Any, bytes]:
    """Read the stored bytes of ``keys`` straight from the engine (nothing is decoded).

    Raises:
        BackendError: when the engine fails, with its exception as ``__cause__``.
    """
    try:
        return dict(cache.backend.get_many(keys))
    except Exception as exc:  # any client exception is a backend failure, as in core
        raise BackendError(f"{where(cache)}: reading entries failed: {exc}") from exc


def _refuse_unsigned_pickle(cache: Cache, key: str, raw: bytes) -> None:
    frame = describe(raw)
    # a json or msgpack cache never unpickles (core rejects the frame): nothing to refuse
    unchecked = serializer_name(cache.config) == "pickle" and cache.config.secret is None
    if frame.format == "pickle" and cache.capabilities.shared and unchecked:
        raise CommandError(
            f"the entry under {key!r} is {'signed ' if frame.signed else ''}pickle from shared "
            "storage and no secret is given to check it: unpickling runs whatever its writer "
            "put in it; give --secret-env VAR, look at the bytes with --raw, or pass "
            "--unsafe-unpickle if you trust every writer",
            ExitCode.REFUSED,
        )


def cmd_get(args: argparse.Namespace, reply: Reply) -> int:
    """Print the value under KEY (``--raw``: the stored bytes)."""
    with open_cache(args) as cache:
        if not cache.capabilities.stores_objects and (args.raw or not args.unsafe_unpickle):
            raw = raw_entries(cache, [args.key]).get(args.key)
            if raw is None:
                raise CommandError(f"{args.key!r} not found in {where(cache)}", ExitCode.NOT_FOUND)
            if args.raw:
                _write_raw(reply, args.key, raw)
                return ExitCode.OK
            _refuse_unsigned_pickle(cache, args.key, raw)
        elif args.raw:
            raise UsageError(f"--raw: the {cache.config.engine} engine keeps objects, not bytes")
        value = cache.get(args.key, _ABSENT)
        if value is _ABSENT:
            if cache.stats.corrupt:
                raise CommandError(
                    f"the entry under {args.key!r} cannot be read: corrupt, written with "
                    "another serializer, or signed with another secret (see --debug)"
                )
            raise CommandError(f"{args.key!r} not found in {where(cache)}", ExitCode.NOT_FOUND)
    reply.document({"key": args.key, "value": value}, format_value(value))
    return ExitCode.OK


def _write_raw(reply: Reply, key: str, raw: bytes) -> None:
    if reply.json_mode:
        reply.document({"key": key, "raw": raw, "frame": describe(raw).label})
        return
    stream = reply.stdout
    binary = getattr(stream, "buffer", None)
    if binary is None:  # a text-only stream (captured output): the bytes' repr
        stream.write(repr(raw) + "\n")
        return
    stream.flush()
    binary.write(raw)
    binary.flush()


def cmd_set(args: argparse.Namespace, reply: Reply) -> int:
    """Store VALUE under KEY (a string, or JSON with ``--json``)."""
    value = parse_value(args.value, as_json=getattr(args, "json", False))
    with open_cache(args) as cache:
        if args.ttl is None:
            stored = cache.set(args.key, value)
        else:
            stored = cache.set(args.key, value, ttl=args.ttl)
    if not stored:
        raise CommandError(f"the engine declined to store {args.key!r} (too large?)")
    reply.document({"key": args.key, "stored": True, "ttl": args.ttl})
    return ExitCode.OK


def cmd_delete(args: argparse.Namespace, reply: Reply) -> int:
    """Remove each KEY; exit 4 when any of them was absent."""
    deleted: list[str] = []
    missing: list[str] = []
    with open_cache(args) as cache:
        for key in args.key:
            (deleted if cache.delete(key) else missing).append(key)
        place = where(cache)
    if missing:
        raise CommandError(
            f"{', '.join(map(repr, missing))} not found in {place}",
            ExitCode.NOT_FOUND,
            deleted=deleted,
            missing=missing,
        )
    reply.document({"deleted": deleted, "missing": missing})
    return ExitCode.OK


def cmd_incr(args: argparse.Namespace, reply: Reply) -> int:
    """Add ``--by`` to the integer under KEY atomically and print the result."""
    with open_cache(args) as cache:
        try:
            value = cache.incr(args.key, args.by)
        except TypeError:
            raise CommandError(
                f"the value under {args.key!r} is not an integer "
                "(store counters with: set --json KEY 0)"
            ) from None
        except ValueError as exc:  # absent (incr never creates a key), or refused by the engine
            if args.key in cache:  # e.g. Redis refusing to overflow 64 bits
                raise CommandError(str(exc)) from None
            raise CommandError(
                f"{args.key!r} not found in {where(cache)} (incr does not create keys)",
                ExitCode.NOT_FOUND,
            ) from None
    reply.document({"key": args.key, "value": value}, str(value))
    return ExitCode.OK


def cmd_keys(args: argparse.Namespace, reply: Reply) -> int:
    """Print the namespace's live keys, one a line (JSON lines with ``--json``)."""
    if args.limit < 0:
        raise UsageError(f"--limit {args.limit}: give a number of keys >= 0 (0: all)")
    pattern: str | None = args.pattern
    with open_cache(args) as cache:
        keys = live_keys(cache)
        try:
            matching = (
                key
                for key in keys
                if pattern is None or fnmatch.fnmatchcase(format_key(key), pattern)
            )
            for shown, key in enumerate(matching):
                if shown == args.limit > 0:  # one key past the limit: say there are more
                    reply.note(f"more than {args.limit} keys; --limit 0 lists them all")
                    break
                reply.item({"key": key}, format_key(key))
        finally:
            keys.close()
    return ExitCode.OK


def cmd_invalidate_tag(args: argparse.Namespace, reply: Reply) -> int:
    """Make every entry written under any TAG a miss, in every process."""
    with open_cache(args) as cache:
        cache.invalidate_tags(*args.tag)
        place = where(cache)
    reply.document(
        {"invalidated": args.tag},
        f"invalidated {', '.join(map(repr, args.tag))} in {place}",
    )
    return ExitCode.OK


def cmd_clear(args: argparse.Namespace, reply: Reply) -> int:
    """Remove every entry of the namespace (only with ``--yes``)."""
    with open_cache(args) as cache:
        place = where(cache)
        if not args.yes:
            raise CommandError(
                f"refusing to clear {place} without --yes; clear removes this namespace's "
                "entries only, nothing outside it",
                ExitCode.REFUSED,
            )
        cache.clear()
        data = {"cleared": True, **_place(cache)}
    reply.document(data, f"cleared {place}; entries outside the namespace are untouched")
    return ExitCode.OK


def stats_fields(cache: Cache) -> tuple[dict[str, Any], dict[str, str]]:
    """The engine, namespace, settings and number of keys: ``(json data, text lines)``."""
    config = cache.config
    cls = engine_class(config.engine)
    count: int | None
    try:
        # listed, not read back: entries another serializer or secret wrote count too
        count = sum(1 for _ in listed_keys(cache))
        shown = str(count)
    except CacheOperationError as exc:  # memcached: no key listing
        count, shown = None, f"not listed: {exc}"
    data = {
        **_place(cache),
        "engine": config.engine,
        "engine_class": f"{cls.__module__}.{cls.__qualname__}",
        "serializer": serializer_name(config),
        "compressed": bool(config.compress),
        "signed": config.secret is not None,
        "default_ttl": config.ttl,
        "keys": count,
    }
    lines = {
        "url": data["url"],
        "engine": f"{config.engine} ({data['engine_class']})",
        "namespace": config.namespace,
        "serializer": serializer_name(config) + (", compressed" if config.compress else ""),
        "signed": "yes (HMAC-SHA256)" if config.secret is not None else "no",
        "default ttl": "none" if config.ttl is None else f"{config.ttl:g} s",
        "keys": shown,
    }
    return data, lines


COMMANDS: dict[str, Command] = {
    "engines": cmd_engines,
    "ping": cmd_ping,
    "get": cmd_get,
    "set": cmd_set,
    "delete": cmd_delete,
    "incr": cmd_incr,
    "keys": cmd_keys,
    "invalidate-tag": cmd_invalidate_tag,
    "clear": cmd_clear,
}
