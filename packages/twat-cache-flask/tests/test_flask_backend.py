"""twat-cache-flask: Flask-Caching on builtin://, a real Redis and disk://.

Redis is the harness' redis-server on a loopback port (tools/twat_cache_harness).
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, Response, request
from flask_caching import Cache as FlaskCache
from twat_cache import BackendError, ConfigurationError, SerializationError
from twat_cache.testing import frozen_clock, wait_until
from twat_cache_flask import DEFAULT_NAMESPACE, TwatCache

# the harness lives in tools/ (on pytest's pythonpath); mypy is not pointed there
from twat_cache_harness import free_port  # type: ignore[import-not-found,unused-ignore]

_names = itertools.count()

MakeApp = Callable[..., tuple[Flask, FlaskCache]]


def _prefix() -> str:
    return f"fl{next(_names)}-{time.monotonic_ns() % 10**9}"


def _backend(app: Flask, cache: FlaskCache) -> TwatCache:
    """The backend Flask-Caching made for ``app`` (typed by Flask-Caching as SimpleCache)."""
    with app.app_context():
        found: object = cache.cache
    assert isinstance(found, TwatCache)
    return found


@pytest.fixture(params=["builtin", "redis", "disk"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "redis":
        url: str = request.getfixturevalue("redis_server").url
        return url
    if request.param == "disk":
        return f"disk://{tmp_path / 'flask-cache'}"
    return "builtin://"


@pytest.fixture
def make_app(location: str) -> Iterator[MakeApp]:
    made: list[TwatCache] = []

    def build(**config: Any) -> tuple[Flask, FlaskCache]:
        app = Flask(__name__)
        app.config.update(
            CACHE_TYPE="twat_cache_flask.TwatCache",
            CACHE_TWAT_URL=location,
            CACHE_DEFAULT_TIMEOUT=300,
            CACHE_KEY_PREFIX=_prefix(),
        )
        app.config.update(config)
        cache = FlaskCache(app)
        made.append(_backend(app, cache))
        return app, cache

    yield build
    for backend in made:
        backend.clear()
        backend.close()


@pytest.fixture
def backend(make_app: MakeApp) -> Iterator[TwatCache]:
    app, cache = make_app()
    with app.app_context():
        yield _backend(app, cache)


def test_cached_view(make_app: MakeApp) -> None:
    app, cache = make_app()
    calls: list[str] = []

    @app.route("/page")
    @cache.cached(timeout=60, query_string=True)
    def page() -> str:
        calls.append(request.query_string.decode())
        return f"call {len(calls)}"

    client = app.test_client()
    assert client.get("/page?a=1").text == "call 1"
    assert client.get("/page?a=1").text == "call 1"
    assert client.get("/page?a=2").text == "call 2"
    assert calls == ["a=1", "a=2"]
    with app.app_context():
        cache.clear()
    assert client.get("/page?a=1").text == "call 3"


def test_memoize(make_app: MakeApp) -> None:
    app, cache = make_app()
    calls: list[tuple[int, int]] = []

    @cache.memoize(timeout=60)
    def add(a: int, b: int) -> int:
        calls.append((a, b))
        return a + b

    with app.app_context():
        assert add(1, 2) == 3
        assert add(1, 2) == 3
        assert add(2, 2) == 4
        assert calls == [(1, 2), (2, 2)]
        cache.delete_memoized(add, 1, 2)
        assert add(1, 2) == 3
        assert add(2, 2) == 4
        assert len(calls) == 3
        cache.delete_memoized(add)
        assert add(2, 2) == 4
        assert len(calls) == 4


def test_backend_api(backend: TwatCache) -> None:
    assert backend.get("k") is None
    assert backend.set("k", {"a": 1}) is True
    assert backend.get("k") == {"a": 1}
    assert backend.has("k")
    assert backend.add("k", "other") is False
    assert backend.add("new", "v") is True
    assert backend.delete("k") is True
    assert backend.delete("k") is False
    assert not backend.has("k")
    assert backend.set_many({"a": 1, "b": None}) == ["a", "b"]
    assert backend.get_many("a", "b", "missing") == [1, None, None]
    assert backend.get_dict("a", "missing") == {"a": 1, "missing": None}
    assert backend.delete_many("a", "missing") == ["a", "missing"]
    assert backend.get_many("a", "b") == [None, None]
    assert backend.clear() is True
    assert backend.get("new") is None


def test_inc_dec(backend: TwatCache) -> None:
    assert backend.inc("n") == 1  # a missing counter starts at 0
    assert backend.inc("n", 5) == 6
    assert backend.dec("n", 10) == -4
    assert backend.dec("down") == -1
    assert backend.get("n") == -4
    backend.set("text", "abc")
    with pytest.raises(TypeError):
        backend.inc("text")


def test_inc_when_another_writer_creates_the_counter(
    backend: TwatCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    twat = backend.twat_cache
    real_add = twat.add

    def add_after_someone_else(key: Any, value: Any, ttl: Any = None) -> bool:
        real_add(key, 10, ttl)  # the other writer wins the race
        return False

    monkeypatch.setattr(twat, "add", add_after_someone_else)
    assert backend.inc("raced", 2) == 12


def test_timeouts(make_app: MakeApp) -> None:
    app, cache = make_app(CACHE_DEFAULT_TIMEOUT=1)
    with app.app_context():
        backend = _backend(app, cache)
        backend.set("default", "x")  # CACHE_DEFAULT_TIMEOUT=1
        backend.set("never", "x", timeout=0)  # Flask-Caching: 0 never expires
        backend.set("delta", "x", timeout=dt.timedelta(minutes=5))
        assert backend.set_many({"many": "x"}, timeout=0) == ["many"]
        assert backend.add("added", "x", timeout=0) is True
        assert wait_until(lambda: not backend.has("default"))
        assert backend.get_many("never", "delta", "many", "added") == ["x"] * 4
        backend.set("gone", "old")
        assert backend.set("gone", "new", timeout=-1) is True
        assert backend.get("gone") is None  # negative: expires at once, the old value too
        assert backend.add("free", "v", timeout=-1) is True
        assert backend.add("never", "v", timeout=-1) is False
        assert backend.get("free") is None
        assert backend.set_many({"never": 1, "many": 2}, timeout=-1) == ["never", "many"]
        assert backend.get_many("never", "many") == [None, None]


def test_a_frozen_clock_expires_cached_views() -> None:
    """Flask-Caching's own suite advances a fake clock: frozen_clock() does that here."""
    app = Flask(__name__)
    app.config.update(
        CACHE_TYPE="twat_cache_flask.TwatCache",
        CACHE_TWAT_URL="builtin://",
        CACHE_KEY_PREFIX=_prefix(),
    )
    cache = FlaskCache(app)
    calls: list[int] = []

    @app.route("/rate")
    @cache.cached(timeout=60)
    def rate() -> str:
        calls.append(1)
        return f"call {len(calls)}"

    client = app.test_client()
    with frozen_clock() as clock:
        assert client.get("/rate").text == "call 1"
        clock.advance(59)
        assert client.get("/rate").text == "call 1"
        clock.advance(2)
        assert client.get("/rate").text == "call 2"
    _backend(app, cache).close()


