"""An ASGI middleware caching every cacheable ``GET`` response of a whole app.

The same rules as the route decorator (:mod:`twat_cache_fastapi.http`), applied to the
ASGI messages: a miss's response is buffered until its last body chunk, then stored
and sent with its validators. Server-sent event streams are passed through.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from twat_cache import Cache

from twat_cache_fastapi.http import (
    DEFAULT_STATUSES,
    SAFE_METHODS,
    StoredResponse,
    bypass,
    is_current,
    normalize_vary,
    not_modified_headers,
    request_directives,
    request_key,
    storable,
    validators,
)
from twat_cache_fastapi.routes import DEFAULT_NAMESPACE, ResponseCache

logger = logging.getLogger("twat_cache")


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
                await _respond(found, if_none_match, scope, receive, send)
                return
        if scope["method"] == "HEAD":  # its body is empty: nothing a GET could reuse
            await self.app(scope, receive, send)
            return
        await self._run_and_store(key, if_none_match, scope, receive, send)

    async def _run_and_store(
        self, key: str, if_none_match: str | None, scope: Scope, receive: Receive, send: Send
    ) -> None:
        start: Message | None = None
        chunks: list[bytes] = []
        passing = False

        async def capture(message: Message) -> None:
            nonlocal start, passing
            if passing:
                await send(message)
            elif message["type"] == "http.response.start":
                start = message
                if (
                    Headers(raw=message["headers"])
                    .get("content-type", "")
                    .startswith("text/event-stream")
                ):
                    passing = True
                    await send(message)
            elif message["type"] == "http.response.body" and start is not None:
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    await self._finish(
                        key,
                        if_none_match=if_none_match,
                        start=start,
                        body=b"".join(chunks),
                        scope=scope,
                        send=send,
                    )
            else:  # trailers or an extension: send as it comes, uncached
                passing = True
                if start is not None:
                    await send(start)
                    await send(
                        {"type": "http.response.body", "body": b"".join(chunks), "more_body": True}
                    )
                await send(message)

        await self.app(scope, receive, capture)

    async def _finish(
        self,
        key: str,
        *,
        if_none_match: str | None,
        start: Message,
        body: bytes,
        scope: Scope,
        send: Send,
    ) -> None:
        responses = self.responses
        status: int = start["status"]
        raw = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in start.get("headers", [])]
        headers, added, etag = validators(raw, body, responses.ttl, responses.vary)
        stored = StoredResponse(status, headers, body, etag)
        allowed = storable(
            status, Headers(raw=start.get("headers", [])), responses.statuses, responses.vary
        )
        if allowed and not await self.cache.aset(key, stored, ttl=responses.ttl, tags=self.tags):
            logger.debug("response for %s not stored (the engine declined or failed)", key)
        if is_current(stored, if_none_match):
            await _not_modified(stored)(scope, _no_receive, send)
            return
        extra = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in added]
        await send({**start, "headers": [*start.get("headers", []), *extra]})
        await send({"type": "http.response.body", "body": body})


async def _no_receive() -> Message:  # pragma: no cover - a 304 never reads the request
    return {"type": "http.disconnect"}


def _not_modified(stored: StoredResponse) -> Response:
    response = Response(status_code=304)
    for name, value in not_modified_headers(stored):
        response.headers.append(name, value)
    return response


async def _respond(
    stored: StoredResponse, if_none_match: str | None, scope: Scope, receive: Receive, send: Send
) -> None:
    if is_current(stored, if_none_match):
        await _not_modified(stored)(scope, receive, send)
        return
    response = Response(content=stored.body, status_code=stored.status)
    for name, value in stored.headers:
        response.headers.append(name, value)
    await response(scope, receive, send)
