"""The route decorator and the ``get_cache`` dependency.

``ResponseCache.cached()`` wraps a FastAPI (or Starlette) endpoint: the wrapper asks
FastAPI for the :class:`~starlette.requests.Request` through an added parameter, answers
from the cache (or with ``304``) without running the endpoint, and stores what it returns.
"""

from __future__ import annotations

import functools
import inspect
import logging
import typing
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

from fastapi.encoders import jsonable_encoder
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from twat_cache import Cache, ConfigurationError

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
    storable,
    validators,
)

logger = logging.getLogger("twat_cache")

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_NAMESPACE = "http"
"""The twat-cache namespace of responses when the cache is made from a URL."""

STATE_ATTRIBUTE = "twat_cache"
"""The ``app.state`` attribute :meth:`ResponseCache.init_app` sets for :func:`get_cache`."""

_REQUEST_PARAMETER = "_twat_cache_request"


def _as_cache(cache: Cache | str | None, namespace: str) -> Cache:
    if isinstance(cache, Cache):
        return cache
    return Cache(cache, namespace=namespace)


class ResponseCache:
    """Caches whole HTTP responses of safe methods (``GET``, ``HEAD``) in a twat-cache.

    Args:
        cache: A :class:`~twat_cache.Cache`, or a twat-cache URL (``redis://...``);
            None takes ``TWAT_CACHE_URL`` from the environment, else ``memory://``.
        ttl: Default seconds a response lives (also its ``Cache-Control: max-age``).
        vary: Default request headers whose values are part of the key.
        statuses: Default status codes that may be cached.
        namespace: The namespace of a cache made from a URL.

    Raises:
        ConfigurationError: for a ttl that is not a positive integer.

    Example:
        >>> from fastapi import FastAPI
        >>> responses = ResponseCache("builtin://", ttl=60)
        >>> app = FastAPI()
        >>> @app.get("/items/{item_id}")
        ... @responses.cached(ttl=30, tags=["items"])
        ... async def item(item_id: int) -> dict[str, int]:
        ...     return {"id": item_id}
    """

    def __init__(
        self,
        cache: Cache | str | None = None,
        *,
        ttl: int = 60,
        vary: Iterable[str] = (),
        statuses: Iterable[int] = DEFAULT_STATUSES,
        namespace: str = DEFAULT_NAMESPACE,
    ) -> None:
        self.cache = _as_cache(cache, namespace)
        self.ttl = _checked_ttl(ttl)
        self.vary = normalize_vary(vary)
        self.statuses = frozenset(statuses)

    def __repr__(self) -> str:
        return f"<ResponseCache {self.cache!r} ttl={self.ttl}>"

    def init_app(self, app: Any) -> None:
        """Set ``app`` up for :func:`get_cache` and :meth:`dependency` (before it starts).

        :func:`get_cache` then answers this cache; a small ASGI middleware and an
        exception handler let :meth:`dependency` answer hits and store misses.

        Args:
            app: A FastAPI or Starlette application.
        """
        from twat_cache_fastapi.dependency import install

        setattr(app.state, STATE_ATTRIBUTE, self.cache)
        install(app)

    def dependency(
        self,
        ttl: int | None = None,
        *,
        tags: Iterable[str] = (),
        vary: Iterable[str] | None = None,
        statuses: Iterable[int] | None = None,
    ) -> Callable[[Request], Awaitable[None]]:
        """A dependency caching a route's responses: ``dependencies=[Depends(...)]``.

        The same rules as :meth:`cached`, on the response FastAPI sends (so
        ``response_model`` and the route's ``status_code`` apply). Needs :meth:`init_app`.

        Args:
            ttl: Seconds the responses live; None takes the ResponseCache's.
            tags: Tags of the entries (see :meth:`ainvalidate`).
            vary: Request headers part of the key; None takes the ResponseCache's.
            statuses: Status codes that may be cached; None takes the ResponseCache's.

        Returns:
            The dependency (raises ``ConfigurationError`` when ``init_app`` was not called).
        """
        from twat_cache_fastapi.dependency import make_dependency

        return make_dependency(self.cache, self._rule(ttl, tags, vary, statuses))

    def _rule(
        self,
        ttl: int | None,
        tags: Iterable[str],
        vary: Iterable[str] | None,
        statuses: Iterable[int] | None,
    ) -> Rule:
        return Rule(
            ttl=self.ttl if ttl is None else _checked_ttl(ttl),
            tags=tuple(tags),
            vary=self.vary if vary is None else normalize_vary(vary),
            statuses=self.statuses if statuses is None else frozenset(statuses),
        )

    def cached(
        self,
        ttl: int | None = None,
        *,
        tags: Iterable[str] = (),
        vary: Iterable[str] | None = None,
        statuses: Iterable[int] | None = None,
    ) -> Callable[[F], F]:
        """Cache the responses of an endpoint; put it under the route decorator.

        Sync endpoints run in Starlette's thread pool, as FastAPI runs them. A value
        that is not a :class:`~starlette.responses.Response` is sent as JSON through
        FastAPI's ``jsonable_encoder`` (``response_model`` filtering does not apply:
        return what should be sent). Streaming responses are passed through, uncached.

        Args:
            ttl: Seconds the responses live; None takes the ResponseCache's.
            tags: Tags of the entries (see :meth:`ainvalidate`).
            vary: Request headers part of the key; None takes the ResponseCache's.
            statuses: Status codes that may be cached; None takes the ResponseCache's.

        Returns:
            The decorator.
        """
        rule = self._rule(ttl, tags, vary, statuses)

        def decorate(func: F) -> F:
            return typing.cast(F, _wrap(self.cache, rule, func))

        return decorate

    async def ainvalidate(self, *tags: str) -> None:
        """Make every response stored under any of ``tags`` a miss, in every process.

        Args:
            *tags: The tags.
        """
        await self.cache.ainvalidate_tags(*tags)

    def invalidate(self, *tags: str) -> None:
        """Sync twin of :meth:`ainvalidate`.

        Args:
            *tags: The tags.
        """
        self.cache.invalidate_tags(*tags)


