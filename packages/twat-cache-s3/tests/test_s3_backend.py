"""Tests of the s3 engine against moto's S3 server over real HTTP on 127.0.0.1.

A few failure paths (503s, refused writes, partial DeleteObjects failures) need
answers moto never gives; a tiny HTTP server on 127.0.0.1 gives them instead.
"""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Protocol

import boto3
import pytest
import twat_cache_s3.backend as backend_module
import twat_cache_s3.objects as objects_module
from botocore.exceptions import ClientError, EndpointConnectionError
from twat_cache import Cache
from twat_cache.config import resolve_config
from twat_cache.exceptions import BackendError, CacheOperationError, ConfigurationError
from twat_cache.protocols import capabilities_of
from twat_cache.registry import create_backend, engine_class
from twat_cache.serializers import encode_int
from twat_cache.testing import AsyncBackendConformance, BackendConformance
from twat_cache.urls import parse_url
from twat_cache_s3 import EXPIRY_TAG, S3Backend, S3Settings

if TYPE_CHECKING:
    from types_boto3_s3.client import S3Client

BUCKET = "twat-cache-tests"
MakeBackend = Callable[[str], S3Backend]


class _MotoServer(Protocol):
    """What these tests use of the harness's moto server (tools/twat_cache_harness/servers.py)."""

    @property
    def url(self) -> str: ...


def free_port() -> int:
    """A loopback port nothing listens on (the kernel's pick, released at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- fixtures ----------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Test credentials through boto3's usual chain, and nothing of the machine's AWS setup."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture(scope="session")
def s3_endpoint(moto_server: _MotoServer) -> str:
    """moto's endpoint, with the tests' bucket created once for the session."""
    client = _raw_client(moto_server.url)
    client.create_bucket(Bucket=BUCKET)
    client.close()
    return moto_server.url


@pytest.fixture
def s3(s3_endpoint: str) -> Iterator[S3Client]:
    """A plain boto3 client on the same bucket, to look at objects behind the engine's back."""
    client = _raw_client(s3_endpoint)
    yield client
    client.close()


@pytest.fixture
def prefix() -> str:
    return "t-" + uuid.uuid4().hex[:10]


@pytest.fixture
def backend(s3_endpoint: str, prefix: str) -> Iterator[S3Backend]:
    engine = S3Backend(S3Settings(BUCKET, prefix, endpoint_url=s3_endpoint), namespace="ns")
    yield engine
    engine.close()


def _raw_client(endpoint: str) -> S3Client:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


class _Clock:
    """A settable stand-in for the expiry clock: expiry tests never sleep."""

    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    fake = _Clock()
    monkeypatch.setattr(objects_module, "_now", fake)
    return fake


# --- the conformance kit -----------------------------------------------------------------


class _OnMoto:
    @pytest.fixture
    def make_backend(self, s3_endpoint: str) -> MakeBackend:
        def make(namespace: str) -> S3Backend:
            settings = S3Settings(BUCKET, "kit", endpoint_url=s3_endpoint, region="us-east-1")
            return S3Backend(settings, namespace=namespace)

        return make


class TestS3Conformance(_OnMoto, BackendConformance): ...


class TestS3AsyncConformance(_OnMoto, AsyncBackendConformance): ...


# --- URLs and options --------------------------------------------------------------------


def _from_url(url: str) -> S3Backend:
    engine = create_backend(resolve_config(url, environ={}, namespace="app"))
    assert isinstance(engine, S3Backend)
    return engine


def test_entry_point_names_the_engine() -> None:
    assert engine_class("s3") is S3Backend


def test_url_options() -> None:
    url = (
        "s3://my-bucket/a/b/?endpoint_url=http://127.0.0.1:9/&region=eu-west-3&max_workers=4"
        "&connect_timeout=1.5&read_timeout=2&max_attempts=5&addressing_style=virtual"
    )
    with _from_url(url) as engine:
        assert engine.settings == S3Settings(
            "my-bucket", "a/b", "http://127.0.0.1:9/", "eu-west-3", 4, 1.5, 2.0, 5, "virtual"
        )
        assert engine.names.base == "a/b/app/"
        assert "s3://my-bucket/a/b/app/" in repr(engine)


