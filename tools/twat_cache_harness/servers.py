"""Real Redis, Memcached, PostgreSQL and moto servers on free 127.0.0.1 ports, in temp dirs."""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import io
import os
import pwd
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import ClassVar, TypeAlias, TypeVar

from .errors import HarnessError
from .install import ensure_binary, postgres_bin_dir

LOCALHOST = "127.0.0.1"
RespValue: TypeAlias = bytes | int | str | list["RespValue"] | None
_S = TypeVar("_S", bound="_Server")
_G = TypeVar("_G", bound="_Group")
_LIVE: set[_Server] = set()
_LIVE_LOCK = threading.Lock()
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class _PortInUseError(Exception):
    pass


def free_port(host: str = LOCALHOST) -> int:
    """Return a TCP port that was free on ``host`` a moment ago (the kernel's pick for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _port_is_free(port: int) -> bool:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((LOCALHOST, port))
    except OSError:
        return False
    return True


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


def _run_tool(
    cmd: list[str], *, cwd: str, account: pwd.struct_passwd | None = None, timeout: float = 120.0
) -> str:
    try:
        result = subprocess.run(
            cmd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            cwd=cwd,
            env=_clean_env(),
            timeout=timeout,
            check=False,
            user=account.pw_uid if account else None,
            group=account.pw_gid if account else None,
            extra_groups=[] if account else None,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise HarnessError(f"`{' '.join(cmd)}` failed: {exc}") from exc
    if result.returncode != 0:
        output = (result.stdout + result.stderr)[-2000:]
        raise HarnessError(f"`{' '.join(cmd)}` exited {result.returncode}:\n{output}")
    return result.stdout


def redis_command(host: str, port: int, *args: str | bytes, timeout: float = 5.0) -> RespValue:
    """Send one command to a Redis server over a raw socket and return the decoded RESP reply.

    Simple strings decode to ``str``, bulk strings stay ``bytes``, nil is ``None``.

    Raises:
        HarnessError: Redis answered with an error reply or closed the connection.
        OSError: The connection failed.
    """
    parts = [a.encode() if isinstance(a, str) else a for a in args]
    payload = b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(payload)
        with sock.makefile("rb") as reader:
            return _read_resp(reader)


def _read_resp(reader: io.BufferedIOBase) -> RespValue:
    line = reader.readline()
    if not line.endswith(b"\r\n"):
        raise HarnessError("redis closed the connection")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise HarnessError(f"redis error: {rest.decode()}")
    if kind == b":":
        return int(rest)
    if kind in (b"$", b"*") and int(rest) < 0:
        return None
    if kind == b"$":
        return reader.read(int(rest) + 2)[:-2]
    if kind == b"*":
        return [_read_resp(reader) for _ in range(int(rest))]
    raise HarnessError(f"unexpected RESP reply {line!r}")


def _http(url: str, method: str = "GET", timeout: float = 5.0) -> tuple[int, bytes]:
    """Make one HTTP request to a loopback URL, never through a proxy."""
    if not url.startswith(f"http://{LOCALHOST}:"):
        raise HarnessError(f"refusing a non-loopback URL: {url}")
    request = urllib.request.Request(url, method=method)
    try:
        with _NO_PROXY.open(request, timeout=timeout) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, exc.read()
        finally:
            exc.close()


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (Linux: from /proc; elsewhere none are found)."""
    found = []
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else ():
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


def _kill_children(pid: int) -> None:
    """SIGKILL ``pid``'s children, the parent stopped first so that it forks no new one.

    PostgreSQL's backends each start a session of their own (``setsid``), so a
    signal to the server's process group misses them: killed with the postmaster
    only, a backend answers its client until it notices the postmaster is gone,
    which is not what a crash looks like to a client.
    """
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGSTOP)
    for child in _children(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)


