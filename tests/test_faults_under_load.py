"""Faults under load (real servers from the harness; counts and times bounded).

- Redis SIGKILLed while 8 threads call: no exception reaches a caller, every result
  is right, and hits come back after the restart. The same for one master of a Redis
  Cluster (no replicas: its slots come back when it restarts and rejoins).
- One memcached node of a three-node ring SIGKILLed while threads call: no caller
  error, and every key hits again (the dead node's keys re-hashed onto the others).
- PostgreSQL restarted while threads call: no caller error, the pool recovers.
- A server that accepts connections and never answers: every call returns (the
  function's result) and the breaker opens after the first timeout.
- 8 processes x 5,000 mixed writes and reads on one disk cache and one SQLite file:
  no read is ever corrupt, every value read is one some process wrote, and no
  operation fails (each engine's default lock timeout outlasts the queue of writers).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from twat_cache import BackendError, ucache

_THREADS = 8


def test_redis_killed_while_threads_call(fresh_redis_server: Any) -> None:
    @ucache(fresh_redis_server.url + "?socket_timeout=0.5", retry_after=0.2)
    def square(x: int) -> int:
        return x * x

    problems: list[str] = []
    stop = threading.Event()
    done = [0] * _THREADS

    def caller(n: int) -> None:
        i = n
        while not stop.is_set():
            try:
                if square(i % 32) != (i % 32) ** 2:
                    problems.append(f"square({i % 32}) was wrong")
            except Exception as exc:  # noqa: BLE001 - any exception reaching a caller fails
                problems.append(repr(exc))
            done[n] += 1
            i += 1

    threads = [threading.Thread(target=caller, args=(n,)) for n in range(_THREADS)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.3)
        fresh_redis_server.kill()
        time.sleep(0.5)
        fresh_redis_server.restart()
        cache = square.cache
        deadline = time.monotonic() + 30
        while cache.backend.get(square.cache_key(5)) is None:
            assert time.monotonic() < deadline, "no entry was written after the restart"
            time.sleep(0.02)
        hits = cache.stats.hits
        while cache.stats.hits == hits:
            assert time.monotonic() < deadline, "hits did not resume after the restart"
            time.sleep(0.02)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert problems == []
    assert all(done)


class _Load:
    """Threads calling ``func(i % keys)`` until stopped; what reached them is in ``problems``."""

    def __init__(self, func: Any, expected: Any, keys: int, threads: int = _THREADS) -> None:
        self.problems: list[str] = []
        self.done = [0] * threads
        self._stop = threading.Event()

        def caller(n: int) -> None:
            i = n
            while not self._stop.is_set():
                try:
                    if func(i % keys) != expected(i % keys):
                        self.problems.append(f"a wrong result for {i % keys}")
                except Exception as exc:  # noqa: BLE001 - any exception reaching a caller fails
                    self.problems.append(repr(exc))
                self.done[n] += 1
                i += 1

        self._threads = [threading.Thread(target=caller, args=(n,)) for n in range(threads)]
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(30)


def _stored(func: Any, key: int) -> bool:
    """Whether the engine holds ``func(key)``'s entry (an engine failure: not yet)."""
    try:
        return func.cache.backend.get(func.cache_key(key)) is not None
    except BackendError:
        return False


