"""Tests of the disk:// engine: the conformance kit (plain, sharded, files), then its own."""

from __future__ import annotations

import gc
import json
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import diskcache
import pytest
from twat_cache import Cache, fcache
from twat_cache.config import CacheConfig, resolve_config
from twat_cache.exceptions import (
    BackendError,
    CacheOperationError,
    ConfigurationError,
    PathError,
)
from twat_cache.protocols import capabilities_of
from twat_cache.registry import create_backend, engine_class
from twat_cache.testing import AsyncBackendConformance, BackendConformance
from twat_cache_disk import (
    DEFAULT_MIN_FILE_SIZE,
    DEFAULT_SIZE_LIMIT,
    DEFAULT_TIMEOUT,
    DiskBackend,
    default_folder,
)
from twat_cache_disk.database import check_diskcache_version

SHORT = 0.2  # a ttl that surely passed after PAST seconds
PAST = 0.5
MODE_PICKLE = 4  # diskcache.core.MODE_PICKLE: the one storage mode this engine never writes


@pytest.fixture
def make(tmp_path: Path) -> Iterator[Callable[..., DiskBackend]]:
    made: list[DiskBackend] = []

    def build(namespace: str = "ns", **options: object) -> DiskBackend:
        backend = DiskBackend(tmp_path, namespace, **options)  # type: ignore[arg-type]
        made.append(backend)
        return backend

    yield build
    for backend in made:
        backend.close()


def _rows(folder: Path) -> list[tuple[str, int, str, str | None]]:
    """(key, mode, typeof(value), filename) of every row, read with sqlite3 directly."""
    with closing(sqlite3.connect(folder / "cache.db")) as con:
        return list(
            con.execute("SELECT key, mode, typeof(value), filename FROM Cache ORDER BY key")
        )


# -- the conformance kit -------------------------------------------------------------------
_VARIANTS = [{}, {"shards": 3}, {"min_file_size": 0}]


class _Disk:
    @pytest.fixture(params=_VARIANTS, ids=["plain", "shards", "files"])
    def make_backend(
        self, request: pytest.FixtureRequest, tmp_path: Path
    ) -> Callable[[str], DiskBackend]:
        options = request.param

        def build(namespace: str) -> DiskBackend:
            return DiskBackend(tmp_path, namespace, **options)

        return build


class TestDiskConformance(_Disk, BackendConformance):
    pass


class TestDiskAsyncConformance(_Disk, AsyncBackendConformance):
    pass


# -- construction --------------------------------------------------------------------------
def test_entry_point_resolves_disk_to_this_engine() -> None:
    assert engine_class("disk") is DiskBackend


def test_url_path_is_the_folder_and_namespace_a_sub_folder(tmp_path: Path) -> None:
    backend = create_backend(CacheConfig(url=f"disk://{tmp_path}/app", namespace="users"))
    assert isinstance(backend, DiskBackend)
    assert backend.directory == tmp_path / "app" / "users"
    assert backend.directory.is_dir()
    assert (backend.size_limit, backend.min_file_size, backend.timeout, backend.shards) == (
        DEFAULT_SIZE_LIMIT,
        DEFAULT_MIN_FILE_SIZE,
        DEFAULT_TIMEOUT,
        1,
    )
    assert backend.eviction_policy == "least-recently-stored"
    assert (backend.stores_objects, backend.blocking) == (False, True)
    assert str(tmp_path) in repr(backend)
    backend.close()
    assert "closed" in repr(backend)


def test_config_folder_and_maxbytes_are_used(tmp_path: Path) -> None:
    backend = create_backend(CacheConfig(url="disk://", folder=tmp_path, maxbytes=12345))
    assert backend.directory == tmp_path / "default"
    assert backend.size_limit == 12345


def test_url_path_wins_over_config_folder(tmp_path: Path) -> None:
    backend = create_backend(CacheConfig(url=f"disk://{tmp_path}/a", folder=tmp_path / "b"))
    assert backend.directory == tmp_path / "a" / "default"


def test_default_folder_is_the_user_cache_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # Linux and macOS
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path))  # Windows
    assert default_folder().is_relative_to(tmp_path)
    backend = create_backend(CacheConfig(url="disk://", namespace="mine"))
    assert backend.directory == default_folder() / "mine"


def test_all_url_options(tmp_path: Path) -> None:
    url = (
        f"disk://{tmp_path}?size_limit=1000000&eviction_policy=least-recently-used"
        "&min_file_size=0&timeout=2.5&shards=4"
    )
    backend = create_backend(CacheConfig(url=url))
    assert (backend.size_limit, backend.eviction_policy, backend.min_file_size) == (
        1000000,
        "least-recently-used",
        0,
    )
    assert (backend.timeout, backend.shards) == (2.5, 4)
    backend.set("k", b"v")
    assert sorted(p.name for p in backend.directory.iterdir()) == ["000", "001", "002", "003"]
    backend.close()


