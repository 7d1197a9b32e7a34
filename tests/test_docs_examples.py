"""Every Python block of the documentation runs, so the docs cannot drift from the code.

One test per page (docs/**/*.md, with the READMEs and changelogs the pages include expanded
by tools/docs_hooks.py, exactly as the site shows them). The page's Python blocks run in
order in one module namespace, as a reader would paste them into one session, in a temporary
working directory.

Server URLs are written for readers (`redis://localhost:6379/0`, `memcached://cache:11211`,
`postgresql://app@db/app`, `s3://bucket/prefix`): before a block runs, each URL of a server
scheme in it is pointed at a real server the harness started on 127.0.0.1 (its host, port,
user and database are replaced; path and options are kept), and absolute paths of `disk://`
and `sqlite://` URLs move under the temporary directory. A page starts only the servers its
blocks name.

The security page reads its signing and encryption keys from `CACHE_SECRET`, `CACHE_KEY` and
`OLD_CACHE_KEY`, as it tells readers to: the test sets them.

A block that is deliberately not a runnable program (a fragment of a settings file, the
inside of a function) is marked on the line before its fence:

    <!-- docs-test: compile-only -->

and is compiled, not run. A page never needs more than that.

Why not pytest-markdown-docs or mktestdocs: both run blocks as written, so a block could
reach a server only through a fixture name in its code or its fence, which readers would then
see; and neither expands the pages' README includes. This collector is the few lines that do.
"""

from __future__ import annotations

import os
import re
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docs_hooks
import pytest
from twat_cache.tiers import TieredCache

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
COMPILE_ONLY = "<!-- docs-test: compile-only -->"

_FENCE = re.compile(r"^(?P<indent> *)```(?P<info>[^\n`]*)$")
# a URL of a scheme the harness serves, or of a file-based engine, inside a string literal
_URL = re.compile(
    r"(?P<scheme>rediss?\+cluster|rediss?|unix|memcached|postgresql|postgres|s3|"
    r"aiocache\+redis|aiocache\+memcached|twat\+redis|twat\+postgresql|twat\+memcached|"
    r"disk|sqlite)://(?P<rest>[^\"'\s`]*)"
)
_SERVER_OF = {
    "redis": "redis_server",
    "rediss": "redis_server",
    "unix": "redis_server",
    "aiocache+redis": "redis_server",
    "twat+redis": "redis_server",
    "redis+cluster": "redis_cluster",
    "rediss+cluster": "redis_cluster",
    "memcached": "memcached_server",
    "aiocache+memcached": "memcached_server",
    "twat+memcached": "memcached_server",
    "postgresql": "postgres_server",
    "postgres": "postgres_server",
    "twat+postgresql": "postgres_server",
    "s3": "moto_server",
}
DOCS_BUCKET = "twat-docs"


@dataclass
class Block:
    page: str
    line: int  # of the fence, 1-based, in the expanded page
    code: str
    compile_only: bool


def blocks(page: Path) -> list[Block]:
    """The Python blocks of ``page`` as the site renders it (includes expanded)."""
    relative = page.relative_to(DOCS).as_posix()
    lines = docs_hooks.expand(page.read_text(encoding="utf-8"), relative).splitlines()
    found: list[Block] = []
    n = 0
    while n < len(lines):
        fence = _FENCE.match(lines[n])
        if not fence:
            n += 1
            continue
        indent, info = len(fence["indent"]), fence["info"].strip()
        end = n + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        if info.split(" ", 1)[0] == "python" if info else False:
            before = next((lines[k].strip() for k in range(n - 1, -1, -1) if lines[k].strip()), "")
            code = "\n".join(line[indent:] for line in lines[n + 1 : end])
            if code.lstrip().startswith(">>> "):  # a console session: its input, in order
                code = "\n".join(
                    line[4:] for line in code.splitlines() if line.startswith((">>> ", "... "))
                )
            found.append(Block(relative, n + 1, code + "\n", before == COMPILE_ONLY))
        n = end + 1
    return found


# the blog's posts have a runner of their own, with markers of their own
# (tests/test_blog_examples.py); a talk's slides show fragments, and the live demo they come
# from is run by tests/test_talk_demo.py
OWN_RUNNERS = (DOCS / "blog", DOCS / "talks")
PAGES = sorted(p for p in DOCS.rglob("*.md") if not set(OWN_RUNNERS) & set(p.parents) and blocks(p))


def test_every_page_with_python_is_collected() -> None:
    # the pages most likely to carry examples are among them, and markers are few
    names = {p.relative_to(DOCS).as_posix() for p in PAGES}
    assert {"index.md", "getting-started.md", "user-guide/quickstart.md"} <= names
    assert {"user-guide/engines/redis.md", "examples/custom-engine.md"} <= names
    every = [b for p in PAGES for b in blocks(p)]
    marked = [b for b in every if b.compile_only]
    assert len(marked) * 5 <= len(every), [f"{b.page}:{b.line}" for b in marked]


