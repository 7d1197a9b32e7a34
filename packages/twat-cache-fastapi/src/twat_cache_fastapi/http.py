"""HTTP caching rules shared by the route decorator and the middleware (no I/O here).

What may be read from the cache, what may be stored, the key of a request and the
validators (``ETag``, ``Cache-Control``) a cached response carries.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import parse_qsl

from starlette.responses import Response

SAFE_METHODS = frozenset({"GET", "HEAD"})
"""Only these methods are answered from the cache."""

DEFAULT_STATUSES = frozenset({200, 203, 204, 300, 301, 404, 410})
"""The status codes cached by default (RFC 9111's "heuristically cacheable" set, minus
those whose body depends on the request: 206, 405, 414, 501)."""

# headers of one connection or one moment, never replayed from the cache
_NOT_STORED = frozenset({"content-length", "date", "connection", "transfer-encoding", "age"})


class Rule(NamedTuple):
    """How a route's responses are cached.

    Attributes:
        ttl: Seconds an entry lives (the ``max-age`` sent).
        tags: Tags of the entries.
        vary: Normalized request header names part of the key.
        statuses: Status codes that may be stored.
    """

    ttl: int
    tags: tuple[str, ...]
    vary: tuple[str, ...]
    statuses: frozenset[int]


@dataclass(frozen=True)
class StoredResponse:
    """A response as kept in the cache.

    Attributes:
        status: The HTTP status code.
        headers: Header names (lower case) and values, in order.
        body: The whole body.
        etag: The strong ETag of ``body`` (quoted).
    """

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    etag: str


@dataclass(frozen=True)
class Directives:
    """What a request's ``Cache-Control`` (and ``Pragma``) asks of the cache.

    Attributes:
        no_store: Neither read nor write the cache for this request.
        no_cache: Do not answer from the cache; the fresh response is stored.
    """

    no_store: bool = False
    no_cache: bool = False


def parse_cache_control(value: str | None) -> dict[str, str | None]:
    """Split a ``Cache-Control`` value into lower-case directives and their arguments.

    Args:
        value: The header value, or None when absent.

    Returns:
        The directives, e.g. ``{"max-age": "60", "no-cache": None}``.
    """
    found: dict[str, str | None] = {}
    for part in (value or "").split(","):
        name, sep, argument = part.strip().partition("=")
        if name:
            found[name.strip().lower()] = argument.strip().strip('"') if sep else None
    return found


def request_directives(headers: Mapping[str, str]) -> Directives:
    """Read the cache directives of a request.

    ``no-cache``, ``max-age=0`` and HTTP/1.0's ``Pragma: no-cache`` all mean "do not
    answer from the cache"; ``no-store`` also keeps the response out of it.

    Args:
        headers: The request headers (case-insensitive mapping, as Starlette's).

    Returns:
        The directives.
    """
    control = parse_cache_control(headers.get("cache-control"))
    no_store = "no-store" in control
    no_cache = (
        no_store
        or "no-cache" in control
        or control.get("max-age") == "0"
        or "no-cache" in (headers.get("pragma") or "").lower()
    )
    return Directives(no_store=no_store, no_cache=no_cache)


def normalize_vary(vary: Iterable[str]) -> tuple[str, ...]:
    """The header names a response varies on: lower case, sorted, without duplicates.

    Args:
        vary: Header names.

    Returns:
        The normalized names.

    Raises:
        TypeError: when ``vary`` is a single string (a common slip for a 1-tuple).
    """
    if isinstance(vary, str):
        raise TypeError(f"vary= takes a sequence of header names, not the string {vary!r}")
    return tuple(sorted({name.strip().lower() for name in vary}))


def bypass(headers: Mapping[str, str], vary: tuple[str, ...]) -> bool:
    """Whether a request must go around the cache entirely.

    A request carrying ``Authorization`` gets a response made for its user; it is cached
    only when the route says the response varies on ``authorization``.

    Args:
        headers: The request headers.
        vary: The normalized header names the route varies on.

    Returns:
        True when the cache must be neither read nor written.
    """
    return "authorization" in headers and "authorization" not in vary


def request_key(
    method: str, path: str, query: str, headers: Mapping[str, str], vary: tuple[str, ...]
) -> str:
    """The cache key of a request.

    ``HEAD`` shares the entry of ``GET`` (same representation); query parameters are
    sorted by name, keeping the order of repeated names. The ``Host`` is part of the key,
    as in the URI an HTTP cache keys on, so an app serving several sites keeps them apart.

    Args:
        method: The request method.
        path: The URL path.
        query: The raw query string.
        headers: The request headers.
        vary: The normalized header names whose values are part of the key.

    Returns:
        The key (long keys are hashed by twat-cache).
    """
    pairs = sorted(parse_qsl(query, keep_blank_values=True), key=lambda pair: pair[0])
    varied = [[name, headers.get(name)] for name in vary]
    method = "GET" if method.upper() == "HEAD" else method.upper()
    host = headers.get("host")
    return json.dumps([method, host, path, pairs, varied], separators=(",", ":"))


def strong_etag(body: bytes) -> str:
    """A strong ETag for ``body``: a quoted BLAKE2b digest.

    Args:
        body: The response body.

    Returns:
        The quoted ETag.
    """
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` header matches ``etag`` (weak comparison, RFC 9110).

    Args:
        if_none_match: The header value, or None.
        etag: The current (quoted) ETag.

    Returns:
        True when the client's copy is current.
    """
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    opaque = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == opaque for tag in if_none_match.split(","))