class _Server:
    """Lifecycle shared by all servers: one child process, a temp dir, a loopback port."""

    name: ClassVar[str] = "server"
    stop_signal: ClassVar[int] = signal.SIGTERM

    def __init__(self, *, startup_timeout: float = 30.0) -> None:
        self.host = LOCALHOST
        self.port = 0
        self.tmpdir: str | None = None
        self.startup_timeout = startup_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    # Hooks for subclasses.
    def _prepare(self) -> None:
        """Set up a fresh temp dir (find binaries, run initdb)."""

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _ready(self) -> bool:
        raise NotImplementedError

    def _first_start(self) -> None:
        """Run once after the first start in a fresh temp dir (e.g. createdb)."""

    def _pick_port(self) -> int:
        return free_port()

    def _run_as(self) -> pwd.struct_passwd | None:
        return None

    @property
    def url(self) -> str:
        """The client URL of this server."""
        raise NotImplementedError

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self._proc.pid if self.running and self._proc else None

    @property
    def log_path(self) -> str:
        """The file that collects the server's stdout and stderr."""
        if self.tmpdir is None:
            raise HarnessError(f"{self.name} has no temp dir: call start() first")
        return os.path.join(self.tmpdir, "server.log")

    def log_tail(self, chars: int = 3000) -> str:
        """Return the end of what the server logged since its last (re)start."""
        try:
            with open(self.log_path, "rb") as log:
                log.seek(self._log_offset)
                return log.read().decode(errors="replace")[-chars:]
        except (OSError, HarnessError):
            return ""

    def start(self: _S) -> _S:
        """Start the server (no-op while it runs) and wait until it accepts connections.

        The first start picks a free port; a later start (after stop(), kill() or in restart())
        reuses the same port, so clients find a restarted server at the same address.

        Raises:
            HarnessError: It is not installed and could not be installed, exited early, or did
                not accept connections within ``startup_timeout`` seconds (with its log tail).
        """
        if self.running:
            return self
        fresh = self.tmpdir is None or not os.path.isdir(self.tmpdir)
        if fresh:
            self.tmpdir = tempfile.mkdtemp(prefix=f"twat-cache-{self.name}-")
        with _LIVE_LOCK:
            _LIVE.add(self)
        try:
            if fresh:
                self._prepare()
            self._launch()
            if fresh:
                self._first_start()
        except BaseException:
            if fresh:
                self.stop()
            else:
                self._halt(signal.SIGKILL)
            raise
        return self

    def _launch(self) -> None:
        fixed = self.port != 0
        for attempt in range(5):
            if fixed:
                time.sleep(0.2 * attempt)  # a restart must get the same port back
            else:
                self.port = self._pick_port()
            self._spawn()
            try:
                self._wait_ready()
                return
            except _PortInUseError:
                continue
        raise HarnessError(f"{self.name}: port {self.port} stayed in use:\n{self.log_tail()}")

    def _spawn(self) -> None:
        cmd = self._command()
        account = self._run_as()
        with open(self.log_path, "ab") as log:
            self._log_offset = log.tell()
            try:
                self._proc = subprocess.Popen(
                    cmd,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.tmpdir,
                    start_new_session=True,
                    user=account.pw_uid if account else None,
                    group=account.pw_gid if account else None,
                    extra_groups=[] if account else None,
                )
            except OSError as exc:
                raise HarnessError(f"cannot run `{' '.join(cmd)}`: {exc}") from exc

    def _wait_ready(self) -> None:
        proc = self._proc
        if proc is None:
            raise HarnessError(f"{self.name} was not spawned")
        deadline = time.monotonic() + self.startup_timeout
        while True:
            code = proc.poll()
            if code is not None:
                self._proc = None
                tail = self.log_tail()
                if "address already in use" in tail.lower():
                    raise _PortInUseError(tail)
                raise HarnessError(
                    f"{self.name} exited with code {code} before accepting connections on "
                    f"{self.host}:{self.port}; tail of {self.log_path}:\n{tail}"
                )
            with contextlib.suppress(OSError, HarnessError):
                if self._ready() and proc.poll() is None:  # ours, not a squatter on the port
                    return
            if time.monotonic() > deadline:
                self._halt(signal.SIGKILL)
                raise HarnessError(
                    f"{self.name} did not accept connections on {self.host}:{self.port} within "
                    f"{self.startup_timeout:g}s; tail of {self.log_path}:\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def _halt(self, sig: int, grace: float = 15.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        if sig == signal.SIGKILL:  # a crash: the server's children die with it, at once
            _kill_children(proc.pid)
        with contextlib.suppress(ProcessLookupError):  # the whole session
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=grace)

    def stop(self) -> None:
        """Shut the server down (SIGKILL after 15 s) and delete its temp dir. Idempotent."""
        self._halt(self.stop_signal)
        if self.tmpdir is not None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None
        with _LIVE_LOCK:
            _LIVE.discard(self)

    def kill(self) -> None:
        """SIGKILL the server's process group to simulate a crash; keeps port and temp dir."""
        self._halt(signal.SIGKILL)

    def restart(self: _S) -> _S:
        """Stop the server gracefully if it runs, then start it on the same port and data dir."""
        self._halt(self.stop_signal)
        return self.start()

    def __enter__(self: _S) -> _S:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<{type(self).__name__} {self.host}:{self.port} {state}>"


