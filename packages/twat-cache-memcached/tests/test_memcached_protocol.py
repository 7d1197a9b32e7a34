"""The replies this engine reads itself: any chunking, any value bytes, every error line."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymemcache.client.base import Client
from pymemcache.exceptions import (
    MemcacheClientError,
    MemcacheServerError,
    MemcacheUnexpectedCloseError,
    MemcacheUnknownCommandError,
    MemcacheUnknownError,
)
from twat_cache_memcached import MemcachedBackend
from twat_cache_memcached.protocol import (
    RECV_SIZE,
    Changed,
    get_current,
    meta_cas,
    meta_gets,
    meta_lines,
    meta_ttl_reply,
    meta_ttl_request,
    read_lines,
    read_values,
    value_reply,
)

# values that look like the protocol's own lines: a reader that searched for them would stop early
_TRICKY = [
    b"",
    b"\r\n",
    b"END\r\n",
    b"\r\nEND\r\n",
    b"x\r\nEND",
    b"VALUE k 0 3\r\nabc\r\nEND\r\n",
    b"MN\r\n",
    b"SERVER_ERROR no\r\n",
]
_KEYS = st.binary(min_size=1, max_size=40).map(lambda raw: raw.hex().encode())
_VALUES = st.one_of(st.sampled_from(_TRICKY), st.binary(max_size=300))


def _chunked(reply: bytes, cuts: list[int]) -> tuple[bytes, Callable[[int], bytes]]:
    """The reply's first chunk and a ``recv`` handing out the rest at ``cuts``, as a socket may."""
    points = sorted({min(cut, len(reply)) for cut in cuts} | {len(reply)})
    chunks = [reply[start:stop] for start, stop in zip([0, *points], points, strict=False)]
    chunks = [chunk for chunk in chunks if chunk] or [b""]
    rest = iter(chunks[1:])

    def recv(size: int) -> bytes:
        assert size > 0
        return next(rest, b"")  # b"": the server closed the connection

    return chunks[0], recv


def _reply(values: dict[bytes, bytes]) -> bytes:
    return b"".join(value_reply(key, value) for key, value in values.items()) + b"END\r\n"


@settings(max_examples=300, deadline=None)
@given(
    values=st.dictionaries(_KEYS, _VALUES, max_size=5),
    cuts=st.lists(st.integers(min_value=1, max_value=2000), max_size=12),
)
def test_read_values_reads_any_values_in_any_chunks(
    values: dict[bytes, bytes], cuts: list[int]
) -> None:
    first, recv = _chunked(_reply(values), cuts)
    assert read_values(first, recv) == values


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(st.sampled_from([b"HD t5 O0", b"HD t-1 O12", b"VA 3 t9 O1", b"EN"]), max_size=8),
    cuts=st.lists(st.integers(min_value=1, max_value=100), max_size=8),
)
def test_read_lines_reads_up_to_mn_in_any_chunks(lines: list[bytes], cuts: list[int]) -> None:
    first, recv = _chunked(b"".join(line + b"\r\n" for line in lines) + b"MN\r\n", cuts)
    assert read_lines(first, recv) == lines