def _until(condition: Any, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_redis_cluster_master_killed_while_threads_call(fresh_redis_cluster: Any) -> None:
    @ucache(fresh_redis_cluster.url + "?socket_timeout=0.5", retry_after=0.2)
    def square(x: int) -> int:
        return x * x

    load = _Load(square, lambda x: x * x, keys=64)
    try:
        time.sleep(0.3)
        fresh_redis_cluster.kill_node(0)  # a master crashes: its slots have no replica
        time.sleep(1.0)
        fresh_redis_cluster.start_node(0)  # it rejoins with its nodes.conf; the cluster is ok
        cache = square.cache
        # every key is written again: the slots of the killed master serve once more
        _until(
            lambda: all(_stored(square, k) for k in range(64)),
            "entries were not written on every master after the restart",
        )
        hits = cache.stats.hits
        _until(lambda: cache.stats.hits > hits, "hits did not resume after the restart")
    finally:
        load.stop()
    assert cache.stats.errors > 0, "the callers met the dead master (and never saw it)"
    assert load.problems == []
    assert all(load.done)


def test_memcached_ring_node_killed_while_threads_call(fresh_memcached_ring: Any) -> None:
    # a long retry_after: one dead node must not pause caching for the whole ring
    @ucache(fresh_memcached_ring.url + "?timeout=0.5&dead_timeout=300", retry_after=300)
    def cube(x: int) -> int:
        return x**3

    keys = 48
    load = _Load(cube, lambda x: x**3, keys=keys)
    try:
        cache = cube.cache
        _until(
            lambda: all(_stored(cube, k) for k in range(keys)),
            "the ring never held every key",
        )
        fresh_memcached_ring.kill_node(0)
        # the dead node's keys go to the two live nodes: stored again there, they hit
        _until(
            lambda: all(_stored(cube, k) for k in range(keys)),
            "the dead node's keys never hit on the live nodes",
        )
        hits = cache.stats.hits
        _until(lambda: cache.stats.hits > hits, "hits stopped after the node died")
    finally:
        load.stop()
    assert cache.stats.errors > 0, "the callers met the dead node (and never saw it)"
    assert load.problems == []
    assert all(load.done)


def test_postgres_restarted_under_load(fresh_postgres_server: Any) -> None:
    @ucache(fresh_postgres_server.url, retry_after=0.2)
    def cube(x: int) -> int:
        return x**3

    problems: list[str] = []
    stop = threading.Event()

    def caller(n: int) -> None:
        i = n
        while not stop.is_set():
            try:
                if cube(i % 16) != (i % 16) ** 3:
                    problems.append(f"cube({i % 16}) was wrong")
            except Exception as exc:  # noqa: BLE001 - any exception reaching a caller fails
                problems.append(repr(exc))
            i += 1

    threads = [threading.Thread(target=caller, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.3)
        fresh_postgres_server.restart()
        cache = cube.cache
        deadline = time.monotonic() + 60
        errors = cache.stats.errors
        hits = cache.stats.hits
        while cache.stats.hits == hits or cache.stats.errors != errors:  # the pool recovered
            errors, hits = cache.stats.errors, cache.stats.hits
            assert time.monotonic() < deadline, "the pool did not recover after the restart"
            time.sleep(0.2)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert problems == []


@pytest.fixture
def silent_server() -> Any:
    """A socket that accepts connections (the kernel's backlog) and never reads or answers."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    yield listener.getsockname()[1]
    listener.close()


@pytest.mark.parametrize(
    "url",
    ["redis://127.0.0.1:{port}/0?socket_timeout=0.3", "memcached://127.0.0.1:{port}?timeout=0.3"],
)
def test_server_that_never_answers(url: str, silent_server: int) -> None:
    calls = 0

    @ucache(url.format(port=silent_server), retry_after=60)
    def double(x: int) -> int:
        nonlocal calls
        calls += 1
        return 2 * x

    assert [double(i) for i in range(5)] == [0, 2, 4, 6, 8]
    assert calls == 5
    cache = double.cache
    assert cache.stats.errors == 1, "the breaker opened: one timeout, then no more calls to it"


_WORKER = """
import hashlib, random, sys
from twat_cache import Cache

url, worker, ops = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def sign(writer, n):
    return hashlib.sha256(f"{writer}:{n}".encode()).hexdigest()

rng = random.Random(worker)
bad = 0
with Cache(url, namespace="mixed") as cache:
    for n in range(ops):
        key = f"k{rng.randrange(40)}"
        if rng.random() < 0.5:
            cache.set(key, (worker, n, sign(worker, n), "x" * rng.randrange(2000)))
        else:
            value = cache.get(key)
            if value is not None and (len(value) != 4 or value[2] != sign(value[0], value[1])):
                bad += 1
    print(bad, cache.stats.corrupt, cache.stats.errors)
"""


@pytest.mark.parametrize("engine", ["disk", "sqlite"])
def test_processes_mixing_writes_and_reads(engine: str, tmp_path: Path) -> None:
    url = f"disk://{tmp_path / 'disk'}" if engine == "disk" else f"sqlite:///{tmp_path / 'c.db'}"
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(_WORKER))
    processes = [
        subprocess.Popen(
            [sys.executable, str(script), url, str(n), "5000"], stdout=subprocess.PIPE, text=True
        )
        for n in range(8)
    ]
    outputs = [p.communicate(timeout=300)[0].split() for p in processes]
    assert [p.returncode for p in processes] == [0] * 8
    # no bad value, no corrupt entry, and no write lost to a failure (the engine's default
    # lock timeout outlasts eight writers queueing; a failure would open the breaker)
    assert outputs == [["0", "0", "0"]] * 8