class Servers:
    """Harness URLs for the schemes a page's blocks use, started on first need."""

    def __init__(
        self, request: pytest.FixtureRequest, tmp: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        self.request = request
        self.tmp = tmp
        self.monkeypatch = monkeypatch

    def s3_bucket(self) -> str:
        """The docs' bucket on the harness's moto server, created now if it is not there.

        Created per page, not once per session: another test may reset the shared server.
        """
        import boto3

        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            self.monkeypatch.setenv(name, "testing")  # moto's dummies
        endpoint = self.request.getfixturevalue("moto_server").url
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        try:
            client.create_bucket(Bucket=DOCS_BUCKET)
        except client.exceptions.BucketAlreadyOwnedByYou:
            pass
        finally:
            client.close()
        return DOCS_BUCKET

    def authority(self, scheme: str) -> str:
        fixture = _SERVER_OF[scheme]
        if scheme == "s3":
            return self.s3_bucket()
        server = self.request.getfixturevalue(fixture)
        if fixture == "postgres_server":
            return f"{server.user}@{server.host}:{server.port}"
        if fixture == "redis_cluster":
            return ",".join(f"{server.host}:{port}" for port in server.ports)
        return f"{server.host}:{server.port}"

    def rewrite(self, match: re.Match[str]) -> str:
        scheme, rest = match["scheme"], match["rest"]
        if rest.startswith("{"):  # an f-string's own path: already under the temporary dir
            return match.group(0)
        if scheme in ("disk", "sqlite"):
            path = rest if scheme == "disk" else rest[1:]
            if path.startswith("/") and not path.startswith(str(self.tmp)):
                path = f"{self.tmp}{path}"
            return f"{scheme}://{path}" if scheme == "disk" else f"sqlite:///{path}"
        # the authority (user, password, hosts) ends at the path or the options
        cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
        path, query = rest[cut:], ""
        if "?" in path:
            path, query = path.split("?", 1)
        if scheme in ("rediss", "unix"):  # the harness's server speaks plain TCP
            scheme, path = "redis", "/0"
            query = "&".join(o for o in query.split("&") if o and not o.startswith("ssl"))
        if scheme == "rediss+cluster":
            scheme = "redis+cluster"
        if scheme in ("postgresql", "postgres", "twat+postgresql"):
            path = "/" + str(self.request.getfixturevalue("postgres_server").dbname)
        if scheme == "s3":
            endpoint = self.request.getfixturevalue("moto_server").url
            own = [
                o for o in query.split("&") if o and not o.startswith(("endpoint_url", "region"))
            ]
            query = "&".join([f"endpoint_url={endpoint}", "region=us-east-1", *own])
        if scheme == "memcached" and "," in rest[:cut]:
            ring = self.request.getfixturevalue("memcached_ring")
            authority = ",".join(f"{ring.host}:{port}" for port in ring.ports)
        else:
            authority = self.authority(scheme)
        return f"{scheme}://{authority}{path}" + (f"?{query}" if query else "")


def prepare(code: str, servers: Servers) -> str:
    """Point the block's URLs at the harness's servers and the temporary directory."""
    code = re.sub(r"""\bfolder=(["'])/""", rf"folder=\g<1>{servers.tmp}/", code)
    return _URL.sub(servers.rewrite, code)


@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(DOCS).as_posix() for p in PAGES])
def test_docs_page_runs(
    page: Path, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    # default folders of file-based engines go under the temporary directory too
    monkeypatch.setenv("TWAT_CACHE_FOLDER", str(tmp_path / "default-folder"))
    for name in [n for n in os.environ if n.startswith("TWAT_CACHE_") and n != "TWAT_CACHE_FOLDER"]:
        monkeypatch.delenv(name)
    for name in ("CACHE_SECRET", "CACHE_KEY", "OLD_CACHE_KEY"):
        monkeypatch.setenv(name, f"{name.lower()}-of-the-docs-tests")
    servers = Servers(request, tmp_path, monkeypatch)
    slug = re.sub(r"\W", "_", page.relative_to(DOCS).as_posix())
    module = types.ModuleType(f"docs_page_{slug}")  # classes defined in blocks can be pickled
    monkeypatch.setitem(sys.modules, module.__name__, module)
    namespace: dict[str, Any] = module.__dict__
    try:
        for block in blocks(page):
            where = f"{block.page}, the block at line {block.line}"
            compiled = compile(prepare(block.code, servers), where, "exec")
            if block.compile_only:
                continue
            try:
                exec(compiled, namespace)
            except BaseException as exc:
                raise AssertionError(f"{where} failed: {exc!r}\n\n{block.code}") from exc
    finally:
        # a tiered cache (its own or a decorated function's) stops its listener and closes its
        # tiers; the conftest closes every other cache the page opened
        for value in list(namespace.values()):
            tiered = value if isinstance(value, TieredCache) else getattr(value, "cache", None)
            if isinstance(tiered, TieredCache):
                tiered.close()


def test_urls_point_at_the_harness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Request:
        def getfixturevalue(self, name: str) -> Any:
            return {
                "redis_server": types.SimpleNamespace(host="127.0.0.1", port=1),
                "postgres_server": types.SimpleNamespace(
                    host="127.0.0.1", port=2, user="pg", dbname="db"
                ),
                "moto_server": types.SimpleNamespace(url="http://127.0.0.1:3"),
            }[name]

    class Offline(Servers):
        def s3_bucket(self) -> str:
            return "bucket"

    servers = Offline(Request(), tmp_path, monkeypatch)  # type: ignore[arg-type]
    code = (
        '"redis://:pw@cache.internal:6379/0?socket_timeout=2" '
        '"postgresql://app:secret@db.internal/app?table=c" '
        '"s3://my-bucket/pages?region=eu-west-1&ttl_tag=x" '
        '"disk:///var/cache/app" "sqlite:////var/db/c.db" "sqlite:///c.db" f"disk://{x}" '
        'bcache(folder="/var/cache/app")'
    )
    assert prepare(code, servers) == (
        '"redis://127.0.0.1:1/0?socket_timeout=2" '
        '"postgresql://pg@127.0.0.1:2/db?table=c" '
        '"s3://bucket/pages?endpoint_url=http://127.0.0.1:3&region=us-east-1&ttl_tag=x" '
        f'"disk://{tmp_path}/var/cache/app" "sqlite:///{tmp_path}/var/db/c.db" '
        f'"sqlite:///c.db" f"disk://{{x}}" bcache(folder="{tmp_path}/var/cache/app")'
    )
