"""What memcached's text protocol accepts and answers: keys, expiry times, sizes, replies.

Two replies are read here rather than by pymemcache, on the socket of a
pymemcache ``Client`` that pymemcache connected (the package README says why):

- :func:`get_current` and :func:`get_values`: a ``get`` of several keys. Every hit
  of this engine reads two keys (the namespace's generation and the entry), and
  pymemcache parses each reply line in three to four Python calls: a hit cost
  1.25x pymemcache's one-key ``get``. Here a hit's reply is checked against what
  it starts with while the generation is unchanged (:func:`value_reply`), and the
  entry taken from behind it, in less time than pymemcache reads one key.
- :func:`meta_lines`: a pipeline of meta commands closed by ``mn``. pymemcache's
  ``raw_command`` keeps only the last chunk it received, so a reply longer than
  one read (about 4 KB: some 250 keys of ``ttl_many``) came back cut.
"""

from __future__ import annotations

import math
import re
import socket
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pymemcache.exceptions import (
    MemcacheClientError,
    MemcacheServerError,
    MemcacheUnexpectedCloseError,
    MemcacheUnknownCommandError,
    MemcacheUnknownError,
)
from twat_cache.engines.generations import Generations
from twat_cache.exceptions import ConfigurationError

if TYPE_CHECKING:
    from twat_cache.urls import EngineURL

__all__ = [
    "DEFAULT_ITEM_SIZE_LIMIT",
    "DEFAULT_PORT",
    "MAX_KEY_LENGTH",
    "META_END",
    "Changed",
    "get_current",
    "get_values",
    "kept_exptime",
    "meta_cas",
    "meta_delete_reply",
    "meta_delete_request",
    "meta_gets",
    "meta_lines",
    "meta_ttl_reply",
    "meta_ttl_request",
    "parse_size",
    "physical_key",
    "read_lines",
    "read_values",
    "to_exptime",
    "value_reply",
]

DEFAULT_PORT = 11211
DEFAULT_ITEM_SIZE_LIMIT = 1024 * 1024  # memcached's default -I
MAX_KEY_LENGTH = 250  # memcached's limit, in bytes
_RELATIVE_EXPTIME_LIMIT = 30 * 24 * 3600  # memcached reads a larger exptime as a Unix time
_SIZE = re.compile(r"(\d+)([kKmM]?)")
RECV_SIZE = 65536  # bytes asked of the socket per read: most replies come in one

Recv = Callable[[int], bytes]
"""``socket.recv``: at most that many bytes, ``b""`` once the server closed the connection."""


def physical_key(namespace: str, generation: int, key: str) -> str:
    """Return the memcached key of ``key``: ``{namespace}:{generation}:{key}``.

    Keys longer than 250 bytes in all, or with spaces, control or non-ASCII
    characters, become ``#{readable prefix}~{blake2b hex}`` after the prefix
    (core's :func:`twat_cache.keys.fit_key`).

    Example:
        >>> physical_key("app", 7, "user:1")
        'app:7:user:1'
    """
    return Generations(namespace, max_key_length=MAX_KEY_LENGTH).key(generation, key)


META_END = b"MN\r\n"
"""The reply to ``mn``, the meta no-op that closes a pipeline of quiet meta commands."""


def meta_delete_request(name: str, cas: bytes) -> bytes:
    r"""The meta delete that removes ``name`` only while its CAS value is still ``cas``.

    Example:
        >>> meta_delete_request("app:1:lock", b"42")
        b'md app:1:lock C42'
    """
    if not cas.isdigit():
        raise ValueError(f"a CAS value is a number, not {cas!r}")
    return b"md " + name.encode() + b" C" + cas


def meta_delete_reply(reply: bytes) -> bool:
    """Whether the meta delete removed the key (``HD``); ``EX``: replaced since, ``NF``: gone.

    Raises:
        ValueError: for a reply that is not a meta reply (a server before 1.6 answers ``ERROR``).

    Example:
        >>> meta_delete_reply(b"HD"), meta_delete_reply(b"EX")
        (True, False)
    """
    status = reply.strip()
    if status not in (b"HD", b"EX", b"NF"):
        raise ValueError(f"not a meta delete reply: {reply[:60]!r}")
    return status == b"HD"


def meta_ttl_request(names: Sequence[str]) -> bytes:
    r"""The meta gets asking the seconds left of each key (``t``), tagged with its index (``O``).

    Quiet (``q``): a miss sends nothing, and the closing ``mn`` marks the end of
    the replies, so the whole batch is one round trip. The keys are memcached keys
    as :func:`physical_key` makes them (ASCII, no spaces).

    Example:
        >>> meta_ttl_request(["app:1:a"])
        b'mg app:1:a t q O0\r\nmn'
    """
    lines = [f"mg {name} t q O{index}".encode() for index, name in enumerate(names)]
    return b"\r\n".join([*lines, b"mn"])


