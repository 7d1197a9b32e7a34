"""twat-cache benchmarks: ours side by side with raw clients and peer libraries, one run.

Every number is the best of several repeats of a tight loop, in nanoseconds per
call, measured in this process on this machine; the ratio column divides by the
row's reference (named in the table), so ratios compare like with like even on a
noisy machine. Servers are started through the test harness on loopback ports.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import timeit
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

GROUPS = (
    "memory", "async", "disk", "redis", "memcached", "postgres", "sqlite", "s3", "rss",
    "serializers", "tiers", "keys", "locks",
)  # fmt: skip
# target ratios from the issues (6, 9, 11, 13, 14, 15, 12): row name -> highest acceptable
# ratio to the row's reference, measured in the same run
TARGETS = {
    "twat mcache() hit": 0.7,
    "twat ucache() hit (default engine)": 0.7,
    "twat mcache(ttl=60) hit": 0.6,
    "twat mcache(ttl, stale_ttl): stale value served": 1.2,
    "twat acache() hit": 0.1,
    "twat bcache() hit": 1.2,
    "twat ucache(memcached) hit": 1.1,
    "twat ucache(postgres) hit": 1.15,
    "twat ucache(redis) hit": 1.1,
    "twat ucache(redis) async hit": 1.1,
    "twat Cache.get_many(100) on redis": 0.05,
    "twat ucache(redis, 2 tags) hit": 1.15,
    "twat ucache(redis, computed tags) hit": 1.15,
    "twat Cache.get_many(100 tagged) on redis": 1.3,
    "twat mcache: RSS of 1M entries": 1.3,
    "twat typed dumps+loads (20-field dataclass)": 1.0,
    "twat tiers: near hit (memory over redis)": 1.5,
    "twat tiers: near hit (memory over postgres)": 1.5,
    "twat tiers: redis-tier hit (near missed)": 1.1,
    "twat tiers: postgres-tier hit (near missed)": 1.1,
    "twat tiers: p99 invalidation latency, redis": 1.0,
    "twat tiers: p99 invalidation latency, postgres": 1.0,
    "twat lock=True: waiters' p99 latency, redis": 1.0,
}
INVALIDATION_BUDGET = "invalidation budget (50 ms)"
LOCK_COMPUTE = 0.2  # seconds the locked function takes
LOCK_BUDGET = "lock budget: compute time (200 ms) + 50 ms"


@dataclass
class Row:
    group: str
    name: str
    ns: float | None
    reference: str
    note: str = ""
    ratio: float | None = None


class Pending:
    """A measurement registered now, taken by :meth:`Bench.settle` interleaved with the others."""

    def __init__(self, func: Callable[[], Any], number: int, is_async: bool) -> None:
        self.func = func
        self.number = number
        self.is_async = is_async
        self.best = float("inf")


class Bench:
    def __init__(self, quick: bool) -> None:
        self.quick = quick
        # many short loops rather than a few long ones: on a machine whose latency comes in
        # phases of seconds (a VM's scheduling), each row then meets the quiet phases too
        self.repeat = 3 if quick else 21
        self.rows: list[Row] = []
        self._pending: list[tuple[Row, Pending]] = []

    def _scaled(self, number: int) -> int:
        return max(1, number // 10) if self.quick else max(1, number // 3)

    def sync(self, func: Callable[[], Any], number: int) -> Pending:
        """Register a sync measurement (taken at the group's settle())."""
        return Pending(func, self._scaled(number), is_async=False)

    def aio(self, make: Callable[[], Awaitable[Any]], number: int) -> Pending:
        """Register an async measurement (taken at the group's settle(), on one event loop)."""
        return Pending(make, self._scaled(number), is_async=True)

    def add(
        self, group: str, name: str, ns: float | Pending | None, reference: str, note: str = ""
    ) -> None:
        row = Row(group, name, None if isinstance(ns, Pending) else ns, reference, note)
        self.rows.append(row)
        if isinstance(ns, Pending):
            self._pending.append((row, ns))

    def settle(self) -> None:
        """Take every registered measurement: repeats interleaved, so that drift on a busy
        machine (load, frequency) hits ours and the references alike; best of the repeats."""
        loop = asyncio.new_event_loop()
        try:
            for _, p in self._pending:  # warm up: connections, first misses
                loop.run_until_complete(p.func()) if p.is_async else p.func()
            for _ in range(self.repeat):
                for _, p in self._pending:
                    if p.is_async:
                        p.best = min(p.best, loop.run_until_complete(_async_loop(p.func, p.number)))
                    else:
                        p.best = min(p.best, min(timeit.Timer(p.func).repeat(1, p.number)))
        finally:
            _shut_down(loop)
        for row, p in self._pending:
            row.ns = p.best / p.number * 1e9
        self._pending.clear()

    def missing(self, group: str, name: str, reference: str, exc: BaseException) -> None:
        self.add(group, name, None, reference, f"not measured: {type(exc).__name__}: {exc}"[:120])


def _shut_down(loop: asyncio.AbstractEventLoop) -> None:
    """Close the loop as asyncio.run does: its tasks (the engines' client closers) are
    cancelled and run to their end first, so that they close their clients."""
    tasks = asyncio.all_tasks(loop)
    for task in tasks:
        task.cancel()
    if tasks:  # gather() of nothing would belong to another loop
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()


async def _async_loop(make: Callable[[], Awaitable[Any]], number: int) -> float:
    start = timeit.default_timer()
    for _ in range(number):
        await make()
    return timeit.default_timer() - start


# -- groups ------------------------------------------------------------------------------


def bench_memory(b: Bench) -> None:
    import functools

    import cachetools
    from twat_cache import mcache, ucache

    n = 200_000
    lru_ref, ttl_ref = "cachetools.cached(LRUCache)", "cachetools.cached(TTLCache)"

    @functools.lru_cache(maxsize=4096)
    def f_lru(x: int) -> int:
        return x

    @cachetools.cached(cachetools.LRUCache(maxsize=4096))
    def f_ct(x: int) -> int:
        return x

    @cachetools.cached(cachetools.TTLCache(maxsize=4096, ttl=60))
    def f_ct_ttl(x: int) -> int:
        return x

    @mcache(maxsize=4096)
    def f_m(x: int) -> int:
        return x

    @ucache()
    def f_u(x: int) -> int:
        return x

    @mcache(maxsize=4096, ttl=60)
    def f_m_ttl(x: int) -> int:
        return x

    @ucache("builtin://")
    def f_builtin(x: int) -> int:
        return x

    b.add("memory", lru_ref, b.sync(lambda: f_ct(1), n), lru_ref)
    b.add("memory", ttl_ref, b.sync(lambda: f_ct_ttl(1), n), ttl_ref)
    b.add("memory", "functools.lru_cache", b.sync(lambda: f_lru(1), n), lru_ref)
    try:
        import cachebox

        @cachebox.cached(cachebox.LRUCache(4096))
        def f_cb(x: int) -> int:
            return x

        b.add("memory", "cachebox.cached(LRUCache)", b.sync(lambda: f_cb(1), n), lru_ref)
    except Exception as exc:
        b.missing("memory", "cachebox.cached(LRUCache)", lru_ref, exc)
    b.add("memory", "twat mcache() hit", b.sync(lambda: f_m(1), n), lru_ref)
    b.add("memory", "twat ucache() hit (default engine)", b.sync(lambda: f_u(1), n), lru_ref)
    b.add("memory", "twat ucache('builtin://') hit", b.sync(lambda: f_builtin(1), n), lru_ref)
    b.add("memory", "twat mcache(ttl=60) hit", b.sync(lambda: f_m_ttl(1), n), ttl_ref)
    # statistics are always on: the rows above include them; these read them on every call
    b.add(
        "memory",
        "twat mcache() hit + cache_info() read",
        b.sync(lambda: (f_m(1), f_m.cache.stats.hits), n),
        lru_ref,
    )
    try:
        from opentelemetry import metrics, trace
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.trace import TracerProvider

        # real SDK providers (no exporter attached): the cost of recording, not of shipping
        trace.set_tracer_provider(TracerProvider())
        metrics.set_meter_provider(MeterProvider())

        @mcache(maxsize=4096, otel=True)
        def f_otel(x: int) -> int:
            return x

        b.add("memory", "twat mcache(otel=True) hit", b.sync(lambda: f_otel(1), n), lru_ref)
    except Exception as exc:
        b.missing("memory", "twat mcache(otel=True) hit", lru_ref, exc)
    # a stale entry whose refresh is under way: each call serves the stale value at once
    refreshing = threading.Event()
    stale_calls: list[int] = []

    @mcache(maxsize=4096, ttl=0.01, stale_ttl=3600)
    def f_stale(x: int) -> int:
        stale_calls.append(x)
        if len(stale_calls) > 1:  # the refresh, not the first call: it stays under way
            refreshing.wait(600)
        return x

    f_stale(1)
    time.sleep(0.02)
    stale_name = "twat mcache(ttl, stale_ttl): stale value served"
    b.add("memory", stale_name, b.sync(lambda: f_stale(1), n), "twat mcache(ttl=60) hit")
    b.settle()
    refreshing.set()


def bench_async(b: Bench) -> None:
    from twat_cache import acache

    n = 50_000
    ref = "aiocache @cached (memory)"

    @acache(ttl=60)
    async def f_ours(x: int) -> int:
        return x

    try:
        import logging

        from aiocache import cached

        logging.getLogger("aiocache").setLevel(logging.ERROR)

        @cached(ttl=60)
        async def f_aio(x: int) -> int:
            return x

        b.add("async", ref, b.aio(lambda: f_aio(1), n // 10), ref)
    except Exception as exc:
        b.missing("async", ref, ref, exc)
    try:
        from cashews import Cache as CashewsCache

        cashews = CashewsCache()
        cashews.setup("mem://")

        @cashews(ttl=60)
        async def f_cashews(x: int) -> int:
            return x

        b.add("async", "cashews @cache (mem://)", b.aio(lambda: f_cashews(1), n // 10), ref)
    except Exception as exc:
        b.missing("async", "cashews @cache (mem://)", ref, exc)
    b.add("async", "twat acache() hit", b.aio(lambda: f_ours(1), n), ref)
    b.settle()


def bench_disk(b: Bench) -> None:
    import pickle

    import diskcache
    from twat_cache import Cache, bcache

    n = 20_000
    ref_hit, ref_miss = "diskcache Cache.get + unpickle (hit)", "diskcache Cache.get (miss)"
    with tempfile.TemporaryDirectory() as folder:
        raw = diskcache.Cache(os.path.join(folder, "raw"))
        raw.set("k", pickle.dumps({"a": 1}))
        b.add("disk", ref_hit, b.sync(lambda: pickle.loads(raw.get("k")), n), ref_hit)
        b.add("disk", ref_miss, b.sync(lambda: raw.get("absent"), n), ref_miss)

        @raw.memoize()
        def f_memo(x: int) -> dict[str, int]:
            return {"a": x}

        b.add("disk", "diskcache @memoize hit", b.sync(lambda: f_memo(1), n), ref_hit)

        @bcache(folder=os.path.join(folder, "ours"))
        def f_ours(x: int) -> dict[str, int]:
            return {"a": x}

        b.add("disk", "twat bcache() hit", b.sync(lambda: f_ours(1), n), ref_hit)
        cache = Cache(f"disk://{folder}/obj")
        b.add("disk", "twat Cache.get (miss)", b.sync(lambda: cache.get("absent"), n), ref_miss)
        b.settle()
        raw.close()
        cache.close()


def bench_serializers(b: Bench) -> None:
    import dataclasses
    import json
    import random

    from twat_cache.serializers import Codec

    n = 20_000
    wide = dataclasses.make_dataclass("Wide", [(f"f{i}", int if i % 2 else str) for i in range(20)])
    globals()["Wide"] = wide  # pickle finds classes by name
    wide.__module__ = __name__
    value = wide(*(i if i % 2 else f"text {i}" for i in range(20)))
    pickled, typed = Codec("pickle"), Codec("typed")
    ref = "twat pickle dumps+loads (20-field dataclass)"
    b.add("serializers", ref, b.sync(lambda: pickled.loads(pickled.dumps(value)), n), ref)
    b.add(
        "serializers",
        "twat typed dumps+loads (20-field dataclass)",
        b.sync(lambda: typed.loads(typed.dumps(value), wide), n),
        ref,
    )
    rng = random.Random(1)
    records = [
        {"id": i, "name": f"user{rng.randrange(10**6)}", "score": rng.random(), "tags": ["a", "b"]}
        for i in range(12_000)
    ]
    big = json.dumps(records).encode()[: 1 << 20]  # 1 MB of JSON-like text
    sizes = {}
    for codec in ("zlib", "zstd"):
        frame = Codec("pickle", compress=codec).dumps(big)
        sizes[codec] = len(frame)
    zlib_row = "twat zlib dumps+loads (1 MB JSON-like)"
    for codec, name in (("zlib", zlib_row), ("zstd", "twat zstd dumps+loads (1 MB JSON-like)")):
        c = Codec("pickle", compress=codec)
        note = f"{sizes[codec] / 1024:.0f} KiB stored of {len(big) / 1024:.0f} KiB"
        b.add("serializers", name, b.sync(lambda c=c: c.loads(c.dumps(big)), 20), zlib_row, note)
    kib = "x" * 1024
    plain, sealed = Codec("pickle"), Codec("pickle", encrypt_keys=[b"k" * 32])
    plain_row = "twat pickle dumps+loads (1 KiB)"
    b.add("serializers", plain_row, b.sync(lambda: plain.loads(plain.dumps(kib)), n), plain_row)
    b.add(
        "serializers",
        "twat encrypted dumps+loads (1 KiB)",
        b.sync(lambda: sealed.loads(sealed.dumps(kib)), n),
        plain_row,
        "target: at most 10 us more than unencrypted",
    )
    b.settle()
    by_name = {r.name: r for r in b.rows if r.group == "serializers"}
    added = by_name["twat encrypted dumps+loads (1 KiB)"]
    if added.ns is not None and by_name[plain_row].ns is not None:
        added.note = f"+{(added.ns - by_name[plain_row].ns) / 1000:.1f} us (target <= 10 us)"


def bench_redis(b: Bench, url: str, host: str, port: int) -> None:
    import pickle

    import redis
    import redis.asyncio as aredis
    from twat_cache import Cache, ucache

    n = 10_000
    ref, aref = "redis-py GET + pickle.loads", "redis.asyncio GET + pickle.loads"
    client = redis.Redis(host=host, port=port)
    client.set("bench:k", pickle.dumps({"a": 1}))
    b.add("redis", ref, b.sync(lambda: pickle.loads(client.get("bench:k")), n), ref)

    @ucache(url, namespace="bench")
    def f_ours(x: int) -> dict[str, int]:
        return {"a": x}

    b.add("redis", "twat ucache(redis) hit", b.sync(lambda: f_ours(1), n), ref)

    # an async client belongs to the loop it first ran on: settle() runs them all on one loop
    state: dict[str, Any] = {}

    async def araw() -> Any:
        if "c" not in state:
            state["c"] = aredis.Redis(host=host, port=port)
        return pickle.loads(await state["c"].get("bench:k"))

    b.add("redis", aref, b.aio(araw, n), aref)

    @ucache(url, namespace="bench-async")
    async def g_ours(x: int) -> dict[str, int]:
        return {"a": x}

    b.add("redis", "twat ucache(redis) async hit", b.aio(lambda: g_ours(1), n), aref)
    try:
        from cashews import Cache as CashewsCache

        cashews = CashewsCache()
        cashews.setup(f"redis://{host}:{port}/0", client_side=False)

        @cashews(ttl=600)
        async def g_cashews(x: int) -> dict[str, int]:
            return {"a": x}

        b.add("redis", "cashews @cache (redis) hit", b.aio(lambda: g_cashews(1), n), aref)
    except Exception as exc:
        b.missing("redis", "cashews @cache (redis) hit", aref, exc)
    try:
        from aiocache import RedisCache, cached

        @cached(cache=RedisCache, endpoint=host, port=port, ttl=600)
        async def g_aio(x: int) -> dict[str, int]:
            return {"a": x}

        b.add("redis", "aiocache @cached (redis) hit", b.aio(lambda: g_aio(1), n), aref)
    except Exception as exc:
        b.missing("redis", "aiocache @cached (redis) hit", aref, exc)

    keys = [f"k{i}" for i in range(100)]
    cache = Cache(url, namespace="bench-many")
    cache.set_many({k: i for i, k in enumerate(keys)})
    raw_keys = [f"bench-many:{k}" for k in keys]
    many_ref = "100 single redis-py GETs"
    b.add("redis", many_ref, b.sync(lambda: [client.get(k) for k in raw_keys], n // 100), many_ref)
    b.add("redis", "redis-py MGET of 100", b.sync(lambda: client.mget(raw_keys), n // 10), many_ref)
    b.add(
        "redis",
        "twat Cache.get_many(100) on redis",
        b.sync(lambda: cache.get_many(keys), n // 10),
        many_ref,
    )
    bench_redis_tags(b, url, ref, keys, n)
    b.settle()
    cache.close()
    client.close()


def bench_redis_tags(b: Bench, url: str, ref: str, keys: list[str], n: int) -> None:
    """Tagged reads: the entry and its tag counters in one round trip (issue 13)."""
    from twat_cache import Cache, ucache

    @ucache(url, namespace="bench-tags", tags=["users", "profiles"])
    def f_tagged(x: int) -> dict[str, int]:
        return {"a": x}

    @ucache(url, namespace="bench-tags-of", tags=lambda x: [f"user:{x}", "users"])
    def f_tags_of(x: int) -> dict[str, int]:
        return {"a": x}

    b.add("redis", "twat ucache(redis, 2 tags) hit", b.sync(lambda: f_tagged(1), n), ref)
    b.add("redis", "twat ucache(redis, computed tags) hit", b.sync(lambda: f_tags_of(1), n), ref)
    tagged = Cache(url, namespace="bench-many-tagged")
    for i, k in enumerate(keys):
        tagged.set(k, i, tags=[f"t{i % 10}"])
    b.add(
        "redis",
        "twat Cache.get_many(100 tagged) on redis",
        b.sync(lambda: tagged.get_many(keys), n // 10),
        "twat Cache.get_many(100) on redis",
    )


def bench_keys(b: Bench, url: str, host: str, port: int) -> None:
    """``Cache.keys()`` of a large namespace: live entries by their headers (issue 13).

    Half the entries are tagged (ten tags, one invalidated), half are not; the
    reference is the raw SCAN of the namespace, which lists invalidated entries too.
    """
    import redis
    from twat_cache import Cache

    n = 5_000 if b.quick else 50_000
    value = {"v": 1, "pad": "x" * 200}
    cache = Cache(url, namespace="bench-keys")
    cache.warm({f"u{i}": value for i in range(n // 2)})
    for g in range(10):
        with Cache(url, namespace="bench-keys", tags=[f"g{g}"]) as tagged:
            tagged.warm({f"t{g}-{i}": value for i in range(n // 20)})
    cache.invalidate_tags("g0")
    client = redis.Redis(host=host, port=port)
    ref = f"redis-py SCAN of {n:,} keys"

    def scan() -> int:
        return sum(1 for _ in client.scan_iter(match="bench-keys:*", count=1000))

    def listed() -> int:
        return len(list(cache.keys()))

    whole = Cache(url, namespace="bench-keys")
    whole.backend.get_heads = None  # type: ignore[attr-defined]  # an engine without a header read

    b.add("keys", ref, b.sync(scan, 1), ref)
    b.add("keys", f"twat Cache.keys() of {n:,} entries on redis", b.sync(listed, 1), ref)
    b.add(
        "keys",
        f"twat Cache.keys() of {n:,} entries on redis, whole values read",
        b.sync(lambda: len(list(whole.keys())), 1),
        ref,
    )
    b.settle()
    cache.clear()
    for each in (cache, whole):
        each.close()
    client.close()


def bench_simple_engine(
    b: Bench, group: str, url: str, raw_name: str, raw_get: Callable[[], Any]
) -> None:
    from twat_cache import ucache

    n = 5_000 if group != "s3" else 500

    @ucache(url, namespace=f"bench-{group}")
    def f_ours(x: int) -> dict[str, int]:
        return {"a": x}

    b.add(group, raw_name, b.sync(raw_get, n), raw_name)
    b.add(group, f"twat ucache({group}) hit", b.sync(lambda: f_ours(1), n), raw_name)
    b.settle()


def bench_memcached(b: Bench, host: str, port: int, url: str) -> None:
    import pickle

    from pymemcache.client.base import Client

    client = Client((host, port))
    client.set("bench", pickle.dumps({"a": 1}))
    bench_simple_engine(
        b,
        "memcached",
        url,
        "pymemcache get + pickle.loads",
        lambda: pickle.loads(client.get("bench")),
    )


def bench_postgres(b: Bench, url: str) -> None:
    import pickle

    import psycopg

    conn = psycopg.connect(url, autocommit=True)
    conn.execute("CREATE TABLE IF NOT EXISTS bench_raw (key text primary key, value bytea)")
    conn.execute(
        "INSERT INTO bench_raw VALUES ('k', %s) ON CONFLICT DO NOTHING", (pickle.dumps({"a": 1}),)
    )

    def raw() -> Any:
        row = conn.execute("SELECT value FROM bench_raw WHERE key = %s", ("k",)).fetchone()
        return pickle.loads(row[0]) if row else None

    bench_simple_engine(b, "postgres", url, "psycopg SELECT + pickle.loads", raw)


def bench_sqlite(b: Bench) -> None:
    import pickle
    import sqlite3

    folder = tempfile.mkdtemp()
    conn = sqlite3.connect(os.path.join(folder, "raw.db"))
    conn.execute("CREATE TABLE t (key text primary key, value blob)")
    conn.execute("INSERT INTO t VALUES ('k', ?)", (pickle.dumps({"a": 1}),))
    conn.commit()

    def raw() -> Any:
        return pickle.loads(conn.execute("SELECT value FROM t WHERE key = ?", ("k",)).fetchone()[0])

    bench_simple_engine(
        b, "sqlite", f"sqlite:///{folder}/ours.db", "sqlite3 SELECT + pickle.loads", raw
    )


def bench_s3(b: Bench, endpoint: str) -> None:
    import pickle

    import boto3

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="bench")
    s3.put_object(Bucket="bench", Key="raw/k", Body=pickle.dumps({"a": 1}))

    def raw() -> Any:
        return pickle.loads(s3.get_object(Bucket="bench", Key="raw/k")["Body"].read())

    url = f"s3://bench/ours?endpoint_url={endpoint}&region=us-east-1"
    bench_simple_engine(b, "s3", url, "boto3 get_object + pickle.loads", raw)


_RSS_CHILD = """
import sys
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096
n, kind = int(sys.argv[1]), sys.argv[2]
import cachetools
from twat_cache import mcache
before = rss()
if kind == "cachetools":
    @cachetools.cached(cachetools.LRUCache(maxsize=n))
    def f(x):
        return x
else:
    @mcache(maxsize=n)
    def f(x):
        return x
for i in range(n):
    f(i)
print(rss() - before)
"""


def bench_rss(b: Bench) -> None:
    n = 100_000 if b.quick else 1_000_000
    ref = "cachetools LRUCache: RSS of 1M entries"
    results = {}
    for kind in ("cachetools", "ours"):
        out = subprocess.run(
            [sys.executable, "-c", _RSS_CHILD, str(n), kind],
            capture_output=True,
            text=True,
            check=True,
        )
        results[kind] = int(out.stdout.strip()) / n  # bytes per entry
    note = f"{n:,} entries; bytes per entry"
    b.add("rss", ref, results["cachetools"], ref, note)
    b.add("rss", "twat mcache: RSS of 1M entries", results["ours"], ref, note)


# -- running and reporting ---------------------------------------------------------------


def _invalidation_p99(url: str, trials: int) -> float:
    """p99 in ns: another process (testing.tiers.Reader) stops serving a deleted value."""
    import time
    import uuid

    from twat_cache.testing.tiers import Reader
    from twat_cache.tiers import TieredCache

    namespace = "bench-inv-" + uuid.uuid4().hex[:8]
    latencies: list[float] = []
    with (
        TieredCache(["memory://", url], namespace=namespace) as cache,
        Reader(url, namespace) as other,
    ):
        for i in range(trials):
            cache.set("k", i)
            other.get("k")  # the other process's near copy
            other.start_watch("k")
            start = time.time()
            cache.delete("k")
            gone = other.watched()
            latencies.append(float("inf") if gone is None else (gone - start) * 1e9)
    latencies.sort()
    return latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]


def bench_tiers(b: Bench, engines: dict[str, str]) -> None:
    """Near hits against a plain mcache hit; lower-tier hits against that engine's plain hit."""
    from twat_cache import mcache, ucache

    n = 200_000
    plain = "twat mcache() hit"

    @mcache(maxsize=4096)
    def f_m(x: int) -> int:
        return x

    b.add("tiers", plain, b.sync(lambda: f_m(1), n), plain)
    b.add("tiers", INVALIDATION_BUDGET, 50e6, INVALIDATION_BUDGET)
    closing: list[Any] = []
    for engine, url in engines.items():

        @ucache(["memory://", url], namespace=f"bench-near-{engine}")
        def f_near(x: int) -> dict[str, int]:
            return {"a": x}

        name = f"twat tiers: near hit (memory over {engine})"
        b.add("tiers", name, b.sync(lambda f=f_near: f(1), n), plain)  # type: ignore[misc]

        @ucache(url, namespace=f"bench-plain-{engine}")
        def f_plain(x: int) -> dict[str, int]:
            return {"a": x}

        # two keys through a one-entry near tier: every call misses it, hits below, fills it
        @ucache(["memory://?maxsize=1", url], namespace=f"bench-lower-{engine}")
        def f_lower(x: int) -> dict[str, int]:
            return {"a": x}

        turn = [0]

        def lower(f: Any = f_lower, t: list[int] = turn) -> Any:
            t[0] ^= 1
            return f(t[0])

        def plain_hit(f: Any = f_plain, t: list[int] = turn) -> Any:
            t[0] ^= 1
            return f(t[0])

        ref = f"twat ucache({engine}) hit"
        b.add("tiers", ref, b.sync(plain_hit, 5_000), ref)
        b.add("tiers", f"twat tiers: {engine}-tier hit (near missed)", b.sync(lower, 5_000), ref)
        p99 = _invalidation_p99(url, 20 if b.quick else 200)
        b.add(
            "tiers",
            f"twat tiers: p99 invalidation latency, {engine}",
            p99,
            INVALIDATION_BUDGET,
            "another process stops serving a deleted value (loopback)",
        )
        closing.extend((f_near.cache, f_plain.cache, f_lower.cache))
    b.settle()
    for cache in closing:
        cache.close()


_LOCK_CHILD = """
import json, sys, threading, time
from twat_cache import ucache

url, namespace, rounds, compute, spacing = sys.argv[1:6]

@ucache(url, namespace=namespace, lock=True, lock_timeout=10)
def slow(x):
    time.sleep(float(compute))
    return x

slow(-1)  # connected, and the module's first call made
print("ready", flush=True)
start = float(sys.stdin.readline())
latencies = []

def caller(key, begin):
    slow(key)
    latencies.append(time.time() - begin)

for r in range(int(rounds)):
    begin = start + r * float(spacing)
    time.sleep(max(0.0, begin - time.time()))
    threads = [threading.Thread(target=caller, args=(r, begin)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
print(json.dumps(latencies))
"""


def _lock_latencies(url: str, rounds: int) -> list[float]:
    """Seconds each caller took: 4 processes x 8 threads on one cold key per round, lock=True."""
    import uuid

    namespace = "bench-lock-" + uuid.uuid4().hex[:8]
    spacing = LOCK_COMPUTE * 3
    argv = [sys.executable, "-c", _LOCK_CHILD, url, namespace, str(rounds)]
    argv += [str(LOCK_COMPUTE), str(spacing)]
    children = [
        subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    try:
        for child in children:  # every process imported and connected before the clock starts
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready"
        start = time.time() + 0.2
        latencies: list[float] = []
        for child in children:
            assert child.stdin is not None
            child.stdin.write(f"{start}\n")
            child.stdin.flush()
        for child in children:
            out, _ = child.communicate(timeout=60 + rounds * spacing)
            latencies += json.loads(out.strip().splitlines()[-1])
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
    return sorted(latencies)


def bench_locks(b: Bench, urls: dict[str, str]) -> None:
    """lock=True on a cold key: the waiters' p99 latency against the function's time + 50 ms.

    One row per engine of ``urls`` (engine name -> URL); the engines' release wakes
    the waiters (Redis: BLMOVE, PostgreSQL: LISTEN/NOTIFY).
    """
    b.add("locks", LOCK_BUDGET, (LOCK_COMPUTE + 0.05) * 1e9, LOCK_BUDGET)
    for engine, url in urls.items():
        latencies = _lock_latencies(url, 5 if b.quick else 20)
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        p50 = latencies[len(latencies) // 2]
        b.add(
            "locks",
            f"twat lock=True: waiters' p99 latency, {engine}",
            p99 * 1e9,
            LOCK_BUDGET,
            f"4 processes x 8 threads, cold key; p50 {p50 * 1e3:.0f} ms, {len(latencies)} calls",
        )


def run_groups(b: Bench, only: set[str]) -> None:
    from twat_cache_harness.servers import MemcachedServer, MotoServer, PostgresServer, RedisServer

    def wanted(group: str) -> bool:
        return not only or group in only

    def guarded(group: str, func: Callable[[], None]) -> None:
        print(f"-- {group}", flush=True)
        try:
            func()
        except Exception as exc:
            b.missing(group, f"({group} group)", "-", exc)

    for group, func in (
        ("memory", bench_memory),
        ("async", bench_async),
        ("disk", bench_disk),
        ("serializers", bench_serializers),
    ):
        if wanted(group):
            guarded(group, lambda f=func: f(b))  # type: ignore[misc]
    with ExitStack() as stack:
        if wanted("redis"):
            server = stack.enter_context(RedisServer())
            guarded("redis", lambda: bench_redis(b, server.url, server.host, server.port))
        if wanted("keys"):
            keyed = stack.enter_context(RedisServer())
            guarded("keys", lambda: bench_keys(b, keyed.url, keyed.host, keyed.port))
        if wanted("memcached"):
            mc = stack.enter_context(MemcachedServer())
            guarded("memcached", lambda: bench_memcached(b, mc.host, mc.port, mc.url))
        if wanted("postgres"):
            pg = stack.enter_context(PostgresServer())
            guarded("postgres", lambda: bench_postgres(b, pg.url))
        if wanted("sqlite"):
            guarded("sqlite", lambda: bench_sqlite(b))
        if wanted("s3"):
            moto = stack.enter_context(MotoServer())
            guarded("s3", lambda: bench_s3(b, moto.url))
        if wanted("tiers"):
            near_over = {
                "redis": stack.enter_context(RedisServer()).url,
                "postgres": stack.enter_context(PostgresServer()).url,
            }
            guarded("tiers", lambda: bench_tiers(b, near_over))
        if wanted("locks"):
            locked = {
                "redis": stack.enter_context(RedisServer()).url,
                "postgres": stack.enter_context(PostgresServer()).url,
            }
            guarded("locks", lambda: bench_locks(b, locked))
    if wanted("rss"):
        guarded("rss", lambda: bench_rss(b))
    by_name = {(r.group, r.name): r for r in b.rows}
    for row in b.rows:
        ref = by_name.get((row.group, row.reference))
        if row.ns is not None and ref is not None and ref.ns:
            row.ratio = row.ns / ref.ns


def versions() -> str:
    names = ["twat-cache", "cachetools", "diskcache", "redis", "hiredis", "aiocache", "cashews",
             "cachebox",
             "pymemcache", "psycopg", "boto3", "moto"]  # fmt: skip
    found = []
    for name in names:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return ", ".join(found)


def target_of(row: Row) -> float | None:
    """The row's target ratio (none for a row that is its own reference, as in tiers)."""
    return None if row.name == row.reference else TARGETS.get(row.name)


def summary(rows: list[Row]) -> str:
    """One line per row with a target: the ratio measured in this run beside the target."""
    lines = []
    for r in rows:
        target = target_of(r)
        if target is None:
            continue
        if r.ratio is None:
            lines.append(f"  not measured  {r.group}/{r.name} (target <= {target}x)")
            continue
        verdict = "met    " if r.ratio <= target else "NOT MET"
        goal = f"<= {target}x"
        lines.append(f"  {verdict} {r.ratio:6.2f}x {goal:<9} {r.group}/{r.name}")
    return "targets (ratio to the row's reference, this run):\n" + "\n".join(lines)


def table(rows: list[Row]) -> str:
    lines = [
        "| group | what | ns per call | calls/s | ratio | reference | target |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    for r in rows:
        if r.ns is None:
            lines.append(f"| {r.group} | {r.name} | – | – | – | {r.reference} | {r.note} |")
            continue
        per_s = f"{1e9 / r.ns:,.0f}" if r.group != "rss" else "–"
        ns = f"{r.ns:,.0f}" if r.group != "rss" else f"{r.ns:,.0f} B/entry"
        ratio = f"{r.ratio:.2f}×" if r.ratio is not None else "–"
        target = target_of(r)
        mark = (
            ""
            if target is None or r.ratio is None
            else (f"≤ {target}× " + ("met" if r.ratio <= target else "**not met**"))
        )
        lines.append(
            f"| {r.group} | {r.name} | {ns} | {per_s} | {ratio} | {r.reference} "
            f"| {mark or r.note} |"
        )
    return "\n".join(lines)


def ratios(rows: list[Row]) -> str:
    """The short table the page leads with: each twat-cache row, its ratio and its target."""
    lines = ["| what | ratio | compared with | target |", "|---|---:|---|---|"]
    for r in rows:
        if not r.name.startswith("twat") or r.ratio is None or r.group == "rss":
            continue
        target = TARGETS.get(r.name)
        met = "met" if target is not None and r.ratio <= target else "**not met**"
        mark = "" if target is None else f"≤ {target}× {met}"
        lines.append(f"| {r.name} | {r.ratio:.2f}× | {r.reference} | {mark} |")
    return "\n".join(lines)


def page(header: str, rows: list[Row]) -> str:
    """docs/benchmarks.md: the chart and the ratios first, every figure after."""
    return (
        "# Benchmarks\n\n<!-- generated by `bash tools/bench`; do not edit by hand -->\n\n"
        "How long a cached call takes next to the fastest way to do the same without "
        "twat-cache (a raw client, or a peer library): a *ratio* below 1 is faster than the "
        "reference, above 1 slower. Each figure is the best of several repeats of a tight "
        "loop in one process; servers ran on loopback, started by the test harness, with the "
        "client and the servers on one CPU (a round trip between cores costs twice as much, "
        "and a VM moves processes between cores at random: pinned, runs compare). "
        "The targets are the ratios the project holds itself to.\n\n"
        "![Time per call relative to the reference of each group](benchmarks.png)\n\n"
        f"## Ratios\n\n{ratios(rows)}\n\n"
        f"## Every figure\n\n{header}\n\n{table(rows)}\n"
    )


def chart(rows: list[Row], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [r for r in rows if r.ratio is not None and r.name != r.reference]
    if not shown:
        return
    fig, ax = plt.subplots(figsize=(9, 0.35 * len(shown) + 1.2))
    labels = [f"[{r.group}] {r.name}" for r in shown]
    colors = ["#2a7ab0" if r.name.startswith("twat") else "#9a9a9a" for r in shown]
    ax.barh(labels, [r.ratio for r in shown], color=colors)
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("time per call relative to the group's reference (log scale; lower is faster)")
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


COMPARE_TOLERANCE = 1.10
"""``--compare`` fails when one of our ratios is worse than the base's by more than this."""
COMPARE_FLOOR = 0.05
"""... and by more than this much in absolute terms: a latency at 2% of its budget that
becomes 4% is noise of a few milliseconds, not a regression worth failing a run for."""


def compare(rows: list[Row], base_path: Path, tolerance: float = COMPARE_TOLERANCE) -> list[str]:
    base = {(r["group"], r["name"]): r for r in json.loads(base_path.read_text())["rows"]}
    worse = []
    for row in rows:
        old = base.get((row.group, row.name))
        if (
            old
            and old.get("ratio")
            and row.ratio
            and row.name.startswith("twat")
            and row.ratio > old["ratio"] * tolerance
            and row.ratio - old["ratio"] > COMPARE_FLOOR
        ):
            worse.append(f"{row.group}/{row.name}: ratio {old['ratio']:.2f} -> {row.ratio:.2f}")
    return worse


def pin_to_one_cpu() -> str:
    """Run this process, and the servers it starts (they inherit it), on one CPU.

    A loopback round trip costs twice as much when client and server wake each other
    across cores as on one core, and a VM moves them between the two at random, for
    seconds at a time: without pinning, one row may meet only the slow placement and
    its reference only the fast one. On one CPU every row meets the same. Returns the
    note for the table's header ("" where the system cannot pin).
    """
    if not hasattr(os, "sched_setaffinity") or (os.cpu_count() or 1) < 2:
        return ""
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return f", client and servers pinned to CPU {cpu}"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: fewer repeats and calls")
    parser.add_argument(
        "--only", action="append", choices=GROUPS, help="run only this group (repeatable)"
    )
    parser.add_argument(
        "--compare",
        type=Path,
        help="fail if one of our ratios is worse than in this JSON (another run's output) "
        "by more than --tolerance",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=COMPARE_TOLERANCE - 1,
        help="how much worse a ratio may get under --compare (default 0.10: 10%%)",
    )
    parser.add_argument(
        "--output", type=Path, default=ROOT / ".bench", help="folder for the raw JSON"
    )
    parser.add_argument(
        "--no-docs", action="store_true", help="do not rewrite docs/benchmarks.md and the chart"
    )
    args = parser.parse_args()

    pinned = pin_to_one_cpu()
    bench = Bench(args.quick)
    run_groups(bench, set(args.only or ()))
    header = (
        f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores"
        f"{pinned}; "
        f"{'quick run' if args.quick else f'best of {bench.repeat} repeats'}.\n\n{versions()}"
    )
    text = table(bench.rows)
    print(f"\n{header}\n\n{text}\n\n{summary(bench.rows)}")
    args.output.mkdir(parents=True, exist_ok=True)
    result = {"header": header, "quick": args.quick, "rows": [asdict(r) for r in bench.rows]}
    (args.output / ("quick.json" if args.quick else "latest.json")).write_text(
        json.dumps(result, indent=2)
    )
    if not args.no_docs and not args.quick and not args.only:
        doc = page(header, bench.rows)
        (ROOT / "docs" / "benchmarks.md").write_text(doc)
        chart(bench.rows, ROOT / "docs" / "benchmarks.png")
    if args.compare:
        worse = compare(bench.rows, args.compare, 1 + args.tolerance)
        percent = f"{args.tolerance:.0%}"
        if worse:
            print(f"\nratios worse by more than {percent}:\n  " + "\n  ".join(worse))
            return 1
        print(f"\nno ratio worse by more than {percent}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
