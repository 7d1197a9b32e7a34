"""Response caching as a FastAPI dependency: ``dependencies=[Depends(responses.dependency())]``.

A dependency runs before the endpoint but never sees its response, so the work is split:
the dependency answers hits (raising :class:`CachedHit`, which the exception handler
:meth:`~twat_cache_fastapi.ResponseCache.init_app` installs turns into the response) and
marks misses in the request scope; the small ASGI middleware ``init_app`` adds stores the
marked responses on their way out.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send
from twat_cache import Cache, ConfigurationError

from twat_cache_fastapi.http import (
    SAFE_METHODS,
    Rule,
    StoredResponse,
    bypass,
    replay,
    request_directives,
    request_key,
)
from twat_cache_fastapi.middleware import Pending, run_and_store

PENDING = "twat_cache.pending"
"""The scope key a dependency leaves a :class:`Pending` store under."""

INSTALLED = "twat_cache.installed"
"""The scope key the store middleware sets, so a dependency knows misses get stored."""


class CachedHit(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised by the dependency on a hit; the handler ``init_app`` installs sends it.

    Args:
        response: The cached (or 304) response.
    """

    def __init__(self, response: Response) -> None:
        super().__init__("answered from the cache")
        self.response = response


async def answer_hit(request: Request, exc: Exception) -> Response:
    """Exception handler: the response a :class:`CachedHit` carries.

    Args:
        request: The request.
        exc: The CachedHit.

    Returns:
        Its response.
    """
    assert isinstance(exc, CachedHit)  # nosec B101 - registered for CachedHit only
    return exc.response


class StoreMarked:
    """ASGI middleware storing the responses a dependency marked as misses."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app; store its response when the request was marked."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope[INSTALLED] = True
        await run_and_store(self.app, scope, receive, send, lambda: scope.get(PENDING))


def install(app: Any) -> None:
    """Add the store middleware and the hit handler to ``app`` (before it starts).

    Args:
        app: A FastAPI or Starlette application.
    """
    app.add_middleware(StoreMarked)
    app.add_exception_handler(CachedHit, answer_hit)


def make_dependency(cache: Cache, rule: Rule) -> Callable[[Request], Awaitable[None]]:
    """The dependency caching a route's responses by ``rule``.

    Args:
        cache: Where responses live.
        rule: Their ttl, tags, vary and statuses.

    Returns:
        An async dependency taking the request.
    """

    async def cache_response(request: Request) -> None:
        if not request.scope.get(INSTALLED):
            raise ConfigurationError(
                "dependency", "cache_response", "call ResponseCache(...).init_app(app) first"
            )
        headers = request.headers
        if request.method not in SAFE_METHODS or bypass(headers, rule.vary):
            return
        directives = request_directives(headers)
        if directives.no_store:
            return
        url = request.url
        key = request_key(request.method, url.path, url.query, headers, rule.vary)
        if_none_match = headers.get("if-none-match")
        if not directives.no_cache:
            found = await cache.aget(key)
            if isinstance(found, StoredResponse):
                raise CachedHit(replay(found, if_none_match))
        if request.method != "HEAD":  # a HEAD body is empty: nothing a GET could reuse
            request.scope[PENDING] = Pending(cache, rule, key, if_none_match)

    return cache_response