def test_url_defaults_and_no_network_at_construction() -> None:
    port = free_port()  # nothing listens there: construction must not notice
    with _from_url(f"s3://bucket-x?endpoint_url=http://127.0.0.1:{port}") as engine:
        assert engine.names.base == "app/"
        assert engine.settings.max_workers == 16
        assert engine.settings.max_attempts == 3
        config: Any = engine.settings.client().meta.config  # the stubs leave out .s3, .retries
        assert config.s3 == {"addressing_style": "path"}  # path style with an endpoint
        assert config.retries == {"mode": "standard", "total_max_attempts": 3}
    aws_config: Any = S3Settings("bucket-x").client().meta.config
    assert aws_config.s3 == {"addressing_style": "auto"}


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("s3:///prefix", "s3 url"),
        ("s3://a:9000/p", "s3 url"),
        ("s3://b1,b2/p", "s3 url"),
        ("s3://key:secret@bucket/p", "credentials"),
        ("s3://ab", "bucket"),
        ("s3://-bad-/p", "bucket"),
        ("s3://bucket?endpoint_url=ftp://127.0.0.1:1", "endpoint_url"),
        ("s3://bucket?endpoint_url=http://", "endpoint_url"),
        ("s3://bucket?region=us%20east", "region"),
        ("s3://bucket?region=us-east-1%0A", "region"),
        ("s3://bucket?max_workers=0", "max_workers"),
        ("s3://bucket?max_attempts=zero", "max_attempts"),
        ("s3://bucket?connect_timeout=0", "connect_timeout"),
        ("s3://bucket?read_timeout=-1", "read_timeout"),
        ("s3://bucket?addressing_style=dns", "addressing_style"),
        ("s3://bucket?acl=public-read", "acl"),
    ],
)
def test_bad_urls_fail_at_construction(url: str, field: str) -> None:
    with pytest.raises(ConfigurationError, match=field):
        S3Backend.from_config(resolve_config("s3://bucket", environ={}), parse_url(url))


@pytest.mark.parametrize(
    ("options", "field", "supported"),
    [
        ({"maxsize": 30}, "maxsize", "sqlite://"),
        ({"maxbytes": 10**6}, "maxbytes", "disk://"),
        ({"policy": "lfu"}, "policy", "memory://"),
    ],
)
def test_limits_s3_cannot_keep_are_refused_naming_who_can(
    options: dict[str, Any], field: str, supported: str
) -> None:
    with pytest.raises(ConfigurationError, match=field) as info:
        create_backend(resolve_config("s3://bucket/p", environ={}, **options))
    assert supported in info.value.allowed
    assert "lifecycle" in info.value.allowed


def test_the_s3_engine_declares_what_it_is() -> None:
    caps = capabilities_of(S3Backend(S3Settings("bucket")))
    assert (caps.shared, caps.persistent, caps.native_ttl) == (True, True, False)
    assert (caps.atomic_add, caps.atomic_incr, caps.lists_keys) == (True, True, True)
    assert (caps.stores_objects, caps.blocking) == (False, True)
    assert caps.max_value_size == 5 * 2**30


def test_bad_settings_fail_at_construction() -> None:
    with pytest.raises(ConfigurationError, match="max_workers"):
        S3Settings("bucket", max_workers=True)
    with pytest.raises(ConfigurationError, match="read_timeout"):
        S3Settings("bucket", read_timeout="1")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="connect_timeout"):
        S3Settings("bucket", connect_timeout=float("inf"))
    with pytest.raises(ConfigurationError, match="addressing_style"):
        S3Settings("bucket", addressing_style="dns")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="namespace"):
        S3Backend(S3Settings("bucket"), namespace="a/b")


