"""``info`` and ``doctor``: what a cache holds, and whether the setup around it is sound.

``info`` reads stored entries as bytes (their format header and size, never their
value), so it works on any cache whatever its serializer or secret, and never
unpickles. On a large namespace it reads a random sample and scales the totals.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import platform
import secrets
from collections import Counter
from dataclasses import asdict
from typing import Any

from twat_cache import __version__ as core_version
from twat_cache.adapters import server_version_of
from twat_cache.exceptions import CacheOperationError, TwatCacheError
from twat_cache.registry import known_engines
from twat_cache.urls import redact

from twat_cache_cli.commands import (
    URL_VARIABLE,
    cache_url,
    cmd_ping,
    listed_keys,
    open_cache,
    raw_entries,
    serializer_name,
    where,
)
from twat_cache_cli.engines import engine_rows
from twat_cache_cli.entries import describe
from twat_cache_cli.lifetimes import AGE_NOTE, lifetimes, ttl_text
from twat_cache_cli.outcome import ExitCode, UsageError, classify
from twat_cache_cli.reply import Reply
from twat_cache_cli.values import format_key

__all__ = ["cmd_doctor", "cmd_info"]

logger = logging.getLogger("twat_cache")

READ_BATCH = 500  # entries read per get_many
LARGEST = 5  # entries listed by size


def _group(key: str) -> str:
    """A decorated function's keys are ``module.function:digest``; plain keys group by prefix."""
    return key.rsplit(":", 1)[0] if ":" in key else "(no prefix)"


