"""Cross-package fixtures: one URL per engine, each on a real server from the harness."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from twat_cache.cache import live_caches

# engines the cross-package tests run the same decorated code against
LOCAL = ["memory", "builtin"]
SHARED = [
    "disk",
    "sqlite",
    "redis",
    "redis-cluster",
    "memcached-ring",
    "postgres",
    "s3",
    "aiocache-redis",
]


def make_url(name: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of engine ``name``, starting its server through the harness when it has one."""
    if name in ("memory", "builtin"):
        return f"{name}://"
    if name == "disk":
        return f"disk://{tmp_path / 'disk'}"
    if name == "sqlite":
        return f"sqlite:///{tmp_path / 'cache.db'}"
    if name == "s3":
        bucket = request.getfixturevalue("s3_bucket")
        endpoint = request.getfixturevalue("moto_server").url
        return f"s3://{bucket}/cross?endpoint_url={endpoint}&region=us-east-1"
    if name == "aiocache-redis":
        server = request.getfixturevalue("redis_server")
        return f"aiocache+redis://{server.host}:{server.port}/0"
    fixture = {
        "redis": "redis_server",
        "redis-cluster": "redis_cluster",
        "memcached-ring": "memcached_ring",
        "postgres": "postgres_server",
    }[name]
    url: str = request.getfixturevalue(fixture).url
    return url


@pytest.fixture(scope="session")
def s3_bucket(moto_server: Any) -> str:
    """A bucket on the harness's moto server (credentials are moto's dummies)."""
    import boto3

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    client = boto3.client("s3", endpoint_url=moto_server.url, region_name="us-east-1")
    client.create_bucket(Bucket="twat-cross")
    return "twat-cross"


@pytest.fixture(params=LOCAL + SHARED)
def engine_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL for every engine; servers are started lazily by the harness fixtures."""
    return make_url(request.param, request, tmp_path)


@pytest.fixture(params=SHARED)
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL for every engine that several processes can share."""
    return make_url(request.param, request, tmp_path)


@pytest.fixture
def namespace() -> str:
    """A namespace no other test uses (servers are shared by the session)."""
    return "x" + uuid.uuid4().hex[:12]


@pytest.fixture(autouse=True)
def _close_caches() -> Iterator[None]:
    """Close every cache a test opened (decorators too): no socket leaks into the next test."""
    yield
    for cache in live_caches():
        cache.close()