def test_through_the_cache_object(s3_endpoint: str, prefix: str) -> None:
    url = f"s3://{BUCKET}/{prefix}?endpoint_url={s3_endpoint}&region=us-east-1"
    cache = Cache(url, namespace="app")
    try:
        cache.set("user", {"id": 1}, tags=["users"])
        cache.set("hits", 1)
        assert cache.get("user") == {"id": 1}
        assert cache.incr("hits", 2) == 3
        cache.invalidate_tags("users")
        assert cache.get("user") is None
    finally:
        cache.close()


# --- how entries are stored --------------------------------------------------------------


def test_object_names_metadata_and_tags(
    backend: S3Backend, s3: S3Client, clock: _Clock, prefix: str
) -> None:
    backend.set("user:1 é/x", b"v", ttl=60)
    name = f"{prefix}/ns/user%3A1%20%C3%A9%2Fx"
    head = s3.head_object(Bucket=BUCKET, Key=name)
    assert head["Metadata"] == {"expires-at": repr(clock.now + 60)}
    assert s3.get_object_tagging(Bucket=BUCKET, Key=name)["TagSet"] == [
        {"Key": EXPIRY_TAG, "Value": "1"}
    ]
    backend.set("forever", b"v")
    assert s3.head_object(Bucket=BUCKET, Key=f"{prefix}/ns/forever")["Metadata"] == {}
    assert s3.get_object_tagging(Bucket=BUCKET, Key=f"{prefix}/ns/forever")["TagSet"] == []
    assert sorted(backend.keys()) == ["forever", "user:1 é/x"]


@pytest.mark.parametrize(
    ("ttl", "days"),
    [(1.0, "1"), (86400.0, "1"), (86401.0, "7"), (20 * 86400.0, "30"), (90 * 86400.0, "365")],
)
def test_lifecycle_tag_is_the_days_bucket(
    backend: S3Backend, s3: S3Client, prefix: str, ttl: float, days: str
) -> None:
    backend.set("k", b"v", ttl=ttl)
    tags = s3.get_object_tagging(Bucket=BUCKET, Key=f"{prefix}/ns/k")["TagSet"]
    assert tags == [{"Key": EXPIRY_TAG, "Value": days}]


def test_no_lifecycle_tag_beyond_a_year(backend: S3Backend, s3: S3Client, prefix: str) -> None:
    backend.set("k", b"v", ttl=400 * 86400.0)
    assert s3.get_object_tagging(Bucket=BUCKET, Key=f"{prefix}/ns/k")["TagSet"] == []


def test_touch_rewrites_expiry_and_tag(
    backend: S3Backend, s3: S3Client, clock: _Clock, prefix: str
) -> None:
    name = f"{prefix}/ns/k"
    backend.set("k", b"value", ttl=10)
    assert backend.touch("k", 30 * 86400.0) is True
    assert s3.head_object(Bucket=BUCKET, Key=name)["Metadata"] == {
        "expires-at": repr(clock.now + 30 * 86400.0)
    }
    assert s3.get_object_tagging(Bucket=BUCKET, Key=name)["TagSet"] == [
        {"Key": EXPIRY_TAG, "Value": "30"}
    ]
    assert backend.touch("k", None) is True
    assert s3.head_object(Bucket=BUCKET, Key=name)["Metadata"] == {}
    assert s3.get_object_tagging(Bucket=BUCKET, Key=name)["TagSet"] == []
    assert backend.get("k") == b"value"


def test_incr_keeps_expiry(backend: S3Backend, s3: S3Client, clock: _Clock, prefix: str) -> None:
    backend.set("n", encode_int(2**40), ttl=10)
    assert backend.incr("n", 5) == 2**40 + 5
    name = f"{prefix}/ns/n"
    assert s3.head_object(Bucket=BUCKET, Key=name)["Metadata"] == {
        "expires-at": repr(clock.now + 10)
    }
    assert s3.get_object_tagging(Bucket=BUCKET, Key=name)["TagSet"] == [
        {"Key": EXPIRY_TAG, "Value": "1"}
    ]
    clock.now += 10
    with pytest.raises(ValueError, match="not found"):
        backend.incr("n")


