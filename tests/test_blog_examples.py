"""Every Python block of the blog posts runs, so the posts cannot drift from the code.

A block runs as it is, in a fresh namespace, in a temporary working directory (the posts use
relative paths such as ``sqlite:///app-cache.db``). An HTML comment on the line before a block
(invisible on the site) says how it runs:

- none: with the embedded engines only;
- ``<!-- blog-test: redis -->``: ``localhost:6379`` and ``port=6379`` in the block are replaced
  by the harness's redis-server, so the block talks to a real server on a free loopback port;
- ``<!-- blog-test: redis, peer -->`` (or ``peer`` alone): another library's code (a "before"
  block); the deprecation warnings that library triggers in its own dependencies are its
  business, so they are not turned into errors there;
- ``<!-- blog-test: not run, needs LIBRARY -->``: the "before" code of a library that is not
  installed in the test environment. Such a block is not run, and a test checks that the
  library is indeed missing (once it is installed, the block must be run).
"""

from __future__ import annotations

import importlib.util
import re
import sys
import textwrap
import types
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
POSTS = sorted((ROOT / "docs" / "blog" / "posts").glob("*.md"))

# a fence at the left margin, or indented inside a content tab (=== "Before")
_FENCE = re.compile(
    r"^(?P<indent> *)```python\n(?P<code>.*?)^(?P=indent)```$", re.DOTALL | re.MULTILINE
)
_MARKER = re.compile(r"<!-- blog-test: (?P<how>[^>]*?) -->\n *$")
_NOT_RUN = re.compile(r"not run, needs (?P<library>[a-z_.]+)")


@dataclass(frozen=True)
class Block:
    post: str
    line: int
    how: str  # "", "redis", "peer", "redis, peer" or "not run, needs LIBRARY"
    code: str

    @property
    def name(self) -> str:
        return f"{self.post}:{self.line}"


def blocks() -> list[Block]:
    found = []
    for post in POSTS:
        text = post.read_text(encoding="utf-8")
        for match in _FENCE.finditer(text):
            before = text[: match.start()]
            marker = _MARKER.search(before[-200:])
            found.append(
                Block(
                    post=post.name,
                    line=before.count("\n") + 1,
                    how=marker["how"] if marker else "",
                    code=textwrap.dedent(match["code"]),
                )
            )
    return found


ALL = blocks()
RUN = [b for b in ALL if not b.how.startswith("not run")]
NOT_RUN = [b for b in ALL if b.how.startswith("not run")]


def test_the_three_posts_have_python_blocks() -> None:
    names = {p.name for p in POSTS}
    assert {"launch.md", "benchmarks-deep-dive.md", "migrating.md"} <= names
    assert {b.post for b in RUN} >= {"launch.md", "migrating.md"}
    known = ("", "redis", "peer", "redis, peer")
    unknown = [b.name for b in ALL if b.how not in known and not _NOT_RUN.fullmatch(b.how)]
    assert not unknown, f"unknown blog-test markers at {unknown}"


@pytest.mark.parametrize("block", RUN, ids=lambda b: b.name)
def test_blog_block_runs(
    block: Block,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code = block.code
    flags = set(block.how.split(", "))
    if "redis" in flags:
        assert "localhost:6379" in code or "port=6379" in code, block.name
        server = request.getfixturevalue("redis_server")
        code = code.replace("localhost:6379", f"{server.host}:{server.port}")
        code = code.replace("port=6379", f"port={server.port}")
        code = code.replace('"localhost"', f'"{server.host}"')
        assert "localhost" not in code, "a redis block must reach only the harness's server"
    monkeypatch.chdir(tmp_path)
    # a real module, as a reader's script would be (dataclasses look their module up)
    module = types.ModuleType(f"blog_{block.post[:-3].replace('-', '_')}_{block.line}")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    with warnings.catch_warnings():
        if "peer" in flags:
            warnings.simplefilter("ignore", DeprecationWarning)
        exec(compile(code, f"{block.post}:{block.line}", "exec"), module.__dict__)


@pytest.mark.parametrize("block", NOT_RUN, ids=lambda b: b.name)
def test_a_block_left_unrun_needs_a_library_that_is_missing(block: Block) -> None:
    match = _NOT_RUN.fullmatch(block.how)
    assert match, block.how
    library = match["library"]
    assert importlib.util.find_spec(library) is None, (
        f"{library} is installed now: run {block.name} (drop its 'not run' marker)"
    )
