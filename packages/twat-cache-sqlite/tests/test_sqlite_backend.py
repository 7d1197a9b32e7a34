"""Tests of the sqlite engine: the conformance kit on a file and in memory, and SQLite's own."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import twat_cache_sqlite.backend as backend_module
import twat_cache_sqlite.connections as connections
from twat_cache import Cache
from twat_cache.config import resolve_config
from twat_cache.exceptions import BackendError, CacheOperationError, ConfigurationError, PathError
from twat_cache.paths import default_folder
from twat_cache.protocols import capabilities_of
from twat_cache.registry import create_backend, engine_class
from twat_cache.serializers import encode_int
from twat_cache.testing import AsyncBackendConformance, BackendConformance
from twat_cache.urls import parse_url
from twat_cache_sqlite import SQLiteBackend

MakeBackend = Callable[[str], SQLiteBackend]


# --- the conformance kit -------------------------------------------------------------------


class _OnFile:
    @pytest.fixture
    def make_backend(self, tmp_path: Path) -> MakeBackend:
        def make(namespace: str) -> SQLiteBackend:
            return SQLiteBackend(tmp_path / "kit.db", namespace=namespace)

        return make


class _InMemory:
    @pytest.fixture
    def make_backend(self) -> MakeBackend:
        def make(namespace: str) -> SQLiteBackend:
            return SQLiteBackend(":memory:", namespace=namespace)

        return make


class TestSQLiteFileConformance(_OnFile, BackendConformance): ...


class TestSQLiteFileAsyncConformance(_OnFile, AsyncBackendConformance): ...


class TestSQLiteMemoryConformance(_InMemory, BackendConformance): ...


class TestSQLiteMemoryAsyncConformance(_InMemory, AsyncBackendConformance): ...


# --- helpers ---------------------------------------------------------------------------


@pytest.fixture
def db(tmp_path: Path) -> Iterator[SQLiteBackend]:
    backend = SQLiteBackend(tmp_path / "cache.db", namespace="ns")
    yield backend
    backend.close()


class _Clock:
    """A settable stand-in for the engine's expiry clock: expiry tests never sleep."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    fake = _Clock()
    monkeypatch.setattr(backend_module, "_now", fake)
    return fake


def _rows(path: str, table: str = "twat_cache") -> int:
    with closing(sqlite3.connect(path)) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def _from_url(url: str, folder: str | None = None) -> SQLiteBackend:
    backend = create_backend(resolve_config(url, environ={}, folder=folder))
    assert isinstance(backend, SQLiteBackend)
    return backend


# --- URLs and options --------------------------------------------------------------------


def test_entry_point_names_the_engine() -> None:
    assert engine_class("sqlite") is SQLiteBackend


def test_relative_path_is_under_the_folder(tmp_path: Path) -> None:
    backend = _from_url("sqlite:///sub/app.db", folder=str(tmp_path))
    with backend:
        backend.set("k", b"v")
        assert backend.path == str(tmp_path / "sub" / "app.db")
    assert (tmp_path / "sub" / "app.db").is_file()


def test_relative_path_without_folder_is_under_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with _from_url("sqlite:///here.db") as backend:
        assert backend.path == str(tmp_path / "here.db")


def test_a_fourth_slash_makes_the_path_absolute(tmp_path: Path) -> None:
    with _from_url(f"sqlite:///{tmp_path}/abs.db", folder="/nonexistent-is-ignored") as backend:
        assert backend.path == str(tmp_path / "abs.db")


def test_no_path_is_the_default_file_in_the_folder(tmp_path: Path) -> None:
    for url in ("sqlite://", "sqlite:///"):
        with _from_url(url, folder=str(tmp_path)) as backend:
            assert backend.path == str(tmp_path / "twat-cache.sqlite3")


def test_no_folder_is_the_user_cache_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))  # Linux and macOS
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "xdg"))  # Windows
    with _from_url("sqlite://") as backend:
        # the disk engine's folder too: one rule for both
        assert backend.path == str(default_folder() / "twat-cache.sqlite3")
        assert default_folder().is_relative_to(tmp_path / "xdg")


def test_memory_url() -> None:
    with _from_url("sqlite:///:memory:") as backend:
        assert backend.path == ":memory:"
        backend.set("k", b"v")
        assert backend.get("k") == b"v"


def test_options_from_the_url(tmp_path: Path) -> None:
    url = (
        f"sqlite:///{tmp_path}/o.db?table=my_cache&timeout=0.5&journal_mode=delete&synchronous=full"
    )
    with _from_url(url) as backend:
        backend.set("k", b"v")
        assert backend.table == "my_cache"
    assert _rows(str(tmp_path / "o.db"), "my_cache") == 1
    with closing(sqlite3.connect(tmp_path / "o.db")) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"