def storable(
    status: int, headers: Mapping[str, str], statuses: frozenset[int], vary: tuple[str, ...]
) -> bool:
    """Whether a response may be stored.

    Not when its status is not in ``statuses``, when it says ``no-store`` or
    ``private``, or when it sets a cookie (unless the route varies on ``cookie``,
    so each client's cookie gets its own entry).

    Args:
        status: The status code.
        headers: The response headers.
        statuses: The status codes that may be cached.
        vary: The normalized header names the route varies on.

    Returns:
        True when the response may be stored.
    """
    if status not in statuses:
        return False
    control = parse_cache_control(headers.get("cache-control"))
    if "no-store" in control or "private" in control:
        return False
    return "set-cookie" not in headers or "cookie" in vary


def validators(
    headers: Iterable[tuple[str, str]], body: bytes, ttl: int, vary: tuple[str, ...]
) -> tuple[tuple[tuple[str, str], ...], list[tuple[str, str]], str]:
    """The headers to store, and those (``ETag``, ``Cache-Control``, ``Vary``) to add.

    A handler's own ``ETag`` and ``Cache-Control`` are kept; per-connection headers
    (``Content-Length``, ``Date``...) are dropped for the store.

    Args:
        headers: The response headers (names in any case).
        body: The whole body.
        ttl: Seconds the entry lives (the ``max-age``).
        vary: The normalized header names the route varies on.

    Returns:
        The headers to store (lower-case names), the headers added, and the ETag.
    """
    kept = [(name.lower(), value) for name, value in headers if name.lower() not in _NOT_STORED]
    names = {name for name, _ in kept}
    added: list[tuple[str, str]] = []
    etag = next((value for name, value in kept if name == "etag"), None)
    if etag is None:
        etag = strong_etag(body)
        added.append(("etag", etag))
    if "cache-control" not in names:
        added.append(("cache-control", f"max-age={ttl}"))
    if vary:
        present = {
            part.strip().lower()
            for name, value in kept
            if name == "vary"
            for part in value.split(",")
        }
        missing = [name for name in vary if name not in present]
        if missing:
            added.append(("vary", ", ".join(missing)))
    return (*kept, *added), added, etag


def is_current(stored: StoredResponse, if_none_match: str | None) -> bool:
    """Whether a client holding ``If-None-Match`` gets ``304 Not Modified`` for ``stored``.

    Args:
        stored: The response (a 2xx one can be "not modified").
        if_none_match: The request's header, or None.

    Returns:
        True when the client's copy is current.
    """
    return 200 <= stored.status < 300 and etag_matches(if_none_match, stored.etag)


def not_modified_headers(stored: StoredResponse) -> list[tuple[str, str]]:
    """The headers of a ``304 Not Modified`` for ``stored`` (RFC 9110 section 15.4.5).

    Args:
        stored: The cached response.

    Returns:
        Its ``ETag``, ``Cache-Control``, ``Vary``, ``Content-Location`` and ``Expires``.
    """
    keep = {"etag", "cache-control", "vary", "content-location", "expires"}
    return [(name, value) for name, value in stored.headers if name in keep]


def not_modified(stored: StoredResponse) -> Response:
    """A ``304 Not Modified`` for ``stored``.

    Args:
        stored: The cached response.

    Returns:
        The 304, with the headers :func:`not_modified_headers` keeps.
    """
    response = Response(status_code=304)
    for name, value in not_modified_headers(stored):
        response.headers.append(name, value)
    return response


def replay(stored: StoredResponse, if_none_match: str | None) -> Response:
    """The response to send for ``stored``: a 304 when the client's copy is current.

    Args:
        stored: The cached response.
        if_none_match: The request's ``If-None-Match``, or None.

    Returns:
        The response.
    """
    if is_current(stored, if_none_match):
        return not_modified(stored)
    response = Response(content=stored.body, status_code=stored.status)
    for name, value in stored.headers:
        response.headers.append(name, value)
    return response
