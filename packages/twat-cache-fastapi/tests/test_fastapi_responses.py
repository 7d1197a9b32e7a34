"""twat-cache-fastapi: real FastAPI apps through httpx, on memory:// and the harness' Redis."""

from __future__ import annotations

import asyncio
import itertools
import re
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Annotated, Any

import httpx2 as httpx
import pytest
import uvicorn
from fastapi import Depends, FastAPI, Request, WebSocket
from fastapi.responses import PlainTextResponse, Response, StreamingResponse
from starlette.testclient import TestClient
from twat_cache import Cache, ConfigurationError
from twat_cache_fastapi import CacheMiddleware, ResponseCache, StoredResponse, get_cache
from twat_cache_fastapi.http import (
    etag_matches,
    parse_cache_control,
    request_key,
    strong_etag,
)

_names = itertools.count()


@pytest.fixture(params=["memory", "redis", "aiocache-redis"])
def url(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "memory://"
    server = request.getfixturevalue("redis_server")
    if request.param == "aiocache-redis":  # asyncio-native: the route awaits it directly
        return f"aiocache+redis://{server.host}:{server.port}/0"
    server_url: str = server.url
    return server_url


@pytest.fixture
def cache(url: str) -> Iterator[Cache]:
    made = Cache(url, namespace=f"fa{next(_names)}-{time.monotonic_ns() % 10**9}")
    yield made
    made.clear()
    made.close()


class Counter:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> int:
        self.calls += 1
        return self.calls


def _app(cache: Cache, **options: Any) -> tuple[FastAPI, ResponseCache, Counter]:
    responses = ResponseCache(cache, **options)
    app = FastAPI()
    responses.init_app(app)
    count = Counter()

    @app.api_route("/items/{item_id}", methods=["GET", "HEAD"])
    @responses.cached(tags=["items"])
    async def item(item_id: int, q: str | None = None) -> dict[str, Any]:
        return {"id": item_id, "q": q, "call": count()}

    @app.get("/sync")
    @responses.cached(ttl=5)
    def sync_route() -> PlainTextResponse:
        return PlainTextResponse(f"sync {count()}")

    @app.get("/lang")
    @responses.cached(vary=["Accept-Language"])
    async def lang(request: Request) -> dict[str, Any]:
        return {"lang": request.headers.get("accept-language"), "call": count()}

    @app.get("/me")
    @responses.cached()
    async def me(request: Request) -> dict[str, Any]:
        return {"user": request.headers.get("authorization"), "call": count()}

    @app.get("/me-varied")
    @responses.cached(vary=["authorization"])
    async def me_varied(request: Request) -> dict[str, Any]:
        return {"user": request.headers.get("authorization"), "call": count()}

    @app.get("/cookie")
    @responses.cached()
    async def cookie() -> Response:
        response = PlainTextResponse(f"cookie {count()}")
        response.set_cookie("session", "abc")
        return response

    @app.get("/cookie-varied")
    @responses.cached(vary=["cookie"])
    async def cookie_varied() -> Response:
        response = PlainTextResponse(f"cookie {count()}")
        response.set_cookie("session", "abc")
        return response

    @app.get("/status/{code}")
    @responses.cached()
    async def status(code: int) -> Response:
        return PlainTextResponse(f"status {count()}", status_code=code)

    @app.get("/private")
    @responses.cached()
    async def private() -> Response:
        return PlainTextResponse(f"private {count()}", headers={"Cache-Control": "private"})

    @app.get("/stream")
    @responses.cached()
    async def stream() -> StreamingResponse:
        count()

        async def chunks() -> AsyncIterator[bytes]:
            yield b"a"

        return StreamingResponse(chunks())

    @app.post("/items/{item_id}")
    @responses.cached()
    async def post_item(item_id: int) -> dict[str, Any]:
        return {"id": item_id, "call": count()}

    @app.get("/counter")
    async def counter(cache: Annotated[Cache, Depends(get_cache)]) -> dict[str, int]:
        return {"value": await cache.aincr("hits") if await cache.aget("hits") else 0}

    return app, responses, count


def test_get_is_cached_by_path_and_query(cache: Cache) -> None:
    app, _, count = _app(cache)
    with TestClient(app) as client:
        first = client.get("/items/1?q=a&b=2")
        assert first.status_code == 200
        assert first.json() == {"id": 1, "q": "a", "call": 1}
        again = client.get("/items/1?b=2&q=a")  # same query in another order
        assert again.json() == first.json()
        assert again.headers["etag"] == first.headers["etag"]
        assert first.headers["cache-control"] == "max-age=60"
        assert client.get("/items/1?q=b").json()["call"] == 2
        assert client.get("/items/2?q=a").json()["call"] == 3
        assert client.head("/items/1?q=a&b=2").status_code == 200
        assert count.calls == 3


def test_etag_is_strong_digest_of_body(cache: Cache) -> None:
    app, _, _ = _app(cache)
    with TestClient(app) as client:
        response = client.get("/items/1")
        assert response.headers["etag"] == strong_etag(response.content)
        assert re.fullmatch(r'"[0-9a-f]{32}"', response.headers["etag"])


def test_if_none_match_answers_304_without_running(cache: Cache) -> None:
    app, _, count = _app(cache)
    with TestClient(app) as client:
        etag = client.get("/items/7").headers["etag"]
        not_modified = client.get("/items/7", headers={"If-None-Match": etag})
        assert not_modified.status_code == 304
        assert not_modified.content == b""
        assert not_modified.headers["etag"] == etag
        assert count.calls == 1
        other = client.get("/items/7", headers={"If-None-Match": '"other"'})
        assert other.status_code == 200
        assert count.calls == 1


def test_if_none_match_on_a_miss_runs_once_then_304(cache: Cache) -> None:
    app, _, count = _app(cache)
    body = b'{"id":3,"q":null,"call":1}'
    with TestClient(app) as client:
        response = client.get("/items/3", headers={"If-None-Match": strong_etag(body)})
        assert response.status_code == 304
        assert count.calls == 1


def test_request_no_cache_refreshes_the_entry(cache: Cache) -> None:
    app, _, count = _app(cache)
    with TestClient(app) as client:
        assert client.get("/items/1").json()["call"] == 1
        fresh = client.get("/items/1", headers={"Cache-Control": "no-cache"})
        assert fresh.json()["call"] == 2
        assert client.get("/items/1").json()["call"] == 2  # the refreshed entry
        assert client.get("/items/1", headers={"Pragma": "no-cache"}).json()["call"] == 3
        assert client.get("/items/1", headers={"Cache-Control": "max-age=0"}).json()["call"] == 4


def test_request_no_store_neither_reads_nor_writes(cache: Cache) -> None:
    app, _, count = _app(cache)
    with TestClient(app) as client:
        assert client.get("/items/1", headers={"Cache-Control": "no-store"}).json()["call"] == 1
        assert client.get("/items/1").json()["call"] == 2  # nothing was stored
        assert client.get("/items/1", headers={"Cache-Control": "no-store"}).json()["call"] == 3
        assert client.get("/items/1").json()["call"] == 2


def test_vary_headers_are_part_of_the_key(cache: Cache) -> None:
    app, _, _ = _app(cache)
    with TestClient(app) as client:
        fr = client.get("/lang", headers={"Accept-Language": "fr"})
        de = client.get("/lang", headers={"Accept-Language": "de"})
        assert fr.json() == {"lang": "fr", "call": 1}
        assert de.json() == {"lang": "de", "call": 2}
        assert client.get("/lang", headers={"Accept-Language": "fr"}).json()["call"] == 1
        assert fr.headers["vary"] == "accept-language"


def test_authorization_requests_go_around_the_cache(cache: Cache) -> None:
    app, _, _ = _app(cache)
    with TestClient(app) as client:
        assert client.get("/me").json() == {"user": None, "call": 1}
        alice = client.get("/me", headers={"Authorization": "Bearer alice"})
        assert alice.json() == {"user": "Bearer alice", "call": 2}
        assert client.get("/me", headers={"Authorization": "Bearer bob"}).json()["call"] == 3
        assert client.get("/me").json()["call"] == 1  # anonymous entry unchanged


def test_authorization_cached_per_credential_when_varied(cache: Cache) -> None:
    app, _, _ = _app(cache)
    with TestClient(app) as client:
        alice = {"Authorization": "Bearer alice"}
        assert client.get("/me-varied", headers=alice).json()["call"] == 1
        assert client.get("/me-varied", headers=alice).json()["call"] == 1
        bob = client.get("/me-varied", headers={"Authorization": "Bearer bob"}).json()
        assert bob == {"user": "Bearer bob", "call": 2}


def test_set_cookie_responses_are_not_stored(cache: Cache) -> None:
    app, _, _ = _app(cache)
    with TestClient(app) as client:
        assert client.get("/cookie").text == "cookie 1"
        client.cookies.clear()
        assert client.get("/cookie").text == "cookie 2"
        client.cookies.clear()
        assert client.get("/cookie-varied").text == "cookie 3"
        client.cookies.clear()
        assert client.get("/cookie-varied").text == "cookie 3"


@pytest.mark.parametrize(
    ("code", "stored"),
    [(200, True), (203, True), (404, True), (410, True), (500, False), (302, False)],
)
def test_only_cacheable_statuses_are_stored(cache: Cache, code: int, stored: bool) -> None:
    app, _, count = _app(cache)
    with TestClient(app, follow_redirects=False) as client:
        first = client.get(f"/status/{code}")
        second = client.get(f"/status/{code}")
        assert first.status_code == second.status_code == code
        assert count.calls == (1 if stored else 2)


def test_private_and_streaming_and_post_are_not_stored(cache: Cache) -> None:
    app, _, count = _app(cache)
    with TestClient(app) as client:
        assert client.get("/private").text == "private 1"
        assert client.get("/private").text == "private 2"
        assert client.get("/stream").text == "a"
        assert client.get("/stream").text == "a"
        assert count.calls == 4
        assert client.post("/items/1").json()["call"] == 5
        assert client.post("/items/1").json()["call"] == 6


def test_sync_endpoint_and_route_ttl(cache: Cache) -> None:
    app, _, count = _app(cache)
    with TestClient(app) as client:
        first = client.get("/sync")
        assert first.text == "sync 1"
        assert first.headers["cache-control"] == "max-age=5"
        assert client.get("/sync").text == "sync 1"
        assert count.calls == 1


def test_tags_invalidate_in_every_client(cache: Cache, url: str) -> None:
    app, responses, _ = _app(cache)
    with TestClient(app) as client:
        assert client.get("/items/1").json()["call"] == 1
        assert client.get("/items/2").json()["call"] == 2
        asyncio.run(responses.ainvalidate("items"))
        assert client.get("/items/1").json()["call"] == 3
        responses.invalidate("items")
        assert client.get("/items/2").json()["call"] == 4
        assert client.get("/sync").text == "sync 5"
        responses.invalidate("items")
        assert client.get("/sync").text == "sync 5"  # untagged route kept


def test_entries_are_shared_through_the_engine(cache: Cache, url: str) -> None:
    """Two apps (two processes' worth of state) share entries on a shared engine."""
    if url == "memory://":
        return  # one process only: covered by the other tests
    app_a, _, count_a = _app(cache)
    other = Cache(url, namespace=cache.config.namespace)
    try:
        app_b, _, count_b = _app(other)
        with TestClient(app_a) as a, TestClient(app_b) as b:
            assert a.get("/items/5").json()["call"] == 1
            assert b.get("/items/5").json()["call"] == 1
        assert (count_a.calls, count_b.calls) == (1, 0)
    finally:
        other.close()


def test_get_cache_dependency(cache: Cache) -> None:
    app, _, _ = _app(cache)
    cache.set("hits", 1)
    with TestClient(app) as client:
        assert client.get("/counter").json() == {"value": 2}
    bare = FastAPI()

    @bare.get("/")
    async def handler(cache: Annotated[Cache, Depends(get_cache)]) -> None:
        pass

    with (
        TestClient(bare, raise_server_exceptions=True) as client,
        pytest.raises(ConfigurationError, match="init_app"),
    ):
        client.get("/")


def test_bad_options() -> None:
    with pytest.raises(ConfigurationError):
        ResponseCache("builtin://", ttl=0)
    with pytest.raises(ConfigurationError):
        ResponseCache("builtin://").cached(ttl=True)
    with pytest.raises(TypeError, match="sequence"):
        ResponseCache("builtin://", vary="accept")
    responses = ResponseCache(namespace="from-env")
    assert "ResponseCache" in repr(responses)
    responses.cache.close()


def test_handler_etag_and_vary_kept(cache: Cache) -> None:
    responses = ResponseCache(cache, vary=["accept"])
    app = FastAPI()
    count = Counter()

    @app.get("/own")
    @responses.cached()
    async def own() -> Response:
        count()
        return PlainTextResponse(
            "own", headers={"ETag": '"v1"', "Cache-Control": "max-age=5", "Vary": "Accept"}
        )

    with TestClient(app) as client:
        first = client.get("/own")
        assert first.headers["etag"] == '"v1"'
        assert first.headers["cache-control"] == "max-age=5"
        assert first.headers.get_list("vary") == ["Accept"]
        assert client.get("/own", headers={"If-None-Match": 'W/"v1"'}).status_code == 304
        assert client.get("/own", headers={"If-None-Match": "*"}).status_code == 304
    assert count.calls == 1


def test_injected_response_parameter_is_honoured(cache: Cache) -> None:
    responses = ResponseCache(cache)
    app = FastAPI()
    count = Counter()

    @app.get("/headers")
    @responses.cached()
    async def with_headers(response: Response) -> dict[str, int]:
        response.headers["X-Call"] = str(count())
        return {"call": count.calls}

    @app.get("/login")
    @responses.cached()
    async def login(response: Response) -> dict[str, int]:
        response.set_cookie("session", "s")
        response.status_code = 203
        return {"call": count()}

    with TestClient(app) as client:
        first = client.get("/headers")
        assert first.headers["x-call"] == "1"
        again = client.get("/headers")
        assert again.headers["x-call"] == "1"
        assert again.json() == {"call": 1}
        login_first = client.get("/login")
        assert login_first.status_code == 203
        assert login_first.cookies["session"] == "s"
        client.cookies.clear()
        assert client.get("/login").json() == {"call": 3}  # Set-Cookie: never stored


def test_stored_entry_is_the_response(cache: Cache) -> None:
    app, _, _ = _app(cache)
    with TestClient(app) as client:
        client.get("/items/9")
    key = request_key("GET", "/items/9", "", {"host": "testserver"}, ())
    stored = cache.get(key)
    assert isinstance(stored, StoredResponse)
    assert stored.status == 200
    assert b'"id":9' in stored.body
    assert ("content-type", "application/json") in stored.headers


def test_dependency_caches_route_responses(cache: Cache) -> None:
    responses = ResponseCache(cache)
    app = FastAPI()
    responses.init_app(app)
    count = Counter()
    cached = Depends(responses.dependency(ttl=20, tags=["dep"], vary=["accept-language"]))

    @app.api_route("/dep/{n}", methods=["GET", "HEAD", "POST"], dependencies=[cached])
    async def dep(n: int, request: Request) -> dict[str, int]:
        return {"n": n, "call": count()}

    @app.get("/created", dependencies=[cached], status_code=203)
    async def created() -> dict[str, int]:
        return {"call": count()}

    with TestClient(app) as client:
        first = client.get("/dep/1")
        assert first.json() == {"n": 1, "call": 1}
        assert first.headers["cache-control"] == "max-age=20"
        assert first.headers["vary"] == "accept-language"
        again = client.get("/dep/1")
        assert again.json() == {"n": 1, "call": 1}
        assert again.headers["etag"] == first.headers["etag"]
        etag = first.headers["etag"]
        assert client.get("/dep/1", headers={"If-None-Match": etag}).status_code == 304
        assert client.head("/dep/1").status_code == 200
        assert client.head("/dep/2").status_code == 200  # a HEAD miss: not stored
        assert client.get("/dep/2").json()["call"] == 3
        assert client.get("/dep/1", headers={"Accept-Language": "fr"}).json()["call"] == 4
        assert client.get("/dep/1", headers={"Cache-Control": "no-store"}).json()["call"] == 5
        assert client.get("/dep/1", headers={"Authorization": "x"}).json()["call"] == 6
        assert client.post("/dep/1").json()["call"] == 7
        assert client.get("/dep/1").json()["call"] == 1
        responses.invalidate("dep")
        assert client.get("/dep/1").json()["call"] == 8
        made = client.get("/created")
        assert made.status_code == 203  # the route's status_code, as FastAPI sends it
        assert client.get("/created").json() == made.json()
        fresh = client.get("/created", headers={"Cache-Control": "no-cache"})
        assert fresh.json()["call"] == 10
    assert count.calls == 10


def test_dependency_needs_init_app(cache: Cache) -> None:
    responses = ResponseCache(cache)
    app = FastAPI()

    @app.get("/", dependencies=[Depends(responses.dependency())])
    async def root() -> None:
        pass

    with TestClient(app) as client, pytest.raises(ConfigurationError, match="init_app"):
        client.get("/")


def _middleware_app(cache: Cache, **options: Any) -> tuple[FastAPI, Counter]:
    app = FastAPI()
    count = Counter()

    @app.api_route("/page", methods=["GET", "HEAD"])
    async def page(request: Request) -> dict[str, Any]:
        return {"call": count(), "q": request.query_params.get("q")}

    @app.get("/chunked")
    async def chunked() -> StreamingResponse:
        count()

        async def chunks() -> AsyncIterator[bytes]:
            yield b"one,"
            yield b"two"

        return StreamingResponse(chunks(), media_type="text/plain")

    @app.get("/events")
    async def events() -> StreamingResponse:
        count()

        async def chunks() -> AsyncIterator[bytes]:
            yield b"data: 1\n\n"

        return StreamingResponse(chunks(), media_type="text/event-stream")

    @app.get("/cookie")
    async def cookie() -> Response:
        response = PlainTextResponse(f"c{count()}")
        response.set_cookie("s", "1")
        return response

    @app.post("/page")
    async def post_page() -> dict[str, int]:
        return {"call": count()}

    app.add_middleware(CacheMiddleware, cache=cache, ttl=30, tags=["pages"], **options)
    return app, count


def test_middleware_caches_whole_app(cache: Cache) -> None:
    app, count = _middleware_app(cache)
    with TestClient(app) as client:
        first = client.get("/page?q=1")
        assert first.json() == {"call": 1, "q": "1"}
        assert first.headers["cache-control"] == "max-age=30"
        assert first.headers["etag"] == strong_etag(first.content)
        again = client.get("/page?q=1")
        assert again.json() == first.json()
        assert again.headers["content-length"] == str(len(again.content))
        assert client.get("/page?q=2").json()["call"] == 2
        assert (
            client.get("/page?q=1", headers={"If-None-Match": first.headers["etag"]}).status_code
            == 304
        )
        assert client.head("/page?q=1").status_code == 200
        assert client.head("/page?q=3").status_code == 200  # a HEAD miss: not stored
        assert client.get("/page?q=3").json()["call"] == 4
        assert client.post("/page").json()["call"] == 5
        assert client.post("/page").json()["call"] == 6


def test_middleware_directives_and_validators(cache: Cache) -> None:
    app, count = _middleware_app(cache)
    with TestClient(app) as client:
        assert client.get("/page", headers={"Cache-Control": "no-store"}).json()["call"] == 1
        assert client.get("/page").json()["call"] == 2
        assert client.get("/page").json()["call"] == 2
        assert client.get("/page", headers={"Cache-Control": "no-cache"}).json()["call"] == 3
        assert client.get("/page", headers={"Authorization": "Basic eA=="}).json()["call"] == 4
        assert client.get("/page").json()["call"] == 3
        etag = strong_etag(b'{"call":5,"q":"new"}')
        miss = client.get("/page?q=new", headers={"If-None-Match": etag})
        assert miss.status_code == 304
        assert miss.headers["etag"] == etag


def test_middleware_streams_cookies_and_tags(cache: Cache) -> None:
    app, count = _middleware_app(cache, vary=["accept"])
    with TestClient(app) as client:
        assert client.get("/chunked").text == "one,two"
        assert client.get("/chunked").text == "one,two"
        assert count.calls == 1  # a chunked body is buffered and stored
        assert client.get("/events").text == "data: 1\n\n"
        assert client.get("/events").text == "data: 1\n\n"
        assert count.calls == 3  # event streams pass through
        assert client.get("/cookie").text == "c4"
        client.cookies.clear()
        assert client.get("/cookie").text == "c5"
        assert client.get("/page").headers["vary"] == "accept"
        cache.invalidate_tags("pages")
        assert client.get("/chunked").text == "one,two"
        assert count.calls == 7


def test_middleware_passes_other_scopes(cache: Cache) -> None:
    app, _ = _middleware_app(cache)

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hi")
        await websocket.close()

    with TestClient(app) as client, client.websocket_connect("/ws") as socket_:
        assert socket_.receive_text() == "hi"


def test_hosts_are_kept_apart(cache: Cache) -> None:
    app, _, count = _app(cache)
    with TestClient(app) as client:
        assert client.get("/items/1", headers={"Host": "a.example"}).json()["call"] == 1
        assert client.get("/items/1", headers={"Host": "b.example"}).json()["call"] == 2
        assert client.get("/items/1", headers={"Host": "a.example"}).json()["call"] == 1
    assert count.calls == 2


def test_helpers() -> None:
    assert parse_cache_control('max-age=5, no-cache, community="x"') == {
        "max-age": "5",
        "no-cache": None,
        "community": "x",
    }
    assert parse_cache_control(None) == {}
    assert not etag_matches(None, '"a"')
    assert etag_matches('"b", W/"a"', '"a"')
    assert request_key("HEAD", "/p", "b=1&a=2&a=1", {}, ()) == request_key(
        "GET", "/p", "a=2&a=1&b=1", {}, ()
    )


async def test_async_client_in_the_event_loop(cache: Cache) -> None:
    """httpx against the app in the test's own event loop: the engine is awaited there."""
    app, responses, count = _app(cache)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        first = await client.get("/items/8")
        second = await client.get("/items/8")
        assert first.json() == second.json() == {"id": 8, "q": None, "call": 1}
        await responses.ainvalidate("items")
        assert (await client.get("/items/8")).json()["call"] == 2
    assert count.calls == 2


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_real_uvicorn_server(cache: Cache) -> None:
    app, _, count = _app(cache)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.started
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            first = client.get("/items/4?q=x")
            second = client.get("/items/4?q=x")
            assert first.json() == second.json() == {"id": 4, "q": "x", "call": 1}
            etag = first.headers["etag"]
            assert client.get("/items/4?q=x", headers={"If-None-Match": etag}).status_code == 304
            head = client.head("/items/4?q=x")
            assert head.status_code == 200
            assert head.content == b""
        assert count.calls == 1
    finally:
        server.should_exit = True
        thread.join(20)


def test_readme_example_runs() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    source = re.findall(r"```python\n(.*?)```", readme, re.S)[0]
    namespace: dict[str, Any] = {"__name__": "readme"}
    exec(compile(source, "README.md", "exec"), namespace)
    app: FastAPI = namespace["app"]
    responses: ResponseCache = namespace["responses"]
    try:
        with TestClient(app) as client:
            first = client.get("/items/1", headers={"Accept-Language": "en"})
            assert first.json() == {"id": 1, "price": 10, "detail": False}
            assert first.headers["cache-control"] == "max-age=30"
            namespace["PRICES"][1] = 99  # changed behind the cache's back
            assert client.get("/items/1", headers={"Accept-Language": "en"}).json()["price"] == 10
            assert client.put("/items/1?price=12").json() == {"last_changed": 1}
            assert client.get("/items/1", headers={"Accept-Language": "en"}).json()["price"] == 12
    finally:
        responses.cache.clear()
        responses.cache.close()