def meta_ttl_reply(reply: bytes, count: int) -> dict[int, int]:
    r"""Parse the replies to :func:`meta_ttl_request`: key index -> seconds left (-1: no expiry).

    Raises:
        ValueError: for a reply that is not a meta reply (a server before 1.6 answers ``ERROR``).

    Example:
        >>> meta_ttl_reply(b"HD t59 O0\r\nHD t-1 O2\r\n", 3)
        {0: 59, 2: -1}
    """
    left: dict[int, int] = {}
    for line in reply.split(b"\r\n"):
        if not line:
            continue
        status, *flags = line.decode("ascii", "replace").split()
        values = {flag[0]: flag[1:] for flag in flags}
        if status not in ("HD", "VA") or "t" not in values or "O" not in values:
            raise ValueError(f"unexpected reply {line[:80]!r}")
        index = int(values["O"])
        if not 0 <= index < count:
            raise ValueError(f"reply for an unknown request {line[:80]!r}")
        left[index] = int(values["t"])
    return left


def to_exptime(ttl: float | None) -> int:
    """Return memcached's ``exptime`` for a ``ttl`` in seconds.

    memcached counts whole seconds on a clock that ticks once a second, so an
    ``exptime`` of 1 may end after a fraction of a second: the ttl is rounded up
    and one second added, so an entry lives at least ``ttl`` and at most about
    ``ttl + 2`` seconds. Longer than 30 days becomes a Unix time, as memcached
    requires. ``None`` is 0 (no expiry); a ttl <= 0 is already expired.
    """
    if ttl is None:
        return 0
    if ttl <= 0:
        return -1
    seconds = math.ceil(ttl) + 1
    if seconds > _RELATIVE_EXPTIME_LIMIT:
        return int(time.time()) + seconds
    return seconds


def parse_size(url: EngineURL, name: str, default: int) -> int:
    """Read a size option in bytes, or with a ``k``/``m`` suffix as memcached's ``-I`` takes it.

    Raises:
        ConfigurationError: naming the option, the value and the accepted forms.
    """
    raw = url.option_str(name, None)
    if raw is None:
        return default
    match = _SIZE.fullmatch(raw.strip())
    if match is None or int(match.group(1)) < 1:
        raise ConfigurationError(
            f"memcached option {name!r}", raw, "a size in bytes, e.g. 1048576, 1024k or 1m"
        )
    factor = {"": 1, "k": 1024, "m": 1024 * 1024}[match.group(2).lower()]
    return int(match.group(1)) * factor


def _more(recv: Recv, want: int) -> bytes:
    """Read at least ``want`` bytes (one or more)."""
    chunks: list[bytes] = []
    got = 0
    while got < want:
        chunk = recv(max(want - got, RECV_SIZE))
        if not chunk:
            raise MemcacheUnexpectedCloseError()
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _line(data: bytes, pos: int, recv: Recv) -> tuple[bytes, int, int]:
    """Read on until ``data`` holds a whole line at ``pos``: ``(data, pos, the line's end)``."""
    end = data.find(b"\r\n", pos)
    while end < 0:
        data, pos = data[pos:] + _more(recv, 1), 0
        end = data.find(b"\r\n")
    return data, pos, end


def _value(data: bytes, start: int, size: int, recv: Recv) -> tuple[bytes, int, int]:
    """Read on until ``data`` holds the ``size`` bytes at ``start`` and their CRLF.

    Returns ``(data, start, stop)``: the value is ``data[start:stop]``.
    """
    stop = start + size
    if len(data) < stop + 2:
        data = data[start:] + _more(recv, stop + 2 - len(data))
        start, stop = 0, size
    if data[stop : stop + 2] != b"\r\n":
        raise MemcacheUnknownError(f"a value of {size} bytes is not followed by CRLF")
    return data, start, stop


def _error(line: bytes) -> Exception:
    """The pymemcache exception of a reply line that is not an answer, as pymemcache raises it."""
    error: Exception
    if line.startswith(b"SERVER_ERROR"):
        error = MemcacheServerError(line[13:].decode("ascii", "replace"))
    elif line.startswith(b"CLIENT_ERROR"):
        error = MemcacheClientError(line[13:].decode("ascii", "replace"))
    elif line == b"ERROR":
        error = MemcacheUnknownCommandError(line.decode())
    else:
        error = MemcacheUnknownError(f"unexpected reply {line[:80]!r}")
    return error