def test_key_prefix_becomes_the_namespace(make_app: MakeApp) -> None:
    app, cache = make_app(CACHE_KEY_PREFIX="app-one")
    other_app, other = make_app(CACHE_KEY_PREFIX="app-two")
    with app.app_context():
        mine = _backend(app, cache)
        assert mine.twat_cache.config.namespace == "app-one"
        assert mine.key_prefix == ""
        mine.set("k", 1)
    with other_app.app_context():
        other.set("k", 2)
    with app.app_context():
        cache.clear()  # clears app-one's namespace only
        assert cache.get("k") is None
    with other_app.app_context():
        assert other.get("k") == 2
        other.clear()


def test_prefix_that_is_no_namespace_is_prepended(make_app: MakeApp) -> None:
    app, cache = make_app(CACHE_KEY_PREFIX="myapp:")
    named_app, named = make_app(CACHE_KEY_PREFIX="p/", CACHE_OPTIONS={"namespace": "named"})
    with app.app_context():
        backend = _backend(app, cache)
        assert backend.twat_cache.config.namespace == DEFAULT_NAMESPACE
        backend.set("k", 1)
        assert backend.twat_cache.get("myapp:k") == 1
    with named_app.app_context():
        backend = _backend(named_app, named)
        assert backend.twat_cache.config.namespace == "named"
        backend.set("k", 2)
        assert backend.twat_cache.get("p/k") == 2