def get_cache(request: Request) -> Cache:
    """FastAPI dependency: the cache given to :meth:`ResponseCache.init_app`.

    ``cache: Annotated[Cache, Depends(get_cache)]`` in a handler.

    Args:
        request: The request (FastAPI passes it).

    Returns:
        The app's cache.

    Raises:
        ConfigurationError: when ``init_app`` was not called for this app.
    """
    cache = getattr(request.app.state, STATE_ATTRIBUTE, None)
    if not isinstance(cache, Cache):
        raise ConfigurationError(
            "app.state.twat_cache", cache, "call ResponseCache(...).init_app(app) at startup"
        )
    return cache


def _checked_ttl(ttl: int) -> int:
    if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl <= 0:
        raise ConfigurationError("ttl", ttl, "a positive number of seconds")
    return ttl


def _signature(func: Callable[..., Any]) -> tuple[inspect.Signature, str | None]:
    """``func``'s signature with resolved annotations, and the name of its Request parameter.

    FastAPI resolves string annotations in the wrapper's module, not the endpoint's,
    so they are resolved here against the endpoint's globals. FastAPI fills one Request
    parameter only: when the endpoint has none, one is added (and the name is None).
    """
    signature = inspect.signature(func)
    try:
        hints = typing.get_type_hints(func, include_extras=True)
    except (NameError, TypeError):  # a local name: FastAPI could not resolve it either
        hints = {}
    parameters = [
        parameter.replace(annotation=hints.get(parameter.name, parameter.annotation))
        for parameter in signature.parameters.values()
    ]
    own = next(
        (
            p.name
            for p in parameters
            if isinstance(p.annotation, type) and issubclass(p.annotation, Request)
        ),
        None,
    )
    if own is None:
        added = inspect.Parameter(
            _REQUEST_PARAMETER, inspect.Parameter.KEYWORD_ONLY, annotation=Request
        )
        at = next(
            (i for i, p in enumerate(parameters) if p.kind is inspect.Parameter.VAR_KEYWORD),
            len(parameters),
        )
        parameters.insert(at, added)
    replaced = signature.replace(
        parameters=parameters,
        return_annotation=hints.get("return", signature.return_annotation),
    )
    return replaced, own