@pytest.mark.parametrize(
    ("query", "option"),
    [
        ("eviction_policy=nope", "eviction_policy"),
        ("size_limit=0", "size_limit"),
        ("min_file_size=-1", "min_file_size"),
        ("timeout=-1", "timeout"),
        ("timeout=soon", "timeout"),
        ("shards=0", "shards"),
        ("sizelimit=10", "sizelimit"),
    ],
)
def test_bad_option_names_it_and_creates_nothing(tmp_path: Path, query: str, option: str) -> None:
    target = tmp_path / "never"
    with pytest.raises(ConfigurationError, match=option):
        create_backend(CacheConfig(url=f"disk://{target}?{query}"))
    assert not target.exists()


def test_uncreatable_folder_is_a_path_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(PathError, match="folder") as info:
        create_backend(CacheConfig(url=f"disk://{blocker}/cache"))
    assert isinstance(info.value, ConfigurationError)


def test_uncreatable_folder_fails_at_decoration(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(ConfigurationError):
        fcache(folder=blocker / "sub")(lambda: 1)


def test_host_in_url_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="disk url"):
        create_backend(CacheConfig(url="disk://relative/path"))


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"namespace": ".."}, "namespace"),
        ({"namespace": "a/b"}, "namespace"),
        ({"eviction_policy": "lru"}, "eviction_policy"),
        ({"size_limit": 0}, "size_limit"),
        ({"shards": True}, "shards"),
        ({"timeout": float("inf")}, "timeout"),
        ({"timeout": True}, "timeout"),
    ],
)
def test_constructor_validates(tmp_path: Path, options: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        DiskBackend(tmp_path, **options)  # type: ignore[arg-type]
    assert info.value.field == field


def test_construction_opens_no_database(make: Callable[..., DiskBackend]) -> None:
    backend = make()
    assert list(backend.directory.iterdir()) == []
    backend.close()
    backend.close()


# -- storage -------------------------------------------------------------------------------
def test_bytes_are_stored_raw_never_pickled(make: Callable[..., DiskBackend]) -> None:
    backend = make()
    backend.set("small", b"\x00\x80binary")
    backend.set("large", b"x" * (DEFAULT_MIN_FILE_SIZE + 1))
    backend.set_many({"ba": bytearray(b"ab")})  # type: ignore[dict-item]
    rows = {key: (mode, kind, filename) for key, mode, kind, filename in _rows(backend.directory)}
    assert rows["small"][:2] == (1, "blob")
    assert rows["large"][1] == "null"
    assert rows["large"][2]  # its own file
    assert all(mode != MODE_PICKLE for mode, _, _ in rows.values())
    assert backend.get("ba") == b"ab"
    raw = diskcache.Cache(str(backend.directory))
    assert raw.get("small") == b"\x00\x80binary"
    raw.close()


def test_min_file_size_zero_puts_every_value_in_a_file(make: Callable[..., DiskBackend]) -> None:
    backend = make(min_file_size=0)
    backend.set("a", b"tiny")
    backend.set("n", b"7")
    rows = {key: filename for key, _, _, filename in _rows(backend.directory)}
    assert rows["a"] is not None
    assert (backend.directory / rows["a"]).read_bytes() == b"tiny"
    assert rows["n"] is None  # integers stay in SQLite, so that incr works
    assert backend.incr("n") == 8


@pytest.mark.parametrize(
    ("stored", "native"),
    [
        (b"0", True),
        (b"42", True),
        (b"-17", True),
        (b"9223372036854775807", True),
        (b"-9223372036854775808", True),
        (b"9223372036854775808", False),
        (b"99999999999999999999999", False),
        (b"042", False),
        (b"-0", False),
        (b"+5", False),
        (b" 5", False),
        (b"4_2", False),
        (b"", False),
    ],
)
def test_integers_are_kept_as_sqlite_integers_and_read_back_exactly(
    make: Callable[..., DiskBackend], stored: bytes, native: bool
) -> None:
    backend = make()
    backend.set("k", stored)
    assert backend.get("k") == stored
    assert backend.get_heads(["k"], 2) == {"k": stored[:2]}
    ((_, _, kind, _),) = _rows(backend.directory)
    assert (kind == "integer") is native
    if native:
        assert backend.incr("k", 0) == int(stored)
    else:
        with pytest.raises(TypeError, match="not an integer"):
            backend.incr("k")


def test_incr_keeps_expiry(make: Callable[..., DiskBackend]) -> None:
    backend = make()
    backend.set("n", b"1", ttl=SHORT)
    assert backend.incr("n", 4) == 5
    assert backend.get("n") == b"5"
    time.sleep(PAST)
    with pytest.raises(ValueError, match="not found"):
        backend.incr("n")


@pytest.mark.parametrize(("start", "delta"), [(2**63 - 1, 1), (-(2**63), -1), (5, 2**64)])
def test_incr_outside_64_bits_is_an_overflow_error_and_keeps_the_value(
    make: Callable[..., DiskBackend], start: int, delta: int
) -> None:
    backend = make()
    backend.set("n", str(start).encode())
    with pytest.raises(OverflowError, match="64-bit"):
        backend.incr("n", delta)
    assert backend.get("n") == str(start).encode()


def test_entries_survive_reopening(tmp_path: Path) -> None:
    first = DiskBackend(tmp_path, "persist")
    first.set("k", b"v")
    first.set("n", b"10")
    first.close()
    second = DiskBackend(tmp_path, "persist")
    assert second.get("k") == b"v"
    assert second.incr("n") == 11
    second.close()


def test_keys_purges_expired_entries(make: Callable[..., DiskBackend]) -> None:
    backend = make(shards=2)
    backend.set_many({"a": b"1", "b": b"2"}, ttl=SHORT)
    backend.set("c", b"3")
    time.sleep(PAST)
    assert sorted(backend.keys()) == ["c"]


def test_size_limit_culls_oldest(make: Callable[..., DiskBackend]) -> None:
    backend = make(size_limit=300_000, min_file_size=0)
    for i in range(40):
        backend.set(f"k{i:02d}", bytes(20_000))
    kept = sorted(backend.keys())
    assert 0 < len(kept) < 40
    assert "k39" in kept
    assert "k00" not in kept


def test_eviction_policy_none_never_culls(make: Callable[..., DiskBackend]) -> None:
    backend = make(size_limit=100_000, min_file_size=0, eviction_policy="none")
    for i in range(20):
        backend.set(f"k{i:02d}", bytes(20_000))
    assert len(list(backend.keys())) == 20


def test_namespaces_share_a_folder_without_touching_each_other(
    make: Callable[..., DiskBackend],
) -> None:
    users, orders = make("users"), make("orders")
    users.set("k", b"u")
    orders.set("k", b"o")
    users.clear()
    assert users.get("k") is None
    assert orders.get("k") == b"o"
    assert list(orders.keys()) == ["k"]


def test_shards_use_fanoutcache_layout_and_placement(make: Callable[..., DiskBackend]) -> None:
    backend = make(shards=3)
    backend.set_many({f"k{i}": str(i).encode() + b"!" for i in range(30)})
    fanout = diskcache.FanoutCache(str(backend.directory), shards=3)
    try:
        assert all(fanout.get(f"k{i}") == str(i).encode() + b"!" for i in range(30))
    finally:
        fanout.close()


def test_connections_of_ended_threads_are_closed(make: Callable[..., DiskBackend]) -> None:
    backend = make()
    backend.set("k", b"v")
    (database,) = backend._all()
    threads = [threading.Thread(target=backend.get, args=("k",)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    gc.collect()
    assert len(database._open_connections) == 1  # the main thread's
    backend.close()
    assert database._open_connections == set()


# -- failures ------------------------------------------------------------------------------
@pytest.fixture
def locked(make: Callable[..., DiskBackend]) -> Iterator[DiskBackend]:
    """A backend whose database another connection holds the write lock of."""
    backend = make(timeout=0.05)
    backend.set("k", b"1")
    holder = sqlite3.connect(backend.directory / "cache.db", timeout=0, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    yield backend
    holder.execute("ROLLBACK")
    holder.close()


@pytest.mark.parametrize(
    "call",
    [
        lambda b: b.set("k", b"2"),
        lambda b: b.set_many({"k": b"2"}),
        lambda b: b.add("new", b"1"),
        lambda b: b.delete("k"),
        lambda b: b.delete_many(["k"]),
        lambda b: b.touch("k", 10),
        lambda b: b.incr("k"),
        lambda b: b.clear(),
        lambda b: list(b.keys()),
    ],
    ids=["set", "set_many", "add", "delete", "delete_many", "touch", "incr", "clear", "keys"],
)
def test_a_locked_database_is_a_backend_error(
    locked: DiskBackend, call: Callable[[DiskBackend], object]
) -> None:
    with pytest.raises(BackendError, match="timeout=0.05") as info:
        call(locked)
    assert isinstance(info.value.__cause__, diskcache.Timeout)
    assert locked.get("k") == b"1"  # readers are not blocked by a writer (WAL)


def test_a_corrupt_database_is_a_backend_error(make: Callable[..., DiskBackend]) -> None:
    backend = make()
    (backend.directory / "cache.db").write_bytes(b"this is not an SQLite database" * 100)
    with pytest.raises(BackendError, match="open failed") as info:
        backend.get("k")
    assert isinstance(info.value.__cause__, sqlite3.DatabaseError)


def test_a_failing_read_is_a_backend_error(make: Callable[..., DiskBackend]) -> None:
    backend = make()
    backend.set("k", b"v")
    backend._all()[0]._sql("DROP TABLE Cache")  # the schema gone under our feet
    with pytest.raises(BackendError, match="get failed") as info:
        backend.get("k")
    assert isinstance(info.value.__cause__, sqlite3.OperationalError)


def test_every_operation_fails_after_close(make: Callable[..., DiskBackend]) -> None:
    backend = make()
    backend.set("k", b"v")
    backend.close()
    calls: list[Callable[[], object]] = [
        lambda: backend.get("k"),
        lambda: backend.get_many(["k"]),
        lambda: backend.set("k", b"v"),
        lambda: backend.set_many({"k": b"v"}),
        lambda: backend.add("k", b"v"),
        lambda: backend.delete("k"),
        lambda: backend.delete_many(["k"]),
        lambda: backend.touch("k"),
        lambda: backend.incr("k"),
        backend.clear,
        backend.keys,
    ]
    for call in calls:
        with pytest.raises(CacheOperationError, match="closed"):
            call()


# -- several processes on one folder --------------------------------------------------------
_WORKER = """
import json, sys
from twat_cache_disk import DiskBackend
folder, namespace, rounds, shards = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
backend = DiskBackend(folder, namespace, timeout=10, shards=shards)
won = []
for i in range(rounds):
    backend.incr("counter")
    if backend.add(f"lock:{i}", sys.argv[5].encode()):
        won.append(i)
backend.close()
print(json.dumps(won))
"""


@pytest.mark.slow
@pytest.mark.parametrize("shards", [1, 3])
def test_processes_share_incr_and_add(tmp_path: Path, shards: int) -> None:
    processes, rounds = 4, 200
    setup = DiskBackend(tmp_path, "shared", shards=shards)
    setup.set("counter", b"0")
    workers = [
        subprocess.Popen(  # bounded: each exits after `rounds` iterations or is killed below
            [
                sys.executable,
                "-c",
                _WORKER,
                str(tmp_path),
                "shared",
                str(rounds),
                str(shards),
                f"p{n}",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(processes)
    ]
    won: list[int] = []
    try:
        for worker in workers:
            out, err = worker.communicate(timeout=120)
            assert worker.returncode == 0, err
            won.extend(json.loads(out))
    finally:
        for worker in workers:
            if worker.poll() is None:  # pragma: no cover - only after a timeout
                worker.kill()
    assert setup.get("counter") == str(processes * rounds).encode()
    assert sorted(won) == list(range(rounds)), "each add must be won by exactly one process"
    owners = {setup.get(f"lock:{i}") for i in range(rounds)}
    assert owners <= {f"p{n}".encode() for n in range(processes)}
    setup.close()


# -- the diskcache versions this package supports --------------------------------------------
@pytest.mark.parametrize("version", ["5.7.0", "6.0", "5.5.9", "nonsense"])
def test_an_unsupported_diskcache_is_refused_at_import_naming_both_versions(version: str) -> None:
    with pytest.raises(ImportError, match="diskcache") as info:
        check_diskcache_version(version)
    assert version in str(info.value)
    assert "5.6.x" in str(info.value)


def test_the_installed_diskcache_is_supported() -> None:
    check_diskcache_version(diskcache.__version__)
    check_diskcache_version("5.6.0")


def test_a_forked_child_opens_its_own_connection(make: Callable[..., DiskBackend]) -> None:
    backend = make()
    backend.set("k", b"v")
    (database,) = backend._open()
    database._connections.pid = -1  # as if this thread's connection came from a parent process
    assert backend.get("k") == b"v"  # reopened, not reused
    assert database._connections.pid != -1


# -- maxsize, policy and capabilities ---------------------------------------------------------
def test_maxsize_keeps_the_newest_entries(make: Callable[..., DiskBackend]) -> None:
    backend = make(maxsize=30)
    for n in range(49):
        assert backend.set(f"k{n}", b"v") is True
    assert sorted(backend.keys()) == sorted(f"k{n}" for n in range(19, 49))


def test_maxsize_evicts_expired_entries_before_live_ones(make: Callable[..., DiskBackend]) -> None:
    backend = make(maxsize=3)
    backend.set("old", b"1")
    backend.set("short", b"2", ttl=SHORT)
    backend.set("newer", b"3")
    time.sleep(PAST)
    assert backend.add("newest", b"4") is True
    assert backend.add("newest", b"5") is False
    assert sorted(backend.keys()) == ["newer", "newest", "old"]


def test_maxsize_counts_set_many_and_each_shard(make: Callable[..., DiskBackend]) -> None:
    backend = make(maxsize=12, shards=3)
    assert backend.set_many({f"k{n}": b"v" for n in range(40)}) is True
    assert len(list(backend.keys())) <= 12
    assert backend.get("k39") == b"v"


def test_maxsize_from_the_config_bounds_a_cache(tmp_path: Path) -> None:
    """Django's MAX_ENTRIES maps to maxsize: 49 writes to a maxsize=30 cache keep 30."""
    with Cache(f"disk://{tmp_path}", maxsize=30) as cache:
        for n in range(49):
            cache.set(f"k{n}", n)
        assert sum(cache.get(f"k{n}") is not None for n in range(49)) == 30
        assert cache.get("k48") == 48


def test_maxsize_holds_across_processes(tmp_path: Path) -> None:
    code = (
        "import sys; from twat_cache_disk import DiskBackend\n"
        "b = DiskBackend(sys.argv[1], 'shared', maxsize=10)\n"
        "[b.set(f'{sys.argv[2]}{n}', b'v') for n in range(25)]\n"
        "b.close()\n"
    )
    workers = [
        subprocess.Popen([sys.executable, "-c", code, str(tmp_path), f"p{n}"])  # bounded: 25 writes
        for n in range(2)
    ]
    for worker in workers:
        assert worker.wait(timeout=120) == 0
    with DiskBackend(tmp_path, "shared") as backend:
        assert len(list(backend.keys())) == 10


def test_maxsize_below_the_shard_count_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="maxsize"):
        DiskBackend(tmp_path, maxsize=2, shards=3)


@pytest.mark.parametrize("policy", ["lfu", "fifo", "rr", "ttl"])
def test_an_in_process_policy_is_refused_naming_eviction_policy(
    tmp_path: Path, policy: str
) -> None:
    with pytest.raises(ConfigurationError, match="policy") as info:
        create_backend(CacheConfig(url=f"disk://{tmp_path}", policy=policy))  # type: ignore[arg-type]
    assert "eviction_policy" in info.value.allowed
    assert "memory://" in info.value.allowed


def test_the_disk_engine_declares_what_it_is(make: Callable[..., DiskBackend]) -> None:
    caps = capabilities_of(make())
    assert (caps.persistent, caps.shared, caps.native_ttl) == (True, True, True)
    assert (caps.atomic_add, caps.atomic_incr, caps.lists_keys) == (True, True, True)
    assert (caps.stores_objects, caps.blocking) == (False, True)


# -- through core --------------------------------------------------------------------------
def test_cache_object_over_disk_engine(tmp_path: Path) -> None:
    cache = Cache(f"disk://{tmp_path}", namespace="objects")
    try:
        assert isinstance(cache.backend, DiskBackend)
        cache.set("k", {"a": [1, 2]})
        assert cache.get("k") == {"a": [1, 2]}
        cache.set("n", 1)
        assert cache.incr("n", 41) == 42
        assert cache.get("n") == 42
        assert cache.add("n", 0) is False
        cache.set("tagged", "v", tags=["t"])
        assert cache.get("tagged") == "v"
        cache.invalidate_tags("t")
        assert cache.get("tagged") is None
    finally:
        cache.close()


def test_fcache_writes_one_file_per_value(tmp_path: Path) -> None:
    calls = []

    @fcache(folder=tmp_path, namespace="files")
    def blob(n: int) -> bytes:
        calls.append(n)
        return bytes(n)

    try:
        assert blob(10) == bytes(10)
        assert blob(10) == bytes(10)
        assert calls == [10]
        rows = _rows(tmp_path / "files")
        assert rows
        assert all(filename for _, _, _, filename in rows)
    finally:
        blob.cache_clear()


def test_resolve_config_with_url_options(tmp_path: Path) -> None:
    backend = create_backend(resolve_config(f"disk://{tmp_path}?shards=2", namespace="r"))
    assert backend.shards == 2
    assert backend.directory == tmp_path / "r"