class RedisServer(_Server):
    """A redis-server without persistence; ``url`` is ``redis://127.0.0.1:PORT/0``.

    Args:
        cluster: Start with ``cluster-enabled yes`` (port+10000 is then kept free for the bus).
        startup_timeout: Seconds to wait for ``PING``.
    """

    name = "redis"

    def __init__(self, *, cluster: bool = False, startup_timeout: float = 30.0) -> None:
        super().__init__(startup_timeout=startup_timeout)
        self.cluster = cluster
        self._binary = ""

    def _prepare(self) -> None:
        self._binary = ensure_binary("redis-server", "redis-server")

    def _pick_port(self) -> int:
        for _ in range(200):
            port = free_port()
            if not self.cluster or (port + 10000 <= 65535 and _port_is_free(port + 10000)):
                return port
        raise HarnessError("found no free port pair (P, P+10000) for a Redis Cluster node")

    def _command(self) -> list[str]:
        cmd = [self._binary, "--port", str(self.port), "--bind", self.host, "--save", ""]
        cmd += ["--appendonly", "no", "--dir", str(self.tmpdir), "--daemonize", "no"]
        if self.cluster:
            cmd += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
            cmd += ["--cluster-node-timeout", "2000"]
        return cmd

    def _ready(self) -> bool:
        return redis_command(self.host, self.port, "PING", timeout=1.0) == "PONG"

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``."""
        return f"redis://{self.host}:{self.port}/0"


class _Group:
    """Several servers started, stopped, killed and restarted together."""

    def __init__(self, nodes: Sequence[_Server]) -> None:
        self._nodes = nodes
        self.host = LOCALHOST

    @property
    def ports(self) -> list[int]:
        """The nodes' ports, in node order."""
        return [node.port for node in self._nodes]

    @property
    def port(self) -> int:
        """The first node's port."""
        return self._nodes[0].port

    @property
    def running(self) -> bool:
        """Whether every node is alive."""
        return all(node.running for node in self._nodes)

    def _start_nodes(self) -> None:
        try:
            for node in self._nodes:
                node.start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop every node and delete the temp dirs."""
        for node in self._nodes:
            node.stop()

    def kill(self) -> None:
        """SIGKILL every node."""
        for node in self._nodes:
            node.kill()

    def kill_node(self, index: int) -> None:
        """SIGKILL node ``index`` (a crash); its port and data dir are kept for start_node()."""
        self._nodes[index].kill()

    def start(self: _G) -> _G:
        """Start every node that is not running."""
        raise NotImplementedError

    def __enter__(self: _G) -> _G:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} ports={self.ports} running={self.running}>"


class RedisCluster(_Group):
    """A Redis Cluster of ``size`` masters and no replicas, all slots assigned.

    ``url`` is ``redis+cluster://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3``; ``nodes`` are the
    ``RedisServer`` instances, which a fault test may kill/restart one by one.
    """

    def __init__(self, *, size: int = 3, startup_timeout: float = 30.0) -> None:
        if size < 3:
            raise ValueError("a Redis Cluster needs at least 3 masters")
        self.nodes = [
            RedisServer(cluster=True, startup_timeout=startup_timeout) for _ in range(size)
        ]
        super().__init__(self.nodes)
        self.startup_timeout = startup_timeout
        self._created = False

    @property
    def url(self) -> str:
        """``redis+cluster://127.0.0.1:P1,127.0.0.1:P2,...``."""
        return "redis+cluster://" + ",".join(f"{self.host}:{p}" for p in self.ports)

    def start(self) -> RedisCluster:
        """Start the nodes, join them with ``redis-cli --cluster create`` and wait for state ok.

        Raises:
            HarnessError: A node did not start, the join failed, or the state never became ok.
        """
        self._start_nodes()
        try:
            if not self._created:
                cli = ensure_binary("redis-cli", "redis-tools")
                addresses = [f"{self.host}:{p}" for p in self.ports]
                cmd = [cli, "--cluster", "create", *addresses, "--cluster-replicas", "0"]
                _run_tool([*cmd, "--cluster-yes"], cwd=str(self.nodes[0].tmpdir), timeout=60.0)
                self._created = True
            self.wait_ok()
        except BaseException:
            self.stop()
            raise
        return self

    def wait_ok(self, timeout: float | None = None) -> None:
        """Wait until ``CLUSTER INFO`` reports ``cluster_state:ok`` on every node.

        Raises:
            HarnessError: Some node was not ok within ``timeout`` (default: startup_timeout).
        """
        deadline = time.monotonic() + (timeout or self.startup_timeout)
        while True:
            bad = [node.port for node in self.nodes if not self._node_ok(node)]
            if not bad:
                return
            if time.monotonic() > deadline:
                raise HarnessError(f"Redis Cluster nodes {bad} never reported cluster_state:ok")
            time.sleep(0.1)

    @staticmethod
    def _node_ok(node: RedisServer) -> bool:
        try:
            info = redis_command(node.host, node.port, "CLUSTER", "INFO", timeout=1.0)
        except (OSError, HarnessError):
            return False
        return isinstance(info, bytes) and b"cluster_state:ok" in info

    def stop(self) -> None:
        """Stop every node and delete the temp dirs (a later start() builds a new cluster)."""
        super().stop()
        self._created = False

    def start_node(self, index: int) -> None:
        """Start node ``index`` again on its port and data dir (it rejoins); wait for state ok."""
        self.nodes[index].start()
        self.wait_ok()

    def restart(self) -> RedisCluster:
        """Restart every node on its port and data dir (nodes.conf kept); wait for state ok."""
        for node in self.nodes:
            node.restart()
        self.wait_ok()
        return self