def _wrap(cache: Cache, rule: Rule, func: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    is_async = inspect.iscoroutinefunction(func)
    signature, own = _signature(func)
    # FastAPI's injected Response parameter (headers, cookies, status to send): FastAPI
    # merges it only into values it serializes itself, so it is merged here
    sub_response = next(
        (
            p.name
            for p in signature.parameters.values()
            if isinstance(p.annotation, type) and issubclass(p.annotation, Response)
        ),
        None,
    )

    async def run(kwargs: dict[str, Any]) -> Any:
        if is_async:
            return await func(**kwargs)
        return await run_in_threadpool(func, **kwargs)

    @functools.wraps(func)
    async def endpoint(**kwargs: Any) -> Any:
        request: Request = kwargs[own] if own else kwargs.pop(_REQUEST_PARAMETER)
        headers = request.headers
        if request.method not in SAFE_METHODS or bypass(headers, rule.vary):
            return await run(kwargs)
        directives = request_directives(headers)
        if directives.no_store:
            return await run(kwargs)
        key = request_key(request.method, request.url.path, request.url.query, headers, rule.vary)
        if not directives.no_cache:
            found = await cache.aget(key)
            if isinstance(found, StoredResponse):
                return replay(found, headers.get("if-none-match"))
        result = await run(kwargs)
        if isinstance(result, Response):
            response = result
        else:
            response = JSONResponse(jsonable_encoder(result))
            if sub_response is not None:
                _merge(kwargs[sub_response], response)
        if isinstance(response, StreamingResponse) or not hasattr(response, "body"):
            return response
        return await _store(cache, rule, key, response, headers.get("if-none-match"))

    endpoint.__signature__ = signature  # type: ignore[attr-defined]
    return endpoint


async def _store(
    cache: Cache, rule: Rule, key: str, response: Response, if_none_match: str | None
) -> Response:
    """Add validators to ``response``, store it when allowed, answer 304 when current."""
    stored, added = await store_response(
        cache,
        rule,
        key,
        status=response.status_code,
        raw_headers=response.raw_headers,
        body=bytes(response.body),
    )
    for name, value in added:
        response.headers.append(name, value)
    if is_current(stored, if_none_match):
        return not_modified(stored)
    return response


async def store_response(
    cache: Cache,
    rule: Rule,
    key: str,
    *,
    status: int,
    raw_headers: Sequence[tuple[bytes, bytes]],
    body: bytes,
) -> tuple[StoredResponse, list[tuple[str, str]]]:
    """Store a response under ``key`` when ``rule`` allows it.

    The last step of the route decorator and of the middleware.

    Args:
        cache: Where to store it.
        rule: Its ttl, tags, vary and statuses.
        key: Its key.
        status: Its status code.
        raw_headers: Its headers as ASGI sends them (latin-1 bytes).
        body: Its whole body.

    Returns:
        The response as stored (with its validators), and the headers to add to the
        one sent (``ETag``, ``Cache-Control``, ``Vary``).
    """
    raw = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in raw_headers]
    headers, added, etag = validators(raw, body, rule.ttl, rule.vary)
    stored = StoredResponse(status, headers, body, etag)
    allowed = storable(status, Headers(raw=list(raw_headers)), rule.statuses, rule.vary)
    if allowed and not await cache.aset(key, stored, ttl=rule.ttl, tags=rule.tags):
        logger.debug("response for %s not stored (the engine declined or failed)", key)
    return stored, added


def _merge(sub: Response, response: Response) -> None:
    """Apply what the handler set on FastAPI's injected Response to ``response``."""
    if sub.status_code:
        response.status_code = sub.status_code
    for name, value in sub.raw_headers:
        if name.lower() != b"content-length":
            response.raw_headers.append((name, value))