@pytest.mark.parametrize(("start", "delta"), [(2**63 - 1, 1), (-(2**63), -1), (2**70, 1)])
def test_incr_outside_64_bits_is_an_overflow_error_and_keeps_the_value(
    backend: S3Backend, start: int, delta: int
) -> None:
    backend.set("n", encode_int(start))
    with pytest.raises(OverflowError, match="64-bit"):
        backend.incr("n", delta)
    assert backend.get("n") == encode_int(start)


def test_set_returns_true_and_declines_what_s3_cannot_take(
    backend: S3Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert backend.set("k", b"v") is True
    assert backend.set_many({"a": b"1", "b": b"2"}) is True
    monkeypatch.setattr(backend_module, "_MAX_PUT", 3)  # instead of a 5 GiB value
    assert backend.set("k", b"four") is False
    assert backend.set_many({"a": b"1", "b": b"four"}) is False
    assert (backend.get("k"), backend.get("a"), backend.get("b")) == (b"v", b"1", b"2")


def test_long_and_odd_keys(backend: S3Backend, s3: S3Client, prefix: str) -> None:
    long_key = "x" * 1200  # past 1024 bytes: hashed, the key kept in metadata
    too_long = "й" * 1000  # hashed, and even its encoded form does not fit in metadata
    for key in (long_key, too_long, ".", "..", ""):
        backend.set(key, key.encode())
        assert backend.get(key) == key.encode()
    names = sorted(
        o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{prefix}/ns/")["Contents"]
    )
    assert all(len(n.encode()) <= 1024 for n in names)
    assert f"{prefix}/ns/%2E%2E" in names
    assert sorted(backend.keys()) == sorted(["", ".", "..", long_key])  # too_long is not listed
    assert backend.delete(too_long) is True
    assert backend.get(too_long) is None


def test_expired_entries_read_as_absent_and_are_deleted(
    backend: S3Backend, s3: S3Client, clock: _Clock, prefix: str
) -> None:
    backend.set_many({"a": b"1", "b": b"2", "c": b"3", "d": b"4"}, ttl=5)
    clock.now += 5
    assert list(backend.keys()) == ["a", "b", "c", "d"]  # a listing has no metadata: documented
    assert backend.get("a") is None
    with pytest.raises(ClientError):
        s3.head_object(Bucket=BUCKET, Key=f"{prefix}/ns/a")  # deleted lazily by the read
    assert backend.get_many(["b"]) == {}
    assert backend.delete("c") is False
    assert backend.touch("d", 100) is False
    assert backend.delete_many(["a", "b", "c", "d"]) == 0
    backend.set("lock", b"old", ttl=5)
    clock.now += 5
    assert backend.add("lock", b"new") is True  # replaces the expired object (If-Match its ETag)
    assert backend.get("lock") == b"new"


def test_clear_and_keys_stay_in_their_folder(
    backend: S3Backend, s3: S3Client, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backend_module, "_BATCH", 7)  # DeleteObjects in batches of 7
    backend.set_many({f"k{i}": b"v" for i in range(20)})
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}/ns/deeper/x", Body=b"not this namespace's")
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}/ns2/y", Body=b"another namespace")
    assert len(list(backend.keys())) == 20
    backend.clear()
    assert list(backend.keys()) == []
    left = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)["Contents"])
    assert left == [f"{prefix}/ns/deeper/x", f"{prefix}/ns2/y"]


def test_get_many_runs_on_a_bounded_pool(s3_endpoint: str, prefix: str) -> None:
    settings = S3Settings(BUCKET, prefix, endpoint_url=s3_endpoint, max_workers=3)
    with S3Backend(settings, namespace="ns") as engine:
        items = {f"k{i}": str(i).encode() for i in range(30)}
        engine.set_many(items)
        engine.set_many({"one": b"1"})  # a single item is written inline
        assert engine.get_many([*items, "missing", "k1"]) == items
        assert engine.get_many(["one"]) == {"one": b"1"}
        assert engine.delete_many([*items, "missing"]) == 30
        pool = engine._pool
        assert pool is not None
        assert pool._max_workers == 3
    assert pool._shutdown