class MemcachedServer(_Server):
    """A memcached with UDP off; ``url`` is ``memcached://127.0.0.1:PORT``.

    Args:
        item_size: Largest item (``-I``), e.g. ``"1m"`` or ``"4m"``.
        memory_mb: Cache memory (``-m``); must be at least twice the item size.
        startup_timeout: Seconds to wait for ``version``.
    """

    name = "memcached"
    stop_signal = signal.SIGKILL  # it keeps nothing, and on SIGTERM exits only at its 1 s tick

    def __init__(
        self, *, item_size: str = "1m", memory_mb: int = 64, startup_timeout: float = 30.0
    ) -> None:
        super().__init__(startup_timeout=startup_timeout)
        self.item_size = item_size
        self.memory_mb = memory_mb
        self._binary = ""

    def _prepare(self) -> None:
        self._binary = ensure_binary("memcached", "memcached")

    def _command(self) -> list[str]:
        cmd = [self._binary, "-l", self.host, "-p", str(self.port), "-U", "0"]
        cmd += ["-I", self.item_size, "-m", str(self.memory_mb)]
        if os.geteuid() == 0:  # memcached refuses to run as root without -u
            cmd += ["-u", "nobody"]
        return cmd

    def _ready(self) -> bool:
        with socket.create_connection((self.host, self.port), timeout=1.0) as sock:
            sock.sendall(b"version\r\n")
            return sock.recv(64).startswith(b"VERSION")

    @property
    def url(self) -> str:
        """``memcached://127.0.0.1:PORT``."""
        return f"memcached://{self.host}:{self.port}"