def test_wal_is_the_default(db: SQLiteBackend) -> None:
    db.set("k", b"v")
    with closing(sqlite3.connect(db.path)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.parametrize(
    ("query", "option"),
    [
        ("table=bad-name", "table"),
        ("table=1abc", "table"),
        ("table=sqlite_master", "table"),
        ("table=x%3BDROP%20TABLE%20y", "table"),
        ("table=name%0A", "table"),
        ("journal_mode=off", "journal_mode"),
        ("synchronous=extra", "synchronous"),
        ("timeout=-1", "timeout"),
        ("timeout=soon", "timeout"),
        ("cache_size=10", "cache_size"),
    ],
)
def test_bad_options_fail_at_construction(tmp_path: Path, query: str, option: str) -> None:
    with pytest.raises(ConfigurationError, match=option):
        _from_url(f"sqlite:///{tmp_path}/x.db?{query}")


def test_bad_keyword_options_fail_at_construction(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="timeout"):
        SQLiteBackend(tmp_path / "x.db", timeout=True)
    with pytest.raises(ConfigurationError, match="journal_mode"):
        SQLiteBackend(tmp_path / "x.db", journal_mode="WAL2")
    with pytest.raises(ConfigurationError, match="synchronous"):
        SQLiteBackend(tmp_path / "x.db", synchronous="extra")


def test_a_host_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="no host"):
        SQLiteBackend.from_config(
            resolve_config("sqlite://", environ={}), parse_url("sqlite://host/x.db")
        )