def test_options_and_errors(make_app: MakeApp) -> None:
    app, cache = make_app(CACHE_OPTIONS={"serializer": "json", "maxsize": 10})
    with app.app_context():
        backend = _backend(app, cache)
        assert backend.twat_cache.config.serializer == "json"
        assert not backend.twat_cache.config.strict  # fail-open; writes say whether they happened
    with pytest.raises(ConfigurationError, match="CACHE_ARGS"):
        make_app(CACHE_ARGS=["x"])
    with pytest.raises(ConfigurationError, match="CACHE_DEFAULT_TIMEOUT"):
        make_app(CACHE_OPTIONS={"ttl": 5})
    with pytest.raises(ConfigurationError, match="option"):
        make_app(CACHE_OPTIONS={"no_such_option": 1})


def test_readers_get_copies(make_app: MakeApp) -> None:
    """A cached response that Flask mutates later must not change what others read."""
    app, cache = make_app()
    calls: list[int] = []

    @app.route("/")
    @cache.cached()
    def index() -> Response:
        calls.append(1)
        return Response("body")

    @app.after_request
    def per_user(response: Response) -> Response:
        response.headers.add("X-User", request.args.get("user", "?"))
        return response

    client = app.test_client()
    assert client.get("/?user=a").headers.getlist("X-User") == ["a"]
    assert client.get("/?user=b").headers.getlist("X-User") == ["b"]
    assert len(calls) == 1
    backend = _backend(app, cache)
    backend.set_many({"k": [1]})
    backend.get("k").append(2)
    backend.get_many("k")[0].append(3)
    assert backend.get("k") == [1]


def test_unpicklable_values_raise(backend: TwatCache) -> None:
    backend.set("k", "old")
    with pytest.raises(SerializationError):
        backend.set("k", threading.Lock())
    with pytest.raises(SerializationError):
        backend.add("new", threading.Lock())
    assert backend.get("k") == "old"


@pytest.fixture
def dead_url() -> str:
    return f"redis://127.0.0.1:{free_port()}/0?socket_connect_timeout=1"


def test_a_dead_server_answers_like_a_miss(dead_url: str) -> None:
    backend = TwatCache(dead_url, key_prefix=_prefix(), retry_after=0)
    assert backend.get("k") is None
    assert backend.set("k", 1) is False
    assert backend.set("k", 1, timeout=-1) is False
    assert backend.add("k", 1) is False
    assert backend.add("k", 1, timeout=-1) is False
    assert backend.has("k") is False
    assert backend.get_many("k") == [None]
    assert backend.set_many({"k": 1}) == []
    assert backend.delete("k") is False
    assert backend.clear() is False
    assert backend.inc("k") is None
    with pytest.raises(RuntimeError, match="Failed to delete"):
        backend.delete_many("k")
    backend.ignore_delete_many_errors = True
    assert backend.delete_many("k") == []
    backend.close()


def test_delete_many_is_not_failed_by_another_calls_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Only this call's own outcome counts: another call failing meanwhile is not its failure."""
    backend = TwatCache("memory://", key_prefix=_prefix(), retry_after=0)
    cache = backend._cache
    engine = cache.backend
    backend.set("k", 1)
    real_get, real_delete_many = engine.get, engine.delete_many

    def get(key: Any) -> Any:
        if str(key).endswith("other"):
            raise OSError("another call's connection broke")
        return real_get(key)

    def delete_many(keys: Any) -> int:
        backend.get("other")  # a concurrent call fails while this delete runs (fail-open)
        return int(real_delete_many(keys))

    monkeypatch.setattr(engine, "get", get)
    monkeypatch.setattr(engine, "delete_many", delete_many)
    assert backend.delete_many("k", "missing") == ["k", "missing"]
    assert cache.stats.errors == 1  # the other call's failure, counted as ever
    assert backend.has("k") is False
    backend.close()


def test_a_dead_server_leaves_views_working(dead_url: str) -> None:
    app = Flask(__name__)
    app.config.update(CACHE_TYPE="twat_cache_flask.TwatCache", CACHE_TWAT_URL=dead_url)
    cache = FlaskCache(app)
    calls: list[int] = []

    @app.route("/")
    @cache.cached()
    def index() -> str:
        calls.append(1)
        return "ok"

    client = app.test_client()
    assert client.get("/").text == client.get("/").text == "ok"
    assert len(calls) == 2


def test_strict_option_raises(dead_url: str) -> None:
    backend = TwatCache(dead_url, key_prefix=_prefix(), strict=True)
    with pytest.raises(BackendError):
        backend.get("k")
    backend.close()
