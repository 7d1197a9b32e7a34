"""An ASGI middleware caching every cacheable ``GET`` response of a whole app.

The same rules as the route decorator (:mod:`twat_cache_fastapi.http`), applied to the
ASGI messages: a miss's response is buffered until its last body chunk, then stored
and sent with its validators. Server-sent event streams are passed through.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import NamedTuple

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from twat_cache import Cache

from twat_cache_fastapi.http import (
    DEFAULT_STATUSES,
    SAFE_METHODS,
    Rule,
    StoredResponse,
    bypass,
    is_current,
    normalize_vary,
    not_modified,
    replay,
    request_directives,
    request_key,
)
from twat_cache_fastapi.routes import DEFAULT_NAMESPACE, ResponseCache, store_response


class CacheMiddleware:
    """ASGI middleware: ``app.add_middleware(CacheMiddleware, cache="redis://...", ttl=60)``.

    Args:
        app: The ASGI application.
        cache: A :class:`~twat_cache.Cache`, a twat-cache URL, or None (``TWAT_CACHE_URL``,
            else ``memory://``).
        ttl: Seconds a response lives (also its ``Cache-Control: max-age``).
        vary: Request headers whose values are part of the key.
        statuses: Status codes that may be cached.
        tags: Tags of every stored response.
        namespace: The namespace of a cache made from a URL.
    """

    def __init__(
        self,
        app: ASGIApp,
        cache: Cache | str | None = None,
        *,
        ttl: int = 60,
        vary: Iterable[str] = (),
        statuses: Iterable[int] = DEFAULT_STATUSES,
        tags: Iterable[str] = (),
        namespace: str = DEFAULT_NAMESPACE,
    ) -> None:
        self.app = app
        self.responses = ResponseCache(
            cache, ttl=ttl, vary=normalize_vary(vary), statuses=statuses, namespace=namespace
        )
        self.cache = self.responses.cache
        self.tags = tuple(tags)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer from the cache, or run the app and store its response."""
        if scope["type"] != "http" or scope["method"] not in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        vary = self.responses.vary
        headers = Headers(scope=scope)
        directives = request_directives(headers)
        if bypass(headers, vary) or directives.no_store:
            await self.app(scope, receive, send)
            return
        path = scope.get("root_path", "") + scope["path"]
        key = request_key(
            scope["method"], path, scope["query_string"].decode("latin-1"), headers, vary
        )
        if_none_match = headers.get("if-none-match")
        if not directives.no_cache:
            found = await self.cache.aget(key)
            if isinstance(found, StoredResponse):
                await replay(found, if_none_match)(scope, receive, send)
                return
        if scope["method"] == "HEAD":  # its body is empty: nothing a GET could reuse
            await self.app(scope, receive, send)
            return
        rule = Rule(self.responses.ttl, self.tags, vary, self.responses.statuses)
        pending = Pending(self.cache, rule, key, if_none_match)
        await run_and_store(self.app, scope, receive, send, lambda: pending)


class Pending(NamedTuple):
    """A response to store once the app has sent it.

    Attributes:
        cache: Where to store it.
        rule: Its ttl, tags, vary and statuses.
        key: Its key.
        if_none_match: The request's ``If-None-Match`` (answered with 304 when current).
    """

    cache: Cache
    rule: Rule
    key: str
    if_none_match: str | None


async def run_and_store(
    app: ASGIApp,
    scope: Scope,
    receive: Receive,
    send: Send,
    pending: Callable[[], Pending | None],
) -> None:
    """Run ``app``, buffering its response, and store it as ``pending()`` says.

    ``pending`` is asked when the response starts (a dependency may have decided
    by then); None sends the response on untouched.

    Args:
        app: The ASGI app.
        scope: The request scope.
        receive: The ASGI receive channel.
        send: The ASGI send channel.
        pending: What to store the response as, or None.
    """
    start: Message | None = None
    chunks: list[bytes] = []
    passing = False
    store: Pending | None = None

    async def capture(message: Message) -> None:
        nonlocal start, passing, store
        if passing:
            await send(message)
        elif message["type"] == "http.response.start":
            start = message
            store = pending()
            content_type = Headers(raw=message["headers"]).get("content-type", "")
            if store is None or content_type.startswith("text/event-stream"):
                passing = True
                await send(message)
        elif message["type"] == "http.response.body" and start is not None and store:
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                await _finish(store, start, b"".join(chunks), scope, send)
        else:  # trailers or an extension: send as it comes, uncached
            passing = True
            if start is not None:
                await send(start)
                body = b"".join(chunks)
                await send({"type": "http.response.body", "body": body, "more_body": True})
            await send(message)

    await app(scope, receive, capture)


async def _finish(store: Pending, start: Message, body: bytes, scope: Scope, send: Send) -> None:
    stored, added = await store_response(
        store.cache,
        store.rule,
        store.key,
        status=start["status"],
        raw_headers=start.get("headers", []),
        body=body,
    )
    if is_current(stored, store.if_none_match):
        await not_modified(stored)(scope, _no_receive, send)
        return
    extra = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in added]
    await send({**start, "headers": [*start.get("headers", []), *extra]})
    await send({"type": "http.response.body", "body": body})


async def _no_receive() -> Message:  # pragma: no cover - a 304 never reads the request
    return {"type": "http.disconnect"}