def read_values(data: bytes, recv: Recv) -> dict[bytes, bytes]:
    r"""Parse the reply to ``get <key> ...``: each present key's value.

    Args:
        data: What the socket gave so far (the reply's beginning, or all of it).
        recv: Reads more (``socket.recv``), for a reply longer than ``data``.

    Raises:
        MemcacheServerError: for ``SERVER_ERROR`` (others: ``CLIENT_ERROR``, ``ERROR``,
            and anything else than the reply of a ``get``, which leaves the connection
            unusable).

    Example:
        >>> read_values(b"VALUE a 0 2\r\nhi\r\nEND\r\n", lambda size: b"")
        {b'a': b'hi'}
    """
    found: dict[bytes, bytes] = {}
    pos = 0
    while True:
        data, pos, end = _line(data, pos, recv)
        if data.startswith(b"VALUE ", pos):
            start = end + 2
            fields = data[pos:end].split()
            if len(fields) != 4 or not fields[3].isdigit():
                raise MemcacheUnknownError(f"unexpected reply {data[pos:end][:80]!r}")
            data, start, stop = _value(data, start, int(fields[3]), recv)
            found[fields[1]] = data[start:stop]
            pos = stop + 2
        elif end - pos == 3 and data.startswith(b"END", pos):
            if end + 2 != len(data):
                raise MemcacheUnknownError(f"unexpected bytes after END: {data[end + 2 :][:80]!r}")
            return found
        else:
            raise _error(data[pos:end])


def read_lines(data: bytes, recv: Recv, last: bytes = META_END[:-2]) -> list[bytes]:
    r"""Read reply lines up to the line ``last`` (``MN``, what ``mn`` answers), without it.

    A server that does not know a command answers ``ERROR``: the lines read up to
    and with it are returned, and the rest is left unread (the caller closes the
    connection).

    Example:
        >>> read_lines(b"HD t5 O0\r\nMN\r\n", lambda size: b"")
        [b'HD t5 O0']
    """
    lines: list[bytes] = []
    pos = 0
    while True:
        data, pos, end = _line(data, pos, recv)
        line, pos = data[pos:end], end + 2
        if line == last:
            if pos != len(data):
                raise MemcacheUnknownError(f"unexpected bytes after {last!r}: {data[pos:][:80]!r}")
            return lines
        lines.append(line)
        if line == b"ERROR":
            return lines


def value_reply(name: bytes, value: bytes) -> bytes:
    r"""What a ``get`` answers for ``name`` holding ``value`` (flags 0, as this engine writes).

    Example:
        >>> value_reply(b"app:__gen__", b"7")
        b'VALUE app:__gen__ 0 1\r\n7\r\n'
    """
    return b"VALUE %b 0 %d\r\n%b\r\n" % (name, len(value), value)


class Changed:
    """:func:`get_current`'s answer when the generation is not the one expected.

    Attributes:
        raw: The generation read instead (``None``: the counter is gone, e.g. evicted).
    """

    __slots__ = ("raw",)

    def __init__(self, raw: bytes | None) -> None:
        self.raw = raw


def get_current(client: Any, head: bytes, counter: bytes, name: bytes) -> bytes | Changed | None:
    r"""``get <counter> <name>`` on a pymemcache ``Client``: the entry, while the counter holds.

    Args:
        client: A pymemcache ``Client``.
        head: The reply's beginning while the counter holds the generation the
            caller knows: :func:`value_reply` of the counter and that generation.
        counter: The namespace's generation counter key.
        name: The entry's key.

    Returns:
        The entry's value; ``None`` when absent; :class:`Changed` when the counter
        holds another generation (the entry read is then not the current one).

    The common reply -- ``head``, then the entry or nothing, all in one read of
    the socket -- is taken apart by position; any other (a value larger than one
    read, a counter rewritten with other flags) is parsed in full by :func:`read_values`.
    """
    sock: socket.socket | None = client.sock
    if sock is None:  # not connected yet: pymemcache's own get connects it
        found = dict(client.get_many([counter, name]))
    else:
        sock.sendall(b"get " + counter + b" " + name + b"\r\n")
        data = sock.recv(RECV_SIZE)
        if data.startswith(head):
            start = len(head)
            end = data.find(b"\r\n", start)
            if end == start + 3 and end + 2 == len(data) and data.startswith(b"END", start):
                return None
            if end > 0 and data.startswith(b"VALUE ", start):
                try:
                    stop = end + 2 + int(data[data.rfind(b" ", start, end) + 1 : end])
                except ValueError:
                    stop = -1
                if stop + 7 == len(data) and data.endswith(b"\r\nEND\r\n"):
                    return data[end + 2 : stop]
        found = read_values(data, sock.recv)
    raw = found.get(counter)
    # the slow path compares numbers: memcached may pad a counter with spaces
    if raw is None or not raw.strip().isdigit() or int(raw) != int(head.split(b"\r\n")[1]):
        return Changed(raw)
    return found.get(name)