class MemcachedRing(_Group):
    """``size`` memcached servers for consistent-hashing tests.

    ``urls`` lists ``memcached://127.0.0.1:P`` per node; ``url`` is
    ``memcached://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3``.
    """

    def __init__(
        self, *, size: int = 3, item_size: str = "1m", startup_timeout: float = 30.0
    ) -> None:
        self.nodes = [
            MemcachedServer(item_size=item_size, startup_timeout=startup_timeout)
            for _ in range(size)
        ]
        super().__init__(self.nodes)

    @property
    def urls(self) -> list[str]:
        """One ``memcached://127.0.0.1:P`` per node."""
        return [node.url for node in self.nodes]

    @property
    def url(self) -> str:
        """``memcached://127.0.0.1:P1,127.0.0.1:P2,...``."""
        return "memcached://" + ",".join(f"{self.host}:{p}" for p in self.ports)

    def start(self) -> MemcachedRing:
        """Start every node that is not running (stopped nodes come back on their old port)."""
        self._start_nodes()
        return self

    def restart(self) -> MemcachedRing:
        """Restart every node on its port (memcached loses its data)."""
        for node in self.nodes:
            node.restart()
        return self

    def stop_node(self, index: int) -> None:
        """Stop node ``index``; its port is kept for start_node()."""
        self.nodes[index].stop()

    def start_node(self, index: int) -> None:
        """Start node ``index`` again on its old port, empty."""
        self.nodes[index].start()


def _postgres_account() -> pwd.struct_passwd:
    """The unprivileged ``postgres`` account (created if missing) to run the server as root."""
    with contextlib.suppress(KeyError):
        return pwd.getpwnam("postgres")
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    cmd = [useradd, "--system", "--user-group", "--no-create-home"]
    cmd += ["--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", "postgres"]
    try:
        _run_tool(cmd, cwd="/")
    except HarnessError:
        with contextlib.suppress(KeyError):  # a parallel worker created it first
            return pwd.getpwnam("postgres")
        raise
    return pwd.getpwnam("postgres")


def _pg_ready(host: str, port: int, user: str) -> bool:
    """Whether PostgreSQL completes a trust-auth startup handshake (not just accepts TCP)."""
    body = struct.pack("!i", 196608) + b"user\0%s\0database\0postgres\0\0" % user.encode()
    with socket.create_connection((host, port), timeout=1.0) as sock:
        sock.sendall(struct.pack("!i", len(body) + 4) + body)
        with sock.makefile("rb") as reader:
            head = reader.read(9)
        ok = len(head) == 9 and head[:1] == b"R" and struct.unpack("!i", head[5:9])[0] == 0
        with contextlib.suppress(OSError):
            sock.sendall(b"X\0\0\0\4")
        return ok