@pytest.mark.parametrize(
    ("reply", "error", "message"),
    [
        (b"SERVER_ERROR out of memory\r\n", MemcacheServerError, "out of memory"),
        (b"CLIENT_ERROR bad data chunk\r\n", MemcacheClientError, "bad data chunk"),
        (b"ERROR\r\n", MemcacheUnknownCommandError, "ERROR"),
        (b"GARBAGE\r\n", MemcacheUnknownError, "GARBAGE"),
        (b"VALUE k 0\r\nab\r\nEND\r\n", MemcacheUnknownError, "unexpected reply"),
        (b"VALUE k 0 -2\r\nab\r\nEND\r\n", MemcacheUnknownError, "unexpected reply"),
        (b"VALUE k 0 1\r\nab\r\nEND\r\n", MemcacheUnknownError, "not followed by CRLF"),
        (b"END\r\nEND\r\n", MemcacheUnknownError, "after END"),
    ],
)
def test_read_values_raises_pymemcaches_errors(
    reply: bytes, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        read_values(reply, lambda size: b"")


def test_a_reply_cut_short_is_an_unexpected_close() -> None:
    for reply in (b"VALUE k 0 5\r\nab", b"VALUE k 0 2\r\nab\r\nEN", b"VALUE k 0 2"):
        with pytest.raises(MemcacheUnexpectedCloseError):
            read_values(reply, lambda size: b"")
    with pytest.raises(MemcacheUnexpectedCloseError):
        read_lines(b"HD t5 O0\r\n", lambda size: b"")


def test_read_lines_stops_at_error_and_refuses_trailing_bytes() -> None:
    assert read_lines(b"HD t1 O0\r\nERROR\r\nERROR\r\n", lambda size: b"") == [
        b"HD t1 O0",
        b"ERROR",
    ]
    with pytest.raises(MemcacheUnknownError, match="after b'MN'"):
        read_lines(b"MN\r\nHD\r\n", lambda size: b"")


# -- on a real server ---------------------------------------------------------------------------


@pytest.fixture
def backend(memcached_server: Any) -> Iterator[MemcachedBackend]:
    made = MemcachedBackend.from_url(memcached_server.url, namespace=f"p{time.monotonic_ns()}")
    yield made
    made.close()


def _raw(backend: MemcachedBackend) -> Client:
    host, port = backend.servers[0].rsplit(":", 1)
    return Client((host, int(port)), default_noreply=False, timeout=5)


@pytest.mark.parametrize(
    "value",
    [
        *_TRICKY,
        b"v" * (RECV_SIZE - 120),  # the reply ends right around the first read
        b"w" * RECV_SIZE,
        bytes(range(256)) * 1000,  # several reads
        b"z" * 1000 + b"\r\nEND\r\n",
    ],
    ids=lambda value: f"{len(value)}B:{value[:12]!r}",
)
def test_a_hit_returns_exactly_what_was_stored(backend: MemcachedBackend, value: bytes) -> None:
    assert backend.set("k", value)
    assert backend.get("k") == value  # the generation is known now: the one-get hit path
    assert backend.get("k") == value
    assert backend.get_many(["k", "absent"]) == {"k": value}
    assert backend.get("absent") is None


def test_a_hit_sees_another_instances_clear_and_a_lost_counter(memcached_server: Any) -> None:
    namespace = f"c{time.monotonic_ns()}"
    one = MemcachedBackend.from_url(memcached_server.url, namespace=namespace)
    two = MemcachedBackend.from_url(memcached_server.url, namespace=namespace)
    raw = _raw(one)
    try:
        one.set("k", b"v")
        assert two.get("k") == b"v"
        one.clear()
        assert two.get("k") is None  # the reply showed another generation: read again under it
        two.set("k", b"w")
        assert two.get("k") == b"w"
        assert one.get("k") == b"w"
        raw.delete(f"{namespace}:__gen__")  # evicted, or the server restarted
        assert one.get("k") is None  # a new counter starts above every generation it had
        assert two.get("k") is None
    finally:
        one.close()
        two.close()
        raw.close()


def test_a_counter_with_other_flags_or_padding_still_reads(backend: MemcachedBackend) -> None:
    """A counter rewritten by another client is compared by number, not by its reply's bytes."""
    backend.set("k", b"v")
    assert backend.get("k") == b"v"
    node = backend._ring.nodes[0]
    counter = f"{backend.namespace}:__gen__"
    raw = _raw(backend)
    try:
        raw.set(counter, str(node.generation).encode(), flags=7)
        assert backend.get("k") == b"v"
        raw.set(counter, str(node.generation).encode() + b"  ")  # as memcached pads a decr
        assert backend.get("k") == b"v"
    finally:
        raw.close()


def _connected(client: Client) -> bool:
    return client.sock is not None


def test_get_current_on_a_new_connection_connects_through_pymemcache(
    backend: MemcachedBackend,
) -> None:
    backend.set("k", b"v")
    node = backend._ring.nodes[0]
    name = backend._names.key(node.generation or 0, "k").encode()
    counter = f"{backend.namespace}:__gen__".encode()
    fresh = _raw(backend)
    try:
        assert not _connected(fresh)
        assert get_current(fresh, node.head, counter, name) == b"v"
        assert _connected(fresh)
        stale = value_reply(counter, b"1")
        changed = get_current(fresh, stale, counter, name)
        assert isinstance(changed, Changed)
        assert changed.raw == str(node.generation).encode()
    finally:
        fresh.close()


def test_ttl_many_of_hundreds_of_keys_reads_every_reply(backend: MemcachedBackend) -> None:
    """600 keys: the replies span many reads (pymemcache's raw_command kept the last only)."""
    keys = [f"a-longer-key-name-{i:05d}" for i in range(600)]
    assert backend.set_many({key: b"v" for key in keys}, ttl=300)
    found = backend.expiries([*keys, "absent"])
    assert sorted(found) == sorted(keys)
    assert all(time.time() + 290 < when <= time.time() + 302 for when in found.values())


def test_a_server_without_meta_commands_is_told_at_once() -> None:
    """memcached before 1.6 answers ERROR to ``mg``: a clear error, not a wait for the timeout."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def serve() -> None:
            conn, _ = listener.accept()
            with conn:
                while data := conn.recv(65536):  # knows "version" only, like memcached 1.5
                    lines = data.split(b"\r\n")[:-1]
                    replies = [
                        b"VERSION 1.5.22" if line == b"version" else b"ERROR" for line in lines
                    ]
                    conn.sendall(b"".join(reply + b"\r\n" for reply in replies))

        threading.Thread(target=serve, daemon=True).start()
        client = Client(("127.0.0.1", port), timeout=5)
        started = time.monotonic()
        lines = meta_lines(client, meta_ttl_request(["old:1:a", "old:1:b"]))
        assert time.monotonic() - started < 4
        assert lines == [b"ERROR"]
        assert not _connected(client)  # closed: the rest of the reply is never read
        with pytest.raises(ValueError, match="unexpected reply"):
            meta_ttl_reply(b"\r\n".join(lines), 2)  # expiries() raises it as CacheOperationError


class _Wired:
    """A client whose socket's other end is the test: it plays the server's reply."""

    def __init__(self, reply: bytes) -> None:
        self.sock, self.peer = socket.socketpair()
        self.peer.sendall(reply)

    def request(self) -> bytes:
        return self.peer.recv(65536)

    def close(self) -> None:
        self.sock.close()
        self.peer.close()


HEAD = value_reply(b"n:__gen__", b"42")


@pytest.mark.parametrize(
    ("rest", "expected"),
    [
        (b"END\r\n", None),
        (b"VALUE n:42:k 0 3\r\nabc\r\nEND\r\n", b"abc"),
        (b"VALUE n:42:k 5 3\r\nabc\r\nEND\r\n", b"abc"),  # flags are not read
        (b"VALUE n:42:k 0 6\r\nx\r\nEND\r\nEND\r\n", b"x\r\nEND"),
    ],
)
def test_get_current_takes_the_common_reply_apart_by_position(
    rest: bytes, expected: bytes | None
) -> None:
    wired = _Wired(HEAD + rest)
    try:
        assert get_current(wired, HEAD, b"n:__gen__", b"n:42:k") == expected
        assert wired.request() == b"get n:__gen__ n:42:k\r\n"
    finally:
        wired.close()


@pytest.mark.parametrize(
    "rest",
    [
        b"VALUE n:42:k 0 x3\r\nabc\r\nEND\r\n",
        b"VALUE n:42:k 0 3\r\nabcd\r\nEND\r\n",
        b"EN\r\nD\r\n",
    ],
)
def test_get_current_refuses_a_reply_out_of_shape(rest: bytes) -> None:
    wired = _Wired(HEAD + rest)
    try:
        with pytest.raises(MemcacheUnknownError):
            get_current(wired, HEAD, b"n:__gen__", b"n:42:k")
    finally:
        wired.close()


# -- counters: a negative step keeps the ttl -------------------------------------------------------


def test_a_negative_step_keeps_the_counters_ttl(backend: MemcachedBackend) -> None:
    backend.set("short", b"1", ttl=60)
    backend.set("forever", b"1", ttl=None)
    assert backend.incr("short", -5) == -4
    assert backend.incr("short", 2) == -2  # a negative value: swapped too
    assert backend.incr("forever", -1) == 0
    left = backend.expiries(["short", "forever"])
    assert 50 < left["short"] - time.time() <= 62
    assert left["forever"] == float("inf")


def test_a_negative_step_on_a_short_ttl_still_expires(backend: MemcachedBackend) -> None:
    backend.set("n", b"0", ttl=1)
    assert backend.incr("n", -1) == -1
    deadline = time.monotonic() + 10
    while backend.get("n") is not None:
        assert time.monotonic() < deadline, "the counter lost its ttl"
        time.sleep(0.2)


def test_meta_cas_stores_only_over_the_value_it_read(backend: MemcachedBackend) -> None:
    node, name = backend._locate("n")
    raw_name = name.encode()
    backend.set("n", b"1", ttl=60)
    read = backend._ring.call(node, meta_gets, raw_name)
    assert read is not None
    value, left, cas = read
    assert (value, 55 < left <= 62) == (b"1", True)
    backend.set("n", b"1", ttl=60)  # another client's write: a new CAS number
    assert backend._ring.call(node, meta_cas, raw_name, b"2", 60, cas) is False
    assert backend.get("n") == b"1"
    backend.delete("n")
    assert backend._ring.call(node, meta_cas, raw_name, b"2", 60, cas) is None
    assert backend._ring.call(node, meta_gets, raw_name) is None
    with pytest.raises(ValueError, match="CAS"):
        meta_cas(object(), raw_name, b"2", 60, b"1 noreply")


def test_without_meta_commands_a_negative_step_still_counts(
    backend: MemcachedBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """memcached before 1.6 answers ERROR to ``mg``: gets + cas, the ttl lost (README)."""

    def old_server(client: Any, name: bytes) -> None:
        raise MemcacheUnknownCommandError("ERROR")

    monkeypatch.setattr("twat_cache_memcached.counters.meta_gets", old_server)
    backend.set("n", b"3", ttl=60)
    assert backend.incr("n", -5) == -2
    assert backend.incr("n", -1) == -3
    with pytest.raises(ValueError, match="not found"):
        backend.incr("absent", -1)


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (b"EN\r\n", None),
        (b"VA 2 t-1 c9\r\n-5\r\n", (b"-5", -1, b"9")),
        (b"VA 3 c12 t30\r\nx\r\n\r\n", (b"x\r\n", 30, b"12")),
    ],
)
def test_meta_gets_reads_value_ttl_and_cas(
    reply: bytes, expected: tuple[bytes, int, bytes] | None
) -> None:
    wired = _Wired(reply)
    try:
        assert meta_gets(wired, b"n:1:k") == expected
        assert wired.request() == b"mg n:1:k v t c\r\n"
    finally:
        wired.close()


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (b"ERROR\r\n", MemcacheUnknownCommandError),
        (b"VA 2 t5\r\n-5\r\n", MemcacheUnknownError),  # no CAS number
        (b"VA 2 t5 c1\r\n-5\r\nEN\r\n", MemcacheUnknownError),
        (b"SERVER_ERROR busy\r\n", MemcacheServerError),
    ],
)
def test_meta_gets_refuses_other_replies(reply: bytes, error: type[Exception]) -> None:
    wired = _Wired(reply)
    try:
        with pytest.raises(error):
            meta_gets(wired, b"n:1:k")
    finally:
        wired.close()


@pytest.mark.parametrize(
    ("reply", "expected"),
    [(b"HD\r\n", True), (b"EX\r\n", False), (b"NS\r\n", False), (b"NF\r\n", None)],
)
def test_meta_cas_replies(reply: bytes, expected: bool | None) -> None:
    wired = _Wired(reply)
    try:
        assert meta_cas(wired, b"n:1:k", b"-4", 30, b"7") is expected
        assert wired.request() == b"ms n:1:k 2 T30 C7\r\n-4\r\n"
    finally:
        wired.close()


def test_meta_cas_refuses_other_replies() -> None:
    for reply, error in (
        (b"CLIENT_ERROR bad\r\n", MemcacheClientError),
        (b"HD\r\nHD\r\n", MemcacheUnknownError),
    ):
        wired = _Wired(reply)
        try:
            with pytest.raises(error):
                meta_cas(wired, b"n:1:k", b"-4", 30, b"7")
        finally:
            wired.close()