def get_values(client: Any, names: Sequence[bytes]) -> dict[bytes, bytes]:
    """``get`` several keys on a pymemcache ``Client``, its reply read in one pass.

    A client not connected yet goes through pymemcache's own ``get_many``,
    which connects it. Errors are pymemcache's (the ring closes the connection
    after any but ``CLIENT_ERROR``).
    """
    sock: socket.socket | None = client.sock
    if sock is None:
        return dict(client.get_many(names))
    sock.sendall(b"get " + b" ".join(names) + b"\r\n")
    return read_values(sock.recv(RECV_SIZE), sock.recv)


def _socket(client: Any) -> socket.socket:
    """The client's socket, connected first if need be (pymemcache connects on a command)."""
    if client.sock is None:
        client.version()
    sock: socket.socket = client.sock
    return sock


def _only_line(sock: socket.socket) -> bytes:
    """Read a one-line reply."""
    data, _, end = _line(sock.recv(RECV_SIZE), 0, sock.recv)
    if end + 2 != len(data):
        raise MemcacheUnknownError(f"unexpected bytes after a reply: {data[end + 2 :][:80]!r}")
    return data[:end]


def meta_gets(client: Any, name: bytes) -> tuple[bytes, int, bytes] | None:
    """``mg <name> v t c``: the value, the seconds it has left (-1: no expiry) and its CAS number.

    Returns ``None`` when absent.

    Raises:
        MemcacheUnknownCommandError: from a server without meta commands (before 1.6),
            which answers ``ERROR`` (the connection stays usable).
    """
    sock = _socket(client)
    sock.sendall(b"mg " + name + b" v t c\r\n")
    data, _, end = _line(sock.recv(RECV_SIZE), 0, sock.recv)
    head = data[:end]
    if head == b"EN" and end + 2 == len(data):
        return None
    fields = head.split()
    if fields[:1] != [b"VA"] or len(fields) != 4 or not fields[1].isdigit():
        raise _error(head)
    flags = {field[:1]: field[1:] for field in fields[2:]}
    data, start, stop = _value(data, end + 2, int(fields[1]), recv=sock.recv)
    if stop + 2 != len(data):
        raise MemcacheUnknownError(f"unexpected bytes after a value: {data[stop + 2 :][:80]!r}")
    try:
        return data[start:stop], int(flags[b"t"]), flags[b"c"]
    except (KeyError, ValueError):
        raise MemcacheUnknownError(f"unexpected reply {head[:80]!r}") from None


def kept_exptime(left: int) -> int:
    """The ``exptime`` that keeps an entry with ``left`` seconds (``mg``'s ``t``: -1 is none).

    Example:
        >>> kept_exptime(-1), kept_exptime(0), kept_exptime(90)
        (0, 1, 90)
    """
    if left < 0:
        return 0
    if left > _RELATIVE_EXPTIME_LIMIT:
        return int(time.time()) + left
    return max(left, 1)  # under a second left: 0 would mean "never expires"


def meta_cas(client: Any, name: bytes, value: bytes, exptime: int, cas: bytes) -> bool | None:
    """``ms <name> <size> T<exptime> C<cas>``: store ``value`` if unchanged since ``cas``.

    Returns:
        True when stored; False when the entry changed meanwhile; None when it is gone.
    """
    if not cas.isdigit():
        raise ValueError(f"a CAS value is a number, not {cas!r}")
    sock = _socket(client)
    sock.sendall(b"ms %b %d T%d C%b\r\n%b\r\n" % (name, len(value), exptime, cas, value))
    status = _only_line(sock)
    if status == b"HD":
        return True
    if status in (b"EX", b"NS"):
        return False
    if status == b"NF":
        return None
    raise _error(status)


def meta_lines(client: Any, request: bytes) -> list[bytes]:
    """Send a pipeline of meta commands closed by ``mn``; return the reply lines before ``MN``.

    A server without meta commands (before 1.6) answers ``ERROR``: the lines end
    with it, and the connection is closed (the rest of the reply is never read).
    """
    sock = _socket(client)
    sock.sendall(request + b"\r\n")
    lines = read_lines(sock.recv(RECV_SIZE), sock.recv)
    if lines and lines[-1] == b"ERROR":
        client.close()
    return lines