def test_racing_engines_one_add_winner_and_exact_incr(s3_endpoint: str, prefix: str) -> None:
    """Eight engines (eight clients, as eight processes would have) race on one key."""
    settings = S3Settings(BUCKET, prefix, endpoint_url=s3_endpoint)
    engines = [S3Backend(settings, namespace="race") for _ in range(8)]
    try:
        engines[0].set("n", encode_int(0))
        barrier = threading.Barrier(len(engines))
        won: list[bool] = []

        def race(engine: S3Backend, i: int) -> None:
            barrier.wait(timeout=30)
            won.append(engine.add("lock", f"token-{i}".encode(), ttl=60))
            for _ in range(10):
                engine.incr("n")

        threads = [threading.Thread(target=race, args=(e, i)) for i, e in enumerate(engines)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert sorted(won) == [False] * 7 + [True]
        assert engines[0].incr("n", 0) == 80
    finally:
        for engine in engines:
            engine.close()


def test_closed_engine_refuses(backend: S3Backend) -> None:
    backend.close()
    for call in (
        lambda: backend.get_many(["a", "b"]),
        backend.keys,
        backend.clear,
        lambda: backend.incr("n"),
    ):
        with pytest.raises(CacheOperationError):
            call()


# --- failures ----------------------------------------------------------------------------


def test_missing_bucket_is_named(s3_endpoint: str) -> None:
    with S3Backend(
        S3Settings("no-such-bucket", endpoint_url=s3_endpoint), namespace="ns"
    ) as engine:
        for call in (
            lambda: engine.get("k"),
            lambda: engine.set("k", b"v"),
            lambda: engine.add("k", b"v"),
            lambda: engine.delete("k"),  # a HEAD: its 404 alone cannot tell
            lambda: engine.touch("k", 1),
            lambda: list(engine.keys()),
            engine.clear,
        ):
            with pytest.raises(
                BackendError, match="S3 bucket 'no-such-bucket' does not exist"
            ) as info:
                call()
            assert isinstance(info.value.__cause__, ClientError)


def test_unreachable_endpoint_is_a_backend_error() -> None:
    settings = S3Settings(BUCKET, endpoint_url=f"http://127.0.0.1:{free_port()}", max_attempts=1)
    with S3Backend(settings) as engine, pytest.raises(BackendError, match="127.0.0.1") as info:
        engine.get("k")
    assert isinstance(info.value.__cause__, EndpointConnectionError)


Reply = tuple[int, dict[str, str], bytes]


class _Endpoint:
    """A tiny HTTP server on 127.0.0.1 that answers every request with ``respond``'s reply."""

    def __init__(self, respond: Callable[[str, str], Reply]) -> None:
        self.requests: list[tuple[str, str]] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # answers botocore's "Expect: 100-continue" at once

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                endpoint.requests.append((self.command, self.path))
                status, headers, body = respond(self.command, self.path)
                self.send_response(status)
                for name, value in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(name, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> _Endpoint:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def _error(status: int, code: str) -> Reply:
    body = f"<?xml version='1.0'?><Error><Code>{code}</Code><Message>{code}</Message></Error>"
    return status, {"Content-Type": "application/xml"}, body.encode()


def test_503_is_retried_with_backoff_then_a_backend_error() -> None:
    with _Endpoint(lambda method, path: _error(503, "SlowDown")) as endpoint:
        settings = S3Settings(BUCKET, endpoint_url=endpoint.url, max_attempts=3, read_timeout=5)
        with S3Backend(settings) as engine, pytest.raises(BackendError, match="SlowDown") as info:
            engine.set("k", b"v")
        assert isinstance(info.value.__cause__, ClientError)
        assert len(endpoint.requests) == 3  # every attempt, then the error


def test_conditional_writes_that_always_conflict_give_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backend_module, "_ATTEMPTS", 3)

    def respond(method: str, path: str) -> Reply:
        if method == "HEAD":  # the key is absent, the bucket exists
            return (200, {}, b"") if path.rstrip("/").count("/") == 1 else (404, {}, b"")
        return _error(412, "PreconditionFailed")

    with (
        _Endpoint(respond) as endpoint,
        S3Backend(S3Settings(BUCKET, endpoint_url=endpoint.url)) as engine,
    ):
        with pytest.raises(BackendError, match="gave up after 3 conflicting writes"):
            engine.add("k", b"v")
        puts = [r for r in endpoint.requests if r[0] == "PUT"]
        assert len(puts) == 3


def test_other_errors_of_conditional_writes_are_not_retried() -> None:
    def respond(method: str, path: str) -> Reply:
        if method == "HEAD":
            return (200, {}, b"") if path.rstrip("/").count("/") == 1 else (404, {}, b"")
        return _error(403, "AccessDenied")

    with (
        _Endpoint(respond) as endpoint,
        S3Backend(S3Settings(BUCKET, endpoint_url=endpoint.url)) as engine,
    ):
        with pytest.raises(BackendError, match="AccessDenied"):
            engine.add("k", b"v")
        assert [r[0] for r in endpoint.requests].count("PUT") == 1


def test_a_forbidden_bucket_is_not_a_missing_one() -> None:
    with _Endpoint(
        lambda method, path: (
            (403, {}, b"") if method == "HEAD" and path.count("/") == 1 else (404, {}, b"")
        )
    ) as endpoint:
        with (
            S3Backend(S3Settings(BUCKET, endpoint_url=endpoint.url)) as engine,
            pytest.raises(BackendError) as info,
        ):
            engine.delete("k")
        assert "does not exist" not in str(info.value)


def test_expired_object_that_cannot_be_deleted_is_still_a_miss(clock: _Clock) -> None:
    def respond(method: str, path: str) -> Reply:
        if method == "GET":
            return 200, {"ETag": '"abc"', "x-amz-meta-expires-at": repr(clock.now - 1)}, b"stale"
        return _error(412, "PreconditionFailed")  # the conditional DELETE: someone replaced it

    with (
        _Endpoint(respond) as endpoint,
        S3Backend(S3Settings(BUCKET, endpoint_url=endpoint.url)) as engine,
    ):
        assert engine.get("k") is None
        assert [r[0] for r in endpoint.requests] == ["GET", "DELETE"]


def test_partial_delete_objects_failure_is_a_backend_error() -> None:
    listing = (
        "<?xml version='1.0'?><ListBucketResult><Name>twat-cache-tests</Name><Prefix>ns/</Prefix>"
        "<KeyCount>1</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>"
        "<Contents><Key>ns/k</Key><Size>1</Size></Contents></ListBucketResult>"
    )
    failed = (
        "<?xml version='1.0'?><DeleteResult><Error><Key>ns/k</Key><Code>AccessDenied</Code>"
        "<Message>Access Denied</Message></Error></DeleteResult>"
    )

    def respond(method: str, path: str) -> Reply:
        return (
            200,
            {"Content-Type": "application/xml"},
            (listing if method == "GET" else failed).encode(),
        )

    with (
        _Endpoint(respond) as endpoint,
        S3Backend(S3Settings(BUCKET, endpoint_url=endpoint.url), namespace="ns") as engine,
    ):
        with pytest.raises(BackendError, match="1 objects not deleted .* 'ns/k': AccessDenied"):
            engine.clear()


def test_timeout_is_botocores_own_read_and_connect_timeout() -> None:
    config = resolve_config("s3://bucket", environ={}, timeout=0.5)
    engine = S3Backend.from_config(config, parse_url("s3://bucket"))
    assert (engine.settings.read_timeout, engine.settings.connect_timeout) == (0.5, 0.5)
    given = resolve_config("s3://bucket?read_timeout=7", environ={}, timeout=0.5)
    engine = S3Backend.from_config(given, parse_url("s3://bucket?read_timeout=7"))
    assert (engine.settings.read_timeout, engine.settings.connect_timeout) == (7.0, 0.5)
