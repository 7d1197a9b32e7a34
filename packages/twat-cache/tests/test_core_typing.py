"""Decorated functions keep their signatures for type checkers: mypy run on a snippet."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SNIPPET = """\
from typing_extensions import assert_type

from twat_cache import AsyncCachedFunction, CachedFunction, acache, mcache, ucache


@ucache(ttl=1)
def f(x: int) -> str:
    return str(x)


wrapper: CachedFunction[..., str] = f
assert_type(f(1), str)
assert_type(f(x=1), str)
f("x")  # expect-error
f(1, 2)  # expect-error
assert_type(f.cache_info().hits, int)
assert_type(f.invalidate(1), bool)
f.invalidate("x")  # expect-error


@ucache
def bare(x: int, *, flag: bool = False) -> list[int]:
    return [x]


assert_type(bare(1, flag=True), list[int])
bare(1, flag="yes")  # expect-error


@ucache(ttl=1)
async def g(x: int) -> str:
    return str(x)


@acache(ttl=1)
def blocking(x: int) -> str:
    return str(x)


@mcache(maxsize=2)
def m(x: int) -> int:
    return x


async def use() -> None:
    awrapper: AsyncCachedFunction[..., str] = g
    assert_type(await g(1), str)
    assert_type(await blocking(1), str)
    await g("x")  # expect-error


assert_type(m(1), int)
ucache(ttl="soon")  # expect-error
"""


def test_decorators_keep_signatures_for_mypy(tmp_path: Path) -> None:
    snippet = tmp_path / "snippet.py"
    snippet.write_text(SNIPPET)
    expected = {
        number for number, line in enumerate(SNIPPET.splitlines(), 1) if "# expect-error" in line
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--config-file=",
            "--cache-dir",
            str(tmp_path / ".mypy_cache"),
            "--show-error-codes",
            "--no-pretty",
            str(snippet),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    flagged = {int(m.group(1)) for m in (re.search(r":(\d+): error:", e) for e in errors) if m}
    assert result.returncode == 1, result.stdout + result.stderr
    assert flagged == expected, "\n".join(errors)