class PostgresServer(_Server):
    """A throwaway PostgreSQL cluster (trust auth, fsync off) with database ``dbname``.

    ``url`` is ``postgresql://postgres@127.0.0.1:PORT/twat_cache_test``. As root, initdb and
    postgres run as the unprivileged ``postgres`` account, which owns the temp dir.
    ``restart()`` and ``kill()`` + ``restart()`` keep the data (crash recovery after kill).

    Args:
        user: Superuser name (initdb ``-U``).
        dbname: Database created after the first start.
        startup_timeout: Seconds to wait for a successful startup handshake.
    """

    name = "postgres"
    stop_signal = signal.SIGINT  # "fast" shutdown: does not wait for clients to disconnect

    def __init__(
        self,
        *,
        user: str = "postgres",
        dbname: str = "twat_cache_test",
        startup_timeout: float = 30.0,
    ) -> None:
        super().__init__(startup_timeout=startup_timeout)
        self.user = user
        self.dbname = dbname
        self.bin_dir = ""

    def _run_as(self) -> pwd.struct_passwd | None:
        return _postgres_account() if os.geteuid() == 0 else None

    def _path(self, name: str) -> str:
        return os.path.join(str(self.tmpdir), name)

    def _prepare(self) -> None:
        self.bin_dir = postgres_bin_dir()
        account = self._run_as()
        os.mkdir(self._path("sock"))
        if account is not None:
            for path in (str(self.tmpdir), self._path("sock")):
                os.chown(path, account.pw_uid, account.pw_gid)
        initdb = [os.path.join(self.bin_dir, "initdb"), "-D", self._path("data"), "-U", self.user]
        initdb += ["-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync"]
        _run_tool(initdb, cwd=str(self.tmpdir), account=account)

    def _command(self) -> list[str]:
        cmd = [os.path.join(self.bin_dir, "postgres"), "-D", self._path("data")]
        cmd += ["-p", str(self.port), "-k", self._path("sock")]
        for setting in ("listen_addresses=127.0.0.1", "fsync=off", "full_page_writes=off"):
            cmd += ["-c", setting]
        return [*cmd, "-c", "synchronous_commit=off"]

    def _ready(self) -> bool:
        return _pg_ready(self.host, self.port, self.user)

    def _first_start(self) -> None:
        createdb = [os.path.join(self.bin_dir, "createdb"), "-h", self.host, "-p", str(self.port)]
        _run_tool([*createdb, "-U", self.user, self.dbname], cwd=str(self.tmpdir))

    def psql(self, sql: str, *, dbname: str | None = None) -> str:
        """Run SQL with this server's own ``psql`` and return its unaligned, tuples-only output.

        Raises:
            HarnessError: psql failed (the message carries its output).
        """
        cmd = [os.path.join(self.bin_dir, "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]
        cmd += ["-h", self.host, "-p", str(self.port), "-U", self.user]
        return _run_tool([*cmd, "-d", dbname or self.dbname, "-c", sql], cwd="/", timeout=60.0)

    @property
    def url(self) -> str:
        """``postgresql://USER@127.0.0.1:PORT/DBNAME``."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.dbname}"


class MotoServer(_Server):
    """moto's S3 (and other AWS) server over HTTP; ``url`` == ``endpoint_url`` == ``http://127.0.0.1:PORT``.

    Needs ``moto[server]`` in the interpreter ``python`` (default: the running one). State is
    in memory: ``restart()`` and ``reset()`` empty it.
    """

    name = "moto"

    def __init__(self, *, python: str = sys.executable, startup_timeout: float = 30.0) -> None:
        super().__init__(startup_timeout=startup_timeout)
        self.python = python

    def _prepare(self) -> None:
        if self.python != sys.executable:
            return
        missing = [
            m for m in ("moto", "flask", "flask_cors") if importlib.util.find_spec(m) is None
        ]
        if missing:
            raise HarnessError(
                f"moto's server needs {', '.join(missing)} in {sys.executable}: install "
                "`moto[server]` (a test dependency of the S3 package; "
                "or `pip install 'moto[server]'`)"
            )

    def _command(self) -> list[str]:
        return [self.python, "-m", "moto.server", "-H", self.host, "-p", str(self.port)]

    def _ready(self) -> bool:
        _http(f"{self.endpoint_url}/", timeout=1.0)
        return True

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{self.host}:{self.port}"

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:PORT``, for ``boto3.client("s3", endpoint_url=...)``."""
        return self.url

    def reset(self) -> None:
        """Drop all moto state (buckets, objects) without restarting."""
        status, body = _http(f"{self.url}/moto-api/reset", method="POST")
        if status >= 300:
            raise HarnessError(f"moto reset answered {status}: {body[:200]!r}")


def _cleanup() -> None:
    with _LIVE_LOCK:
        live = list(_LIVE)
    for server in live:
        with contextlib.suppress(Exception):
            server.stop()


atexit.register(_cleanup)
