"""The test harness starts real servers that really work (checked over raw sockets)."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import socket
import subprocess
import urllib.error
import urllib.request
import uuid

import pytest
from twat_cache_harness import (
    HarnessError,
    MemcachedRing,
    MemcachedServer,
    MotoServer,
    PostgresServer,
    RedisCluster,
    RedisServer,
    ensure_binary,
    free_port,
    redis_command,
)
from twat_cache_harness.pytest_plugin import AsyncioLeaks

pytestmark = pytest.mark.timeout(120)


def _talk(host: str, port: int, payload: bytes, until: bytes) -> bytes:
    """Send raw bytes and read until the reply ends with ``until``."""
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(payload)
        data = b""
        while not data.endswith(until):
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        return data


def _resp(*args: str) -> bytes:
    return f"*{len(args)}\r\n".encode() + b"".join(
        f"${len(a.encode())}\r\n{a}\r\n".encode() for a in args
    )


def _refused(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError:
        return True
    return False


def test_redis_ping_set_get(redis_server: RedisServer) -> None:
    assert redis_server.url == f"redis://127.0.0.1:{redis_server.port}/0"
    host, port = redis_server.host, redis_server.port
    assert _talk(host, port, b"PING\r\n", b"\r\n") == b"+PONG\r\n"
    assert _talk(host, port, _resp("SET", "k", "v\r\nx"), b"\r\n") == b"+OK\r\n"
    assert _talk(host, port, _resp("GET", "k"), b"x\r\n") == b"$4\r\nv\r\nx\r\n"
    assert redis_command(host, port, "GET", "k") == b"v\r\nx"
    assert redis_command(host, port, "GET", "missing") is None


def test_fresh_redis_kill_and_restart(fresh_redis_server: RedisServer) -> None:
    server = fresh_redis_server
    port, pid = server.port, server.pid
    assert redis_command(server.host, port, "SET", "k", "v") == "OK"
    server.kill()
    assert not server.running
    assert _refused(server.host, port)
    server.restart()
    assert (server.port, server.running) == (port, True)
    assert server.pid != pid
    assert redis_command(server.host, port, "GET", "k") is None  # no persistence: data is gone


def test_redis_cluster_state_ok_on_all_nodes(redis_cluster: RedisCluster) -> None:
    assert len(redis_cluster.ports) == 3
    assert redis_cluster.url == "redis+cluster://" + ",".join(
        f"127.0.0.1:{p}" for p in redis_cluster.ports
    )
    for port in redis_cluster.ports:
        info = _talk("127.0.0.1", port, _resp("CLUSTER", "INFO"), b"\r\n\r\n")
        assert b"cluster_state:ok" in info
        assert b"cluster_slots_assigned:16384" in info
        assert b"cluster_known_nodes:3" in info
    # A key lands on exactly one master; the others redirect with -MOVED.
    replies = [_talk("127.0.0.1", p, _resp("SET", "k", "v"), b"\r\n") for p in redis_cluster.ports]
    assert sorted(r[:3] for r in replies) == [b"+OK", b"-MO", b"-MO"]


def test_memcached_set_get(memcached_server: MemcachedServer) -> None:
    host, port = memcached_server.host, memcached_server.port
    assert memcached_server.url == f"memcached://127.0.0.1:{port}"
    assert _talk(host, port, b"set k 0 0 5\r\nhello\r\n", b"\r\n") == b"STORED\r\n"
    assert _talk(host, port, b"get k\r\n", b"END\r\n") == b"VALUE k 0 5\r\nhello\r\nEND\r\n"
    big = b"x" * (2 * 1024 * 1024)  # over the default 1m item size limit
    reply = _talk(host, port, b"set big 0 0 %d\r\n%s\r\n" % (len(big), big), b"\r\n")
    assert reply.startswith(b"SERVER_ERROR")


def test_memcached_ring_node_stop_start(fresh_memcached_ring: MemcachedRing) -> None:
    ring = fresh_memcached_ring
    assert len(ring.urls) == 3
    assert ring.url == "memcached://" + ",".join(f"127.0.0.1:{p}" for p in ring.ports)
    port = ring.ports[1]
    assert _talk("127.0.0.1", port, b"set k 0 0 1\r\nv\r\n", b"\r\n") == b"STORED\r\n"
    ring.stop_node(1)
    assert _refused("127.0.0.1", port)
    assert _talk("127.0.0.1", ring.ports[0], b"version\r\n", b"\r\n").startswith(b"VERSION")
    ring.start_node(1)
    assert ring.ports[1] == port
    assert _talk("127.0.0.1", port, b"get k\r\n", b"END\r\n") == b"END\r\n"


def test_memcached_bad_option_reports_log_tail() -> None:
    server = MemcachedServer(item_size="not-a-size")
    with pytest.raises(HarnessError, match="exited with code"):
        server.start()
    assert server.tmpdir is None
    assert not server.running


def _psql(server: PostgresServer, sql: str) -> str:
    psql = os.path.join(server.bin_dir, "psql")
    return subprocess.run(
        [psql, "-X", "-A", "-t", "-c", sql, server.url],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.strip()


def test_postgres_select_1(postgres_server: PostgresServer) -> None:
    assert postgres_server.url == (
        f"postgresql://postgres@127.0.0.1:{postgres_server.port}/twat_cache_test"
    )
    assert _psql(postgres_server, "select 1") == "1"
    assert _psql(postgres_server, "select current_database()") == "twat_cache_test"


def test_fresh_postgres_keeps_data_across_restart_and_crash(
    fresh_postgres_server: PostgresServer,
) -> None:
    server = fresh_postgres_server
    server.psql("create table t (v text); insert into t values ('kept')")
    server.restart()
    assert _psql(server, "select v from t") == "kept"
    server.kill()
    assert _refused(server.host, server.port)
    server.restart()  # crash recovery
    assert _psql(server, "select v from t") == "kept"


def test_a_killed_postgres_takes_its_backends_with_it(
    fresh_postgres_server: PostgresServer,
) -> None:
    """A crash ends every session at once: PostgreSQL's backends run in sessions of their own."""
    import psycopg

    server = fresh_postgres_server
    for _ in range(3):  # killed with the postmaster only, a backend answered about 1 time in 7
        conn = psycopg.connect(server.url, autocommit=True)
        try:
            server.kill()
            with pytest.raises(psycopg.OperationalError):
                conn.execute("select 1")
        finally:
            conn.close()
        server.restart()