def _human_bytes(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"  # pragma: no cover - the loop returns


def cmd_info(args: argparse.Namespace, reply: Reply) -> int:
    """Print the engine, its settings and what the namespace holds (count, bytes, formats)."""
    if args.sample < 1:
        raise UsageError(f"--sample {args.sample}: give a number of entries >= 1")
    with open_cache(args) as cache:
        config, capabilities = cache.config, cache.capabilities
        record = next((r for r in known_engines() if r.scheme == config.engine), None)
        data: dict[str, Any] = {
            "url": where(cache).rsplit(" (namespace", 1)[0],
            "namespace": config.namespace,
            "engine": config.engine,
            "package": record.distribution if record else None,
            "package_version": record.version if record else None,
            "server_version": _server_version(cache),
            "serializer": serializer_name(config),
            "signed": config.secret is not None,
            "default_ttl": config.ttl,
            "capabilities": asdict(capabilities),
            "ttl_distribution": None,  # set below when the engine reports expiry times
            "expiring_first": None,
            "expiring_last": None,
        }
        try:
            keys = [key for key in listed_keys(cache) if isinstance(key, str)]
        except CacheOperationError:  # memcached: no key listing
            data["entries"] = None
        else:
            data.update(_contents(cache, keys, args.sample))
    shown = {
        "url": data["url"],
        "engine": f"{data['engine']} ({data['package'] or 'registered at run time'}"
        f"{' ' + data['package_version'] if data['package_version'] else ''})",
        "namespace": data["namespace"],
        "server version": data["server_version"] or "unknown",
        "serializer": data["serializer"] + (", signed" if data["signed"] else ", unsigned"),
        "default ttl": "none" if config.ttl is None else f"{config.ttl:g} s",
        "entries": "not listed (the engine cannot list keys)"
        if data["entries"] is None
        else str(data["entries"]),
    }
    if data["entries"]:
        estimated = " (estimated from a sample)" if data["sampled"] else ""
        shown["total size"] = _human_bytes(data["total_bytes"]) + estimated
        shown["formats"] = ", ".join(f"{name} {count}" for name, count in data["formats"].items())
        shown["largest"] = ", ".join(
            f"{format_key(entry['key'])} ({_human_bytes(entry['bytes'])})"
            for entry in data["largest"]
        )
        shown["key groups"] = ", ".join(
            f"{name} {count}" for name, count in list(data["groups"].items())[:5]
        )
    if data["ttl_distribution"] is not None:
        shown["ttl distribution"] = (
            ", ".join(f"{name} {count}" for name, count in data["ttl_distribution"].items())
            or "no entries"
        )
        for field in ("expiring_first", "expiring_last"):
            shown[field.replace("_", " ")] = (
                ", ".join(
                    f"{format_key(entry['key'])} (in {ttl_text(entry['ttl'])})"
                    for entry in data[field]
                )
                or "none (no entry expires)"
            )
        shown["oldest/newest"] = AGE_NOTE
    elif data["entries"] is not None:
        shown["ttl distribution"] = f"not available ({config.engine} does not report expiry times)"
    reply.fields(data, shown)
    return ExitCode.OK


def _server_version(cache: Any) -> str | None:
    """The engine's ``server_version()`` (None: unknown, or the engine failed to tell)."""
    try:
        return server_version_of(cache.backend)
    except Exception as exc:  # informational: the rest of info still answers
        logger.debug("server version of %s: %s", where(cache), exc)
        return None


def _contents(cache: Any, keys: list[str], sample_size: int) -> dict[str, Any]:
    """Count, size and formats of the entries under ``keys`` (a random sample when many)."""
    sample = keys if len(keys) <= sample_size else secrets.SystemRandom().sample(keys, sample_size)
    sizes: dict[str, int] = {}
    formats: Counter[str] = Counter()
    if not cache.capabilities.stores_objects:
        for start in range(0, len(sample), READ_BATCH):
            for key, raw in raw_entries(cache, sample[start : start + READ_BATCH]).items():
                frame = describe(raw)
                sizes[key] = frame.size
                formats[frame.label] += 1
    scale = len(keys) / len(sample) if sample else 0.0
    largest = sorted(sizes.items(), key=lambda item: -item[1])[:LARGEST]
    expiry = lifetimes(cache, sample)
    return {
        "ttl_distribution": None if expiry is None else expiry["histogram"],
        "expiring_first": None if expiry is None else expiry["expiring_first"],
        "expiring_last": None if expiry is None else expiry["expiring_last"],
        "entries": len(keys),
        "sampled": len(sample) < len(keys),
        "total_bytes": round(sum(sizes.values()) * scale),
        "formats": dict(formats.most_common()),
        "largest": [{"key": key, "bytes": size} for key, size in largest],
        "groups": dict(Counter(_group(key) for key in keys).most_common()),
    }


def _settings_warnings(cache: Any) -> list[tuple[str, str, str]]:
    config, capabilities = cache.config, cache.capabilities
    found = []
    if capabilities.shared and serializer_name(config) == "pickle" and config.secret is None:
        found.append(
            (
                "warn",
                "unsigned pickle",
                "a shared cache of unsigned pickle entries lets anyone who can write to the "
                "server run code in every reader: set TWAT_CACHE_SECRET (or use json/msgpack)",
            )
        )
    if capabilities.shared and config.ttl is None:
        found.append(
            (
                "warn",
                "no default ttl",
                "entries live until deleted or evicted; a server without an eviction policy "
                "(Redis maxmemory-policy noeviction, a database) fills up: set TWAT_CACHE_TTL",
            )
        )
    if not capabilities.shared:
        found.append(
            (
                "warn",
                "in-process engine",
                f"{config.engine} lives inside one process: from the command line it is empty",
            )
        )
    if capabilities.max_value_size is not None:
        found.append(("ok", "value size limit", f"{capabilities.max_value_size} bytes"))
    return found


def cmd_doctor(args: argparse.Namespace, reply: Reply) -> int:
    """Check the installed engines, and (given a URL) connectivity and risky settings."""
    checks: list[tuple[str, str, str]] = [
        ("ok", "python", platform.python_version()),
        ("ok", "twat-cache", core_version),
    ]
    for row in engine_rows(installed_only=True):
        checks.append(("ok" if row.ok else "fail", f"engine {row.scheme}", row.package))
    code = ExitCode.OK
    if args.url or os.environ.get(URL_VARIABLE):
        quiet = Reply(json_mode=True, stdout=io.StringIO(), stderr=io.StringIO())
        try:
            cmd_ping(args, quiet)
            with open_cache(args) as cache:
                checks.append(("ok", "connection", f"{where(cache)}: set, get, delete work"))
                checks.extend(_settings_warnings(cache))
        except (TwatCacheError, UsageError) as exc:
            code = classify(exc)
            checks.append(("fail", "connection", f"{_url_text(args)}: {exc}".splitlines()[0]))
    if code == ExitCode.OK and any(status == "fail" for status, _, _ in checks):
        code = ExitCode.FAILED
    data = {
        "ok": code == ExitCode.OK,
        "checks": [
            {"status": status, "check": name, "detail": detail} for status, name, detail in checks
        ],
    }
    reply.table(data, ("STATUS", "CHECK", "DETAIL"), checks)
    return code


def _url_text(args: argparse.Namespace) -> str:
    try:
        return redact(cache_url(args))
    except UsageError:  # pragma: no cover - doctor runs this only with a URL
        return "(no URL)"