def test_uncreatable_folder_fails_at_construction(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_bytes(b"")
    with pytest.raises(PathError):
        _from_url("sqlite:///x.db", folder=str(tmp_path / "a-file" / "sub"))


def test_a_folder_is_not_a_database_file(tmp_path: Path) -> None:
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(ConfigurationError, match="not a folder"):
        SQLiteBackend(tmp_path / "dir.db")


def test_construction_opens_nothing(tmp_path: Path) -> None:
    backend = SQLiteBackend(tmp_path / "lazy.db")
    assert not (tmp_path / "lazy.db").exists()
    backend.close()
    assert "closed" in repr(backend)


def test_through_the_cache_object(tmp_path: Path) -> None:
    cache = Cache(f"sqlite:///{tmp_path}/c.db", namespace="app")
    try:
        cache.set("user", {"id": 1})
        cache.set("hits", 1)
        assert cache.get("user") == {"id": 1}
        assert cache.incr("hits", 2) == 3
    finally:
        cache.close()


# --- storage -----------------------------------------------------------------------------


def test_namespaces_share_one_table(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    with SQLiteBackend(path, namespace="a") as a, SQLiteBackend(path, namespace="b") as b:
        a.set("k", b"from a")
        b.set("k", b"from b")
        assert (a.get("k"), b.get("k")) == (b"from a", b"from b")
        assert _rows(str(path)) == 2


def test_tables_are_separate(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    with SQLiteBackend(path, table="one") as one, SQLiteBackend(path, table="two") as two:
        one.set("k", b"1")
        assert two.get("k") is None
        assert list(two.keys()) == []


def test_get_many_and_delete_many_in_chunks(db: SQLiteBackend) -> None:
    items = {f"k{i}": str(i).encode() for i in range(1234)}
    db.set_many(items)
    keys = [*items, "missing", "k0"]
    assert db.get_many(keys) == items
    assert db.delete_many(keys) == 1234
    assert db.get_many(keys) == {}
    db.set_many({})


def test_expired_rows_are_never_returned(db: SQLiteBackend, clock: _Clock) -> None:
    db.set("k", b"v", ttl=10)
    db.set("n", encode_int(1), ttl=10)
    clock.now += 10
    assert db.get("k") is None
    assert db.get_many(["k", "n"]) == {}
    assert list(db.keys()) == []
    assert db.touch("k", 100) is False
    assert db.delete("k") is False
    assert db.delete_many(["k", "n"]) == 0
    with pytest.raises(ValueError, match="not found"):
        db.incr("n")
    assert db.add("k", b"new") is True
    assert db.get("k") == b"new"


def test_purge_expired(db: SQLiteBackend, clock: _Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backend_module, "_PURGE_BATCH", 7)
    with SQLiteBackend(db.path, namespace="other") as other:
        other.set_many({f"o{i}": b"x" for i in range(5)}, ttl=5)
        db.set_many({f"k{i}": b"x" for i in range(20)}, ttl=5)
        db.set("forever", b"x")
        clock.now += 5
        assert db.purge_expired() == 25  # every namespace's expired rows, in batches of 7
        assert db.purge_expired() == 0
        assert _rows(db.path) == 1


def test_writes_purge_lazily_in_batches(
    db: SQLiteBackend, clock: _Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backend_module, "_PURGE_BATCH", 10)
    db.purge_every = 3
    db.set_many({f"k{i}": b"x" for i in range(25)}, ttl=1)  # write 1
    clock.now += 2
    db.set("a", b"x")  # write 2
    assert _rows(db.path) == 26
    db.add("b", b"x")  # write 3: one batch goes
    assert _rows(db.path) == 17
    db.set("c", b"x")
    db.set("d", b"x")
    db.set("e", b"x")  # write 6
    assert _rows(db.path) == 10


def test_incr_keeps_the_ttl(db: SQLiteBackend, clock: _Clock) -> None:
    db.set("n", encode_int(41), ttl=10)
    assert db.incr("n", 1) == 42
    assert db.get("n") == encode_int(42)
    clock.now += 10
    assert db.get("n") is None


@pytest.mark.parametrize(("start", "delta"), [(2**63 - 1, 1), (-(2**63), -1), (2**70, 1)])
def test_incr_outside_64_bits_is_an_overflow_error_and_keeps_the_value(
    db: SQLiteBackend, start: int, delta: int
) -> None:
    db.set("n", encode_int(start))
    with pytest.raises(OverflowError, match="64-bit"):
        db.incr("n", delta)
    assert db.get("n") == encode_int(start)


# --- maxsize, other config options, capabilities -------------------------------------------
def test_maxsize_keeps_the_most_recently_written(tmp_path: Path) -> None:
    with SQLiteBackend(tmp_path / "c.db", maxsize=30) as backend:
        for n in range(49):
            assert backend.set(f"k{n}", b"v") is True
        assert sorted(backend.keys()) == sorted(f"k{n}" for n in range(19, 49))
        backend.set("k19", b"rewritten")  # a rewrite makes it the newest
        backend.set("new", b"v")
        assert backend.get("k19") == b"rewritten"
        assert backend.get("k20") is None


def test_maxsize_evicts_expired_rows_first_and_counts_one_namespace(
    tmp_path: Path, clock: _Clock
) -> None:
    other = SQLiteBackend(tmp_path / "c.db", namespace="other")
    other.set_many({f"o{n}": b"v" for n in range(5)})
    with SQLiteBackend(tmp_path / "c.db", maxsize=3) as backend:
        backend.set("old", b"1")
        backend.set("short", b"2", ttl=1)
        backend.set("newer", b"3")
        clock.now += 2
        assert backend.add("newest", b"4") is True
        assert sorted(backend.keys()) == ["newer", "newest", "old"]
        assert backend.set_many({"a": b"1", "b": b"2"}) is True
        assert sorted(backend.keys()) == ["a", "b", "newest"]
    assert len(list(other.keys())) == 5
    other.close()


def test_maxsize_from_the_config_bounds_a_cache(tmp_path: Path) -> None:
    """Django's MAX_ENTRIES maps to maxsize: 49 writes to a maxsize=30 cache keep 30."""
    with Cache(f"sqlite:///{tmp_path}/c.db", maxsize=30) as cache:
        for n in range(49):
            cache.set(f"k{n}", n)
        assert sum(cache.get(f"k{n}") is not None for n in range(49)) == 30
        assert cache.get("k48") == 48


def test_maxsize_holds_across_processes(tmp_path: Path) -> None:
    code = (
        "import sys; from twat_cache_sqlite import SQLiteBackend\n"
        "b = SQLiteBackend(sys.argv[1], maxsize=10)\n"
        "[b.set(f'{sys.argv[2]}{n}', b'v') for n in range(25)]\n"
        "b.close()\n"
    )
    path = str(tmp_path / "c.db")
    workers = [
        subprocess.Popen([sys.executable, "-c", code, path, f"p{n}"])  # bounded: 25 writes
        for n in range(2)
    ]
    for worker in workers:
        assert worker.wait(timeout=120) == 0
    with SQLiteBackend(path) as backend:
        assert len(list(backend.keys())) == 10


@pytest.mark.parametrize(
    ("options", "field", "allowed"),
    [
        ({"maxbytes": 1000}, "maxbytes", "disk://"),
        ({"policy": "lfu"}, "policy", "memory://"),
        ({"policy": "fifo"}, "policy", "memory://"),
    ],
)
def test_config_options_sqlite_cannot_keep_are_refused(
    tmp_path: Path, options: dict[str, Any], field: str, allowed: str
) -> None:
    with pytest.raises(ConfigurationError, match=field) as info:
        create_backend(resolve_config(f"sqlite:///{tmp_path}/c.db", environ={}, **options))
    assert allowed in info.value.allowed


def test_maxsize_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="maxsize"):
        SQLiteBackend(tmp_path / "c.db", maxsize=0)


def test_capabilities_of_a_file_and_of_memory(tmp_path: Path) -> None:
    with SQLiteBackend(tmp_path / "c.db") as on_file, SQLiteBackend(":memory:") as in_memory:
        file_caps, memory_caps = capabilities_of(on_file), capabilities_of(in_memory)
    assert (file_caps.persistent, file_caps.shared, file_caps.native_ttl) == (True, True, False)
    assert (memory_caps.persistent, memory_caps.shared) == (False, False)
    for caps in (file_caps, memory_caps):
        assert (caps.atomic_add, caps.atomic_incr, caps.lists_keys) == (True, True, True)
        assert (caps.stores_objects, caps.blocking) == (False, True)


def test_memory_database_is_shared_in_the_process_while_open() -> None:
    first = SQLiteBackend(":memory:", namespace="shared")
    second = SQLiteBackend(":memory:", namespace="shared")
    first.set("k", b"v")
    assert second.get("k") == b"v"
    first.close()
    assert second.get("k") == b"v"
    second.close()
    with SQLiteBackend(":memory:", namespace="shared") as third:
        assert third.get("k") is None  # the last one closed dropped it


def test_operations_after_close_raise(db: SQLiteBackend) -> None:
    db.close()
    for call in (lambda: db.get_many(["a"]), lambda: db.incr("a"), db.purge_expired, db.clear):
        with pytest.raises(CacheOperationError):
            call()


# --- concurrency and failures -------------------------------------------------------------


def test_many_threads_read_and_write(db: SQLiteBackend) -> None:
    db.set("n", encode_int(0))
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for j in range(30):
                db.set(f"t{i}-{j}", b"x")
                assert db.get(f"t{i}-{j}") == b"x"
                db.incr("n")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert db.incr("n", 0) == 12 * 30
    assert len(list(db.keys())) == 12 * 30 + 1


def test_engines_opening_a_new_file_at_once(tmp_path: Path) -> None:
    """Switching a new file to WAL needs an exclusive lock, which SQLite may refuse at once."""
    for round_ in range(40):
        path = tmp_path / f"new-{round_}.db"
        engines = [SQLiteBackend(path, namespace="race") for _ in range(8)]
        barrier = threading.Barrier(len(engines))
        results: list[object] = []

        def race(engine: SQLiteBackend, i: int) -> None:
            barrier.wait(timeout=30)
            try:
                results.append(engine.add("lock", str(i).encode()))
            except BackendError as exc:  # pragma: no cover - the failure being tested for
                results.append(exc)

        threads = [threading.Thread(target=race, args=(e, i)) for i, e in enumerate(engines)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        for engine in engines:
            engine.close()
        assert sorted(results, key=repr) == [False] * 7 + [True], results


_WORKER = textwrap.dedent(
    """
    import sys
    from twat_cache_sqlite import SQLiteBackend

    path, rounds = sys.argv[1], int(sys.argv[2])
    with SQLiteBackend(path, namespace="procs", timeout=60) as cache:
        won = 0
        for i in range(rounds):
            cache.incr("counter")
            won += cache.add(f"slot-{i}", b"mine")
        print(won)
    """
)


def test_several_processes_on_one_file(tmp_path: Path) -> None:
    path = str(tmp_path / "procs.db")
    with SQLiteBackend(path, namespace="procs") as cache:
        cache.set("counter", encode_int(0))
        workers, rounds = 4, 60
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", _WORKER, path, str(rounds)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for _ in range(workers)
        ]
        outputs = []
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err.decode()
            outputs.append(int(out))
        assert cache.incr("counter", 0) == workers * rounds
        assert sum(outputs) == rounds  # every slot was won exactly once
        assert sorted(cache.keys()) == sorted(["counter", *(f"slot-{i}" for i in range(rounds))])


def test_a_locked_database_is_a_backend_error(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    with SQLiteBackend(path, timeout=0) as cache:
        cache.set("n", encode_int(1))
        holder = sqlite3.connect(path, isolation_level=None)
        try:
            holder.execute("BEGIN EXCLUSIVE")
            with pytest.raises(BackendError, match="locked") as info:
                cache.incr("n")
            assert isinstance(info.value.__cause__, sqlite3.OperationalError)
            with pytest.raises(BackendError):
                cache.set("k", b"v")
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert cache.incr("n") == 2  # the pool recovered


def test_a_file_that_is_not_a_database_is_a_backend_error(tmp_path: Path) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not a database" * 100)
    with SQLiteBackend(path) as cache, pytest.raises(BackendError) as info:
        cache.get("k")
    assert isinstance(info.value.__cause__, sqlite3.DatabaseError)


def test_idle_connections_are_bounded(db: SQLiteBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connections, "MAX_IDLE", 1)
    barrier = threading.Barrier(4)

    def work() -> None:
        with db._use("test"):
            barrier.wait(timeout=30)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(db._connections._idle) == 1  # type: ignore[union-attr]