def test_moto_s3_bucket_put_get(fresh_moto_server: MotoServer) -> None:
    # a private server: reset() empties it, and the session's shared one holds other tests' buckets
    moto_server = fresh_moto_server
    assert moto_server.endpoint_url == f"http://127.0.0.1:{moto_server.port}"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    # Without an Authorization header moto treats requests as anonymous (403 on private
    # objects); a form content type would make it store an empty body.
    opener.addheaders = [
        ("Authorization", "AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/s3/aws4_request")
    ]
    bucket = f"harness-{uuid.uuid4().hex[:8]}"
    base = f"{moto_server.endpoint_url}/{bucket}"
    with opener.open(urllib.request.Request(base, method="PUT"), timeout=10) as resp:
        assert resp.status == 200
    put = urllib.request.Request(
        f"{base}/key.txt",
        data=b"payload",
        method="PUT",
        headers={"Content-Type": "application/octet-stream"},
    )
    with opener.open(put, timeout=10) as resp:
        assert resp.status == 200
    with opener.open(f"{base}/key.txt", timeout=10) as resp:
        assert resp.read() == b"payload"
    moto_server.reset()
    with pytest.raises(urllib.error.HTTPError) as err:
        opener.open(f"{base}/key.txt", timeout=10)
    assert err.value.code == 404
    err.value.close()


def test_free_port_is_bindable() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_ensure_binary_finds_and_explains(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ensure_binary("redis-server", "redis-server").endswith("/redis-server")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(HarnessError, match=r"apt-get install no-such-pkg"):
        ensure_binary("no-such-binary-twat", "no-such-pkg")


async def _wait_for_ever(never: asyncio.Future[None]) -> None:
    await never


def test_a_task_destroyed_while_pending_is_caught() -> None:
    """What the autouse leak check of every coroutine test looks for, on a real leak."""
    handler = AsyncioLeaks()
    logger = logging.getLogger("asyncio")
    logger.addHandler(handler)
    try:
        loop = asyncio.new_event_loop()
        never = loop.create_future()
        task = loop.create_task(_wait_for_ever(never))
        loop.run_until_complete(asyncio.sleep(0))  # the task started and waits for ever
        loop.close()
        del task, never
        gc.collect()
    finally:
        logger.removeHandler(handler)
    assert any("Task was destroyed but it is pending" in found for found in handler.found)


def test_cluster_master_kill_and_rejoin(fresh_redis_cluster: RedisCluster) -> None:
    port = fresh_redis_cluster.ports[0]
    fresh_redis_cluster.kill_node(0)
    with pytest.raises(OSError):
        redis_command("127.0.0.1", port, "PING", timeout=1.0)
    fresh_redis_cluster.start_node(0)
    assert redis_command("127.0.0.1", port, "PING") == "PONG"
